//! The browser side of the protocol: authorization errors, the login and consent pages
//! of the flow, form_post, RP-initiated logout, and revocation.

use serde_json::Value;

use crate::helpers::TestApp;
use crate::helpers::flow::{self, TestClient, authorize_url, browser, location, query};

#[tokio::test]
async fn authorization_errors_never_redirect_to_unverified_uris() {
    let app = TestApp::spawn().await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let b = browser();
    // Unknown client and mismatching redirect URI: an error page, no redirect.
    for url in [
        "/oauth2/authorize?client_id=nope&redirect_uri=https%3A%2F%2Fevil.example%2F&response_type=code&state=s"
            .to_string(),
        authorize_url(
            &TestClient {
                redirect_uri: "https://evil.example/callback".into(),
                ..c.clone()
            },
            &[],
        ),
        authorize_url(
            &TestClient {
                redirect_uri: "https://rp.example.com/callback/".into(),
                ..c.clone()
            },
            &[],
        ),
    ] {
        let r = b.get(app.url(&url)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{url}");
        assert!(r.headers().get("location").is_none());
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    }
    // Every other error goes back with error, state and iss.
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("response_type", "token")], "unsupported_response_type"),
        (&[("scope", "openid admin")], "invalid_scope"),
        (&[("prompt", "none login")], "invalid_request"),
        (&[("max_age", "-1")], "invalid_request"),
        (&[("request", "eyJ...")], "request_not_supported"),
        (&[("prompt", "none")], "login_required"),
    ];
    for (extra, error) in cases {
        // Later duplicates of response_type etc. are refused as repeats, so rebuild the URL.
        let mut pairs: Vec<(&str, &str)> = vec![
            ("client_id", &c.id),
            ("redirect_uri", &c.redirect_uri),
            ("scope", "openid"),
            ("state", "st-9"),
        ];
        if !extra.iter().any(|(k, _)| *k == "response_type") {
            pairs.push(("response_type", "code"));
        }
        pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
        pairs.extend_from_slice(extra);
        let qs = serde_urlencoded::to_string(&pairs).unwrap();
        let r = b.get(app.url(&format!("/oauth2/authorize?{qs}"))).send().await.unwrap();
        assert_eq!(r.status(), 303, "{extra:?}");
        let loc = location(&r);
        assert!(loc.starts_with(&c.redirect_uri), "{loc}");
        let q = query(&loc);
        assert_eq!(q["error"], *error, "{extra:?}");
        assert_eq!(q["state"], "st-9");
        assert_eq!(q["iss"], "http://127.0.0.1:8080");
    }
}

#[tokio::test]
async fn login_errors_are_generic_and_the_form_is_csrf_protected() {
    let app = TestApp::spawn().await;
    flow::user(&app, "dave@example.com").await;
    let b = browser();
    let wrong = flow::login(&app, &b, "/login", "dave@example.com", "wrong password here").await;
    assert_eq!(wrong.status(), 401);
    let wrong_html = wrong.text().await.unwrap();
    let unknown = flow::login(&app, &b, "/login", "nobody@example.com", "wrong password here").await;
    assert_eq!(unknown.status(), 401);
    let unknown_html = unknown.text().await.unwrap();
    assert!(wrong_html.contains("Incorrect email or password."));
    assert!(unknown_html.contains("Incorrect email or password."));
    assert!(wrong_html.contains("value=\"dave@example.com\""), "the email is kept");
    assert!(
        !wrong_html.contains("wrong password here"),
        "the password is not echoed"
    );
    // No CSRF token: refused.
    let r = b
        .post(app.url("/login"))
        .form(&[("email", "dave@example.com"), ("password", flow::PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // Correct login sets an HttpOnly, SameSite=Lax session cookie and lands on the start page.
    let ok = flow::login(&app, &b, "/login", "dave@example.com", flow::PASSWORD).await;
    assert_eq!(ok.status(), 303);
    assert_eq!(location(&ok), "/account");
    let cookie = ok
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("gh_session="))
        .unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"),
        "{cookie}"
    );
}

#[tokio::test]
async fn login_is_throttled_per_account() {
    let app = TestApp::spawn().await;
    flow::user(&app, "erin@example.com").await;
    let b = browser();
    let mut last = 0;
    for _ in 0..11 {
        last = flow::login(&app, &b, "/login", "erin@example.com", "not the password")
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
    // Even the right password waits now.
    assert_eq!(
        flow::login(&app, &b, "/login", "erin@example.com", flow::PASSWORD)
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn consent_can_be_denied_and_is_remembered_when_given() {
    let app = TestApp::spawn().await;
    flow::user(&app, "frank@example.com").await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let b = browser();
    let r = b.get(app.url(&authorize_url(&c, &[]))).send().await.unwrap();
    let r = flow::login(&app, &b, &location(&r), "frank@example.com", flow::PASSWORD).await;
    let r = b.get(app.url(&location(&r))).send().await.unwrap();
    let consent = location(&r);
    assert!(consent.starts_with("/consent"), "{consent}");
    let html = b.get(app.url(&consent)).send().await.unwrap().text().await.unwrap();
    assert!(
        html.contains("Example RP") && html.contains("Read your email address"),
        "{html}"
    );
    let form = [
        ("csrf", flow::input(&html, "csrf").unwrap()),
        ("authreq", flow::input(&html, "authreq").unwrap()),
        ("decision", "deny".into()),
    ];
    let r = b.post(app.url("/consent")).form(&form).send().await.unwrap();
    let q = query(&location(&r));
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-123");

    // Allowed once, not asked again for the same scopes; prompt=consent asks again.
    let back = flow::authorize(&app, &b, &authorize_url(&c, &[]), "frank@example.com").await;
    assert!(query(&back).contains_key("code"));
    let r = b.get(app.url(&authorize_url(&c, &[]))).send().await.unwrap();
    assert!(
        location(&r).starts_with(&c.redirect_uri),
        "no consent screen the second time"
    );
    let r = b
        .get(app.url(&authorize_url(&c, &[("prompt", "consent")])))
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/consent"));
    // prompt=none with a session and consent: a code without any page.
    let r = b
        .get(app.url(&authorize_url(&c, &[("prompt", "none")])))
        .send()
        .await
        .unwrap();
    assert!(query(&location(&r)).contains_key("code"));
    // prompt=login forces a new login.
    let r = b
        .get(app.url(&authorize_url(&c, &[("prompt", "login")])))
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/login"));
}

#[tokio::test]
async fn form_post_response_mode_returns_an_auto_submitting_form() {
    let app = TestApp::spawn().await;
    flow::user(&app, "gina@example.com").await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let b = browser();
    flow::authorize(&app, &b, &authorize_url(&c, &[]), "gina@example.com").await;
    let r = b
        .get(app.url(&authorize_url(&c, &[("response_mode", "form_post")])))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("action=\"https:&#x2f;&#x2f;rp.example.com&#x2f;callback\"")
            || html.contains("action=\"https://rp.example.com/callback\""),
        "{html}"
    );
    assert!(flow::input(&html, "code").is_some());
    assert_eq!(flow::input(&html, "state").as_deref(), Some("st-123"));
    assert!(
        html.contains("<script src=\"/static/form_post.js\"></script>"),
        "no inline script"
    );
}

#[tokio::test]
async fn rp_initiated_logout() {
    let app = TestApp::spawn().await;
    flow::user(&app, "hank@example.com").await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let b = browser();
    let back = flow::authorize(&app, &b, &authorize_url(&c, &[]), "hank@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    let hint = t["id_token"].as_str().unwrap();

    // A registered post-logout URI that is not registered: an error page.
    let bad = format!("/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Fevil.example%2F");
    let r = b.get(app.url(&bad)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    // A tampered hint: an error page.
    let tampered = format!("{}x", hint);
    let r = b
        .get(app.url(&format!("/oauth2/logout?id_token_hint={tampered}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Without a hint: ask the user.
    let r = b.get(app.url("/oauth2/logout")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("Sign out?"));
    // With a valid hint: signed out at once, back to the RP with state.
    let ok = format!(
        "/oauth2/logout?id_token_hint={hint}&post_logout_redirect_uri=https%3A%2F%2Frp.example.com%2Fbye&state=xyz"
    );
    let r = b.get(app.url(&ok)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://rp.example.com/bye?state=xyz");
    // The session is gone: prompt=none now needs a login.
    let r = b
        .get(app.url(&authorize_url(&c, &[("prompt", "none")])))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&r))["error"], "login_required");
}

#[tokio::test]
async fn an_untrusted_logout_ends_the_session_only_when_the_user_confirms() {
    let app = TestApp::spawn().await;
    flow::user(&app, "ida@example.com").await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let b = browser();
    flow::authorize(&app, &b, &authorize_url(&c, &[]), "ida@example.com").await;
    let ask = format!(
        "/oauth2/logout?client_id={}&post_logout_redirect_uri=https%3A%2F%2Frp.example.com%2Fbye&state=s1",
        c.id
    );
    // A forged confirmation (no CSRF token from the page) changes nothing.
    let forged = b
        .post(app.url("/oauth2/logout/confirm"))
        .form(&[("client_id", c.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let still = b
        .get(app.url(&authorize_url(&c, &[("prompt", "none")])))
        .send()
        .await
        .unwrap();
    assert!(query(&location(&still)).contains_key("code"), "still signed in");
    // Pressing "Sign out" on the page ends the session and returns to the application.
    let carried = [
        ("client_id", c.id.as_str()),
        ("post_logout_redirect_uri", "https://rp.example.com/bye"),
        ("state", "s1"),
    ];
    let html = flow::text(&app, &b, &ask).await;
    for (k, v) in carried {
        assert_eq!(flow::input(&html, k).as_deref(), Some(v), "the form carries {k}");
    }
    let r = flow::submit(&app, &b, &ask, "/oauth2/logout/confirm", &carried).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://rp.example.com/bye?state=s1");
    let r = b
        .get(app.url(&authorize_url(&c, &[("prompt", "none")])))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&r))["error"], "login_required");
}

#[tokio::test]
async fn revoking_a_refresh_token_revokes_its_family() {
    let app = TestApp::spawn().await;
    flow::user(&app, "ivy@example.com").await;
    let c = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    let other = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    let b = browser();
    let back = flow::authorize(&app, &b, &authorize_url(&c, &[]), "ivy@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    let t2: Value = flow::refresh(&app, &c, &rt1).await;
    let rt2 = t2["refresh_token"].as_str().unwrap().to_string();
    let introspect = |tok: String| {
        app.client
            .post(app.url("/oauth2/introspect"))
            .basic_auth(&c.id, c.secret.as_ref())
            .form(&[("token", tok)])
            .send()
    };
    let i: Value = introspect(rt2.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(i["active"], true);
    assert_eq!(i["token_type"], "refresh_token");
    let consumed: Value = introspect(rt1.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(consumed["active"], false, "a consumed refresh token is inactive");

    // Another client cannot revoke it.
    let r = app
        .client
        .post(app.url("/oauth2/revoke"))
        .basic_auth(&other.id, other.secret.as_ref())
        .form(&[("token", rt2.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let i: Value = introspect(rt2.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(i["active"], true);

    // Its own client can; the whole family goes.
    let r = app
        .client
        .post(app.url("/oauth2/revoke"))
        .basic_auth(&c.id, c.secret.as_ref())
        .form(&[("token", rt2.as_str()), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let i: Value = introspect(rt2.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(i["active"], false);
    let again: Value = flow::refresh(&app, &c, &rt2).await;
    assert_eq!(again["error"], "invalid_grant");
}
