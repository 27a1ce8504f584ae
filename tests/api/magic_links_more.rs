//! Sign-in links, the rest of the proof: the mail names the device and place that asked,
//! a link alone is `amr ["email"]` with a login notification after it, requests are
//! limited per address and per IP (alike for every address), and IPv6 pinning compares
//! networks, not addresses.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::flow::{self, authorize_url, input, location};
use crate::helpers::smtp::SmtpSink;
use crate::helpers::{Options, TestApp, mmdb, temp_dir};
use crate::magic_links::{SUBJECT, confirm_from, from, link_mail, opted_in};

const CHROME_ON_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

/// A fresh browser that sends every request as Chrome on Windows.
fn chrome() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(CHROME_ON_WINDOWS)
        .build()
        .unwrap()
}

/// Posts the link request form of `page` (with its hidden fields) from `ip`.
async fn ask_from(app: &TestApp, b: &reqwest::Client, page: &str, email: &str, ip: &str) -> (u16, String) {
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
    let r = from(b, reqwest::Method::POST, app.url("/login/magic-link"), ip)
        .form(&form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn the_mail_names_who_asked_and_a_link_alone_signs_in_as_email() {
    let dir = temp_dir();
    let db = dir.path().join("GeoLite2-City.mmdb");
    mmdb::write_city(&db, &[("81.2.69.0/24", Some("London"), "United Kingdom")]);
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32")
            .set("GATEHOUSE_GEOIP_DATABASE", db.display().to_string()),
    )
    .await;
    opted_in(&app, "ada@example.com").await;
    let c = flow::client(&app, false, &["authorization_code"]).await;

    let b = chrome();
    let r = b.get(app.url(&authorize_url(&c, &[]))).send().await.unwrap();
    let login = location(&r);
    let html = flow::text(&app, &b, &login).await;
    let start = html.find("href=\"/login/magic-link?authreq=").unwrap() + "href=\"".len();
    let end = html[start..].find('"').unwrap() + start;
    let page = html[start..end].replace("&amp;", "&");
    let (status, _) = ask_from(&app, &b, &page, "ada@example.com", "81.2.69.160").await;
    assert_eq!(status, 200);
    let (link, _) = link_mail(&sink, "ada@example.com", 0).await;
    let mail = sink
        .messages()
        .await
        .into_iter()
        .find(|m| m.header("Subject").as_deref() == Some(SUBJECT))
        .unwrap()
        .decoded();
    assert!(mail.contains("Asked from: Chrome 120"), "{mail}");
    assert!(mail.contains("on Windows"), "{mail}");
    assert!(mail.contains("IP address 81.2.69.160"), "{mail}");
    assert!(mail.contains("approximate location London, United Kingdom"), "{mail}");

    let (r, _) = confirm_from(&app, &b, &link, "81.2.69.160").await;
    let resume = location(&r);
    assert!(resume.starts_with("/oauth2/authorize/resume?authreq="), "{resume}");
    let back = flow::authorize(&app, &b, &resume, "ada@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    let id = crate::two_factor::claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["email"]), "a link alone is one factor");

    // The usual login notification follows the sign-in.
    let mut notified = false;
    for _ in 0..100 {
        notified = sink.messages().await.iter().any(|m| {
            m.to.iter().any(|t| t.contains("ada@example.com"))
                && m.header("Subject").as_deref() == Some("New sign-in to your Gatehouse account")
                && m.decoded().contains("81.2.69.160")
        });
        if notified {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(notified, "a login notification for the link's sign-in");
}

#[tokio::test]
async fn requests_are_limited_per_address_and_per_ip_alike_for_every_address() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32")
            .set("GATEHOUSE_ACCOUNTS__MAIL_REQUESTS_PER_HOUR", "2"),
    )
    .await;
    opted_in(&app, "bo@example.com").await;
    // Per address: the third request within the hour is refused, from any IP, and an
    // address nobody has is refused at the same point.
    for email in ["bo@example.com", "ghost@example.com"] {
        let b = chrome();
        let answers = [
            ask_from(&app, &b, "/login/magic-link", email, "198.51.100.1").await,
            ask_from(&app, &b, "/login/magic-link", email, "198.51.100.2").await,
            ask_from(&app, &b, "/login/magic-link", email, "198.51.100.3").await,
        ];
        assert_eq!(answers[0].0, 200, "{email}");
        assert_eq!(answers[1].0, 200, "{email}");
        assert_eq!(answers[2].0, 429, "{email}");
        assert!(
            answers[2].1.contains("Too many requests. Try again in an hour."),
            "{}",
            answers[2].1
        );
    }
    link_mail(&sink, "bo@example.com", 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mailed = sink
        .messages()
        .await
        .iter()
        .filter(|m| m.header("Subject").as_deref() == Some(SUBJECT))
        .count();
    assert_eq!(mailed, 2, "the refused request mailed nothing");

    // Per IP: four times the per-address limit, whatever the addresses.
    let b = chrome();
    for i in 0..8 {
        let (status, _) = ask_from(
            &app,
            &b,
            "/login/magic-link",
            &format!("n{i}@example.com"),
            "203.0.113.7",
        )
        .await;
        assert_eq!(status, 200, "request {i}");
    }
    let (status, _) = ask_from(&app, &b, "/login/magic-link", "n9@example.com", "203.0.113.7").await;
    assert_eq!(status, 429, "the ninth from one IP");
    let (status, _) = ask_from(&app, &b, "/login/magic-link", "n9@example.com", "203.0.113.8").await;
    assert_eq!(status, 200, "another IP is not affected");
}

#[tokio::test]
async fn pinned_links_compare_ipv6_networks_so_privacy_addresses_pass() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32")
            .set("GATEHOUSE_MAGIC_LINKS__PIN_IP", "true"),
    )
    .await;
    opted_in(&app, "cy@example.com").await;
    let attempt = async |seen: usize, used_from: &str| {
        let b = chrome();
        let (status, _) = ask_from(&app, &b, "/login/magic-link", "cy@example.com", "2001:db8:1:2::5").await;
        assert_eq!(status, 200);
        let (link, _) = link_mail(&sink, "cy@example.com", seen).await;
        let (r, form) = confirm_from(&app, &b, &link, used_from).await;
        (r.status().as_u16(), b, form)
    };
    let (status, _, _) = attempt(0, "2001:db8:1:ff00:a1b2:c3d4:e5f6:7788").await;
    assert_eq!(status, 303, "another /64 of the same /48: a new privacy address");
    let (status, b, form) = attempt(1, "2001:db8:2::5").await;
    assert_eq!(status, 403, "another network");
    let r = from(
        &b,
        reqwest::Method::POST,
        app.url("/login/magic-link/confirm"),
        "2001:db8:1::9",
    )
    .form(&form)
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 303, "the refusal left the link usable");
}
