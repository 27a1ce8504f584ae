//! What an independent review and real relying parties found, each seen from outside:
//! sign-in throttling that spares the owner, links that die with the password, bounded
//! metrics, logout that ends what it says, and the protocol details RP libraries rely on.

use base64::Engine;
use serde_json::Value;

use crate::accounts::{app_with_mail, link_in, reset_link, reset_with, wait_subject};
use crate::helpers::flow::{self, authorize_url, browser, input, location, query, token};
use crate::helpers::{Options, TestApp};

#[path = "../fixtures/png_claiming.rs"]
mod fixture;
use fixture::png_claiming;

/// The claims of a JWT, as a relying party reads them after checking the signature.
fn claims(jwt: &str) -> Value {
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
    let old = gatehouse::accounts::PasswordHasher::new(&gatehouse::config::Argon2Config {
        memory_kib: 32,
        iterations: 1,
        parallelism: 1,
        max_concurrent: 1,
    })
    .unwrap();
    gatehouse::accounts::create_user(
        app.state.db(),
        &old,
        &app.state.config().password,
        gatehouse::accounts::NewUser {
            email: gatehouse::accounts::Email::parse("old-hash@example.com").unwrap(),
            password: Some(secrecy::SecretString::from(flow::PASSWORD)),
            verified: true,
            superuser: false,
        },
        "test",
    )
    .await
    .unwrap();
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
