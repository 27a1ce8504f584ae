//! What an independent review found in the account side, each seen from outside:
//! sign-in throttling that spares the owner, links that die with the password, bounded
//! metrics and images, configuration bounds, compromised passwords (the protocol side is
//! in `rp_hardening.rs`).

use base64::Engine;
use serde_json::Value;

use crate::accounts::{app_with_mail, link_in, reset_link, reset_with, wait_subject};
use crate::helpers::flow::{self, browser, input};
use crate::helpers::{Options, TestApp};

#[path = "../fixtures/png_claiming.rs"]
mod fixture;
use fixture::png_claiming;

/// The claims of a JWT, as a relying party reads them after checking the signature.
pub(crate) fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url"),
    )
    .expect("JSON claims")
}

// ----- sign-in throttling ---------------------------------------------------------------

#[tokio::test]
async fn successful_sign_ins_never_lock_and_the_owners_browser_outlives_a_lockout() {
    let app = TestApp::spawn().await;
    flow::user(&app, "owner@example.com").await;
    // Many applications, prompt=login, max_age=0: the owner signs in again and again.
    let owner = browser();
    for i in 0..15 {
        let r = flow::login(&app, &owner, "/login", "owner@example.com", flow::PASSWORD).await;
        assert_eq!(r.status(), 303, "sign-in {} of 15", i + 1);
    }
    // A stranger exhausts the account's budget for unknown browsers.
    let stranger = browser();
    for _ in 0..10 {
        let r = flow::login(&app, &stranger, "/login", "owner@example.com", "guess guess guess").await;
        assert_eq!(r.status(), 401);
    }
    let r = flow::login(&app, &stranger, "/login", "owner@example.com", flow::PASSWORD).await;
    assert_eq!(r.status(), 429, "locked for the stranger, even with the right password");
    // A fresh browser is throttled too, and told how long to wait.
    let fresh = browser();
    let r = flow::login(&app, &fresh, "/login", "owner@example.com", flow::PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Try again in 15 minutes."));
    // The browser the owner signed in with before still gets in.
    let r = flow::login(&app, &owner, "/login", "owner@example.com", flow::PASSWORD).await;
    assert_eq!(r.status(), 303, "the device cookie gets its own budget");
    // That budget is small: five failures, then this browser waits too.
    for _ in 0..5 {
        let r = flow::login(&app, &owner, "/login", "owner@example.com", "typo typo typo").await;
        assert_eq!(r.status(), 401);
    }
    let r = flow::login(&app, &owner, "/login", "owner@example.com", flow::PASSWORD).await;
    assert_eq!(r.status(), 429);
}

#[tokio::test]
async fn a_device_cookie_is_bound_to_its_account() {
    let app = TestApp::spawn().await;
    flow::user(&app, "mine@example.com").await;
    flow::user(&app, "theirs@example.com").await;
    // The attacker signs in to an account of their own: that cookie is for it alone.
    let attacker = browser();
    assert_eq!(
        flow::login(&app, &attacker, "/login", "mine@example.com", flow::PASSWORD)
            .await
            .status(),
        303
    );
    let mut last = 0;
    for _ in 0..11 {
        last = flow::login(&app, &attacker, "/login", "theirs@example.com", "guess guess guess")
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429, "no extra budget against another account");
}

#[tokio::test]
async fn one_address_cannot_keep_argon2_busy_with_its_own_account() {
    // Failures per IP: 3, so attempts of any outcome per IP: 4 × 3 = 12 per 5 minutes.
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_ACCOUNTS__LOGIN_IP_LIMIT", "3")).await;
    flow::user(&app, "looper@example.com").await;
    let b = browser();
    for i in 0..12 {
        let r = flow::login(&app, &b, "/login", "looper@example.com", flow::PASSWORD).await;
        assert_eq!(r.status(), 303, "sign-in {}", i + 1);
    }
    let r = flow::login(&app, &b, "/login", "looper@example.com", flow::PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("Try again in 5 minutes."));
}

// ----- links that die with the password --------------------------------------------------

#[tokio::test]
async fn an_email_change_link_dies_when_the_owner_resets_the_password() {
    let (app, sink) = app_with_mail().await;
    flow::user(&app, "victim@example.com").await;
    // The attacker, with the stolen password, asks to move the account to their address.
    let attacker = browser();
    flow::login(&app, &attacker, "/login", "victim@example.com", flow::PASSWORD).await;
    let html = flow::text(&app, &attacker, "/account/email").await;
    let r = attacker
        .post(app.url("/account/email"))
        .form(&[
            ("email", "attacker@example.net"),
            ("password", flow::PASSWORD),
            ("csrf", &input(&html, "csrf").unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mail = wait_subject(&sink, "Confirm your new email address for Gatehouse").await;
    let change = link_in(&mail, "/account/email/confirm?token=");
    // The owner takes the account back with a password reset.
    let reset = reset_link(&app, &sink, "victim@example.com", 1).await;
    assert_eq!(reset_with(&app, &reset, "quiet lantern mossy harbor").await, 303);
    // The attacker's link is dead: shown and posted alike.
    assert_eq!(attacker.get(app.url(&change)).send().await.unwrap().status(), 410);
    let token = change.split("token=").nth(1).unwrap().to_string();
    // (The reset ended the attacker's session; any page gives the form's CSRF token.)
    let html = flow::text(&app, &attacker, "/login").await;
    let r = attacker
        .post(app.url("/account/email/confirm"))
        .form(&[("csrf", input(&html, "csrf").unwrap()), ("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    // The address is unchanged.
    assert_eq!(
        flow::login(
            &app,
            &browser(),
            "/login",
            "victim@example.com",
            "quiet lantern mossy harbor"
        )
        .await
        .status(),
        303
    );
    assert_eq!(
        flow::login(
            &app,
            &browser(),
            "/login",
            "attacker@example.net",
            "quiet lantern mossy harbor"
        )
        .await
        .status(),
        401
    );
}

// ----- bounded metrics --------------------------------------------------------------------

#[tokio::test]
async fn made_up_methods_share_one_metrics_label() {
    let app = TestApp::spawn().await;
    for i in 0..50 {
        let m = reqwest::Method::from_bytes(format!("X{i}{}", "Y".repeat(2000)).as_bytes()).unwrap();
        let _ = app.client.request(m, app.url("/login")).send().await.unwrap();
    }
    let body = app.get("/metrics").await.text().await.unwrap();
    let mut methods: Vec<&str> = body
        .lines()
        .filter(|l| l.starts_with("gatehouse_http_requests_total{"))
        .filter_map(|l| l.split("method=\"").nth(1)?.split('"').next())
        .collect();
    methods.sort_unstable();
    methods.dedup();
    assert!(methods.contains(&"other"), "{methods:?}");
    let standard = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
    ];
    assert!(
        methods.iter().all(|m| *m == "other" || standard.contains(m)),
        "{methods:?}"
    );
    assert!(body.len() < 64 * 1024, "metrics grew to {} bytes", body.len());
}

// ----- smaller items ----------------------------------------------------------------------

#[tokio::test]
async fn first_party_applications_with_tokens_are_listed_and_can_be_removed() {
    let app = TestApp::spawn().await;
    flow::user(&app, "fp-list@example.com").await;
    let c = flow::client_with(&app, false, &["authorization_code", "refresh_token"], |n| {
        gatehouse::clients::NewClient {
            first_party: true,
            name: "Internal dashboard".into(),
            ..n
        }
    })
    .await;
    let b = browser();
    let t = flow::code_tokens(&app, &b, &c, &[], "fp-list@example.com").await;
    let html = flow::text(&app, &b, "/account/security").await;
    assert!(html.contains("Internal dashboard"), "listed without consent");
    let r = b
        .post(app.url("/account/security/apps"))
        .form(&[("csrf", input(&html, "csrf").unwrap()), ("client_id", c.id.clone())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.text().await.unwrap().contains("Internal dashboard"));
    assert_eq!(
        flow::refresh(&app, &c, t["refresh_token"].as_str().unwrap()).await["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn a_failed_sign_in_costs_one_current_hash_whatever_the_stored_parameters() {
    let app = TestApp::spawn().await;
    flow::user_hashed_by(&app, "old-hash@example.com", &flow::older_hasher(32, 1)).await;
    let work = || app.state.passwords().verifications_at_current_cost();
    let before = work();
    let r = flow::login(&app, &browser(), "/login", "nobody@example.com", "wrong wrong wrong").await;
    assert_eq!(r.status(), 401);
    let unknown = work() - before;
    let before = work();
    let r = flow::login(&app, &browser(), "/login", "old-hash@example.com", "wrong wrong wrong").await;
    assert_eq!(r.status(), 401);
    let old_hash = work() - before;
    assert_eq!(unknown, 1);
    assert_eq!(
        old_hash, unknown,
        "as much work at today's cost as for an unknown address"
    );
}

#[tokio::test]
async fn absurd_numbers_in_the_configuration_are_refused_naming_the_key() {
    for (key, value) in [
        ("GATEHOUSE_TOKENS__ACCESS_TOKEN_SECS", "18446744073709551615"),
        ("GATEHOUSE_TOKENS__ID_TOKEN_SECS", "9223372036854775807"),
        ("GATEHOUSE_KEYS__ROTATION_DAYS", "4000000000000000"),
        ("GATEHOUSE_ACCOUNTS__RESET_TTL_SECS", "99999999999"),
        ("GATEHOUSE_TOKENS__REFRESH_REUSE_GRACE_SECS", "3600"),
        ("GATEHOUSE_ARGON2__MEMORY_KIB", "4294967295"),
    ] {
        let err = gatehouse::Config::load_from(
            None,
            vec![
                ("GATEHOUSE_SECRET_KEY".to_string(), crate::helpers::random_key()),
                (key.to_string(), value.to_string()),
            ],
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with(key) && err.contains("must be between"), "{key}: {err}");
    }
}

#[tokio::test]
async fn compromised_passwords_are_refused_at_signup_reset_and_change() {
    let dir = crate::helpers::temp_dir();
    let list = dir.path().join("pwned.txt");
    let sha1 = |p: &str| {
        use std::fmt::Write;
        ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, p.as_bytes())
            .as_ref()
            .iter()
            .fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02X}");
                s
            })
    };
    let breached = "quiet lantern mossy harbor";
    let mut lines: Vec<String> = (0..200)
        .map(|i| format!("{}:{}", sha1(&format!("leak{i}")), i + 1))
        .collect();
    lines.push(format!("{}:4211", sha1(breached)));
    lines.sort();
    std::fs::write(&list, lines.join("\r\n")).unwrap();
    let sink = crate::helpers::smtp::SmtpSink::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_PASSWORD__BREACHED_LIST", list.to_str().unwrap()),
    )
    .await;
    let said = "this password has appeared in a data breach";
    // Signup.
    let b = browser();
    let html = flow::text(&app, &b, "/signup").await;
    let r = b
        .post(app.url("/signup"))
        .form(&[
            ("email", "new@example.com"),
            ("password", breached),
            ("password_confirm", breached),
            ("csrf", &input(&html, "csrf").unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains(said));
    // Change on the account page.
    flow::user(&app, "member@example.com").await;
    let m = browser();
    flow::login(&app, &m, "/login", "member@example.com", flow::PASSWORD).await;
    let html = flow::text(&app, &m, "/account/password").await;
    let r = m
        .post(app.url("/account/password"))
        .form(&[
            ("csrf", input(&html, "csrf").unwrap().as_str()),
            ("current", flow::PASSWORD),
            ("password", breached),
            ("password_confirm", breached),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains(said));
    // Reset: refused, and the link stays usable for a better password.
    let link = reset_link(&app, &sink, "member@example.com", 1).await;
    assert_eq!(reset_with(&app, &link, breached).await, 422);
    assert_eq!(reset_with(&app, &link, "amber kettle distant meadow").await, 303);
}

#[tokio::test]
async fn avatars_can_be_shown_by_relying_parties_and_huge_images_are_refused() {
    let app = TestApp::spawn().await;
    flow::user(&app, "avatar@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "avatar@example.com", flow::PASSWORD).await;
    let upload = |bytes: Vec<u8>| {
        let b = b.clone();
        let app = &app;
        async move {
            let html = flow::text(app, &b, "/account/images").await;
            let form = reqwest::multipart::Form::new()
                .text("csrf", input(&html, "csrf").unwrap())
                .text("kind", "avatar")
                .part("image", reqwest::multipart::Part::bytes(bytes).file_name("a.png"));
            let r = b.post(app.url("/account/images")).multipart(form).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap_or_default())
        }
    };
    // 8000 × 8000 pixels of one colour: a quarter of a megabyte that would decode to 256 MB.
    let huge = png_claiming(8000, 8000);
    let (status, html) = upload(huge).await;
    assert_eq!(status, 422);
    assert!(html.contains("The image is too large"), "{html}");
    let small = {
        let img = image::RgbaImage::from_pixel(300, 300, image::Rgba([1, 2, 3, 255]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    assert_eq!(upload(small).await.0, 303);
    let html = flow::text(&app, &b, "/account/images").await;
    let src = html
        .split("src=\"")
        .filter_map(|s| s.split('"').next())
        .map(|s| s.replace("&#x2f;", "/"))
        .find(|s| s.starts_with("/images/"))
        .expect("the avatar is shown");
    let r = app.get(&src).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cross-origin-resource-policy"], "cross-origin");
}
