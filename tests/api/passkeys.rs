//! Passkeys end to end over HTTP, with webauthn-authenticator-rs's software passkey as
//! the authenticator: registered on the account pages from the options the page carries,
//! used as the second factor after a password and alone as a passwordless sign-in, and
//! what relying parties see of it (`amr`). The app runs on `http://localhost:PORT`:
//! WebAuthn refuses IP addresses.

use serde_json::Value;
use url::Url;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs_proto::{AllowCredentials, CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse};

use crate::accounts::wait_subject;
use crate::helpers::flow::{self, authorize_url, browser, input, location};
use crate::helpers::smtp::SmtpSink;
use crate::helpers::{Options, TestApp};
use crate::two_factor::{claims, signed_in};

pub(crate) async fn app_on_localhost() -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let app = TestApp::spawn_on_localhost(Options::default().set("GATEHOUSE_SMTP_URL", sink.url())).await;
    (app, sink)
}

pub(crate) fn origin(app: &TestApp) -> Url {
    Url::parse(&app.base).unwrap()
}

/// The value of the `data-options` attribute of the form with `id`, as the browser's
/// script reads it.
pub(crate) fn options(html: &str, id: &str) -> String {
    let form = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no form #{id} in {html}"));
    let rest = &html[form..];
    let start = rest.find("data-options=\"").unwrap() + "data-options=\"".len();
    let end = rest[start..].find('"').unwrap() + start;
    rest[start..end]
        .replace("&quot;", "\"")
        .replace("&#x2f;", "/")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The sealed state of the form with `id`.
pub(crate) fn state_of(html: &str, id: &str) -> String {
    let form = html.find(&format!("id=\"{id}\"")).unwrap();
    input(&html[form..], "state").expect("a state field")
}

pub(crate) struct Registered {
    /// The credential id.
    pub id: Vec<u8>,
    /// The user handle the authenticator keeps with it.
    pub user_handle: Vec<u8>,
    /// The form the browser posted, to post again.
    pub form: Vec<(String, String)>,
}

/// Registers a passkey named `name` in signed-in browser `b` with `key`; returns the
/// response to the registration and what the authenticator keeps.
pub(crate) async fn register(
    app: &TestApp,
    b: &reqwest::Client,
    key: &mut SoftPasskey,
    name: &str,
) -> (reqwest::Response, Registered) {
    let html = flow::text(app, b, "/account/passkeys").await;
    let ccr: CreationChallengeResponse = serde_json::from_str(&options(&html, "passkey-register")).unwrap();
    let user_handle = ccr.public_key.user.id.clone();
    assert_eq!(ccr.public_key.rp.id, "localhost", "the RP id is the issuer's host");
    let answer = key
        .do_registration(origin(app), ccr)
        .expect("the authenticator registers");
    let form = vec![
        ("csrf".to_string(), input(&html, "csrf").unwrap()),
        ("state".to_string(), state_of(&html, "passkey-register")),
        ("name".to_string(), name.to_string()),
        ("credential".to_string(), serde_json::to_string(&answer).unwrap()),
    ];
    let r = b.post(app.url("/account/passkeys")).form(&form).send().await.unwrap();
    let id = answer.raw_id.clone();
    (r, Registered { id, user_handle, form })
}

/// Answers the ceremony of form `id` on `html` with `key` (for a discoverable ceremony,
/// pointing it at `reg` and returning the user handle as a resident credential would).
pub(crate) fn assert_with(
    app: &TestApp,
    key: &mut SoftPasskey,
    html: &str,
    id: &str,
    reg: &Registered,
    discoverable: bool,
) -> PublicKeyCredential {
    let mut rcr: RequestChallengeResponse = serde_json::from_str(&options(html, id)).unwrap();
    assert_eq!(
        rcr.public_key.user_verification,
        webauthn_rs_proto::UserVerificationPolicy::Required
    );
    if discoverable {
        assert!(rcr.public_key.allow_credentials.is_empty(), "any passkey of this site");
        rcr.public_key.allow_credentials.push(AllowCredentials {
            type_: "public-key".into(),
            id: reg.id.clone(),
            transports: None,
        });
    }
    let mut answer = key
        .do_authentication(origin(app), rcr)
        .expect("the authenticator signs");
    if discoverable {
        answer.response.user_handle = Some(reg.user_handle.clone());
    }
    answer
}

/// Signs in without a password in browser `b`; returns the response to the POST.
pub(crate) async fn passwordless(
    app: &TestApp,
    b: &reqwest::Client,
    key: &mut SoftPasskey,
    reg: &Registered,
) -> (reqwest::Response, String) {
    let html = flow::text(app, b, "/login").await;
    assert!(html.contains("autocomplete=\"username webauthn\""), "passkey autofill");
    let answer = assert_with(app, key, &html, "passkey-sign-in", reg, true);
    let json = serde_json::to_string(&answer).unwrap();
    let form = [
        ("csrf", input(&html, "csrf").unwrap()),
        ("state", state_of(&html, "passkey-sign-in")),
        ("credential", json.clone()),
    ];
    (
        b.post(app.url("/login/passkey")).form(&form).send().await.unwrap(),
        json,
    )
}

#[tokio::test]
async fn a_passkey_signs_in_without_a_password_and_counts_as_multi_factor() {
    let (app, sink) = app_on_localhost().await;
    flow::user(&app, "pia@example.com").await;
    let b = browser();
    let r = flow::login(&app, &b, "/login", "pia@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account");
    let mut key = SoftPasskey::new(true);
    let (r, reg) = register(&app, &b, &mut key, "Laptop").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert_eq!(
        html.matches("class=\"backup-code").count(),
        10,
        "the first factor brings backup codes"
    );
    let added = wait_subject(&sink, "Two-step verification: a second factor was added").await;
    assert!(added.decoded().contains("Laptop"));
    let page = flow::text(&app, &b, "/account/passkeys").await;
    assert!(
        page.contains("class=\"passkey-name font-medium text-slate-900\">Laptop<"),
        "{page}"
    );

    // Passwordless, in a new browser; then a relying party reads how.
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let fresh = browser();
    let (r, replay) = passwordless(&app, &fresh, &mut key, &reg).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/account", "no second step after a passkey");
    let back = flow::authorize(&app, &fresh, &authorize_url(&c, &[]), "pia@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(
        id["amr"],
        serde_json::json!(["hwk", "user", "mfa"]),
        "a device-bound key with user verification"
    );
    assert_eq!(id["acr"], "urn:gatehouse:acr:mfa");

    // The same answer again (a replay) signs nobody in.
    let other = browser();
    let html_first = flow::text(&app, &other, "/login").await;
    let form = [
        ("csrf", input(&html_first, "csrf").unwrap()),
        ("state", state_of(&html_first, "passkey-sign-in")),
        ("credential", replay.clone()),
    ];
    let r = other.post(app.url("/login/passkey")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 401, "an answer to another ceremony");
    assert!(!signed_in(&app, &other).await);

    // An answer that names another user as its owner is refused.
    let mut wrong = Registered {
        id: reg.id.clone(),
        user_handle: uuid::Uuid::new_v4().as_bytes().to_vec(),
        form: Vec::new(),
    };
    let (r, _) = passwordless(&app, &other, &mut key, &wrong).await;
    assert_eq!(r.status(), 401);
    wrong.user_handle.clone_from(&reg.user_handle);
    let (r, _) = passwordless(&app, &other, &mut key, &wrong).await;
    assert_eq!(r.status(), 303, "the right owner");
}

#[tokio::test]
async fn a_passkey_ceremony_signs_in_once() {
    let (app, _sink) = app_on_localhost().await;
    flow::user(&app, "rae@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "rae@example.com", flow::PASSWORD).await;
    let mut key = SoftPasskey::new(true);
    let (r, reg) = register(&app, &b, &mut key, "Key").await;
    assert_eq!(r.status(), 200);

    let one = browser();
    let html = flow::text(&app, &one, "/login").await;
    let answer = assert_with(&app, &mut key, &html, "passkey-sign-in", &reg, true);
    let form = [
        ("csrf", input(&html, "csrf").unwrap()),
        ("state", state_of(&html, "passkey-sign-in")),
        ("credential", serde_json::to_string(&answer).unwrap()),
    ];
    let r = one.post(app.url("/login/passkey")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    // The captured form, posted again from another browser (same CSRF cookie value aside,
    // it carries the same ceremony and answer): spent.
    let two = browser();
    let html2 = flow::text(&app, &two, "/login").await;
    let mut again = form.clone();
    again[0].1 = input(&html2, "csrf").unwrap();
    let r = two.post(app.url("/login/passkey")).form(&again).send().await.unwrap();
    assert_eq!(r.status(), 401, "each ceremony signs in once");
    assert!(!signed_in(&app, &two).await);
}

#[tokio::test]
async fn a_passkey_is_the_second_factor_after_a_password_and_survives_a_code_lockout() {
    let (app, sink) = app_on_localhost().await;
    flow::user(&app, "quin@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "quin@example.com", flow::PASSWORD).await;
    let mut key = SoftPasskey::new(true);
    let (r, reg) = register(&app, &b, &mut key, "Phone").await;
    assert_eq!(r.status(), 200);

    // The password now leads to the second step, where the passkey is offered.
    let c = browser();
    let r = flow::login(&app, &c, "/login", "quin@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor");
    let html = flow::text(&app, &c, "/login/second-factor").await;
    let answer = assert_with(&app, &mut key, &html, "passkey-second-factor", &reg, false);
    let form = [
        ("csrf", input(&html, "csrf").unwrap()),
        ("state", state_of(&html, "passkey-second-factor")),
        ("credential", serde_json::to_string(&answer).unwrap()),
    ];
    // A broken answer leaves the sign-in waiting.
    let broken = [form[0].clone(), form[1].clone(), ("credential", "{}".to_string())];
    let r = c
        .post(app.url("/login/second-factor/passkey"))
        .form(&broken)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("That passkey was not accepted"));
    let r = c
        .post(app.url("/login/second-factor/passkey"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/account");
    assert!(signed_in(&app, &c).await);
    let oc = flow::client(&app, false, &["authorization_code"]).await;
    let back = flow::authorize(&app, &c, &authorize_url(&oc, &[]), "quin@example.com").await;
    let t: Value = flow::redeem(&app, &oc, &back).await;
    assert_eq!(
        claims(t["id_token"].as_str().unwrap())["amr"],
        serde_json::json!(["pwd", "hwk", "mfa"])
    );

    // Someone who knows the password guesses codes until the second step is paused…
    let thief = browser();
    flow::login(&app, &thief, "/login", "quin@example.com", flow::PASSWORD).await;
    for _ in 0..5 {
        flow::submit(
            &app,
            &thief,
            "/login/second-factor",
            "/login/second-factor",
            &[("code", "000000")],
        )
        .await;
    }
    wait_subject(&sink, "Too many wrong sign-in codes").await;
    let r = flow::login(&app, &browser(), "/login", "quin@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor");
    // …but the owner's passkey still signs them in.
    let owner = browser();
    let (r, _) = passwordless(&app, &owner, &mut key, &reg).await;
    assert_eq!(r.status(), 303, "the lockout never blocks a passkey sign-in");
    assert!(signed_in(&app, &owner).await);
}

#[tokio::test]
async fn a_credential_is_registered_once_renamed_and_removed() {
    let (app, sink) = app_on_localhost().await;
    flow::user(&app, "sol@example.com").await;
    flow::user(&app, "ted@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "sol@example.com", flow::PASSWORD).await;
    let mut key = SoftPasskey::new(true);
    let (r, reg) = register(&app, &b, &mut key, "Yubi").await;
    assert_eq!(r.status(), 200);

    // The same registration posted again: the credential is taken.
    let r = b
        .post(app.url("/account/passkeys"))
        .form(&reg.form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("This passkey is registered already."));
    // Another account cannot take the ceremony (nor so the credential).
    let t = browser();
    flow::login(&app, &t, "/login", "ted@example.com", flow::PASSWORD).await;
    let ted_page = flow::text(&app, &t, "/account/passkeys").await;
    let mut stolen = reg.form.clone();
    stolen[0].1 = input(&ted_page, "csrf").unwrap();
    let r = t.post(app.url("/account/passkeys")).form(&stolen).send().await.unwrap();
    assert_eq!(r.status(), 422, "the ceremony was Sol's");
    assert!(
        flow::text(&app, &t, "/account/passkeys")
            .await
            .contains("You have no passkey yet.")
    );

    // Renamed, then removed: it no longer signs in.
    let page = flow::text(&app, &b, "/account/passkeys").await;
    let id = {
        let form = page.find("action=\"/account/passkeys/rename\"").unwrap();
        input(&page[form..], "id").unwrap()
    };
    let r = flow::submit(
        &app,
        &b,
        "/account/passkeys",
        "/account/passkeys/rename",
        &[("id", &id), ("name", "  Blue key ")],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains(">Blue key<"));
    let events = gatehouse::audit::list_recent(app.state.db(), 50).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "mfa.factor_renamed" && e.detail.as_ref().is_some_and(|d| d["name"] == "Blue key")),
        "a rename is audited"
    );
    let r = flow::submit(
        &app,
        &b,
        "/account/passkeys",
        "/account/passkeys/rename",
        &[("id", &id), ("name", "   ")],
    )
    .await;
    assert_eq!(r.status(), 422, "a name is needed");
    let r = flow::submit(
        &app,
        &t,
        "/account/passkeys",
        "/account/passkeys/rename",
        &[("id", &id), ("name", "Mine")],
    )
    .await;
    assert_eq!(r.status(), 422, "not Ted's to rename");
    let r = flow::submit(
        &app,
        &b,
        "/account/passkeys",
        "/account/passkeys/remove",
        &[("id", &id)],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("The passkey “Blue key” was removed."));
    let removed = wait_subject(&sink, "Two-step verification: a second factor was removed").await;
    assert!(removed.decoded().contains("Blue key"));
    let (r, _) = passwordless(&app, &browser(), &mut key, &reg).await;
    assert_eq!(r.status(), 401, "a removed passkey signs nobody in");
    // And the password alone signs in again: no factor is left.
    let r = flow::login(&app, &browser(), "/login", "sol@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account");
}

#[tokio::test]
async fn an_issuer_on_an_ip_address_offers_no_passkeys() {
    let app = TestApp::spawn().await;
    flow::user(&app, "uli@example.com").await;
    let b = browser();
    let html = flow::text(&app, &b, "/login").await;
    assert!(!html.contains("passkey-sign-in"), "no passkey button");
    assert!(html.contains("autocomplete=\"username\""));
    flow::login(&app, &b, "/login", "uli@example.com", flow::PASSWORD).await;
    let page = flow::text(&app, &b, "/account/passkeys").await;
    assert!(page.contains("Passkeys are not available on this server"));
}

#[tokio::test]
async fn refused_passkey_answers_are_bounded_and_a_counter_that_goes_back_is_refused() {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let (app, _sink) = app_on_localhost().await;
    let user = flow::user(&app, "wyn@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "wyn@example.com", flow::PASSWORD).await;
    let mut key = SoftPasskey::new(true);
    let (r, reg) = register(&app, &b, &mut key, "Key").await;
    assert_eq!(r.status(), 200);

    // Five refused answers end the waiting sign-in.
    let c = browser();
    flow::login(&app, &c, "/login", "wyn@example.com", flow::PASSWORD).await;
    let html = flow::text(&app, &c, "/login/second-factor").await;
    let broken = [
        ("csrf", input(&html, "csrf").unwrap()),
        ("state", state_of(&html, "passkey-second-factor")),
        ("credential", "{}".to_string()),
    ];
    for i in 1..=5 {
        let r = c
            .post(app.url("/login/second-factor/passkey"))
            .form(&broken)
            .send()
            .await
            .unwrap();
        if i < 5 {
            assert_eq!(r.status(), 422, "refusal {i}");
        } else {
            assert_eq!(location(&r), "/login", "the sign-in is over");
        }
    }
    let r = c.get(app.url("/login/second-factor")).send().await.unwrap();
    assert_eq!(location(&r), "/login");

    // An authenticator whose counter is behind the last one seen is a clone.
    let d = browser();
    flow::login(&app, &d, "/login", "wyn@example.com", flow::PASSWORD).await;
    let html = flow::text(&app, &d, "/login/second-factor").await;
    let answer = assert_with(&app, &mut key, &html, "passkey-second-factor", &reg, false);
    entity::second_factor::Entity::update_many()
        .col_expr(entity::second_factor::Column::LastStep, Expr::value(Some(1000_i64)))
        .filter(entity::second_factor::Column::UserId.eq(user))
        .exec(app.state.db())
        .await
        .unwrap();
    let form = [
        ("csrf", input(&html, "csrf").unwrap()),
        ("state", state_of(&html, "passkey-second-factor")),
        ("credential", serde_json::to_string(&answer).unwrap()),
    ];
    let r = d
        .post(app.url("/login/second-factor/passkey"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422, "a counter that went back");
    assert!(!signed_in(&app, &d).await);
}
