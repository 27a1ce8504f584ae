//! Pushed authorization requests, private_key_jwt client authentication and per-client
//! settings (first party, token algorithms).

use serde_json::Value;

use crate::helpers::TestApp;
use crate::helpers::flow::{self, authorize_url, browser, location, query, token};

#[tokio::test]
async fn pushed_authorization_requests_are_single_use_and_can_be_required() {
    let app = TestApp::spawn().await;
    flow::user(&app, "par@example.com").await;
    let c = flow::client_with(&app, false, &["authorization_code"], |n| {
        gatehouse::clients::NewClient { require_par: true, ..n }
    })
    .await;
    let b = browser();
    // Without PAR the client is refused, back at its redirect URI.
    let r = b.get(app.url(&authorize_url(&c, &[]))).send().await.unwrap();
    let q = query(&location(&r));
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("pushed"));

    let push = |extra: Vec<(&'static str, String)>| {
        let mut form: Vec<(&str, String)> = vec![
            ("response_type", "code".into()),
            ("redirect_uri", c.redirect_uri.clone()),
            ("scope", "openid email".into()),
            ("state", "par-state".into()),
        ];
        form.extend(extra);
        app.client
            .post(app.url("/oauth2/par"))
            .basic_auth(&c.id, c.secret.as_ref())
            .form(&form)
            .send()
    };
    let r = push(vec![]).await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["expires_in"], 60);
    let request_uri = body["request_uri"].as_str().unwrap().to_string();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

    let url = format!(
        "/oauth2/authorize?client_id={}&request_uri={}",
        c.id,
        url::form_urlencoded::byte_serialize(request_uri.as_bytes()).collect::<String>()
    );
    let back = flow::authorize(&app, &b, &url, "par@example.com").await;
    let q = query(&back);
    assert_eq!(q["state"], "par-state");
    assert!(q.contains_key("code"));
    // Single use.
    let r = b.get(app.url(&url)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());

    // Invalid pushed requests are answered in JSON at once.
    let r = push(vec![
        ("code_challenge_method", "plain".into()),
        ("code_challenge", "a".repeat(43)),
    ])
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    let r = app
        .client
        .post(app.url("/oauth2/par"))
        .form(&[("client_id", c.id.as_str()), ("response_type", "code")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a confidential client must authenticate");
}

fn assertion(kid: &str, key: &jsonwebtoken::EncodingKey, client_id: &str, aud: &str, jti: &str) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    h.kid = Some(kid.into());
    let now = chrono::Utc::now().timestamp();
    let claims =
        serde_json::json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60, "jti": jti});
    jsonwebtoken::encode(&h, &claims, key).unwrap()
}

#[tokio::test]
async fn private_key_jwt_authenticates_with_a_registered_key_once_per_assertion() {
    use gatehouse::crypto::signing::{self, Alg};
    let app = TestApp::spawn().await;
    let der = signing::generate(Alg::ES256).unwrap();
    let key = signing::encoding_key(Alg::ES256, &der).unwrap();
    let jwk = signing::public_jwk(Alg::ES256, "client-key-1", &key).unwrap();
    let jwks = serde_json::json!({ "keys": [jwk] });
    let c = flow::client_with(&app, false, &["client_credentials"], |n| {
        gatehouse::clients::NewClient { jwks: Some(jwks), ..n }
    })
    .await;
    assert!(c.secret.is_none(), "no secret for a private_key_jwt client");
    let token_url = app.url("/oauth2/token").replace(&app.base, "http://127.0.0.1:8080");
    let call = |a: String| {
        app.client
            .post(app.url("/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", a.as_str()),
            ])
            .send()
    };
    let a = assertion("client-key-1", &key, &c.id, &token_url, "j1");
    let r = call(a.clone()).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Replayed assertion.
    let r = call(a).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    // Wrong audience.
    let r = call(assertion(
        "client-key-1",
        &key,
        &c.id,
        "https://other.example/token",
        "j2",
    ))
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
    // Signed with another key.
    let other = signing::encoding_key(Alg::ES256, &signing::generate(Alg::ES256).unwrap()).unwrap();
    let r = call(assertion("client-key-1", &other, &c.id, &token_url, "j3"))
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The issuer is an accepted audience too.
    let r = call(assertion("client-key-1", &key, &c.id, "http://127.0.0.1:8080", "j4"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Only client_id without an assertion is not enough.
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[("grant_type", "client_credentials"), ("client_id", c.id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn first_party_clients_skip_consent_and_clients_choose_token_algorithms() {
    let app = TestApp::spawn().await;
    flow::user(&app, "fp@example.com").await;
    use gatehouse::crypto::signing::Alg;
    for (alg, jwt_alg) in [
        (Alg::ES256, jsonwebtoken::Algorithm::ES256),
        (Alg::EdDSA, jsonwebtoken::Algorithm::EdDSA),
    ] {
        let c = flow::client_with(&app, false, &["authorization_code"], |n| {
            gatehouse::clients::NewClient {
                first_party: true,
                id_token_alg: Some(alg),
                access_token_alg: Some(alg),
                ..n
            }
        })
        .await;
        let b = browser();
        let r = b.get(app.url(&authorize_url(&c, &[]))).send().await.unwrap();
        let r = flow::login(&app, &b, &location(&r), "fp@example.com", flow::PASSWORD).await;
        let r = b.get(app.url(&location(&r))).send().await.unwrap();
        let back = location(&r);
        assert!(
            back.starts_with(&c.redirect_uri),
            "no consent screen for a first-party client: {back}"
        );
        let t: Value = flow::redeem(&app, &c, &back).await;
        let id = t["id_token"].as_str().unwrap();
        assert_eq!(jsonwebtoken::decode_header(id).unwrap().alg, jwt_alg);
        assert_eq!(
            jsonwebtoken::decode_header(t["access_token"].as_str().unwrap())
                .unwrap()
                .alg,
            jwt_alg
        );
        let jwks: jsonwebtoken::jwk::JwkSet = app.get("/oauth2/jwks").await.json().await.unwrap();
        let header = jsonwebtoken::decode_header(id).unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
        let mut v = jsonwebtoken::Validation::new(jwt_alg);
        v.set_audience(&[&c.id]);
        let claims = jsonwebtoken::decode::<Value>(id, &key, &v).unwrap().claims;
        assert_eq!(
            claims["at_hash"],
            gatehouse::oidc::tokens::at_hash(alg, t["access_token"].as_str().unwrap())
        );
    }
}

#[tokio::test]
async fn login_and_consent_pages_cannot_be_framed_and_send_no_referrer() {
    let app = TestApp::spawn().await;
    flow::user(&app, "frame@example.com").await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let b = browser();
    let r = b.get(app.url(&authorize_url(&c, &[]))).send().await.unwrap();
    let login_url = location(&r);
    let page = b.get(app.url(&login_url)).send().await.unwrap();
    let r = flow::login(&app, &b, &login_url, "frame@example.com", flow::PASSWORD).await;
    let r = b.get(app.url(&location(&r))).send().await.unwrap();
    let consent = b.get(app.url(&location(&r))).send().await.unwrap();
    for res in [&page, &consent] {
        let h = res.headers();
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn back_channel_logout_reaches_the_relying_party_even_if_it_was_down() {
    use std::sync::{Arc, Mutex};
    let app = TestApp::spawn().await;
    let user_id = flow::user(&app, "bcl@example.com").await;
    // The RP listens behind a proxy that is "down" at first (it keeps the port reserved).
    let got = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = got.clone();
    let rp = axum::Router::new().route(
        "/bcl",
        axum::routing::post(move |body: String| async move {
            sink.lock().unwrap().push(body);
            axum::http::StatusCode::OK
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let rp_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, rp).await });
    let proxy = crate::helpers::proxy::Proxy::start(rp_addr, false).await;
    let port = proxy.addr.port();
    let c = flow::client_with(&app, false, &["authorization_code"], |n| {
        gatehouse::clients::NewClient {
            backchannel_logout_uri: Some(format!("http://127.0.0.1:{port}/bcl")),
            ..n
        }
    })
    .await;
    let b = browser();
    let back = flow::authorize(&app, &b, &authorize_url(&c, &[]), "bcl@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    let id_token = t["id_token"].as_str().unwrap().to_string();

    // The RP is down when the user logs out ...
    let r = b
        .get(app.url(&format!("/oauth2/logout?id_token_hint={id_token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "signed out page");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;

    // ... and comes up later: the logout token still arrives, once.
    assert!(got.lock().unwrap().is_empty());
    proxy.up();
    let body = crate::helpers::eventually(std::time::Duration::from_secs(15), "logout token delivered", || {
        let got = got.clone();
        async move { got.lock().unwrap().first().cloned() }
    })
    .await;
    let q = query(&format!("http://x/?{body}"));
    let logout_token = &q["logout_token"];
    let header = jsonwebtoken::decode_header(logout_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/oauth2/jwks").await.json().await.unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(&[&c.id]);
    v.set_issuer(&["http://127.0.0.1:8080"]);
    let claims = jsonwebtoken::decode::<Value>(logout_token, &key, &v).unwrap().claims;
    let id_claims = jsonwebtoken::decode::<Value>(&id_token, &key_for(&jwks, &id_token), &{
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_audience(&[&c.id]);
        v
    })
    .unwrap()
    .claims;
    assert_eq!(claims["sub"], user_id.to_string());
    assert_eq!(claims["sid"], id_claims["sid"], "the session of the ID token");
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none(), "a logout token carries no nonce");
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(got.lock().unwrap().len(), 1, "delivered once");
}

fn key_for(jwks: &jsonwebtoken::jwk::JwkSet, jwt: &str) -> jsonwebtoken::DecodingKey {
    let h = jsonwebtoken::decode_header(jwt).unwrap();
    jsonwebtoken::DecodingKey::from_jwk(jwks.find(h.kid.as_deref().unwrap()).unwrap()).unwrap()
}

#[tokio::test]
async fn claims_parameter_and_id_token_hint() {
    let app = TestApp::spawn().await;
    flow::user(&app, "claims@example.com").await;
    flow::user(&app, "other@example.com").await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let b = browser();
    let claims = r#"{"id_token":{"email":{"essential":true}},"userinfo":{"email":null,"email_verified":null}}"#;
    let url = |extra: &[(&str, &str)]| {
        let mut pairs: Vec<(&str, &str)> = vec![
            ("client_id", &c.id),
            ("redirect_uri", &c.redirect_uri),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s"),
        ];
        pairs.extend_from_slice(extra);
        format!("/oauth2/authorize?{}", serde_urlencoded::to_string(&pairs).unwrap())
    };
    let back = flow::authorize(&app, &b, &url(&[("claims", claims)]), "claims@example.com").await;
    let t: Value = flow::redeem(&app, &c, &back).await;
    assert_eq!(t["scope"], "openid");
    let id = t["id_token"].as_str().unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/oauth2/jwks").await.json().await.unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_audience(&[&c.id]);
    let id_claims = jsonwebtoken::decode::<Value>(id, &key_for(&jwks, id), &v)
        .unwrap()
        .claims;
    // Claims outside the granted (consented) scopes are declined.
    assert!(
        id_claims.get("email").is_none(),
        "no email without the email scope: {id_claims}"
    );
    let u: Value = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(u.get("email").is_none(), "{u}");

    // A malformed claims request goes back as invalid_request.
    let r = b.get(app.url(&url(&[("claims", "{not json")]))).send().await.unwrap();
    assert_eq!(query(&location(&r))["error"], "invalid_request");

    // id_token_hint: the expected user is logged in, so prompt=none succeeds ...
    let r = b
        .get(app.url(&url(&[("prompt", "none"), ("id_token_hint", id)])))
        .send()
        .await
        .unwrap();
    assert!(query(&location(&r)).contains_key("code"));
    // ... but for another user's hint it cannot answer without a login.
    let b2 = browser();
    flow::authorize(&app, &b2, &url(&[]), "other@example.com").await;
    let r = b2
        .get(app.url(&url(&[("prompt", "none"), ("id_token_hint", id)])))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&r))["error"], "login_required");
    // A forged hint is refused.
    let r = b
        .get(app.url(&url(&[("id_token_hint", &format!("{id}x"))])))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&r))["error"], "invalid_request");
}

#[tokio::test]
async fn cookies_are_host_prefixed_and_secure_with_an_https_issuer() {
    let dir = crate::helpers::temp_dir();
    let app = TestApp::spawn_with(
        crate::helpers::Options::default()
            .set("GATEHOUSE_ISSUER", "https://id.example.test")
            // The test reaches it as 127.0.0.1, not under the issuer's name.
            .set("GATEHOUSE_REDIRECT_TO_ISSUER_HOST", "false")
            .set("GATEHOUSE_MAIL_FILE_DIR", dir.path().to_str().unwrap()),
    )
    .await;
    flow::user(&app, "https@example.com").await;
    // Secure cookies are not sent back over the test's plain http, so carry them by hand.
    let page = app.get("/login").await;
    let csrf_cookie = page
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-gh_csrf="))
        .expect("__Host- CSRF cookie");
    assert!(csrf_cookie.contains("Secure") && csrf_cookie.contains("HttpOnly"));
    let pair = csrf_cookie.split(';').next().unwrap().to_string();
    let html = page.text().await.unwrap();
    let form = [
        ("email", "https@example.com"),
        ("password", flow::PASSWORD),
        ("csrf", &flow::input(&html, "csrf").unwrap()),
    ];
    let r = app
        .client
        .post(app.url("/login"))
        .header("cookie", pair)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("__Host-gh_session="))
        .expect("__Host- session cookie");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session.contains(attr), "{attr} missing: {session}");
    }
    assert!(!session.contains("Domain="), "__Host- cookies have no Domain");
}

#[tokio::test]
async fn clients_can_have_their_own_token_lifetimes() {
    let app = TestApp::spawn().await;
    let c = flow::client_with(&app, false, &["client_credentials"], |n| {
        gatehouse::clients::NewClient {
            lifetimes: gatehouse::clients::repo::Lifetimes {
                access_token_secs: Some(120),
                ..Default::default()
            },
            ..n
        }
    })
    .await;
    let t: Value = token(&app, &c, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["expires_in"], 120);
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/oauth2/jwks").await.json().await.unwrap();
    let at = t["access_token"].as_str().unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::decode_header(at).unwrap().alg);
    v.set_audience(&[&c.id]);
    let claims = jsonwebtoken::decode::<Value>(at, &key_for(&jwks, at), &v)
        .unwrap()
        .claims;
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);
}

#[tokio::test]
async fn a_pending_request_cannot_be_finished_in_another_browser() {
    let app = TestApp::spawn().await;
    flow::user(&app, "attacker@example.com").await;
    flow::user(&app, "victim@example.com").await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    // The attacker starts a request, logs in and allows it, but stops before resuming.
    let attacker = browser();
    let r = attacker.get(app.url(&authorize_url(&c, &[]))).send().await.unwrap();
    let r = flow::login(&app, &attacker, &location(&r), "attacker@example.com", flow::PASSWORD).await;
    let r = attacker.get(app.url(&location(&r))).send().await.unwrap();
    let consent_url = location(&r);
    let html = attacker
        .get(app.url(&consent_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("csrf", flow::input(&html, "csrf").unwrap()),
        ("authreq", flow::input(&html, "authreq").unwrap()),
        ("decision", "allow".into()),
    ];
    let r = attacker.post(app.url("/consent")).form(&form).send().await.unwrap();
    let resume_url = location(&r);
    assert!(resume_url.starts_with("/oauth2/authorize/resume"));

    // The victim, logged in elsewhere, is lured to the resume and consent URLs.
    let victim = browser();
    flow::login(&app, &victim, "/login", "victim@example.com", flow::PASSWORD).await;
    for url in [&resume_url, &consent_url] {
        let r = victim.get(app.url(url)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{url}");
        assert!(r.headers().get("location").is_none(), "no code for the victim");
    }
}

#[tokio::test]
async fn logout_ends_session_bound_refresh_tokens_and_narrowing_is_per_response() {
    let app = TestApp::spawn().await;
    flow::user(&app, "rt@example.com").await;
    let c = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    let b = browser();
    let get_tokens = |scope: &'static str| {
        let b = b.clone();
        let c = c.clone();
        let app = &app;
        async move {
            let back = flow::authorize(app, &b, &authorize_url(&c, &[("scope", scope)]), "rt@example.com").await;
            let t: Value = flow::redeem(app, &c, &back).await;
            t
        }
    };
    let online = get_tokens("openid email").await;
    let offline = get_tokens("openid email offline_access").await;

    // Narrowing applies to that response; the next refresh gets the full grant again.
    let narrowed: Value = token(
        &app,
        &c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", online["refresh_token"].as_str().unwrap()),
            ("scope", "openid"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(narrowed["scope"], "openid");
    let full: Value = flow::refresh(&app, &c, narrowed["refresh_token"].as_str().unwrap()).await;
    assert_eq!(full["scope"], "email openid");

    // Logging out ends the session's tokens, except those granted offline_access.
    let r = b
        .get(app.url(&format!(
            "/oauth2/logout?id_token_hint={}",
            online["id_token"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after: Value = flow::refresh(&app, &c, full["refresh_token"].as_str().unwrap()).await;
    assert_eq!(after["error"], "invalid_grant");
    let kept: Value = flow::refresh(&app, &c, offline["refresh_token"].as_str().unwrap()).await;
    assert!(
        kept["access_token"].is_string(),
        "offline_access outlives the session: {kept}"
    );
}
