//! Trusted browsers: after a second factor a browser may skip it for
//! `mfa.trusted_browser_days`; the trust ends with any change to the security setup, is
//! never enough for a relying party that asks for more, and never enough for a change to
//! the factors themselves.

use serde_json::Value;

use crate::accounts::{app_with_mail, wait_subject};
use crate::helpers::flow::{self, authorize_url, input, location};
use crate::two_factor::{claims, code, element, enrol, fresh_step, password_step, second_factor, signed_in_user};

#[tokio::test]
async fn a_trusted_browser_skips_the_code_until_the_security_setup_changes() {
    let (app, sink) = app_with_mail().await;
    let b = signed_in_user(&app, "bea@example.com").await;
    let s = fresh_step().await;
    let (secret, _) = enrol(&app, &b, s - 1).await;
    let trusting = password_step(&app, "bea@example.com").await;
    let fields = [("code", code(&secret, s)), ("trust", "yes".to_string())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = flow::submit(&app, &trusting, "/login/second-factor", "/login/second-factor", &fields).await;
    assert_eq!(r.status(), 303);
    wait_subject(&sink, "A browser is now trusted for two-step verification").await;
    // The next sign-in in that browser needs the password only, and says so.
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let r = flow::login(&app, &trusting, "/login", "bea@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account", "no code asked");
    let back = flow::authorize(&app, &trusting, &authorize_url(&c, &[]), "bea@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    assert_eq!(
        claims(t["id_token"].as_str().unwrap())["amr"],
        serde_json::json!(["pwd"])
    );
    // A relying party that asks for more still gets the code asked for.
    let ask = authorize_url(&c, &[("acr_values", "urn:gatehouse:acr:mfa")]);
    let r = trusting.get(app.url(&ask)).send().await.unwrap();
    let r = trusting.get(app.url(&location(&r))).send().await.unwrap();
    assert_eq!(location(&r), "/login/second-factor");
    // Another browser is not trusted.
    password_step(&app, "bea@example.com").await;
    // Listed, and forgotten from the account pages.
    let html = flow::text(&app, &b, "/account/two-factor").await;
    assert!(html.contains("trusted-device"), "listed");
    let handle = html
        .split("action=\"/account/two-factor/trusted/forget\"")
        .nth(1)
        .and_then(|rest| input(rest, "id"))
        .unwrap();
    let r = flow::submit(
        &app,
        &b,
        "/account/two-factor",
        "/account/two-factor/trusted/forget",
        &[("id", &handle)],
    )
    .await;
    assert!(r.text().await.unwrap().contains("That browser is no longer trusted."));
    let r = flow::login(&app, &trusting, "/login", "bea@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor", "forgotten");
    let events = gatehouse::audit::list_recent(app.state.db(), 50).await.unwrap();
    for kind in ["mfa.browser_trusted", "mfa.browser_forgotten", "mfa.passed"] {
        assert!(events.iter().any(|e| e.kind == kind), "audited: {kind}");
    }
    // Trusted again, then a second app is added: the trust ends with the change.
    let fields = [("code", code(&secret, s + 1)), ("trust", "yes".to_string())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = flow::submit(&app, &trusting, "/login/second-factor", "/login/second-factor", &fields).await;
    assert_eq!(r.status(), 303);
    let html = flow::text(&app, &b, "/account/two-factor/totp").await;
    let other = element(&html, "totp-secret");
    let setup = input(&html, "setup").unwrap();
    let fields = [("setup", setup.as_str()), ("code", &code(&other, s))];
    let r = flow::submit(
        &app,
        &b,
        "/account/two-factor/totp",
        "/account/two-factor/totp",
        &fields,
    )
    .await;
    assert_eq!(r.status(), 303, "a second app, no new backup codes");
    let r = flow::login(&app, &trusting, "/login", "bea@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/login/second-factor", "a new factor ends the trust");
}

#[tokio::test]
async fn a_trusted_browsers_password_only_sign_in_cannot_change_the_factors() {
    let (app, sink) = app_with_mail().await;
    let b = signed_in_user(&app, "cyd@example.com").await;
    let s = fresh_step().await;
    let (secret, _) = enrol(&app, &b, s - 1).await;
    let trusting = password_step(&app, "cyd@example.com").await;
    let fields = [("code", code(&secret, s)), ("trust", "yes".to_string())];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let page = flow::text(&app, &trusting, "/login/second-factor").await;
    assert!(page.contains("name=\"trust\""), "the page offers to trust the browser");
    let r = flow::submit(&app, &trusting, "/login/second-factor", "/login/second-factor", &fields).await;
    assert_eq!(r.status(), 303);
    wait_subject(&sink, "A browser is now trusted for two-step verification").await;

    // Signed in again there with the password only: recent, but not with the factor.
    let r = flow::login(&app, &trusting, "/login", "cyd@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account", "no code asked");
    let id = {
        let html = flow::text(&app, &trusting, "/account/two-factor").await;
        let form = html.find("action=\"/account/two-factor/totp/remove\"").unwrap();
        input(&html[form..], "id").unwrap()
    };
    let r = flow::submit(
        &app,
        &trusting,
        "/account/two-factor",
        "/account/two-factor/totp/remove",
        &[("id", &id)],
    )
    .await;
    assert_eq!(r.status(), 303);
    let reauth = location(&r);
    assert_eq!(
        reauth, "/login?next=%2Faccount%2Ftwo-factor&reauth=1",
        "asked to confirm"
    );
    // That confirmation asks for the code even in the trusted browser.
    let html = flow::text(&app, &trusting, &reauth).await;
    let form = [
        ("email", "cyd@example.com".to_string()),
        ("password", flow::PASSWORD.to_string()),
        ("csrf", input(&html, "csrf").unwrap()),
        ("next", input(&html, "next").unwrap()),
        (
            "reauth",
            input(&html, "reauth").expect("the re-authentication is carried"),
        ),
    ];
    let r = trusting.post(app.url("/login")).form(&form).send().await.unwrap();
    assert_eq!(
        location(&r),
        "/login/second-factor",
        "a trusted browser does not skip it here"
    );
    let r = second_factor(&app, &trusting, &code(&secret, s + 1)).await;
    assert_eq!(location(&r), "/account/two-factor");
    let r = flow::submit(
        &app,
        &trusting,
        "/account/two-factor",
        "/account/two-factor/totp/remove",
        &[("id", &id)],
    )
    .await;
    assert_eq!(r.status(), 200, "now it may");
    assert!(r.text().await.unwrap().contains("The authenticator app was removed."));
}
