//! The authorization code flow through the real pages in headless Chromium: login form,
//! consent screen, redirect back to a relying party on loopback; and `form_post`, whose
//! auto-submit script must work under the strict CSP.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::RawQuery;
use axum::routing::get;

use crate::helpers::TestApp;
use crate::helpers::browser::Browser;
use crate::helpers::flow::{self, TestClient, query, token};

/// A relying party's callback on loopback that records what it receives.
async fn callback_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (a, b) = (seen.clone(), seen.clone());
    let app = Router::new().route(
        "/cb",
        get(move |RawQuery(q): RawQuery| async move {
            a.lock().unwrap().push(q.unwrap_or_default());
            "signed in"
        })
        .post(move |body: String| async move {
            b.lock().unwrap().push(body);
            "signed in"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

async fn wait_for_callback(seen: &Arc<Mutex<Vec<String>>>) -> String {
    for _ in 0..100 {
        if let Some(q) = seen.lock().unwrap().first().cloned() {
            return q;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the relying party was never called back");
}

#[tokio::test]
async fn authorization_code_flow_in_a_real_browser() {
    let Some(browser) = Browser::start("oidc-code-flow").await else {
        return;
    };
    let app = TestApp::spawn().await;
    flow::user(&app, "browser@example.com").await;
    let (port, seen) = callback_server().await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let c = TestClient {
        redirect_uri: format!("http://127.0.0.1:{port}/cb"),
        ..c
    };
    let (verifier, challenge) = flow::pkce();
    let url = app.url(&flow::authorize_url(
        &c,
        &[("code_challenge", &challenge), ("code_challenge_method", "S256")],
    ));

    browser.goto(&url).await;
    browser.find("form[action='/login']").await;
    browser.screenshot("login").await;
    browser.type_into("#email", "browser@example.com").await;
    browser.type_into("#password", flow::PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser.find("#client-name").await;
    browser.screenshot("consent").await;
    assert!(browser.source().await.contains("Read your email address"));
    browser.click("button[value=allow]").await;

    let q = query(&format!("http://x/?{}", wait_for_callback(&seen).await));
    assert_eq!(q["state"], "st-123");
    assert_eq!(q["iss"], "http://127.0.0.1:8080");
    let t: serde_json::Value = token(
        &app,
        &c,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", &c.redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(t["id_token"].is_string(), "{t}");

    // form_post: the auto-submit script runs under the CSP and posts the code.
    seen.lock().unwrap().clear();
    browser
        .goto(&app.url(&flow::authorize_url(
            &c,
            &[
                ("response_mode", "form_post"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
            ],
        )))
        .await;
    let body = wait_for_callback(&seen).await;
    let q = query(&format!("http://x/?{body}"));
    assert!(q.contains_key("code"), "{body}");
    assert_eq!(q["state"], "st-123");
}

#[tokio::test]
async fn signup_activation_login_profile_and_password_in_a_real_browser() {
    let Some(browser) = Browser::start("accounts").await else {
        return;
    };
    let sink = crate::helpers::smtp::SmtpSink::start().await;
    let app = TestApp::spawn_with(crate::helpers::Options::default().set("GATEHOUSE_SMTP_URL", sink.url())).await;
    let pw = "quiet lantern mossy harbor";

    browser.goto(&app.url("/signup")).await;
    browser.screenshot("signup").await;
    browser.type_into("#email", "chromium@example.com").await;
    browser.type_into("#password", pw).await;
    browser.type_into("#password_confirm", pw).await;
    browser.click("button[type=submit]").await;
    browser.find("#message").await;
    assert!(browser.source().await.contains("Check your inbox"));

    // The link from the received mail.
    let msgs = sink.wait_for(1, std::time::Duration::from_secs(10)).await;
    let body = msgs[0].decoded();
    let start = body
        .find("http://127.0.0.1:8080/signup/activate?token=")
        .expect("activation link");
    let rest = &body[start + "http://127.0.0.1:8080".len()..];
    let link = &rest[..rest
        .find(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .unwrap_or(rest.len())];
    browser.goto(&app.url(link)).await;
    browser.screenshot("activate").await;
    browser.click("button[type=submit]").await;
    browser.find("form[action='/login']").await;
    assert!(browser.source().await.contains("Your email address is confirmed"));

    browser.type_into("#email", "chromium@example.com").await;
    browser.type_into("#password", pw).await;
    browser.click("button[type=submit]").await;
    browser.find("#account-email").await;
    browser.screenshot("account").await;

    browser.goto(&app.url("/account/edit")).await;
    browser.type_into("#given_name", "Chromy").await;
    browser.type_into("#family_name", "Browser").await;
    browser.screenshot("edit").await;
    browser.click("button[type=submit]").await;
    browser.find("#account-email").await;
    assert!(browser.source().await.contains("Chromy Browser"));

    // An avatar, uploaded through the file input, shows on the profile.
    let dir = crate::helpers::temp_dir();
    let photo = dir.path().join("me.png");
    image::RgbaImage::from_pixel(640, 480, image::Rgba([200, 60, 20, 255]))
        .save(&photo)
        .unwrap();
    browser.goto(&app.url("/account/images")).await;
    browser.upload("#avatar-file", &photo).await;
    browser.screenshot("images").await;
    browser.click("#avatar-file ~ button[type=submit]").await;
    browser.find("#avatar-current").await;
    browser.goto(&app.url("/account")).await;
    browser.find("#account-avatar").await;
    let mut shown = serde_json::Value::Null;
    for _ in 0..50 {
        shown = browser
            .script("const i = document.querySelector('#account-avatar'); return i.complete ? [i.naturalWidth, i.naturalHeight] : null;")
            .await;
        if !shown.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    browser.screenshot("avatar").await;
    assert_eq!(
        shown,
        serde_json::json!([256, 256]),
        "the browser shows the 256 × 256 avatar"
    );

    // The security tab lists this browser, as Chrome, in use now.
    browser.goto(&app.url("/account/security")).await;
    browser.find("#sessions li").await;
    browser.screenshot("security").await;
    let html = browser.source().await;
    assert!(html.contains("this browser"), "{html}");
    assert!(html.contains("Chrome"), "{html}");

    browser.goto(&app.url("/account/password")).await;
    browser.type_into("#current", pw).await;
    browser.type_into("#password", "brand new tidal compass").await;
    browser.type_into("#password_confirm", "brand new tidal compass").await;
    browser.click("button[type=submit]").await;
    browser.find("#message").await;
    browser.screenshot("password-changed").await;
    assert!(browser.source().await.contains("Your password was changed"));
}

#[tokio::test]
async fn a_passkey_is_registered_and_signs_in_without_a_password_in_a_real_browser() {
    let Some(browser) = Browser::start("passkey").await else {
        return;
    };
    let app = TestApp::spawn_on_localhost(crate::helpers::Options::default()).await;
    flow::user(&app, "passkey-browser@example.com").await;
    let authenticator = browser.add_virtual_authenticator().await;
    browser.goto(&app.url("/login")).await;
    browser.type_into("#email", "passkey-browser@example.com").await;
    browser.type_into("#password", flow::PASSWORD).await;
    browser.click("form[action='/login'] button[type=submit]").await;
    wait_for_url(&browser, &app.url("/account")).await;

    browser.goto(&app.url("/account/security")).await;
    browser.click("a[href='/account/passkeys']").await;
    browser.type_into("#passkey-name", "This laptop").await;
    browser.screenshot("passkey-register").await;
    browser.click("#passkey-register button[type=submit]").await;
    // The first factor brings backup codes.
    browser.find("#backup-codes").await;
    let held = browser.credentials(&authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["isResidentCredential"], true, "a discoverable credential");
    browser.goto(&app.url("/account/passkeys")).await;
    assert!(browser.source().await.contains("This laptop"));

    // Signed out, then back on the sign-in page: passkey autofill (the virtual
    // authenticator picks the suggestion at once) signs in without a password.
    let sign_out = async || {
        browser.goto(&app.url("/logout")).await;
        browser.click("form[action='/logout'] button[type=submit]").await;
        wait_for_url(&browser, &app.url("/")).await;
    };
    sign_out().await;
    browser.goto(&app.url("/login")).await;
    wait_for_url(&browser, &app.url("/account")).await;
    browser.goto(&app.url("/account/passkeys")).await;
    assert!(browser.source().await.contains("last used"), "the sign-in used it");

    // A browser without autofill: the button does it.
    sign_out().await;
    browser.without_passkey_autofill().await;
    browser.goto(&app.url("/login")).await;
    browser.find("#passkey-sign-in:not([hidden])").await;
    let autofill = browser
        .script("return typeof PublicKeyCredential.isConditionalMediationAvailable;")
        .await;
    assert_eq!(autofill, "undefined", "this page has no autofill");
    browser.screenshot("passkey-login").await;
    browser.click("#remember").await;
    browser.click("#passkey-sign-in button[type=submit]").await;
    wait_for_url(&browser, &app.url("/account")).await;
    let session = browser.cookie("gh_session").await;
    assert!(session["expiry"].is_number(), "kept signed in: {session}");
}

#[tokio::test]
async fn a_sign_in_link_from_the_mail_signs_in_a_real_browser() {
    let Some(browser) = Browser::start("magic-link").await else {
        return;
    };
    let sink = crate::helpers::smtp::SmtpSink::start().await;
    let app = TestApp::spawn_with(crate::helpers::Options::default().set("GATEHOUSE_SMTP_URL", sink.url())).await;
    flow::user(&app, "link-browser@example.com").await;
    browser.goto(&app.url("/login")).await;
    browser.type_into("#email", "link-browser@example.com").await;
    browser.type_into("#password", flow::PASSWORD).await;
    browser.click("form[action='/login'] button[type=submit]").await;
    wait_for_url(&browser, &app.url("/account")).await;
    browser.goto(&app.url("/account/security")).await;
    browser.click("#magic-links input[name=magic_links]").await;
    browser.click("#magic-links button[type=submit]").await;
    browser.find("div[role=status]").await;
    assert!(browser.source().await.contains("Sign-in links are on"));
    browser.goto(&app.url("/logout")).await;
    browser.click("form[action='/logout'] button[type=submit]").await;
    wait_for_url(&browser, &app.url("/")).await;

    browser.goto(&app.url("/login")).await;
    browser.click("a[href^='/login/magic-link']").await;
    browser.type_into("#email", "link-browser@example.com").await;
    browser.click("#magic-request button[type=submit]").await;
    browser.find("#magic-code").await;
    browser.screenshot("magic-link-sent").await;
    let mail = crate::accounts::wait_subject(&sink, "Your Gatehouse sign-in link").await;
    let link = crate::accounts::link_in(&mail, "/login/magic-link/confirm?token=");
    browser.goto(&app.url(&link)).await;
    browser.find("#magic-confirm").await;
    assert!(
        !browser.source().await.contains("name=\"code\""),
        "the browser that asked needs no code"
    );
    browser.screenshot("magic-link-confirm").await;
    browser.click("#magic-confirm button[type=submit]").await;
    wait_for_url(&browser, &app.url("/account")).await;
}

#[tokio::test]
async fn an_account_is_deleted_and_restored_by_signing_in_in_a_real_browser() {
    let Some(browser) = Browser::start("deletion").await else {
        return;
    };
    let app = TestApp::spawn().await;
    flow::user(&app, "leaving-browser@example.com").await;
    let sign_in = async || {
        browser.goto(&app.url("/login")).await;
        browser.type_into("#email", "leaving-browser@example.com").await;
        browser.type_into("#password", flow::PASSWORD).await;
        browser.click("form[action='/login'] button[type=submit]").await;
    };
    sign_in().await;
    wait_for_url(&browser, &app.url("/account")).await;
    browser.goto(&app.url("/account/security")).await;
    browser.click("a[href='/account/delete']").await;
    browser.click("#delete input[name=confirm]").await;
    browser.screenshot("delete").await;
    browser.click("#delete button[type=submit]").await;
    browser.find("#message").await;
    assert!(browser.source().await.contains("Your account is deleted"));

    sign_in().await;
    wait_for_url(&browser, &app.url("/login/restore")).await;
    browser.find("#purge-date").await;
    browser.screenshot("restore").await;
    browser.click("#restore button[type=submit]").await;
    wait_for_url(&browser, &app.url("/account")).await;
}

/// Waits until the browser shows `url` (a form's navigation has landed).
async fn wait_for_url(browser: &Browser, url: &str) {
    for _ in 0..100 {
        if browser.url().await == url {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(browser.url().await, url);
}

/// The authenticator app's current code for the base32 `secret`.
fn totp_now(secret: &str, offset_steps: i64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret).unwrap();
    let t = totp_rs::Builder::new().with_secret(secret).build().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let at = now.saturating_add_signed(offset_steps * 30);
    t.generate(at).to_string()
}

#[tokio::test]
async fn two_step_verification_is_set_up_and_used_in_a_real_browser() {
    let Some(browser) = Browser::start("two-factor").await else {
        return;
    };
    let app = TestApp::spawn().await;
    flow::user(&app, "otp-browser@example.com").await;
    let sign_in = async |b: &Browser| {
        b.goto(&app.url("/login")).await;
        b.type_into("#email", "otp-browser@example.com").await;
        b.type_into("#password", flow::PASSWORD).await;
        b.click("button[type=submit]").await;
    };
    sign_in(&browser).await;
    wait_for_url(&browser, &app.url("/account")).await;
    browser.goto(&app.url("/account/security")).await;
    browser.click("a[href='/account/two-factor']").await;
    browser.click("a[href='/account/two-factor/totp']").await;
    browser.find("#totp-secret").await;
    browser.screenshot("totp-setup").await;
    let secret = browser
        .script("return document.getElementById('totp-secret').textContent.trim();")
        .await
        .as_str()
        .unwrap()
        .to_string();
    let qr = browser
        .script("const i = document.querySelector('img[alt^=\"QR code\"]'); return i.complete && i.naturalWidth;")
        .await;
    assert!(qr.as_u64().unwrap_or(0) > 100, "the QR code renders: {qr}");
    // Away from a step's end, so the codes below stay in the server's window.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if now % 30 > 20 {
        tokio::time::sleep(std::time::Duration::from_secs(31 - now % 30)).await;
    }
    browser.type_into("#name", "Test phone").await;
    // The previous step's code: the next sign-in uses the current one.
    browser.type_into("#code", &totp_now(&secret, -1)).await;
    browser
        .click("form[action='/account/two-factor/totp'] button[type=submit]")
        .await;
    browser.find("#backup-codes").await;
    browser.screenshot("backup-codes").await;

    // Sign out, then in again: the password, then the code.
    browser.goto(&app.url("/logout")).await;
    browser.click("form[action='/logout'] button[type=submit]").await;
    // The sign-out lands on the start page; only then sign in again (else that
    // navigation could overtake the next one).
    wait_for_url(&browser, &app.url("/")).await;
    sign_in(&browser).await;
    browser.find("form[action='/login/second-factor']").await;
    browser.screenshot("second-factor").await;
    browser.type_into("#code", &totp_now(&secret, 0)).await;
    browser.click("button[type=submit]").await;
    browser.find("a[href='/account/edit']").await;
    assert!(browser.url().await.ends_with("/account"), "{}", browser.url().await);
}

#[tokio::test]
async fn continue_with_a_provider_signs_in_a_real_browser() {
    let Some(browser) = Browser::start("upstream").await else {
        return;
    };
    let fake = crate::helpers::fake_upstream::FakeUpstream::start().await;
    fake.set_persona(crate::helpers::fake_upstream::Persona::new(
        "1234",
        "fed-browser@example.com",
        true,
    ));
    let dir = crate::helpers::temp_dir();
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(&file, fake.toml()).unwrap();
    // The provider sends the browser back to the issuer: it must be the app's address.
    let app = TestApp::spawn_with_real_issuer(crate::helpers::Options {
        file: Some(file),
        ..Default::default()
    })
    .await;
    browser.goto(&app.url("/login")).await;
    browser.screenshot("upstream-login").await;
    browser.click("form[action='/login/upstream/corp'] button").await;
    wait_for_url(&browser, &app.url("/login/upstream/new")).await;
    browser.find("#new-email").await;
    assert!(browser.source().await.contains("fed-browser@example.com"));
    browser.screenshot("upstream-new").await;
    browser.click("#upstream-new button[type=submit]").await;
    wait_for_url(&browser, &app.url("/account")).await;
    browser.goto(&app.url("/account/linked")).await;
    assert!(browser.source().await.contains("Corp · fed-browser@example.com"));
}

#[tokio::test]
async fn a_superuser_disables_a_user_and_finds_it_in_the_audit_log_in_a_real_browser() {
    use crate::two_factor::{code, enrol, fresh_step};
    let Some(browser) = Browser::start("admin").await else {
        return;
    };
    let app = TestApp::spawn().await;
    crate::two_factor_more::superuser(&app, "boss-browser@example.com").await;
    flow::user(&app, "worker-browser@example.com").await;
    // The superuser's authenticator, set up beforehand.
    let b = flow::browser();
    flow::login(&app, &b, "/login", "boss-browser@example.com", flow::PASSWORD).await;
    let step = fresh_step().await;
    let (secret, _) = enrol(&app, &b, step).await;

    browser.goto(&app.url("/login?next=%2Fadmin")).await;
    browser.type_into("#email", "boss-browser@example.com").await;
    browser.type_into("#password", flow::PASSWORD).await;
    browser.click("button[type=submit]").await;
    browser.find("form[action='/login/second-factor']").await;
    browser.type_into("#code", &code(&secret, step + 1)).await;
    browser.click("button[type=submit]").await;
    wait_for_url(&browser, &app.url("/admin")).await;
    browser.click("a[href='/admin/users']").await;
    wait_for_url(&browser, &app.url("/admin/users")).await;
    browser.type_into("#q", "worker").await;
    browser.click("form[role=search] button[type=submit]").await;
    wait_for_url(&browser, &app.url("/admin/users?q=worker")).await;
    browser.click("a.user-link").await;
    browser.find("#user-actions").await;
    browser.screenshot("admin-user").await;
    browser.click("#user-actions a[href$='/disable']").await;
    browser.find("#confirm").await;
    browser.click("#confirm button[type=submit]").await;
    browser.find("#admin-notice").await;
    let text = |id: &str| format!("return document.getElementById('{id}').textContent.trim();");
    let notice = browser.script(&text("admin-notice")).await;
    assert!(
        notice
            .as_str()
            .unwrap()
            .contains("worker-browser@example.com is disabled"),
        "{notice}"
    );
    let status = browser.script(&text("user-status")).await;
    assert!(status.as_str().unwrap().starts_with("disabled"), "{status}");

    browser.click("a[href^='/admin/audit?user=']").await;
    browser.find("#events").await;
    browser.screenshot("admin-audit").await;
    let kinds = browser
        .script("return Array.from(document.querySelectorAll('.event-kind')).map(e => e.textContent);")
        .await;
    assert_eq!(kinds[0], "user.disabled", "{kinds}");
    let actor = browser
        .script("return document.querySelector('.event-actor').textContent;")
        .await;
    assert!(actor.as_str().unwrap().starts_with("user:"), "{actor}");
    let events = browser
        .script("return document.getElementById('events').textContent;")
        .await;
    assert!(
        events.as_str().unwrap().contains("from 127.0.0.1 · Chrome"),
        "who, from which IP and device: {events}"
    );
}
