//! Passkeys and the rest of the account's life: a password reset removes those the
//! password alone added, a passkey sign-in restores a deleted account, "Keep me signed
//! in", and a passkey as the factor a policy requires.

use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::CreationChallengeResponse;

use crate::accounts::{link_of, reset_with, wait_subject};
use crate::helpers::flow::{self, browser, input, location};
use crate::helpers::smtp::SmtpSink;
use crate::helpers::{Options, TestApp};
use crate::passkeys::{Registered, app_on_localhost, assert_with, options, origin, passwordless, register, state_of};
use crate::two_factor::signed_in;

#[tokio::test]
async fn a_password_reset_removes_the_passkeys_the_password_alone_added() {
    let (app, sink) = app_on_localhost().await;
    flow::user(&app, "val@example.com").await;
    // Added with the password only (say, by someone who had just that).
    let b = browser();
    flow::login(&app, &b, "/login", "val@example.com", flow::PASSWORD).await;
    let mut weak_key = SoftPasskey::new(true);
    let (r, weak) = register(&app, &b, &mut weak_key, "Unknown").await;
    assert_eq!(r.status(), 200);
    // Added by a multi-factor sign-in (the first passkey's).
    let owner = browser();
    let (r, _) = passwordless(&app, &owner, &mut weak_key, &weak).await;
    assert_eq!(r.status(), 303);
    let mut strong_key = SoftPasskey::new(true);
    let (r, strong) = register(&app, &owner, &mut strong_key, "Mine").await;
    assert_eq!(r.status(), 200);

    let asker = browser();
    let html = flow::text(&app, &asker, "/password/reset").await;
    let form = [
        ("email", "val@example.com".to_string()),
        ("csrf", input(&html, "csrf").unwrap()),
    ];
    asker.post(app.url("/password/reset")).form(&form).send().await.unwrap();
    let mail = wait_subject(&sink, "Reset your Gatehouse password").await;
    let link = link_of(&mail, &app.base, "/password/reset/confirm?token=");
    assert_eq!(reset_with(&app, &link, "a brand new passphrase for val").await, 303);
    let removed = wait_subject(&sink, "Two-step verification: a second factor was removed").await;
    assert!(removed.decoded().contains("Unknown"));

    let (r, _) = passwordless(&app, &browser(), &mut weak_key, &weak).await;
    assert_eq!(r.status(), 401, "the passkey the password alone added is gone");
    let (r, _) = passwordless(&app, &browser(), &mut strong_key, &strong).await;
    assert_eq!(r.status(), 303, "the one a multi-factor sign-in added stays");
}

#[tokio::test]
async fn a_passkey_sign_in_to_a_deleted_account_offers_to_restore_it() {
    let (app, _sink) = app_on_localhost().await;
    flow::user(&app, "yve@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "yve@example.com", flow::PASSWORD).await;
    let mut key = SoftPasskey::new(true);
    let (r, reg) = register(&app, &b, &mut key, "Key").await;
    assert_eq!(r.status(), 200);
    // Deleting needs a multi-factor sign-in now: the passkey's.
    let owner = browser();
    let (r, _) = passwordless(&app, &owner, &mut key, &reg).await;
    assert_eq!(r.status(), 303);
    let r = flow::submit(
        &app,
        &owner,
        "/account/delete",
        "/account/delete",
        &[("confirm", "yes")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let c = browser();
    let (r, _) = passwordless(&app, &c, &mut key, &reg).await;
    assert_eq!(
        location(&r),
        "/login/restore",
        "multi-factor already: straight to the offer"
    );
    let r = flow::submit(&app, &c, "/login/restore", "/login/restore", &[]).await;
    assert_eq!(location(&r), "/account");
    assert!(signed_in(&app, &c).await);
}

#[tokio::test]
async fn keep_me_signed_in_works_for_passkeys_too() {
    let (app, _sink) = app_on_localhost().await;
    flow::user(&app, "zoe@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "zoe@example.com", flow::PASSWORD).await;
    let mut key = SoftPasskey::new(true);
    let (_, reg) = register(&app, &b, &mut key, "Key").await;
    for (remember, persistent) in [("", false), ("yes", true)] {
        let c = browser();
        let html = flow::text(&app, &c, "/login").await;
        let answer = assert_with(&app, &mut key, &html, "passkey-sign-in", &reg, true);
        let form = [
            ("csrf", input(&html, "csrf").unwrap()),
            ("state", state_of(&html, "passkey-sign-in")),
            ("credential", serde_json::to_string(&answer).unwrap()),
            ("remember", remember.to_string()),
        ];
        let r = c.post(app.url("/login/passkey")).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .find(|v| v.starts_with("gh_session="))
            .expect("a session cookie");
        assert_eq!(cookie.contains("Max-Age"), persistent, "{cookie}");
    }
}

#[tokio::test]
async fn a_passkey_can_be_the_factor_a_policy_requires_at_sign_in() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_on_localhost(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_MFA__REQUIRED", "everyone"),
    )
    .await;
    flow::user(&app, "ari@example.com").await;
    let b = browser();
    let r = flow::login(&app, &b, "/login", "ari@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor/setup");
    let html = flow::text(&app, &b, "/login/second-factor/setup").await;
    let ccr: CreationChallengeResponse = serde_json::from_str(&options(&html, "passkey-register")).unwrap();
    let user_handle = ccr.public_key.user.id.clone();
    let mut key = SoftPasskey::new(true);
    let answer = key.do_registration(origin(&app), ccr).unwrap();
    assert!(!signed_in(&app, &b).await, "no session before the factor");
    let form = [
        ("csrf", input(&html, "csrf").unwrap()),
        ("state", state_of(&html, "passkey-register")),
        ("name", "Laptop".to_string()),
        ("credential", serde_json::to_string(&answer).unwrap()),
    ];
    let r = b
        .post(app.url("/login/second-factor/setup/passkey"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().matches("class=\"backup-code").count(), 10);
    assert!(signed_in(&app, &b).await);
    // It is the account's factor from now on.
    let reg = Registered {
        id: answer.raw_id.clone(),
        user_handle,
        form: Vec::new(),
    };
    let (r, _) = passwordless(&app, &browser(), &mut key, &reg).await;
    assert_eq!(r.status(), 303);
    let r = flow::login(&app, &browser(), "/login", "ari@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor", "now asked for it, not to enrol");
}

#[tokio::test]
async fn passkey_and_address_changes_need_a_recent_sign_in_with_the_passkey() {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_on_localhost(
        Options::default()
            .set("GATEHOUSE_SMTP_URL", sink.url())
            .set("GATEHOUSE_MFA__RECENT_AUTH_SECS", "3"),
    )
    .await;
    flow::user(&app, "wyn@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "wyn@example.com", flow::PASSWORD).await;
    let mut key = SoftPasskey::new(true);
    let (r, reg) = register(&app, &b, &mut key, "Laptop").await;
    assert_eq!(r.status(), 200, "a recent sign-in adds one");
    // A ceremony begun while the sign-in was recent, answered after it no longer is.
    let html = flow::text(&app, &b, "/account/passkeys").await;
    let ccr: CreationChallengeResponse = serde_json::from_str(&options(&html, "passkey-register")).unwrap();
    let mut other = SoftPasskey::new(true);
    let answer = other.do_registration(origin(&app), ccr).unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;

    let reauth = "/login?next=%2Faccount%2Fpasskeys&reauth=1";
    let form = [
        ("csrf", input(&html, "csrf").unwrap()),
        ("state", state_of(&html, "passkey-register")),
        ("name", "Second".to_string()),
        ("credential", serde_json::to_string(&answer).unwrap()),
    ];
    let r = b.post(app.url("/account/passkeys")).form(&form).send().await.unwrap();
    assert_eq!(location(&r), reauth, "an old sign-in adds none");
    let page = flow::text(&app, &b, "/account/passkeys").await;
    assert!(page.contains("adding a passkey needs a recent sign-in"), "{page}");
    assert!(!page.contains("id=\"passkey-register\""), "no ceremony is offered");
    let id = {
        let form = page.find("action=\"/account/passkeys/remove\"").unwrap();
        input(&page[form..], "id").unwrap()
    };
    let r = flow::submit(
        &app,
        &b,
        "/account/passkeys",
        "/account/passkeys/remove",
        &[("id", &id)],
    )
    .await;
    assert_eq!(location(&r), reauth, "nor removes one");
    let fields = [("email", "wyn.new@example.com"), ("password", flow::PASSWORD)];
    let r = flow::submit(&app, &b, "/account/email", "/account/email", &fields).await;
    assert_eq!(
        location(&r),
        "/login?next=%2Faccount%2Femail&reauth=1",
        "nor changes the address"
    );
    assert!(flow::text(&app, &b, "/account/passkeys").await.contains(">Laptop<"));

    // Confirming with the password and the passkey makes it recent.
    let r = flow::login(&app, &b, reauth, "wyn@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor", "the strongest factor is asked");
    let html = flow::text(&app, &b, "/login/second-factor").await;
    let answer = assert_with(&app, &mut key, &html, "passkey-second-factor", &reg, false);
    let form = [
        ("csrf", input(&html, "csrf").unwrap()),
        ("state", state_of(&html, "passkey-second-factor")),
        ("credential", serde_json::to_string(&answer).unwrap()),
    ];
    let r = b
        .post(app.url("/login/second-factor/passkey"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(location(&r), "/account/passkeys");
    let r = flow::submit(
        &app,
        &b,
        "/account/passkeys",
        "/account/passkeys/remove",
        &[("id", &id)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("was removed"));
}

#[tokio::test]
async fn the_openidconnect_crate_reads_a_passwordless_sign_in_as_multi_factor() {
    use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
    use openidconnect::{
        AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, RedirectUrl, TokenResponse,
    };
    let (app, _sink) = app_on_localhost().await;
    flow::user(&app, "xan@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "xan@example.com", flow::PASSWORD).await;
    let mut key = SoftPasskey::new(true);
    let (_, reg) = register(&app, &b, &mut key, "Laptop").await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
        .await
        .unwrap();
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
        .url();
    let fresh = browser();
    let (r, _) = passwordless(&app, &fresh, &mut key, &reg).await;
    assert_eq!(r.status(), 303);
    let back = flow::authorize(&app, &fresh, url.as_str(), "xan@example.com").await;
    let code = crate::helpers::flow::query(&back)["code"].clone();
    let tokens = rp
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    let id = tokens
        .id_token()
        .unwrap()
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("valid");
    let amr: Vec<&str> = id
        .auth_method_refs()
        .map(|m| m.iter().map(|r| r.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(amr, ["hwk", "user", "mfa"]);
    assert_eq!(id.auth_context_ref().map(|a| a.as_str()), Some("urn:gatehouse:acr:mfa"));
}
