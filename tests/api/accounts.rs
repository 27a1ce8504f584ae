//! Hosted account flows, with every link taken from the mail received by a real SMTP
//! listener: signup, activation, resend, password reset, and answers that do not reveal
//! accounts (the pages after sign-in are in `account_pages.rs`).

use std::time::Duration;

use crate::helpers::flow::{self, browser, input, location};
use crate::helpers::smtp::{Received, SmtpSink};
use crate::helpers::{Options, TestApp};

pub(crate) const GOOD: &str = "quiet lantern mossy harbor";

pub(crate) async fn app_with_mail() -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_SMTP_URL", sink.url())).await;
    (app, sink)
}

/// The first `{issuer}/...` link in a mail (the tests' issuer, `http://127.0.0.1:8080`),
/// made relative to the app.
pub(crate) fn link_in(m: &Received, path: &str) -> String {
    link_of(m, "http://127.0.0.1:8080", path)
}

/// The first `{issuer}{path}…` link in a mail, made relative to the app.
pub(crate) fn link_of(m: &Received, issuer: &str, path: &str) -> String {
    let body = m.decoded();
    let start = body
        .find(&format!("{issuer}{path}"))
        .unwrap_or_else(|| panic!("no {issuer}{path} link in {body}"));
    let rest = &body[start + issuer.len()..];
    let end = rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .unwrap_or(rest.len());
    rest[..end].replace("&amp;", "&")
}

pub(crate) async fn signup(
    app: &TestApp,
    b: &reqwest::Client,
    email: &str,
    pw: &str,
    confirm: &str,
) -> reqwest::Response {
    let html = flow::text(app, b, "/signup").await;
    let form = [
        ("email", email),
        ("password", pw),
        ("password_confirm", confirm),
        ("csrf", &input(&html, "csrf").unwrap()),
    ];
    b.post(app.url("/signup")).form(&form).send().await.unwrap()
}

pub(crate) async fn post_token_form(app: &TestApp, b: &reqwest::Client, link: &str) -> reqwest::Response {
    let page = b.get(app.url(link)).send().await.unwrap();
    assert_eq!(page.status(), 200, "confirmation page for {link}");
    let html = page.text().await.unwrap();
    let action = if link.starts_with("/signup") {
        "/signup/activate"
    } else {
        "/password/reset/confirm"
    };
    let mut form = vec![
        ("csrf", input(&html, "csrf").unwrap()),
        ("token", input(&html, "token").unwrap()),
    ];
    for carried in ["authreq", "next"] {
        if let Some(v) = input(&html, carried) {
            form.push((carried, v));
        }
    }
    b.post(app.url(action)).form(&form).send().await.unwrap()
}

/// Waits for a mail with `subject`; returns it.
pub(crate) async fn wait_subject(sink: &SmtpSink, subject: &str) -> Received {
    for _ in 0..200 {
        if let Some(m) = sink
            .messages()
            .await
            .into_iter()
            .find(|m| m.header("Subject").as_deref() == Some(subject))
        {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no mail {subject:?}; got {:?}", subjects(&sink.messages().await));
}

pub(crate) fn subjects(msgs: &[Received]) -> Vec<String> {
    msgs.iter().map(|m| m.header("Subject").unwrap_or_default()).collect()
}

#[tokio::test]
async fn signup_activation_by_mailed_link_then_login() {
    let (app, sink) = app_with_mail().await;
    let b = browser();
    let r = signup(&app, &b, "New.User@example.com", GOOD, GOOD).await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Check your inbox"));
    let msgs = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(msgs[0].to, vec!["<New.User@example.com>".to_string()]);
    assert_eq!(subjects(&msgs), ["Confirm your email address for Gatehouse"]);
    let link = link_in(&msgs[0], "/signup/activate?token=");

    // Not yet: login explains and offers a resend.
    let r = flow::login(&app, &b, "/login", "new.user@example.com", GOOD).await;
    assert_eq!(r.status(), 403);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("not verified") && html.contains("/signup/resend"),
        "{html}"
    );

    // Opening the link shows a confirmation; only the POST activates.
    let r = post_token_form(&app, &b, &link).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?activated=1");
    let msgs = sink.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        msgs[1].header("Subject").as_deref(),
        Some("Your Gatehouse account is ready")
    );
    let page = flow::text(&app, &b, "/login?activated=1").await;
    assert!(page.contains("Your email address is confirmed"));
    let r = flow::login(&app, &b, "/login", "NEW.USER@example.com", GOOD).await;
    assert_eq!(r.status(), 303, "case-insensitive login after activation");

    // The link works once.
    let again = b.get(app.url(&link)).send().await.unwrap();
    assert_eq!(again.status(), 410);
}

#[tokio::test]
async fn signup_validation_keeps_the_email_and_names_the_field() {
    let (app, _sink) = app_with_mail().await;
    let b = browser();
    let r = signup(&app, &b, "typo@example.com", GOOD, "something else entirely").await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("The passwords do not match.") && html.contains("value=\"typo@example.com\""),
        "{html}"
    );
    assert!(html.contains("aria-describedby=\"confirm-error\""));
    assert!(!html.contains("something else entirely"), "passwords are not echoed");
    let r = signup(&app, &b, "weak@example.com", "password123", "password123").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("too easy to guess"));
    let r = signup(&app, &b, "not-an-email", GOOD, GOOD).await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("is not a valid email address"));
    // No CSRF token.
    let r = b
        .post(app.url("/signup"))
        .form(&[
            ("email", "x@example.com"),
            ("password", GOOD),
            ("password_confirm", GOOD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn signup_and_resend_answer_the_same_for_existing_and_unknown_addresses() {
    let (app, sink) = app_with_mail().await;
    flow::user(&app, "taken@example.com").await;
    let b = browser();
    let fresh = signup(&app, &b, "fresh@example.com", GOOD, GOOD).await;
    let taken = signup(&app, &b, "TAKEN@example.com", GOOD, GOOD).await;
    assert_eq!(fresh.status(), taken.status());
    let (fresh, taken) = (fresh.text().await.unwrap(), taken.text().await.unwrap());
    let strip = |h: &str| h.lines().filter(|l| !l.contains("csrf")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&fresh), strip(&taken), "identical pages");
    let msgs = sink.wait_for(2, Duration::from_secs(10)).await;
    let taken_mail = msgs.iter().find(|m| m.to[0].contains("taken@")).unwrap();
    assert!(
        taken_mail
            .header("Subject")
            .unwrap()
            .starts_with("Someone tried to sign up"),
        "the owner is told instead"
    );

    // Resend: unknown, verified and unverified addresses get the same page; only the
    // unverified one gets mail.
    let resend = |email: &'static str| {
        let b = b.clone();
        let app = &app;
        async move {
            let html = flow::text(app, &b, "/signup/resend").await;
            let r = b
                .post(app.url("/signup/resend"))
                .form(&[("email", email), ("csrf", &input(&html, "csrf").unwrap())])
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let a = resend("nobody@example.com").await;
    let v = resend("taken@example.com").await;
    let u = resend("fresh@example.com").await;
    assert_eq!(a.0, 200);
    assert_eq!(strip(&a.1), strip(&v.1));
    assert_eq!(strip(&a.1), strip(&u.1));
    let msgs = sink.wait_for(3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let msgs = if msgs.len() == 3 { sink.messages().await } else { msgs };
    assert_eq!(
        msgs.len(),
        3,
        "one more mail, to the unverified address: {:?}",
        subjects(&msgs)
    );
    assert_eq!(msgs[2].to, vec!["<fresh@example.com>".to_string()]);
}

#[tokio::test]
async fn resend_is_rate_limited() {
    let (app, _sink) = app_with_mail().await;
    let b = browser();
    let html = flow::text(&app, &b, "/signup/resend").await;
    let csrf = input(&html, "csrf").unwrap();
    let mut last = 0;
    for _ in 0..6 {
        last = b
            .post(app.url("/signup/resend"))
            .form(&[("email", "flood@example.com"), ("csrf", csrf.as_str())])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
}

/// Asks for a reset link for `email` and returns it, once its mail (the `nth`, from 1) arrived.
pub(crate) async fn reset_link(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> String {
    let b = browser();
    let html = flow::text(app, &b, "/password/reset").await;
    let r = b
        .post(app.url("/password/reset"))
        .form(&[("email", email), ("csrf", &input(&html, "csrf").unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for _ in 0..100 {
        let mails: Vec<Received> = sink
            .messages()
            .await
            .into_iter()
            .filter(|m| m.header("Subject").as_deref() == Some("Reset your Gatehouse password"))
            .collect();
        if mails.len() >= nth {
            return link_in(&mails[nth - 1], "/password/reset/confirm?token=");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("reset mail {nth} never arrived");
}

/// Submits a new password through a reset link; returns the status.
pub(crate) async fn reset_with(app: &TestApp, link: &str, password: &str) -> u16 {
    let b = browser();
    let r = b.get(app.url(link)).send().await.unwrap();
    if r.status() != 200 {
        return r.status().as_u16();
    }
    let html = r.text().await.unwrap();
    let r = b
        .post(app.url("/password/reset/confirm"))
        .form(&[
            ("csrf", input(&html, "csrf").unwrap().as_str()),
            ("token", input(&html, "token").unwrap().as_str()),
            ("password", password),
            ("password_confirm", password),
        ])
        .send()
        .await
        .unwrap();
    r.status().as_u16()
}

#[tokio::test]
async fn reset_links_die_when_the_password_changes() {
    let (app, sink) = app_with_mail().await;
    flow::user(&app, "twice@example.com").await;
    let first = reset_link(&app, &sink, "twice@example.com", 1).await;
    let second = reset_link(&app, &sink, "twice@example.com", 2).await;
    assert_ne!(first, second);
    assert_eq!(reset_with(&app, &second, GOOD).await, 303, "the newer link works");
    assert_eq!(
        reset_with(&app, &first, "another calm river stone").await,
        410,
        "an older link died with the password it was sent for"
    );

    // A link mailed before a change on the account page dies too.
    let third = reset_link(&app, &sink, "twice@example.com", 3).await;
    let b = browser();
    assert_eq!(
        flow::login(&app, &b, "/login", "twice@example.com", GOOD)
            .await
            .status(),
        303
    );
    let html = flow::text(&app, &b, "/account/password").await;
    let r = b
        .post(app.url("/account/password"))
        .form(&[
            ("csrf", input(&html, "csrf").unwrap().as_str()),
            ("current", GOOD),
            ("password", "brand new tidal compass"),
            ("password_confirm", "brand new tidal compass"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(reset_with(&app, &third, "another calm river stone").await, 410);
    assert_eq!(
        flow::login(
            &app,
            &browser(),
            "/login",
            "twice@example.com",
            "brand new tidal compass"
        )
        .await
        .status(),
        303,
        "the password chosen on the account page stands"
    );
}

#[tokio::test]
async fn password_reset_by_mailed_link_ends_sessions_and_tokens() {
    use crate::helpers::flow::{authorize_url, query};
    let (app, sink) = app_with_mail().await;
    flow::user(&app, "forgetful@example.com").await;
    let c = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    // A session and a refresh token from before the reset.
    let old = browser();
    let t = flow::code_tokens(&app, &old, &c, &[], "forgetful@example.com").await;

    let b = browser();
    let ask = |email: &'static str| {
        let b = b.clone();
        let app = &app;
        async move {
            let html = flow::text(app, &b, "/password/reset").await;
            let r = b
                .post(app.url("/password/reset"))
                .form(&[("email", email), ("csrf", &input(&html, "csrf").unwrap())])
                .send()
                .await
                .unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let unknown = ask("nobody@example.com").await;
    let known = ask("Forgetful@Example.com").await;
    assert_eq!(unknown.0, 200);
    let strip = |h: &str| h.lines().filter(|l| !l.contains("csrf")).collect::<Vec<_>>().join("\n");
    assert_eq!(strip(&unknown.1), strip(&known.1), "identical answers");
    let reset_mail = wait_subject(&sink, "Reset your Gatehouse password").await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let all = sink.messages().await;
    assert!(
        all.iter().all(|m| !m.to[0].contains("nobody@")),
        "no mail to an address without an account"
    );
    assert_eq!(
        all.iter()
            .filter(|m| m.header("Subject").as_deref() == Some("Reset your Gatehouse password"))
            .count(),
        1
    );
    let link = link_in(&reset_mail, "/password/reset/confirm?token=");

    let html = flow::text(&app, &b, &link).await;
    let csrf = input(&html, "csrf").unwrap();
    let tok = input(&html, "token").unwrap();
    let submit = |pw: &'static str, confirm: &'static str| {
        let b = b.clone();
        let (csrf, tok) = (csrf.clone(), tok.clone());
        let app = &app;
        async move {
            b.post(app.url("/password/reset/confirm"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("token", tok.as_str()),
                    ("password", pw),
                    ("password_confirm", confirm),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(submit(GOOD, "different").await.status(), 422);
    let weak = submit("password123", "password123").await;
    assert_eq!(weak.status(), 422, "the policy applies");
    assert!(weak.text().await.unwrap().contains("too easy to guess"));
    let ok = submit(GOOD, GOOD).await;
    assert_eq!(ok.status(), 303, "a refused password left the link usable");
    assert_eq!(location(&ok), "/login?reset=1");
    wait_subject(&sink, "Your Gatehouse password was changed").await;

    // The link is spent; the old password no longer works, the new one does.
    assert_eq!(submit(GOOD, GOOD).await.status(), 410);
    assert_eq!(
        flow::login(&app, &browser(), "/login", "forgetful@example.com", flow::PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        flow::login(&app, &browser(), "/login", "forgetful@example.com", GOOD)
            .await
            .status(),
        303
    );
    // The old browser's session and the old refresh token are gone.
    let r = old
        .get(app.url(&authorize_url(&c, &[("prompt", "none")])))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&r))["error"], "login_required");
    let refreshed: serde_json::Value = flow::refresh(&app, &c, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed["error"], "invalid_grant");
}

#[tokio::test]
async fn account_pages_need_a_session_and_password_change_needs_the_current_one() {
    let (app, sink) = app_with_mail().await;
    flow::user(&app, "owner@example.com").await;
    let b = browser();
    // Without a session: to the login page, coming back afterwards.
    let r = b.get(app.url("/account/password")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?next=%2Faccount%2Fpassword");
    let r = flow::login(&app, &b, "/login", "owner@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account", "login lands on the profile");
    let html = flow::text(&app, &b, "/account").await;
    assert!(html.contains("owner@example.com"));

    // A second session elsewhere.
    let other = browser();
    flow::login(&app, &other, "/login", "owner@example.com", flow::PASSWORD).await;

    let change = |current: &'static str, new: &'static str, others: bool| {
        let b = b.clone();
        let app = &app;
        async move {
            let html = flow::text(app, &b, "/account/password").await;
            let csrf = input(&html, "csrf").unwrap();
            let mut form = vec![
                ("csrf", csrf.as_str()),
                ("current", current),
                ("password", new),
                ("password_confirm", new),
            ];
            if others {
                form.push(("sign_out_others", "yes"));
            }
            let r = b.post(app.url("/account/password")).form(&form).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        }
    };
    let (status, html) = change("wrong current password", GOOD, false).await;
    assert_eq!(status, 422);
    assert!(html.contains("The current password is not correct."));
    let (status, html) = change(flow::PASSWORD, "password123", false).await;
    assert_eq!(status, 422);
    assert!(html.contains("too easy to guess"));
    let (status, _) = change(flow::PASSWORD, GOOD, true).await;
    assert_eq!(status, 200);
    wait_subject(&sink, "Your Gatehouse password was changed").await;
    // This browser stays signed in; the other one is signed out.
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), 200);
    assert_eq!(other.get(app.url("/account")).send().await.unwrap().status(), 303);
    assert_eq!(
        flow::login(&app, &browser(), "/login", "owner@example.com", GOOD)
            .await
            .status(),
        303
    );

    // Signing out.
    let html = flow::text(&app, &b, "/logout").await;
    let r = b
        .post(app.url("/logout"))
        .form(&[("csrf", input(&html, "csrf").unwrap())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), 303);
    // Logout without the CSRF token is refused.
    let r = other
        .post(app.url("/logout"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn signing_up_from_a_relying_party_returns_to_it() {
    use crate::helpers::flow::{authorize_url, query};
    let (app, sink) = app_with_mail().await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let b = browser();
    let r = b.get(app.url(&authorize_url(&c, &[]))).send().await.unwrap();
    let login = location(&r);
    let html = flow::text(&app, &b, &login).await;
    let start = html
        .find("href=\"/signup?authreq=")
        .expect("signup link carries the request");
    let signup_url = html[start + 6..].split('"').next().unwrap().to_string();
    let html = flow::text(&app, &b, &signup_url).await;
    let authreq = input(&html, "authreq").expect("hidden authreq");
    let form = [
        ("email", "rp-signup@example.com"),
        ("password", GOOD),
        ("password_confirm", GOOD),
        ("csrf", &input(&html, "csrf").unwrap()),
        ("authreq", &authreq),
    ];
    assert_eq!(
        b.post(app.url("/signup")).form(&form).send().await.unwrap().status(),
        200
    );
    let msgs = sink.wait_for(1, Duration::from_secs(10)).await;
    let link = link_in(&msgs[0], "/signup/activate?token=");
    assert!(link.contains("authreq="), "{link}");
    let r = post_token_form(&app, &b, &link).await;
    let to_login = location(&r);
    assert!(to_login.starts_with("/login?activated=1&authreq="), "{to_login}");
    let r = flow::login(&app, &b, &to_login, "rp-signup@example.com", GOOD).await;
    assert!(
        location(&r).starts_with("/oauth2/authorize/resume"),
        "login resumes the request"
    );
    let back = flow::authorize(&app, &b, &location(&r), "rp-signup@example.com").await;
    assert!(query(&back).contains_key("code"), "{back}");
}
