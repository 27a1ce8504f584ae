//! The OpenID Connect provider end to end: discovery, JWKS, the authorization code flow
//! through the hosted pages, the token endpoint's grants and errors, codes, PKCE and
//! userinfo (the browser-facing pages are in `authorize_pages.rs`).

use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;

use crate::helpers::TestApp;
use crate::helpers::flow::{self, TestClient, authorize_url, browser, location, query, token};

/// Verifies a JWT using nothing but the published JWKS, as a resource server would.
pub(crate) async fn verify_with_jwks(app: &TestApp, jwt: &str, aud: &str) -> Value {
    let jwks: JwkSet = app.get("/oauth2/jwks").await.json().await.unwrap();
    let header = jsonwebtoken::decode_header(jwt).unwrap();
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("signing key is published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_issuer(&["http://127.0.0.1:8080"]);
    v.set_audience(&[aud]);
    jsonwebtoken::decode::<Value>(jwt, &key, &v)
        .expect("valid signature and claims")
        .claims
}

#[tokio::test]
async fn discovery_documents_advertise_what_is_implemented() {
    let app = TestApp::spawn().await;
    let a: Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    let b: Value = app
        .get("/.well-known/oauth-authorization-server")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(a["issuer"], "http://127.0.0.1:8080");
    assert_eq!(a["authorization_endpoint"], "http://127.0.0.1:8080/oauth2/authorize");
    assert_eq!(a["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(a["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert!(
        a["id_token_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&"RS256".into())
    );
    assert_eq!(a["authorization_response_iss_parameter_supported"], true);
    assert_eq!(a["request_parameter_supported"], false);
    let r = app
        .client
        .get(app.url("/.well-known/openid-configuration"))
        .header("origin", "https://spa.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "*", "CORS on discovery");
    let r = app
        .client
        .get(app.url("/oauth2/authorize"))
        .header("origin", "https://spa.example")
        .send()
        .await
        .unwrap();
    assert!(
        r.headers().get("access-control-allow-origin").is_none(),
        "no CORS on the authorization endpoint"
    );
}

#[tokio::test]
async fn jwks_publishes_public_keys_of_every_algorithm_only() {
    let app = TestApp::spawn().await;
    let r = app.get("/oauth2/jwks").await;
    assert_eq!(r.headers()["content-type"], "application/jwk-set+json");
    let v: Value = r.json().await.unwrap();
    let keys = v["keys"].as_array().unwrap();
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    for alg in ["RS256", "ES256", "EdDSA"] {
        assert!(algs.contains(&alg), "{alg} missing in {v}");
    }
    for k in keys {
        assert!(k["kid"].is_string());
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(k.get(private).is_none(), "private member {private} published");
        }
    }
}

#[tokio::test]
async fn client_credentials_issue_an_access_token_resource_servers_can_verify() {
    let app = TestApp::spawn().await;
    let c = flow::client(&app, false, &["client_credentials"]).await;
    let r = token(&app, &c, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let at = body["access_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(at).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 type");
    assert_eq!(
        header.alg,
        jsonwebtoken::Algorithm::ES256,
        "default access token algorithm"
    );
    let claims = verify_with_jwks(&app, at, &c.id).await;
    assert_eq!(claims["client_id"], c.id);
    assert_eq!(claims["sub"], c.id);
    assert!(claims["jti"].is_string());

    // Introspection by an authenticated client.
    let r = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&c.id, c.secret.as_ref())
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    let i: Value = r.json().await.unwrap();
    assert_eq!(i["active"], true);
    assert_eq!(i["client_id"], c.id);

    // Revocation records the jti until expiry: introspection then says inactive.
    let r = app
        .client
        .post(app.url("/oauth2/revoke"))
        .basic_auth(&c.id, c.secret.as_ref())
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&c.id, c.secret.as_ref())
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap(), serde_json::json!({"active": false}));
    // Unknown tokens: 200 on revocation, inactive on introspection.
    for garbage in ["nope", "a.b.c", &"x".repeat(5000)] {
        let r = app
            .client
            .post(app.url("/oauth2/revoke"))
            .basic_auth(&c.id, c.secret.as_ref())
            .form(&[("token", garbage)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r = app
            .client
            .post(app.url("/oauth2/introspect"))
            .basic_auth(&c.id, c.secret.as_ref())
            .form(&[("token", garbage)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["active"], false);
    }
}

#[tokio::test]
async fn token_endpoint_errors_follow_rfc6749() {
    let app = TestApp::spawn().await;
    let c = flow::client(&app, false, &["authorization_code", "client_credentials"]).await;
    let wrong = TestClient {
        secret: Some("wrong".into()),
        ..c.clone()
    };
    let r = token(&app, &wrong, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");

    type Case<'a> = (&'a [(&'a str, &'a str)], u16, &'a str);
    let cases: &[Case] = &[
        (&[], 400, "invalid_request"),
        (
            &[("grant_type", "password"), ("username", "a"), ("password", "b")],
            400,
            "unsupported_grant_type",
        ),
        (&[("grant_type", "authorization_code")], 400, "invalid_request"),
        (
            &[
                ("grant_type", "authorization_code"),
                ("code", "bogus"),
                ("redirect_uri", "https://rp.example.com/callback"),
            ],
            400,
            "invalid_grant",
        ),
        (
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
            400,
            "unauthorized_client",
        ),
        (
            &[("grant_type", "client_credentials"), ("scope", "openid")],
            400,
            "invalid_scope",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
            400,
            "invalid_request",
        ),
    ];
    for (form, status, error) in cases {
        let r = token(&app, &c, form).await;
        assert_eq!(r.status().as_u16(), *status, "{form:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"], *error, "{form:?}: {body}");
        assert!(body["error_description"].is_string());
    }
    // Not a form body.
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&c.id, c.secret.as_ref())
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // Both Basic and client_secret_post.
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .basic_auth(&c.id, c.secret.as_ref())
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", c.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_request");
    // client_secret_post, from a client registered for client_secret_basic: refused.
    let r = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &c.id),
            ("client_secret", c.secret.as_deref().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
}

#[tokio::test]
async fn authorization_code_flow_with_pkce_refresh_rotation_and_userinfo() {
    let app = TestApp::spawn().await;
    let user_id = flow::user(&app, "alice@example.com").await;
    let c = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    let (verifier, challenge) = flow::pkce();
    let b = browser();
    let url = authorize_url(&c, &[("code_challenge", &challenge), ("code_challenge_method", "S256")]);
    let back = flow::authorize(&app, &b, &url, "alice@example.com").await;
    assert!(back.starts_with(&c.redirect_uri), "{back}");
    let q = query(&back);
    assert_eq!(q["state"], "st-123");
    assert_eq!(q["iss"], "http://127.0.0.1:8080", "RFC 9207");
    let code = q["code"].clone();

    let r = token(
        &app,
        &c,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &c.redirect_uri),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    let id = verify_with_jwks(&app, t["id_token"].as_str().unwrap(), &c.id).await;
    assert_eq!(id["sub"], user_id.to_string());
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(id["azp"], c.id);
    assert_eq!(id["amr"], serde_json::json!(["pwd"]));
    assert!(id["auth_time"].is_i64() && id["sid"].is_string());
    assert_eq!(
        id["at_hash"],
        gatehouse::oidc::tokens::at_hash(
            gatehouse::crypto::signing::Alg::RS256,
            t["access_token"].as_str().unwrap()
        )
    );
    assert_eq!(
        jsonwebtoken::decode_header(t["id_token"].as_str().unwrap())
            .unwrap()
            .alg,
        jsonwebtoken::Algorithm::RS256
    );

    // UserInfo: header, and form body.
    let at = t["access_token"].as_str().unwrap();
    let u: Value = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(u["sub"], user_id.to_string());
    assert_eq!(u["email"], "alice@example.com");
    assert_eq!(u["email_verified"], true);
    let u2: Value = app
        .client
        .post(app.url("/oauth2/userinfo"))
        .form(&[("access_token", at)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(u, u2);
    let r = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let r = app.client.get(app.url("/oauth2/userinfo")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"gatehouse\"");

    // Refresh rotates; the old token's reuse revokes the family.
    let rt1 = t["refresh_token"].as_str().unwrap().to_string();
    let r2: Value = flow::refresh(&app, &c, &rt1).await;
    let rt2 = r2["refresh_token"].as_str().expect("rotated").to_string();
    assert_ne!(rt1, rt2);
    assert!(r2["id_token"].is_string());
    let narrowed: Value = token(
        &app,
        &c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("scope", "openid"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(narrowed["scope"], "openid");
    let rt3 = narrowed["refresh_token"].as_str().unwrap().to_string();
    let reuse: Value = flow::refresh(&app, &c, &rt1).await;
    assert_eq!(reuse["error"], "invalid_grant");
    let after: Value = flow::refresh(&app, &c, &rt3).await;
    assert_eq!(
        after["error"], "invalid_grant",
        "the whole family is revoked after reuse"
    );
}

#[tokio::test]
async fn a_replayed_code_fails_and_revokes_what_it_issued() {
    let app = TestApp::spawn().await;
    flow::user(&app, "bob@example.com").await;
    let c = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    let b = browser();
    let back = flow::authorize(&app, &b, &authorize_url(&c, &[]), "bob@example.com").await;
    let code = query(&back)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", c.redirect_uri.as_str()),
    ];
    let first: Value = token(&app, &c, &form).await.json().await.unwrap();
    let at = first["access_token"].as_str().unwrap();
    let second = token(&app, &c, &form).await;
    assert_eq!(second.status(), 400);
    assert_eq!(second.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let i: Value = flow::introspect(&app, &c, at).await;
    assert_eq!(i["active"], false, "the access token of the first use is revoked");
    let rt: Value = flow::refresh(&app, &c, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(rt["error"], "invalid_grant", "so is its refresh token");
}

#[tokio::test]
async fn another_clients_attempt_does_not_burn_a_code() {
    let app = TestApp::spawn().await;
    flow::user(&app, "owner@example.com").await;
    let c = flow::client(&app, false, &["authorization_code"]).await;
    let thief = flow::client(&app, false, &["authorization_code"]).await;
    let b = browser();
    let back = flow::authorize(&app, &b, &authorize_url(&c, &[]), "owner@example.com").await;
    let code = query(&back)["code"].clone();
    let form = |redirect: &str| {
        [
            ("grant_type", "authorization_code".to_string()),
            ("code", code.clone()),
            ("redirect_uri", redirect.to_string()),
        ]
    };
    let f = form(&thief.redirect_uri);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = token(&app, &thief, &f).await;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_grant");
    assert_eq!(v["error_description"], "the code was issued to another client");
    let f = form(&c.redirect_uri);
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = token(&app, &c, &f).await;
    assert_eq!(r.status(), 200, "the rightful client still redeems it");
}

#[tokio::test]
async fn a_code_replayed_concurrently_leaves_no_live_token() {
    let app = TestApp::spawn().await;
    flow::user(&app, "racer@example.com").await;
    let c = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    let b = browser();
    // Second consent onwards is remembered, so each round is one redirect.
    for round in 0..6 {
        let back = flow::authorize(&app, &b, &authorize_url(&c, &[]), "racer@example.com").await;
        let code = query(&back)["code"].clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", c.redirect_uri.as_str()),
        ];
        let answers = futures_util::future::join_all((0..6).map(|_| async {
            let r = token(&app, &c, &form).await;
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }))
        .await;
        let issued: Vec<&Value> = answers.iter().filter(|(s, _)| *s == 200).map(|(_, v)| v).collect();
        assert!(
            issued.len() <= 1,
            "round {round}: a code was redeemed twice: {answers:?}"
        );
        for (status, v) in &answers {
            assert!(
                *status == 200 || (*status == 400 && v["error"] == "invalid_grant"),
                "round {round}: {status} {v}"
            );
        }
        // Whoever won, the replay killed what the code gave.
        for t in issued {
            let i: Value = flow::introspect(&app, &c, t["access_token"].as_str().unwrap()).await;
            assert_eq!(i["active"], false, "round {round}: access token still live");
            let rt: Value = flow::refresh(&app, &c, t["refresh_token"].as_str().unwrap()).await;
            assert_eq!(rt["error"], "invalid_grant", "round {round}: refresh token still live");
        }
    }
}

#[tokio::test]
async fn pkce_is_enforced_and_downgrades_refused() {
    let app = TestApp::spawn().await;
    flow::user(&app, "carol@example.com").await;
    let public = flow::client(&app, true, &["authorization_code"]).await;
    let confidential = flow::client(&app, false, &["authorization_code"]).await;
    let b = browser();
    // A public client must send a challenge; plain is refused.
    let r = b.get(app.url(&authorize_url(&public, &[]))).send().await.unwrap();
    let q = query(&location(&r));
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "st-123");
    let r = b
        .get(app.url(&authorize_url(
            &public,
            &[("code_challenge", &"a".repeat(43)), ("code_challenge_method", "plain")],
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&r))["error"], "invalid_request");
    // Wrong verifier.
    let (_, challenge) = flow::pkce();
    let back = flow::authorize(
        &app,
        &b,
        &authorize_url(
            &public,
            &[("code_challenge", &challenge), ("code_challenge_method", "S256")],
        ),
        "carol@example.com",
    )
    .await;
    let code = query(&back)["code"].clone();
    let r: Value = app
        .client
        .post(app.url("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &public.redirect_uri),
            ("client_id", &public.id),
            ("code_verifier", &flow::pkce().0),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["error"], "invalid_grant");
    // Downgrade: a verifier for a request that had no challenge (RFC 9700 §4.8.2).
    let back = flow::authorize(&app, &b, &authorize_url(&confidential, &[]), "carol@example.com").await;
    let code = query(&back)["code"].clone();
    let r: Value = token(
        &app,
        &confidential,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &confidential.redirect_uri),
            ("code_verifier", &flow::pkce().0),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(r["error"], "invalid_grant");
    assert!(r["error_description"].as_str().unwrap().contains("no code_challenge"));
}
