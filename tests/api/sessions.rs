//! "Where you are signed in": approximate places from a GeoIP database (in login
//! notifications and the session list) and last-seen times.

use std::time::Duration;

use chrono::Timelike;

use crate::helpers::flow::{self, browser, input};
use crate::helpers::smtp::SmtpSink;
use crate::helpers::{Options, TestApp, mmdb, temp_dir};

const SIGN_IN: &str = "New sign-in to your Gatehouse account";

async fn login_from(app: &TestApp, b: &reqwest::Client, email: &str, client_ip: &str) {
    let html = flow::text(app, b, "/login").await;
    let r = b
        .post(app.url("/login"))
        .header("x-forwarded-for", client_ip)
        .form(&[
            ("email", email),
            ("password", flow::PASSWORD),
            ("csrf", &input(&html, "csrf").unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "login from {client_ip}");
}

/// The login-notification bodies received so far, once there are `n`.
async fn notifications(sink: &SmtpSink, n: usize) -> Vec<String> {
    for _ in 0..100 {
        let bodies: Vec<String> = sink
            .messages()
            .await
            .iter()
            .filter(|m| m.header("Subject").as_deref() == Some(SIGN_IN))
            .map(|m| m.decoded())
            .collect();
        if bodies.len() >= n {
            return bodies;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} login notifications arrived");
}

#[tokio::test]
async fn logins_are_placed_by_the_geoip_database() {
    let dir = temp_dir();
    let db = dir.path().join("GeoLite2-City.mmdb");
    mmdb::write_city(
        &db,
        &[
            ("81.2.69.0/24", Some("London"), "United Kingdom"),
            ("2001:db8::/32", None, "Germany"),
        ],
    );
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32")
            .set("GATEHOUSE_GEOIP_DATABASE", db.display().to_string()),
    )
    .await;
    flow::user(&app, "traveller@example.com").await;

    let (london, berlin, nowhere) = (browser(), browser(), browser());
    login_from(&app, &london, "traveller@example.com", "81.2.69.160").await;
    let first = notifications(&sink, 1).await;
    assert!(first[0].contains("IP address: 81.2.69.160"), "{}", first[0]);
    assert!(
        first[0].contains("Approximate location: London, United Kingdom"),
        "{}",
        first[0]
    );
    login_from(&app, &berlin, "traveller@example.com", "2001:db8::7").await;
    login_from(&app, &nowhere, "traveller@example.com", "192.0.2.10").await;
    let all = notifications(&sink, 3).await;
    let located = |ip: &str| {
        all.iter()
            .find(|b| b.contains(&format!("IP address: {ip}")))
            .unwrap_or_else(|| panic!("no notification for {ip}"))
            .lines()
            .find_map(|l| l.strip_prefix("Approximate location: "))
            .map(str::trim)
            .map(str::to_string)
    };
    assert_eq!(located("2001:db8::7").as_deref(), Some("Germany"));
    assert_eq!(located("192.0.2.10").as_deref(), Some("unknown"));

    // The session list shows each place next to its address.
    let html = flow::text(&app, &london, "/account/security").await;
    assert!(html.contains("London, United Kingdom"), "{html}");
    assert!(html.contains(">Germany<"), "{html}");
    assert_eq!(html.matches("class=\"session-location\"").count(), 2, "{html}");
}

#[tokio::test]
async fn a_database_that_is_not_a_geoip_database_stops_the_start() {
    let dir = temp_dir();
    let junk = dir.path().join("junk.mmdb");
    std::fs::write(&junk, b"this is not a MaxMind database").unwrap();
    let asn = dir.path().join("asn.mmdb");
    mmdb::write(&asn, "GeoLite2-ASN", &[("81.2.69.0/24", None, "United Kingdom")]);
    // A good file damaged in its search tree: the metadata reads, the data does not.
    let damaged = dir.path().join("damaged.mmdb");
    mmdb::write_city(&damaged, &[("81.2.69.0/24", Some("London"), "United Kingdom")]);
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[..6].copy_from_slice(&[0xff; 6]);
    std::fs::write(&damaged, bytes).unwrap();
    for (file, expected) in [
        (&junk, "not a readable MaxMind DB file"),
        (&damaged, "not a valid MaxMind DB file"),
        (&asn, "database type \"GeoLite2-ASN\" has no locations"),
    ] {
        let db = crate::helpers::TestDb::create().await;
        let mut env = crate::helpers::base_env(&db, &crate::helpers::random_key());
        env.push(("GATEHOUSE_GEOIP_DATABASE".into(), file.display().to_string()));
        let config = gatehouse::Config::load_from(None, env).expect("the path exists, so the configuration loads");
        let err = gatehouse::App::build(config).await.err().expect("the start is refused");
        let msg = err.to_string();
        assert!(msg.starts_with("geoip_database "), "{msg}");
        assert!(msg.contains(expected), "{msg}");
    }
    // A path that is not there is a configuration error naming the key.
    let db = crate::helpers::TestDb::create().await;
    let mut env = crate::helpers::base_env(&db, &crate::helpers::random_key());
    env.push(("GATEHOUSE_GEOIP_DATABASE".into(), "/nonexistent/City.mmdb".into()));
    let err = gatehouse::Config::load_from(None, env).expect_err("refused");
    assert!(err.to_string().contains("GATEHOUSE_GEOIP_DATABASE"), "{err}");
}

/// The `datetime` of the `<time class="{class}">` in the session list item of `sid`.
fn time_in(html: &str, sid: &str, class: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let item = &html[html.find(&format!("data-sid=\"{sid}\""))?..];
    let item = &item[..item.find("</li>")?];
    let at = item.find(&format!("<time class=\"{class}\" datetime=\""))?;
    let rest = &item[at..];
    let start = rest.find("datetime=\"")? + "datetime=\"".len();
    let end = rest[start..].find('"')?;
    rest[start..start + end].parse().ok()
}

#[tokio::test]
async fn the_session_list_shows_when_each_session_was_last_used() {
    let app = TestApp::spawn().await;
    flow::user(&app, "seen@example.com").await;
    let (desk, phone) = (browser(), browser());
    flow::login(&app, &desk, "/login", "seen@example.com", flow::PASSWORD).await;
    flow::login(&app, &phone, "/login", "seen@example.com", flow::PASSWORD).await;
    let list = |b: reqwest::Client| {
        let app = &app;
        async move { flow::text(app, &b, "/account/security").await }
    };
    let html = list(desk.clone()).await;
    let sids: Vec<String> = html
        .split("data-sid=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_string))
        .collect();
    assert_eq!(sids.len(), 2, "{html}");
    assert!(
        html.contains(
            r#"<a href="/account/security" class="font-medium text-indigo-700" aria-current="page">Security</a>"#
        ),
        "the account navigation marks this page: {html}"
    );
    // The list marks this browser as "now"; the other shows a time.
    let (mine, other): (Vec<&String>, Vec<&String>) = sids
        .iter()
        .partition(|sid| time_in(&html, sid, "session-seen").is_none());
    assert_eq!((mine.len(), other.len()), (1, 1), "{html}");
    let phone_sid = other[0].clone();
    let before = time_in(&html, &phone_sid, "session-seen").unwrap();
    assert_eq!(
        Some(before),
        time_in(&html, &phone_sid, "session-since"),
        "unused since login"
    );

    // The phone is used a moment later: the desk sees it.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let used = chrono::Utc::now() - chrono::Duration::seconds(1);
    assert_eq!(phone.get(app.url("/account")).send().await.unwrap().status(), 200);
    let html = list(desk).await;
    let after = time_in(&html, &phone_sid, "session-seen").unwrap();
    assert!(after > before, "last seen moves on: {before} → {after}");
    assert!(after >= used.with_nanosecond(0).unwrap(), "{after} vs {used}");
}

async fn login_remembered(app: &TestApp, b: &reqwest::Client, email: &str) {
    let html = flow::text(app, b, "/login").await;
    let r = b
        .post(app.url("/login"))
        .form(&[
            ("email", email),
            ("password", flow::PASSWORD),
            ("csrf", &input(&html, "csrf").unwrap()),
            ("remember", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
}

fn session_cookie(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("gh_session="))
        .map(str::to_string)
}

#[tokio::test]
async fn keep_me_signed_in_is_what_makes_a_session_last() {
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_TOKENS__BROWSER_SESSION_SECS", "2")).await;
    flow::user(&app, "brief@example.com").await;
    let (brief, kept) = (browser(), browser());
    flow::login(&app, &brief, "/login", "brief@example.com", flow::PASSWORD).await;
    login_remembered(&app, &kept, "brief@example.com").await;
    for b in [&brief, &kept] {
        assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let r = brief.get(app.url("/account")).send().await.unwrap();
    assert_eq!(
        (r.status().as_u16(), flow::location(&r)),
        (303, "/login?next=%2Faccount".to_string()),
        "a session without \"keep me signed in\" ended"
    );
    assert_eq!(kept.get(app.url("/account")).send().await.unwrap().status(), 200);

    // Signing out the other sessions on a password change keeps this one remembered.
    let html = flow::text(&app, &kept, "/account/password").await;
    let r = kept
        .post(app.url("/account/password"))
        .form(&[
            ("csrf", input(&html, "csrf").unwrap().as_str()),
            ("current", flow::PASSWORD),
            ("password", "brand new tidal compass"),
            ("password_confirm", "brand new tidal compass"),
            ("sign_out_others", "yes"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = session_cookie(&r).expect("a fresh session cookie");
    assert!(cookie.contains("Max-Age="), "still persistent: {cookie}");
}

#[tokio::test]
async fn a_browser_session_may_not_outlive_a_remembered_one() {
    let db = crate::helpers::TestDb::create().await;
    let mut env = crate::helpers::base_env(&db, &crate::helpers::random_key());
    env.push(("GATEHOUSE_TOKENS__SESSION_SECS".into(), "3600".into()));
    env.push(("GATEHOUSE_TOKENS__BROWSER_SESSION_SECS".into(), "7200".into()));
    let err = gatehouse::Config::load_from(None, env).expect_err("refused");
    assert!(
        err.to_string().contains("GATEHOUSE_TOKENS__BROWSER_SESSION_SECS")
            && err.to_string().contains("must not exceed tokens.session_secs"),
        "{err}"
    );
}

#[tokio::test]
async fn simultaneous_logins_are_all_listed_and_all_signed_out() {
    let app = TestApp::spawn().await;
    flow::user(&app, "busy@example.com").await;
    let browsers: Vec<reqwest::Client> = (0..10).map(|_| browser()).collect();
    futures_util::future::join_all(
        browsers
            .iter()
            .map(|b| flow::login(&app, b, "/login", "busy@example.com", flow::PASSWORD)),
    )
    .await
    .iter()
    .for_each(|r| assert_eq!(r.status(), 303));
    let me = &browsers[0];
    let html = flow::text(&app, me, "/account/security").await;
    assert_eq!(html.matches("data-sid=").count(), 10, "every session is listed");
    let r = me
        .post(app.url("/account/security/sessions"))
        .form(&[("csrf", input(&html, "csrf").unwrap().as_str()), ("others", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(session_cookie(&r), None, "this browser's session is kept, not renewed");
    for (i, b) in browsers.iter().enumerate() {
        let status = b.get(app.url("/account")).send().await.unwrap().status();
        assert_eq!(status, if i == 0 { 200 } else { 303 }, "browser {i}");
    }
    let html = flow::text(&app, me, "/account/security").await;
    assert_eq!(html.matches("data-sid=").count(), 1, "only this browser is left");
}
