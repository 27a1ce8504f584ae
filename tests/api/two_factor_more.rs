//! Second factors at their edges: the TOTP window and per-authenticator replay, the
//! lockout's end, mailed codes' expiry, what is stored at rest, the backup-code warning,
//! the superuser policy, trusted browsers that expire or meet a relying party asking for
//! a fresh sign-in, and what the `openidconnect` crate reads of it all.

use std::time::Duration;

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, RedirectUrl,
    TokenResponse,
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::Value;

use crate::accounts::{app_with_mail, wait_subject};
use crate::helpers::flow::{self, authorize_url, browser, input, location, query};
use crate::helpers::smtp::SmtpSink;
use crate::helpers::{Options, TestApp};
use crate::two_factor::{
    backup_codes, claims, code, element, enrol, fresh_step, mailed_code, password_step, second_factor, signed_in,
    signed_in_user,
};

/// Signs in with the password and the code for `step`, keeping the browser trusted.
async fn trusted_browser(app: &TestApp, email: &str, secret: &str, step: u64) -> reqwest::Client {
    let b = password_step(app, email).await;
    let fields = [("code", code(secret, step)), ("trust", "yes".to_string())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = flow::submit(app, &b, "/login/second-factor", "/login/second-factor", &fields).await;
    assert_eq!(r.status(), 303);
    b
}

async fn audited(app: &TestApp, kind: &str) -> usize {
    let events = gatehouse::audit::list_recent(app.state.db(), 200).await.unwrap();
    events.iter().filter(|e| e.kind == kind).count()
}

#[tokio::test]
async fn a_relying_party_asking_for_a_fresh_sign_in_gets_the_second_factor_even_from_a_trusted_browser() {
    let (app, _sink) = app_with_mail().await;
    let b = signed_in_user(&app, "fern@example.com").await;
    let s = fresh_step().await;
    let (secret, codes) = enrol(&app, &b, s - 1).await;
    let trusting = trusted_browser(&app, "fern@example.com", &secret, s).await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let r = flow::login(&app, &trusting, "/login", "fern@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account", "trusted: the password alone");

    // prompt=login: the password again, and the code too.
    let ask = authorize_url(&c, &[("prompt", "login")]);
    let r = trusting.get(app.url(&ask)).send().await.unwrap();
    let r = flow::login(&app, &trusting, &location(&r), "fern@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor", "prompt=login skips no factor");
    let r = second_factor(&app, &trusting, &code(&secret, s + 1)).await;
    let back = flow::authorize(&app, &trusting, &location(&r), "fern@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    assert_eq!(
        claims(t["id_token"].as_str().unwrap())["amr"],
        serde_json::json!(["pwd", "otp", "mfa"])
    );

    // max_age=0: the same.
    let ask = authorize_url(&c, &[("max_age", "0")]);
    let r = trusting.get(app.url(&ask)).send().await.unwrap();
    let r = flow::login(&app, &trusting, &location(&r), "fern@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor", "max_age skips no factor");
    let r = second_factor(&app, &trusting, &codes[0]).await;
    let back = flow::authorize(&app, &trusting, &location(&r), "fern@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["acr"], "urn:gatehouse:acr:mfa");
    let now = chrono::Utc::now().timestamp();
    assert!(now - id["auth_time"].as_i64().unwrap() <= 5, "a fresh authentication");
}

#[tokio::test]
async fn a_trusted_browser_stops_being_trusted_when_its_window_ends_or_the_password_changes() {
    let (app, _sink) = app_with_mail().await;
    let b = signed_in_user(&app, "gil@example.com").await;
    let user = gatehouse::accounts::find_by_email(
        app.state.db(),
        &gatehouse::accounts::Email::parse("gil@example.com").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let s = fresh_step().await;
    let (secret, _) = enrol(&app, &b, s - 1).await;
    let trusting = password_step(&app, "gil@example.com").await;
    let fields = [("code", code(&secret, s)), ("trust", "yes".to_string())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = flow::submit(&app, &trusting, "/login/second-factor", "/login/second-factor", &fields).await;
    // The browser keeps the trust for the window, 14 days by default.
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.contains("gh_trusted"))
        .expect("a trusted-browser cookie");
    assert!(cookie.contains("Max-Age=1209600"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");

    // The window ends: the store's record says so (as it would 14 days later).
    let store = app.state.store();
    let index = gatehouse::store::keys::trusted_browsers(user.id);
    let handle = store.members(&index).await.unwrap().pop().unwrap();
    let key = gatehouse::store::keys::trusted_browser(&handle);
    let mut entry: Value = serde_json::from_slice(&store.get(&key).await.unwrap().unwrap()).unwrap();
    let trusted_until = entry["expires_ms"].as_i64().unwrap();
    let within = trusted_until - chrono::Utc::now().timestamp_millis();
    assert!((14 * 86_400_000 - 60_000..=14 * 86_400_000).contains(&within));
    entry["expires_ms"] = (chrono::Utc::now().timestamp_millis() - 1).into();
    store
        .put(&key, &serde_json::to_vec(&entry).unwrap(), Duration::from_secs(60))
        .await
        .unwrap();
    let r = flow::login(&app, &trusting, "/login", "gil@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor", "past its window");
    assert!(
        !flow::text(&app, &b, "/account/two-factor")
            .await
            .contains("trusted-device"),
        "no longer listed"
    );

    // Trusted again; a password change ends it.
    let trusting = trusted_browser(&app, "gil@example.com", &secret, s + 1).await;
    let r = flow::login(&app, &trusting, "/login", "gil@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account");
    let fields = [
        ("current", flow::PASSWORD),
        ("password", "a different long passphrase"),
        ("password_confirm", "a different long passphrase"),
    ];
    let r = flow::submit(&app, &b, "/account/password", "/account/password", &fields).await;
    assert!(r.status().is_success() || r.status() == 303, "{}", r.status());
    let r = flow::login(
        &app,
        &trusting,
        "/login",
        "gil@example.com",
        "a different long passphrase",
    )
    .await;
    assert_eq!(location(&r), "/login/second-factor", "a new password ends the trust");
}

#[tokio::test]
async fn codes_two_steps_away_are_refused_and_each_authenticator_has_its_own() {
    let app = TestApp::spawn().await;
    let b = signed_in_user(&app, "hal@example.com").await;
    let s = fresh_step().await;
    let (first, _) = enrol(&app, &b, s - 1).await;
    let html = flow::text(&app, &b, "/account/two-factor/totp").await;
    let second = element(&html, "totp-secret");
    assert_ne!(first, second, "a new secret for each authenticator");
    let setup = input(&html, "setup").unwrap();
    let fields = [
        ("setup", setup.as_str()),
        ("name", "Tablet"),
        ("code", &code(&second, s)),
    ];
    let r = flow::submit(
        &app,
        &b,
        "/account/two-factor/totp",
        "/account/two-factor/totp",
        &fields,
    )
    .await;
    assert_eq!(r.status(), 303);
    let listed = flow::text(&app, &b, "/account/two-factor").await;
    assert!(listed.contains(">Phone<") && listed.contains(">Tablet<"), "both named");

    let c = password_step(&app, "hal@example.com").await;
    for (step, why) in [(s + 2, "two steps ahead"), (s - 2, "two steps behind")] {
        let r = second_factor(&app, &c, &code(&first, step)).await;
        assert_eq!(r.status(), 422, "{why}");
    }
    // The second app's code for a step the first app has used is the second app's own.
    let r = second_factor(&app, &c, &code(&second, s + 1)).await;
    assert_eq!(r.status(), 303, "the second authenticator's code");
    let d = password_step(&app, "hal@example.com").await;
    let r = second_factor(&app, &d, &code(&first, s + 1)).await;
    assert_eq!(r.status(), 303, "the first app has not used that step");
    let e = password_step(&app, "hal@example.com").await;
    let r = second_factor(&app, &e, &code(&second, s + 1)).await;
    assert_eq!(r.status(), 422, "but each app's code works once");
    assert_eq!(audited(&app, "mfa.failed").await, 3);
    assert_eq!(audited(&app, "mfa.passed").await, 2);
}

#[tokio::test]
async fn the_lockout_ends_after_its_time_and_is_audited() {
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_MFA__MAX_ATTEMPTS", "2")
            .set("GATEHOUSE_MFA__LOCKOUT_SECS", "3"),
    )
    .await;
    let b = signed_in_user(&app, "ida@example.com").await;
    let s = fresh_step().await;
    let (secret, _) = enrol(&app, &b, s - 1).await;
    let attacker = password_step(&app, "ida@example.com").await;
    assert_eq!(second_factor(&app, &attacker, "000000").await.status(), 422);
    assert_eq!(second_factor(&app, &attacker, "000000").await.status(), 429);
    let owner = password_step(&app, "ida@example.com").await;
    assert_eq!(
        second_factor(&app, &owner, &code(&secret, s)).await.status(),
        429,
        "paused"
    );
    assert_eq!(audited(&app, "mfa.locked_out").await, 1);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let owner = password_step(&app, "ida@example.com").await;
    let r = second_factor(&app, &owner, &code(&secret, s)).await;
    assert_eq!(r.status(), 303, "the lockout is over");
    assert!(signed_in(&app, &owner).await);
}

#[tokio::test]
async fn mailed_codes_expire() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_MFA__EMAIL_CODE_SECS", "10"),
    )
    .await;
    let b = signed_in_user(&app, "jo@example.com").await;
    let s = fresh_step().await;
    enrol(&app, &b, s).await;
    flow::submit(&app, &b, "/account/two-factor", "/account/two-factor/email", &[]).await;
    let c = password_step(&app, "jo@example.com").await;
    flow::submit(&app, &c, "/login/second-factor", "/login/second-factor/email", &[]).await;
    let stale = mailed_code(&wait_subject(&sink, "Your Gatehouse sign-in code").await);
    tokio::time::sleep(Duration::from_secs(11)).await;
    let r = second_factor(&app, &c, &stale).await;
    assert_eq!(r.status(), 422, "expired");
    assert!(!signed_in(&app, &c).await);
    // A new code works (the first mail was read; the next one is the newest).
    let before = sink.messages().await.len();
    flow::submit(&app, &c, "/login/second-factor", "/login/second-factor/email", &[]).await;
    let all = sink.wait_for(before + 1, Duration::from_secs(10)).await;
    let fresh = mailed_code(all.last().unwrap());
    assert_eq!(second_factor(&app, &c, &fresh).await.status(), 303);
}

#[tokio::test]
async fn secrets_and_backup_codes_are_not_kept_in_the_clear() {
    let app = TestApp::spawn().await;
    let b = signed_in_user(&app, "kai@example.com").await;
    let s = fresh_step().await;
    let (secret, codes) = enrol(&app, &b, s).await;
    let user = gatehouse::accounts::find_by_email(
        app.state.db(),
        &gatehouse::accounts::Email::parse("kai@example.com").unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    let raw = totp_rs::Secret::try_from_base32(&secret).unwrap().as_bytes().to_vec();
    let factors = entity::second_factor::Entity::find()
        .filter(entity::second_factor::Column::UserId.eq(user.id))
        .all(app.state.db())
        .await
        .unwrap();
    assert_eq!(factors.len(), 1);
    let stored = &factors[0].secret;
    assert!(!stored.is_empty());
    assert!(
        !stored.windows(raw.len()).any(|w| w == raw.as_slice()),
        "the key is sealed"
    );
    assert!(!String::from_utf8_lossy(stored).contains(&secret), "nor its base32");
    let rows = entity::backup_code::Entity::find()
        .filter(entity::backup_code::Column::UserId.eq(user.id))
        .all(app.state.db())
        .await
        .unwrap();
    assert_eq!(rows.len(), codes.len());
    for row in &rows {
        for c in &codes {
            let plain = c.replace('-', "").to_lowercase();
            assert!(
                !row.code_hash.to_lowercase().replace('-', "").contains(&plain),
                "hashed"
            );
        }
    }
}

#[tokio::test]
async fn few_backup_codes_left_are_warned_about_and_a_new_set_is_audited() {
    let (app, sink) = app_with_mail().await;
    let b = signed_in_user(&app, "lou@example.com").await;
    let s = fresh_step().await;
    let (_, codes) = enrol(&app, &b, s).await;
    assert!(
        !flow::text(&app, &b, "/account/security")
            .await
            .contains("Few backup codes are left")
    );
    for c in &codes[..7] {
        let other = password_step(&app, "lou@example.com").await;
        assert_eq!(second_factor(&app, &other, c).await.status(), 303);
    }
    let security = flow::text(&app, &b, "/account/security").await;
    assert!(security.contains("3 backup codes left"), "{security}");
    assert!(security.contains("Few backup codes are left"));
    assert!(
        flow::text(&app, &b, "/account/two-factor")
            .await
            .contains("Few are left.")
    );
    let page = flow::text(&app, &b, "/account/two-factor/backup-codes").await;
    assert!(page.contains("Few backup codes are left"));
    let r = flow::submit(
        &app,
        &b,
        "/account/two-factor/backup-codes",
        "/account/two-factor/backup-codes",
        &[],
    )
    .await;
    let html = r.text().await.unwrap();
    assert_eq!(backup_codes(&html).len(), 10);
    assert!(html.contains("data-copy=\"backup-codes\""), "a copy button");
    assert!(html.contains("src=\"/static/copy.js\""));
    assert!(html.contains("download=\"gatehouse-backup-codes.txt\""));
    let script = app.get("/static/copy.js").await;
    assert_eq!(script.status(), 200);
    wait_subject(&sink, "New backup codes were made").await;
    assert_eq!(audited(&app, "mfa.backup_codes_regenerated").await, 1);
    assert!(
        !flow::text(&app, &b, "/account/security")
            .await
            .contains("Few backup codes are left")
    );
}

pub(crate) async fn superuser(app: &TestApp, email: &str) {
    let s = &app.state;
    gatehouse::accounts::create_user(
        s.db(),
        s.passwords(),
        &s.config().password,
        gatehouse::accounts::NewUser {
            email: gatehouse::accounts::Email::parse(email).unwrap(),
            password: Some(secrecy::SecretString::from(flow::PASSWORD)),
            verified: true,
            superuser: true,
        },
        "test",
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn superusers_can_be_required_to_use_a_second_factor() {
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_MFA__REQUIRED", "superusers")).await;
    superuser(&app, "root@example.com").await;
    flow::user(&app, "mo@example.com").await;
    let r = flow::login(&app, &browser(), "/login", "mo@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account", "others choose");
    let admin = browser();
    let r = flow::login(&app, &admin, "/login", "root@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor/setup", "a superuser enrols");
    assert!(!signed_in(&app, &admin).await);
}

#[tokio::test]
async fn exempt_superusers_need_not_enrol_but_a_factor_they_chose_is_still_asked() {
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_MFA__REQUIRED", "everyone")
            .set("GATEHOUSE_MFA__EXEMPT_SUPERUSERS", "true"),
    )
    .await;
    superuser(&app, "boss@example.com").await;
    flow::user(&app, "ned@example.com").await;
    let r = flow::login(&app, &browser(), "/login", "ned@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor/setup", "everyone else enrols");
    let b = browser();
    let r = flow::login(&app, &b, "/login", "boss@example.com", flow::PASSWORD).await;
    assert_eq!(
        location(&r),
        "/account",
        "the exemption spares the superuser the enrolment"
    );
    let s = fresh_step().await;
    enrol(&app, &b, s).await;
    // The exemption never switches off a factor the superuser enrolled.
    password_step(&app, "boss@example.com").await;
}

#[tokio::test]
async fn the_openidconnect_crate_reads_amr_and_acr_after_a_second_factor() {
    let app = TestApp::spawn_with_real_issuer(Options::default()).await;
    let b = signed_in_user(&app, "ora@example.com").await;
    let s = fresh_step().await;
    let (secret, _) = enrol(&app, &b, s - 1).await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
        .await
        .unwrap();
    let advertised: Vec<String> = metadata
        .acr_values_supported()
        .unwrap()
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert!(advertised.contains(&"urn:gatehouse:acr:mfa".to_string()));
    let rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(c.id.clone()),
        Some(ClientSecret::new(c.secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(c.redirect_uri.clone()).unwrap());
    let (url, _, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_auth_context_value(AuthenticationContextClass::new("urn:gatehouse:acr:mfa".into()))
        .url();
    let fresh = password_step(&app, "ora@example.com").await;
    assert_eq!(second_factor(&app, &fresh, &code(&secret, s)).await.status(), 303);
    let back = flow::authorize(&app, &fresh, url.as_str(), "ora@example.com").await;
    let tokens = rp
        .exchange_code(AuthorizationCode::new(query(&back)["code"].clone()))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    let verifier = rp.id_token_verifier();
    let id = tokens.id_token().unwrap().claims(&verifier, &nonce).expect("valid");
    let amr: Vec<&str> = id
        .auth_method_refs()
        .map(|m| m.iter().map(|r| r.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(amr, ["pwd", "otp", "mfa"]);
    assert_eq!(id.auth_context_ref().map(|a| a.as_str()), Some("urn:gatehouse:acr:mfa"));
    assert!(id.auth_time().is_some());
}
