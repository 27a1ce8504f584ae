//! What real relying parties found: logout that ends what it names, SSO kept on
//! re-authentication, scope and audience details, client authentication methods,
//! resource indicators and the refresh-token reuse grace.

use serde_json::Value;

use crate::hardening::claims;
use crate::helpers::flow::{self, authorize_url, browser, location, query, token};
use crate::helpers::{Options, TestApp};

// ----- logout -----------------------------------------------------------------------------

/// An RP with a back-channel logout URI and refresh tokens; its tokens for `email`.
async fn rp_tokens(app: &TestApp, b: &reqwest::Client, email: &str) -> (flow::TestClient, Value) {
    let c = flow::client_with(app, false, &["authorization_code", "refresh_token"], |n| {
        gatehouse::clients::NewClient {
            backchannel_logout_uri: Some("http://127.0.0.1:9/bcl".into()),
            ..n
        }
    })
    .await;
    let t = flow::code_tokens(app, b, &c, &[], email).await;
    assert!(t["refresh_token"].is_string(), "{t}");
    (c, t)
}

async fn queued_logouts(app: &TestApp, client_id: &str) -> usize {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entity::backchannel_logout::Entity::find()
        .filter(entity::backchannel_logout::Column::ClientId.eq(client_id))
        .all(app.state.db())
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn a_cross_site_logout_post_ends_the_session_it_names() {
    let app = TestApp::spawn().await;
    flow::user(&app, "leaving@example.com").await;
    let b = browser();
    let (c, t) = rp_tokens(&app, &b, "leaving@example.com").await;
    let hint = t["id_token"].as_str().unwrap();
    // The RP's page posts the logout form: cross-site, so no SameSite=Lax cookie comes.
    let r = app
        .client
        .post(app.url("/oauth2/logout"))
        .form(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", "https://rp.example.com/bye"),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "answered with a same-site step");
    let next = location(&r);
    assert!(next.starts_with("/oauth2/logout?continue="), "{next}");
    assert!(!next.contains(hint), "the ID token stays out of the URL");
    // The browser follows it as a top-level navigation, with its cookie.
    let r = b.get(app.url(&next)).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "https://rp.example.com/bye?state=s1");
    let refreshed = flow::refresh(&app, &c, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed["error"], "invalid_grant", "the session's refresh token ended");
    assert_eq!(queued_logouts(&app, &c.id).await, 1, "a back-channel logout is queued");
    let r = b.get(app.url("/account")).send().await.unwrap();
    assert!(location(&r).starts_with("/login"), "signed out in the browser");
    // The step works once.
    assert_eq!(b.get(app.url(&next)).send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn signing_in_again_as_the_same_user_keeps_the_other_applications() {
    let app = TestApp::spawn().await;
    flow::user(&app, "sso@example.com").await;
    flow::user(&app, "other@example.com").await;
    let b = browser();
    let (a, ta) = rp_tokens(&app, &b, "sso@example.com").await;
    let (other_rp, tb) = rp_tokens(&app, &b, "sso@example.com").await;
    let sid = claims(ta["id_token"].as_str().unwrap())["sid"].clone();
    assert_eq!(claims(tb["id_token"].as_str().unwrap())["sid"], sid, "one SSO session");
    // prompt=login at A: the user signs in again.
    let again = flow::code_tokens(&app, &b, &a, &[("prompt", "login")], "sso@example.com").await;
    assert_eq!(
        claims(again["id_token"].as_str().unwrap())["sid"],
        sid,
        "the same session"
    );
    let refreshed = flow::refresh(&app, &other_rp, tb["refresh_token"].as_str().unwrap()).await;
    assert!(refreshed["access_token"].is_string(), "B stays signed in: {refreshed}");
    assert_eq!(queued_logouts(&app, &other_rp.id).await, 0, "B was not logged out");
    // Signing in as someone else in that browser ends the old session, and tells B.
    let r = flow::login(&app, &b, "/login", "other@example.com", flow::PASSWORD).await;
    assert_eq!(r.status(), 303);
    let refreshed = flow::refresh(&app, &other_rp, refreshed["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed["error"], "invalid_grant");
    assert_eq!(queued_logouts(&app, &other_rp.id).await, 1);
}

// ----- relying-party interoperability -----------------------------------------------------

#[tokio::test]
async fn a_token_without_scope_carries_no_scope_claim() {
    let app = TestApp::spawn().await;
    let c = flow::client(&app, false, &["client_credentials"]).await;
    let r = token(&app, &c, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    let at = t["access_token"].as_str().unwrap();
    assert!(claims(at).get("scope").is_none(), "{}", claims(at));
    assert!(t.get("scope").is_none(), "{t}");
    let i = flow::introspect(&app, &c, at).await;
    assert_eq!(i["active"], true);
    assert!(i.get("scope").is_none(), "{i}");
}

fn assertion(key: &jsonwebtoken::EncodingKey, client_id: &str, aud: Value, jti: &str) -> String {
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    h.kid = Some("k1".into());
    let now = chrono::Utc::now().timestamp();
    let claims =
        serde_json::json!({"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + 60, "jti": jti});
    jsonwebtoken::encode(&h, &claims, key).unwrap()
}

#[tokio::test]
async fn private_key_jwt_accepts_audience_arrays_and_each_endpoints_own_url() {
    use gatehouse::crypto::signing::{self, Alg};
    let app = TestApp::spawn().await;
    let der = signing::generate(Alg::ES256).unwrap();
    let key = signing::encoding_key(Alg::ES256, &der).unwrap();
    let jwk = signing::public_jwk(Alg::ES256, "k1", &key).unwrap();
    let c = flow::client_with(&app, false, &["client_credentials"], |n| {
        gatehouse::clients::NewClient {
            jwks: Some(serde_json::json!({ "keys": [jwk] })),
            ..n
        }
    })
    .await;
    let issuer = "http://127.0.0.1:8080";
    let post = |path: &'static str, a: String, extra: Vec<(&'static str, String)>| {
        let mut form = vec![
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_string(),
            ),
            ("client_assertion", a),
        ];
        form.extend(extra);
        app.client.post(app.url(path)).form(&form).send()
    };
    let cc = || vec![("grant_type", "client_credentials".to_string())];
    // What certified RP libraries send: an array holding the token endpoint.
    let r = post(
        "/oauth2/token",
        assertion(&key, &c.id, serde_json::json!([format!("{issuer}/oauth2/token")]), "a1"),
        cc(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let at = r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // An array with a member naming another server is refused (audience injection).
    let r = post(
        "/oauth2/token",
        assertion(
            &key,
            &c.id,
            serde_json::json!([format!("{issuer}/oauth2/token"), "https://other.example/token"]),
            "a2",
        ),
        cc(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_client");
    // Introspection and revocation accept their own URL as the audience.
    let r = post(
        "/oauth2/introspect",
        assertion(&key, &c.id, format!("{issuer}/oauth2/introspect").into(), "a3"),
        vec![("token", at.clone())],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["active"], true);
    let r = post(
        "/oauth2/revoke",
        assertion(&key, &c.id, format!("{issuer}/oauth2/revoke").into(), "a4"),
        vec![("token", at.clone())],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    // Revocation's own URL is not accepted at introspection.
    let r = post(
        "/oauth2/introspect",
        assertion(&key, &c.id, format!("{issuer}/oauth2/revoke").into(), "a5"),
        vec![("token", at)],
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn clients_authenticate_only_with_the_method_they_registered() {
    let app = TestApp::spawn().await;
    let basic = flow::client(&app, false, &["client_credentials"]).await;
    let post = flow::client_with(&app, false, &["client_credentials"], |n| {
        gatehouse::clients::NewClient {
            auth_method: Some("client_secret_post".into()),
            ..n
        }
    })
    .await;
    let with_post = |c: &flow::TestClient| {
        app.client
            .post(app.url("/oauth2/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", c.id.as_str()),
                ("client_secret", c.secret.as_deref().unwrap()),
            ])
            .send()
    };
    let r = with_post(&basic).await.unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_client");
    assert!(
        e["error_description"].as_str().unwrap().contains("client_secret_basic"),
        "{e}"
    );
    assert_eq!(
        token(&app, &basic, &[("grant_type", "client_credentials")])
            .await
            .status(),
        200
    );
    assert_eq!(with_post(&post).await.unwrap().status(), 200);
    assert_eq!(
        token(&app, &post, &[("grant_type", "client_credentials")])
            .await
            .status(),
        401
    );
    // A method that does not fit the client is refused at registration.
    let err = gatehouse::clients::create(
        app.state.db(),
        app.state.token_hasher(),
        gatehouse::clients::NewClient {
            auth_method: Some("private_key_jwt".into()),
            ..gatehouse::clients::NewClient::new(
                "x",
                vec![],
                false,
                vec![gatehouse::clients::GrantType::ClientCredentials],
            )
        },
        "test",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("jwks"), "{err}");
}

#[tokio::test]
async fn resource_indicators_set_the_audience_and_unknown_ones_are_refused() {
    let app = TestApp::spawn().await;
    flow::user(&app, "api@example.com").await;
    let api = "https://api.example.com";
    let c = flow::client_with(
        &app,
        false,
        &["authorization_code", "refresh_token", "client_credentials"],
        |n| gatehouse::clients::NewClient {
            resources: vec![api.into(), "https://reports.example.com/v1".into()],
            ..n
        },
    )
    .await;
    // Without a resource: the client, as before.
    let r: Value = token(&app, &c, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims(r["access_token"].as_str().unwrap())["aud"], c.id.as_str());
    // One resource: that audience; two: both.
    let r: Value = token(&app, &c, &[("grant_type", "client_credentials"), ("resource", api)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims(r["access_token"].as_str().unwrap())["aud"], api);
    let r: Value = token(
        &app,
        &c,
        &[
            ("grant_type", "client_credentials"),
            ("resource", api),
            ("resource", "https://reports.example.com/v1"),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        claims(r["access_token"].as_str().unwrap())["aud"],
        serde_json::json!([api, "https://reports.example.com/v1"])
    );
    // Not registered, or not an absolute URI: invalid_target.
    for bad in ["https://evil.example.com", "api", "https://api.example.com#x"] {
        let r = token(&app, &c, &[("grant_type", "client_credentials"), ("resource", bad)]).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_target", "{bad}");
    }

    // On the authorization request: refused back at the client ...
    let b = browser();
    let r = b
        .get(app.url(&authorize_url(&c, &[("resource", "https://evil.example.com")])))
        .send()
        .await
        .unwrap();
    assert_eq!(query(&location(&r))["error"], "invalid_target");
    // ... or carried to the code, the access token and its refreshes.
    // With `openid` granted, the token also names UserInfo, the one place here it is for.
    let both = serde_json::json!([api, "http://127.0.0.1:8080/oauth2/userinfo"]);
    let t = flow::code_tokens(&app, &b, &c, &[("resource", api)], "api@example.com").await;
    assert_eq!(claims(t["access_token"].as_str().unwrap())["aud"], both);
    let i = flow::introspect(&app, &c, t["access_token"].as_str().unwrap()).await;
    assert_eq!(i["aud"], both);
    assert_eq!(
        flow::userinfo(&app, t["access_token"].as_str().unwrap()).await["email"],
        "api@example.com"
    );
    let refreshed = flow::refresh(&app, &c, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(claims(refreshed["access_token"].as_str().unwrap())["aud"], both);
    // Narrowed to a scope without openid: for the API alone, and no key to UserInfo.
    let narrow = token(
        &app,
        &c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refreshed["refresh_token"].as_str().unwrap()),
            ("scope", "email"),
        ],
    )
    .await
    .json::<Value>()
    .await
    .unwrap();
    assert_eq!(claims(narrow["access_token"].as_str().unwrap())["aud"], api);
    let r = app
        .client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(narrow["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a token for another resource server is refused");
    let refreshed = narrow;
    // A refresh may not widen the grant to another resource.
    let r = token(
        &app,
        &c,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refreshed["refresh_token"].as_str().unwrap()),
            ("resource", "https://reports.example.com/v1"),
        ],
    )
    .await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_target");
}

#[tokio::test]
async fn the_default_resource_is_the_audience_of_tokens_that_name_none() {
    let app =
        TestApp::spawn_with(Options::default().set("GATEHOUSE_TOKENS__DEFAULT_RESOURCE", "https://api.example.com"))
            .await;
    let c = flow::client(&app, false, &["client_credentials"]).await;
    let r: Value = token(&app, &c, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        claims(r["access_token"].as_str().unwrap())["aud"],
        "https://api.example.com"
    );
}

#[tokio::test]
async fn parallel_refreshes_share_a_successor_and_later_reuse_revokes_the_family() {
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_TOKENS__REFRESH_REUSE_GRACE_SECS", "2")).await;
    flow::user(&app, "proxy@example.com").await;
    let c = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    let b = browser();
    let t = flow::code_tokens(&app, &b, &c, &[], "proxy@example.com").await;
    let rt = t["refresh_token"].as_str().unwrap().to_string();
    // Two requests of one RP race with the same token.
    let (x, y) = tokio::join!(flow::refresh(&app, &c, &rt), flow::refresh(&app, &c, &rt));
    assert!(
        x["refresh_token"].is_string() && y["refresh_token"].is_string(),
        "{x} {y}"
    );
    assert_eq!(x["refresh_token"], y["refresh_token"], "the same successor");
    // Another client presenting it learns nothing and burns nothing.
    let other = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    assert_eq!(flow::refresh(&app, &other, &rt).await["error"], "invalid_grant");
    let next = flow::refresh(&app, &c, x["refresh_token"].as_str().unwrap()).await;
    assert!(next["refresh_token"].is_string(), "the successor works: {next}");
    // After the grace, reuse is theft: the family dies.
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(flow::refresh(&app, &c, &rt).await["error"], "invalid_grant");
    let after = flow::refresh(&app, &c, next["refresh_token"].as_str().unwrap()).await;
    assert_eq!(after["error"], "invalid_grant", "the whole family is revoked");
}

#[tokio::test]
async fn without_a_grace_any_reuse_revokes_the_family() {
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_TOKENS__REFRESH_REUSE_GRACE_SECS", "0")).await;
    flow::user(&app, "strict@example.com").await;
    let c = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    let t = flow::code_tokens(&app, &browser(), &c, &[], "strict@example.com").await;
    let rt = t["refresh_token"].as_str().unwrap();
    let first = flow::refresh(&app, &c, rt).await;
    assert!(first["refresh_token"].is_string());
    assert_eq!(flow::refresh(&app, &c, rt).await["error"], "invalid_grant");
    let r = flow::refresh(&app, &c, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r["error"], "invalid_grant");
}
