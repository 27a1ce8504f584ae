//! Sign-in links by mail, end to end through the SMTP listener: opt-in, answers that say
//! nothing about the address, single use, expiry, the newest link only, IP pinning, and
//! links that mail scanners cannot spend (a GET, a HEAD, a cookie-less POST without the
//! code all leave the link usable).

use std::time::Duration;

use serde_json::Value;

use crate::accounts::{app_with_mail, link_in, wait_subject};
use crate::helpers::flow::{self, authorize_url, browser, input, location};
use crate::helpers::smtp::{Received, SmtpSink};
use crate::helpers::{Options, TestApp};
use crate::two_factor::signed_in;

pub(crate) const SUBJECT: &str = "Your Gatehouse sign-in link";

/// A verified user with sign-in links turned on (from the security page).
pub(crate) async fn opted_in(app: &TestApp, email: &str) -> reqwest::Client {
    flow::user(app, email).await;
    let b = browser();
    let r = flow::login(app, &b, "/login", email, flow::PASSWORD).await;
    assert_eq!(location(&r), "/account");
    let r = flow::submit(
        app,
        &b,
        "/account/security",
        "/account/security/magic-links",
        &[("magic_links", "on")],
    )
    .await;
    assert!(r.text().await.unwrap().contains("Sign-in links are on"));
    b
}

/// Asks for a link for `email` in browser `b` from `page` (carrying its hidden fields);
/// returns the answer's status and body.
pub(crate) async fn ask(app: &TestApp, b: &reqwest::Client, page: &str, email: &str) -> (u16, String) {
    let html = flow::text(app, b, page).await;
    let mut form = vec![
        ("email".to_string(), email.to_string()),
        ("csrf".to_string(), input(&html, "csrf").unwrap()),
    ];
    for carried in ["authreq", "next"] {
        if let Some(v) = input(&html, carried) {
            form.push((carried.to_string(), v));
        }
    }
    let r = b.post(app.url("/login/magic-link")).form(&form).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The newest link mail to `to` after `seen` of them: its link (relative) and code.
pub(crate) async fn link_mail(sink: &SmtpSink, to: &str, seen: usize) -> (String, String) {
    for _ in 0..200 {
        let mails: Vec<Received> = sink
            .messages()
            .await
            .into_iter()
            .filter(|m| m.to.iter().any(|t| t.contains(to)) && m.header("Subject").as_deref() == Some(SUBJECT))
            .collect();
        if mails.len() > seen {
            let m = &mails[seen];
            let body = m.decoded();
            let at = body.find("enter this code: ").expect("a code") + "enter this code: ".len();
            return (
                link_in(m, "/login/magic-link/confirm?token="),
                body[at..at + 6].to_string(),
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no link mail {seen} to {to}");
}

/// Confirms `link` in `b` (with `code` if given): the response to the POST.
pub(crate) async fn confirm(app: &TestApp, b: &reqwest::Client, link: &str, code: Option<&str>) -> reqwest::Response {
    let html = flow::text(app, b, link).await;
    let mut form = vec![
        ("csrf", input(&html, "csrf").expect("a confirm page")),
        ("token", input(&html, "token").unwrap()),
    ];
    if let Some(c) = code {
        form.push(("code", c.to_string()));
    }
    b.post(app.url("/login/magic-link/confirm"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn links_need_the_owners_opt_in_and_every_address_gets_the_same_answer() {
    let (app, sink) = app_with_mail().await;
    opted_in(&app, "ola@example.com").await;
    flow::user(&app, "pat@example.com").await;
    let b = browser();
    let mut answers = Vec::new();
    for email in ["ola@example.com", "pat@example.com", "nobody@example.com"] {
        answers.push(ask(&app, &b, "/login/magic-link", email).await);
    }
    assert!(answers.iter().all(|(s, _)| *s == 200));
    assert!(answers[0].1.contains("Check your inbox"));
    assert!(
        answers.iter().all(|(_, body)| *body == answers[0].1),
        "opted in, not opted in and unknown look alike"
    );
    link_mail(&sink, "ola@example.com", 0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let others = sink
        .messages()
        .await
        .into_iter()
        .filter(|m| m.header("Subject").as_deref() == Some(SUBJECT))
        .count();
    assert_eq!(others, 1, "only the account that opted in is mailed");
    // The login page offers it.
    let login = flow::text(&app, &browser(), "/login?next=%2Faccount%2Fedit").await;
    assert!(
        login
            .replace("&#x2f;", "/")
            .contains("href=\"/login/magic-link?next=/account/edit\""),
        "{login}"
    );
}

#[tokio::test]
async fn a_link_works_once_in_the_browser_that_asked_and_scanners_cannot_spend_it() {
    let (app, sink) = app_with_mail().await;
    opted_in(&app, "ray@example.com").await;
    let b = browser();
    let (status, _) = ask(&app, &b, "/login/magic-link?next=%2Faccount%2Fedit", "ray@example.com").await;
    assert_eq!(status, 200);
    let (link, code) = link_mail(&sink, "ray@example.com", 0).await;
    let mail = wait_subject(&sink, SUBJECT).await.decoded();
    assert!(
        mail.contains("IP address 127.0.0.1"),
        "the mail names where it was asked from"
    );

    // A scanner: GET, HEAD, a cookie-less POST without the code, a wrong code.
    let scanner = browser();
    let page = flow::text(&app, &scanner, &link).await;
    assert!(page.contains("name=\"code\""), "another browser is asked for the code");
    let r = scanner.head(app.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = confirm(&app, &scanner, &link, None).await;
    assert_eq!(r.status(), 422);
    let r = confirm(&app, &scanner, &link, Some("000000")).await;
    assert_eq!(r.status(), 422);
    assert!(!signed_in(&app, &scanner).await);

    // The browser that asked: one click.
    let page = flow::text(&app, &b, &link).await;
    assert!(!page.contains("name=\"code\""), "no code needed here");
    let r = confirm(&app, &b, &link, None).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account/edit", "next survives");
    assert!(signed_in(&app, &b).await);
    wait_subject(&sink, "New sign-in to your Gatehouse account").await;
    // Spent: its page says so, and the code does nothing now either.
    let r = browser().get(app.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), 410);
    let form = [
        ("csrf", input(&page, "csrf").unwrap()),
        ("token", input(&page, "token").unwrap()),
        ("code", code),
    ];
    let r = b
        .post(app.url("/login/magic-link/confirm"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
}

#[tokio::test]
async fn another_browser_signs_in_with_the_code_and_so_does_the_waiting_page() {
    let (app, sink) = app_with_mail().await;
    opted_in(&app, "sam@example.com").await;
    let b = browser();
    ask(&app, &b, "/login/magic-link", "sam@example.com").await;
    let (link, code) = link_mail(&sink, "sam@example.com", 0).await;
    let phone = browser();
    let r = confirm(&app, &phone, &link, Some(&format!("{} {}", &code[..3], &code[3..]))).await;
    assert_eq!(r.status(), 303, "the code as typed");
    assert!(signed_in(&app, &phone).await);
    assert!(!signed_in(&app, &b).await);

    // Read on a phone, typed on the desktop that asked.
    let (_, page) = ask(&app, &b, "/login/magic-link", "sam@example.com").await;
    let (_, code) = link_mail(&sink, "sam@example.com", 1).await;
    let csrf = input(&page, "csrf").unwrap();
    let r = b
        .post(app.url("/login/magic-link/code"))
        .form(&[("csrf", csrf.as_str()), ("code", "111111")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "a wrong code");
    let r = b
        .post(app.url("/login/magic-link/code"))
        .form(&[("csrf", csrf.as_str()), ("code", code.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(signed_in(&app, &b).await);
    // Another browser without the cookie gets nowhere with the code alone.
    let other = browser();
    let html = flow::text(&app, &other, "/login/magic-link").await;
    let r = other
        .post(app.url("/login/magic-link/code"))
        .form(&[
            ("csrf", input(&html, "csrf").unwrap().as_str()),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "the same answer as a wrong code: nothing told");
}

#[tokio::test]
async fn only_the_newest_link_works_and_turning_links_off_ends_it() {
    let (app, sink) = app_with_mail().await;
    let account = opted_in(&app, "tia@example.com").await;
    let b = browser();
    ask(&app, &b, "/login/magic-link", "tia@example.com").await;
    let (first, _) = link_mail(&sink, "tia@example.com", 0).await;
    ask(&app, &b, "/login/magic-link", "tia@example.com").await;
    let (second, _) = link_mail(&sink, "tia@example.com", 1).await;
    let r = b.get(app.url(&first)).send().await.unwrap();
    assert_eq!(r.status(), 410, "a newer link replaced it");
    assert_eq!(b.get(app.url(&second)).send().await.unwrap().status(), 200);

    let r = flow::submit(
        &app,
        &account,
        "/account/security",
        "/account/security/magic-links",
        &[],
    )
    .await;
    assert!(r.text().await.unwrap().contains("Sign-in links are off"));
    let r = b.get(app.url(&second)).send().await.unwrap();
    assert_eq!(r.status(), 410, "turning links off ends the outstanding one");
    // And no new one is sent.
    ask(&app, &b, "/login/magic-link", "tia@example.com").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let n = sink
        .messages()
        .await
        .into_iter()
        .filter(|m| m.header("Subject").as_deref() == Some(SUBJECT))
        .count();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn five_wrong_codes_end_a_link() {
    let (app, sink) = app_with_mail().await;
    opted_in(&app, "uri@example.com").await;
    ask(&app, &browser(), "/login/magic-link", "uri@example.com").await;
    let (link, _) = link_mail(&sink, "uri@example.com", 0).await;
    let guesser = browser();
    for _ in 0..4 {
        assert_eq!(confirm(&app, &guesser, &link, Some("123456")).await.status(), 422);
    }
    assert_eq!(
        confirm(&app, &guesser, &link, Some("1234567")).await.status(),
        410,
        "the fifth ends it"
    );
    let r = browser().get(app.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), 410, "not even the right code works now");
}

#[tokio::test]
async fn links_expire() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_MAGIC_LINKS__LIFETIME_SECS", "10"),
    )
    .await;
    opted_in(&app, "viv@example.com").await;
    let b = browser();
    ask(&app, &b, "/login/magic-link", "viv@example.com").await;
    let (link, _) = link_mail(&sink, "viv@example.com", 0).await;
    assert_eq!(b.get(app.url(&link)).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_secs(11)).await;
    assert_eq!(b.get(app.url(&link)).send().await.unwrap().status(), 410);
}

/// Opens `link` in `b` and presses "Sign in" from `ip` (behind the trusted proxy): the
/// answer, and the form it sent (to send again).
pub(crate) async fn confirm_from(
    app: &TestApp,
    b: &reqwest::Client,
    link: &str,
    ip: &str,
) -> (reqwest::Response, [(&'static str, String); 2]) {
    let html = flow::text(app, b, link).await;
    let form = [
        ("csrf", input(&html, "csrf").unwrap()),
        ("token", input(&html, "token").unwrap()),
    ];
    let r = from(b, reqwest::Method::POST, app.url("/login/magic-link/confirm"), ip)
        .form(&form)
        .send()
        .await
        .unwrap();
    (r, form)
}

/// A request from `ip` behind the trusted proxy (127.0.0.1).
pub(crate) fn from(b: &reqwest::Client, method: reqwest::Method, url: String, ip: &str) -> reqwest::RequestBuilder {
    b.request(method, url).header("x-forwarded-for", ip)
}

#[tokio::test]
async fn pinned_links_work_only_from_the_network_that_asked() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32")
            .set("GATEHOUSE_MAGIC_LINKS__PIN_IP", "true"),
    )
    .await;
    opted_in(&app, "wes@example.com").await;
    let use_from = async |ip: &str, seen: usize| {
        let b = browser();
        let html = flow::text(&app, &b, "/login/magic-link").await;
        let form = [
            ("email", "wes@example.com".to_string()),
            ("csrf", input(&html, "csrf").unwrap()),
        ];
        let r = from(&b, reqwest::Method::POST, app.url("/login/magic-link"), "203.0.113.5")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let (link, _) = link_mail(&sink, "wes@example.com", seen).await;
        let (r, form) = confirm_from(&app, &b, &link, ip).await;
        (r.status().as_u16(), b, form)
    };
    let (status, _, _) = use_from("203.0.113.77", 0).await;
    assert_eq!(status, 303, "the same /24");
    let (status, b, form) = use_from("198.51.100.1", 1).await;
    assert_eq!(status, 403, "another network");
    let r = from(
        &b,
        reqwest::Method::POST,
        app.url("/login/magic-link/confirm"),
        "203.0.113.9",
    )
    .form(&form)
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 303, "the refusal left the link usable");
}

#[tokio::test]
async fn unpinned_links_work_from_anywhere() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32"),
    )
    .await;
    opted_in(&app, "xan@example.com").await;
    let b = browser();
    ask(&app, &b, "/login/magic-link", "xan@example.com").await;
    let (link, _) = link_mail(&sink, "xan@example.com", 0).await;
    let (r, _) = confirm_from(&app, &b, &link, "198.51.100.1").await;
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn a_link_is_a_first_factor_the_second_is_still_asked_and_the_request_resumes() {
    use crate::two_factor::{code, enrol, fresh_step, second_factor};
    let (app, sink) = app_with_mail().await;
    let account = opted_in(&app, "yul@example.com").await;
    let s = fresh_step().await;
    let (secret, _) = enrol(&app, &account, s - 1).await;
    let c = flow::client(&app, false, &["authorization_code"]).await;

    let b = browser();
    let r = b.get(app.url(&authorize_url(&c, &[]))).send().await.unwrap();
    let login = location(&r);
    assert!(login.starts_with("/login?authreq="), "{login}");
    let html = flow::text(&app, &b, &login).await;
    let start = html.find("href=\"/login/magic-link?authreq=").unwrap() + "href=\"".len();
    let end = html[start..].find('"').unwrap() + start;
    let page = html[start..end].replace("&amp;", "&");
    ask(&app, &b, &page, "yul@example.com").await;
    let (link, _) = link_mail(&sink, "yul@example.com", 0).await;
    let r = confirm(&app, &b, &link, None).await;
    assert_eq!(location(&r), "/login/second-factor", "the second factor follows");
    let r = second_factor(&app, &b, &code(&secret, s)).await;
    assert!(
        location(&r).starts_with("/oauth2/authorize/resume?authreq="),
        "{}",
        location(&r)
    );
    let back = flow::authorize(&app, &b, &location(&r), "yul@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    let id = crate::two_factor::claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["email", "otp", "mfa"]));
}

#[tokio::test]
async fn a_link_to_a_deleted_account_offers_to_restore_it() {
    let (app, sink) = app_with_mail().await;
    let account = opted_in(&app, "zia@example.com").await;
    let r = flow::submit(
        &app,
        &account,
        "/account/delete",
        "/account/delete",
        &[("confirm", "yes")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let b = browser();
    ask(&app, &b, "/login/magic-link", "zia@example.com").await;
    let (link, _) = link_mail(&sink, "zia@example.com", 0).await;
    let r = confirm(&app, &b, &link, None).await;
    assert_eq!(location(&r), "/login/restore");
    let r = flow::submit(&app, &b, "/login/restore", "/login/restore", &[]).await;
    assert_eq!(location(&r), "/account");
    assert!(signed_in(&app, &b).await);
}

#[tokio::test]
async fn the_waiting_page_says_nothing_about_the_address() {
    let (app, _sink) = app_with_mail().await;
    opted_in(&app, "ada@example.com").await;
    let mut answers = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        let b = browser();
        let (_, page) = ask(&app, &b, "/login/magic-link", email).await;
        let csrf = input(&page, "csrf").unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        for code in ["", "123456"] {
            let r = b
                .post(app.url("/login/magic-link/code"))
                .form(&[("csrf", csrf.as_str()), ("code", code)])
                .send()
                .await
                .unwrap();
            answers.push((r.status().as_u16(), r.text().await.unwrap().replace(&csrf, "")));
        }
    }
    assert!(
        answers.iter().all(|a| a.0 == 422),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert_eq!(answers[0].1, answers[2].1, "an empty code: alike");
    assert_eq!(answers[1].1, answers[3].1, "a wrong code: alike");
}

#[tokio::test]
async fn codes_are_guessed_ten_times_a_day_at_most_and_the_asking_browser_still_signs_in() {
    let (app, sink) = app_with_mail().await;
    opted_in(&app, "bea@example.com").await;
    let guesser = browser();
    for (n, wrong) in [4, 4, 2].into_iter().enumerate() {
        ask(&app, &guesser, "/login/magic-link", "bea@example.com").await;
        let (link, _) = link_mail(&sink, "bea@example.com", n).await;
        for _ in 0..wrong {
            assert_eq!(confirm(&app, &browser(), &link, Some("000000")).await.status(), 422);
        }
    }
    // Ten wrong codes today: even the right one is refused now…
    let owner = browser();
    ask(
        &app,
        &owner,
        "/login/magic-link?next=%2Faccount%2Fedit",
        "bea@example.com",
    )
    .await;
    let (link, code) = link_mail(&sink, "bea@example.com", 3).await;
    assert_eq!(confirm(&app, &browser(), &link, Some(&code)).await.status(), 422);
    // …but the browser that asked needs none.
    let r = confirm(&app, &owner, &link, None).await;
    assert_eq!(location(&r), "/account/edit");
}

#[tokio::test]
async fn elsewhere_a_link_leads_to_the_account_and_a_password_change_ends_it() {
    let (app, sink) = app_with_mail().await;
    let account = opted_in(&app, "cal@example.com").await;
    ask(
        &app,
        &browser(),
        "/login/magic-link?next=%2Faccount%2Fedit",
        "cal@example.com",
    )
    .await;
    let (link, code) = link_mail(&sink, "cal@example.com", 0).await;
    let r = confirm(&app, &browser(), &link, Some(&code)).await;
    assert_eq!(
        location(&r),
        "/account",
        "the asker's choice is followed in the asking browser only"
    );

    ask(&app, &browser(), "/login/magic-link", "cal@example.com").await;
    let (link, code) = link_mail(&sink, "cal@example.com", 1).await;
    let fields = [
        ("current", flow::PASSWORD),
        ("password", "a different passphrase now"),
        ("password_confirm", "a different passphrase now"),
    ];
    let r = flow::submit(&app, &account, "/account/password", "/account/password", &fields).await;
    assert_eq!(r.status(), 200);
    let r = confirm(&app, &browser(), &link, Some(&code)).await;
    assert_eq!(r.status(), 410, "a password change ends the link");
}

#[tokio::test]
async fn after_a_link_the_mailed_code_is_no_second_factor() {
    let (app, sink) = app_with_mail().await;
    let account = opted_in(&app, "dov@example.com").await;
    let s = crate::two_factor::fresh_step().await;
    crate::two_factor::enrol(&app, &account, s).await;
    let r = flow::submit(&app, &account, "/account/two-factor", "/account/two-factor/email", &[]).await;
    assert!(r.text().await.unwrap().contains("Codes by email are on"));
    // A password sign-in may use a mailed code…
    let p = browser();
    flow::login(&app, &p, "/login", "dov@example.com", flow::PASSWORD).await;
    assert!(
        flow::text(&app, &p, "/login/second-factor")
            .await
            .contains("Email me a code")
    );
    // …a sign-in link, which proved the same mailbox, may not.
    let b = browser();
    ask(&app, &b, "/login/magic-link", "dov@example.com").await;
    let (link, _) = link_mail(&sink, "dov@example.com", 0).await;
    let r = confirm(&app, &b, &link, None).await;
    assert_eq!(location(&r), "/login/second-factor");
    let page = flow::text(&app, &b, "/login/second-factor").await;
    assert!(!page.contains("Email me a code"), "{page}");
    let r = flow::submit(&app, &b, "/login/second-factor", "/login/second-factor/email", &[]).await;
    assert!(!r.text().await.unwrap().contains("We mailed you a code"));
}
