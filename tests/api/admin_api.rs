//! The admin API (`/admin/api/v1`) on Gatehouse's own tokens: who may call it (a client
//! allowed the scope, a superuser signed in with a second factor, nobody else), what its
//! actions do where users and relying parties see it, problem details, `If-Match`, and
//! the audit log's actor.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::flow::{self, TestClient, authorize_url, browser, location};
use crate::helpers::{Options, TestApp};
use crate::two_factor::{code, enrol, fresh_step, password_step, second_factor, signed_in};
use crate::two_factor_more::superuser;

pub(crate) const ADMIN: &str = "gatehouse:admin";

/// A confidential client allowed the admin API (client_credentials and the code flow).
pub(crate) async fn admin_client(app: &TestApp) -> TestClient {
    flow::client_with(app, false, &["authorization_code", "client_credentials"], |mut n| {
        n.scopes = ["openid", "profile", "email", ADMIN].map(String::from).to_vec();
        n
    })
    .await
}

/// A client_credentials token of `c` for `scope`: the token response.
async fn cc_token(app: &TestApp, c: &TestClient, scope: &str) -> reqwest::Response {
    flow::token(app, c, &[("grant_type", "client_credentials"), ("scope", scope)]).await
}

pub(crate) async fn admin_token(app: &TestApp, c: &TestClient) -> String {
    let r = cc_token(app, c, ADMIN).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["scope"], ADMIN);
    t["access_token"].as_str().unwrap().to_string()
}

/// Calls the admin API: status, headers and JSON body (Null when empty).
pub(crate) async fn call(
    app: &TestApp,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some(tag) = if_match {
        req = req.header("if-match", tag);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
    };
    (status, headers, v)
}

async fn get(app: &TestApp, token: &str, path: &str) -> Value {
    let (status, _, v) = call(app, Some(token), Method::GET, path, None, None).await;
    assert_eq!(status, 200, "{path}: {v}");
    v
}

/// Whether an access token is active at introspection (asked by `c`).
async fn active(app: &TestApp, c: &TestClient, token: &str) -> bool {
    let r = app
        .client
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["active"] == true
}

/// Every route, with a harmless target.
pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/admin/api/v1/users"),
    ("GET", "/admin/api/v1/users/00000000-0000-0000-0000-000000000000"),
    (
        "POST",
        "/admin/api/v1/users/00000000-0000-0000-0000-000000000000/disable",
    ),
    ("GET", "/admin/api/v1/clients"),
    ("POST", "/admin/api/v1/clients"),
    ("GET", "/admin/api/v1/clients/none"),
    ("PATCH", "/admin/api/v1/clients/none"),
    ("DELETE", "/admin/api/v1/clients/none"),
    ("POST", "/admin/api/v1/clients/none/rotate-secret"),
    ("GET", "/admin/api/v1/keys"),
    ("POST", "/admin/api/v1/keys/rotate"),
    ("GET", "/admin/api/v1/audit-events"),
    ("GET", "/admin/api/v1/outbox"),
    (
        "POST",
        "/admin/api/v1/outbox/00000000-0000-0000-0000-000000000000/retry",
    ),
    ("GET", "/admin/api/v1/no-such-thing"),
];

#[tokio::test]
async fn every_route_refuses_callers_without_the_admin_scope() {
    let app = TestApp::spawn().await;
    let plain = flow::client(&app, false, &["authorization_code", "client_credentials"]).await;
    let r = cc_token(&app, &plain, ADMIN).await;
    assert_eq!(r.status(), 400, "a client not allowed the scope cannot get it");
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "invalid_scope");
    let t: Value = cc_token(&app, &plain, "").await.json().await.unwrap();
    let plain_token = t["access_token"].as_str().unwrap().to_string();
    // A user's token, even through a client allowed the scope: not a superuser.
    let allowed = admin_client(&app).await;
    flow::user(&app, "eve@example.com").await;
    let extra = [("scope", "openid gatehouse:admin")];
    let t = flow::code_tokens(&app, &browser(), &allowed, &extra, "eve@example.com").await;
    assert!(!t["scope"].as_str().unwrap().contains(ADMIN), "{t}");
    let user_token = t["access_token"].as_str().unwrap().to_string();

    for (method, path) in ROUTES {
        let m: Method = method.parse().unwrap();
        for (token, status, error) in [
            (None, 401, None),
            (Some("not-a-token"), 401, Some("invalid_token")),
            (Some(plain_token.as_str()), 403, Some("insufficient_scope")),
            (Some(user_token.as_str()), 403, Some("insufficient_scope")),
        ] {
            let (got, headers, body) = call(&app, token, m.clone(), path, Some(json!({})), None).await;
            assert_eq!(got, status, "{method} {path} with {token:?}: {body}");
            assert_eq!(headers["content-type"], "application/problem+json");
            assert_eq!(body["status"], status);
            let challenge = headers["www-authenticate"].to_str().unwrap();
            assert!(challenge.starts_with("Bearer realm=\"gatehouse\""), "{challenge}");
            if let Some(e) = error {
                assert!(challenge.contains(&format!("error=\"{e}\"")), "{challenge}");
            }
            assert!(
                !body.to_string().contains("00000000-0000"),
                "nothing about the target before the caller is known: {body}"
            );
        }
    }
}

#[tokio::test]
async fn a_client_disables_a_user_whose_sign_in_and_tokens_stop_and_the_audit_log_names_it() {
    let app = TestApp::spawn().await;
    let admin = admin_client(&app).await;
    let token = admin_token(&app, &admin).await;
    let rp = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    flow::user(&app, "dora@example.com").await;
    flow::user(&app, "dan@example.com").await;
    let t = flow::code_tokens(&app, &browser(), &rp, &[], "dora@example.com").await;
    let user_access = t["access_token"].as_str().unwrap().to_string();
    assert!(active(&app, &rp, &user_access).await);

    let found = get(&app, &token, "/admin/api/v1/users?q=dora").await;
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{found}");
    assert_eq!(items[0]["email"], "dora@example.com");
    assert_eq!(items[0]["status"], "active");
    let id = items[0]["id"].as_str().unwrap().to_string();
    let page = get(&app, &token, "/admin/api/v1/users?limit=1").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let next = page["next_cursor"].as_str().expect("a next page").to_string();
    let rest = get(&app, &token, &format!("/admin/api/v1/users?limit=1&cursor={next}")).await;
    assert_ne!(rest["items"][0]["id"], page["items"][0]["id"], "the cursor moves on");

    let (status, headers, detail) = call(
        &app,
        Some(&token),
        Method::GET,
        &format!("/admin/api/v1/users/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(detail["email_verified"], true);
    assert!(detail.get("password_hash").is_none() && !detail.to_string().contains("$argon2"));
    let etag = headers["etag"].to_str().unwrap().to_string();

    let path = format!("/admin/api/v1/users/{id}/disable");
    let (status, _, problem) = call(&app, Some(&token), Method::POST, &path, None, Some("\"0\"")).await;
    assert_eq!(status, 412, "a stale version changes nothing: {problem}");
    assert!(problem["detail"].as_str().unwrap().contains("ETag"), "{problem}");
    let (status, headers, outcome) = call(&app, Some(&token), Method::POST, &path, None, Some(&etag)).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["action"], "disable");
    assert_ne!(headers["etag"].to_str().unwrap(), etag, "a new version");
    let (status, _, again) = call(&app, Some(&token), Method::POST, &path, None, None).await;
    assert_eq!(status, 409, "{again}");

    // Where the user and the relying party see it.
    assert!(!active(&app, &rp, &user_access).await, "the user's tokens stop");
    let r = flow::login(&app, &browser(), "/login", "dora@example.com", flow::PASSWORD).await;
    assert_ne!(r.status(), 303, "a disabled account cannot sign in");
    let events = get(
        &app,
        &token,
        "/admin/api/v1/audit-events?user=dora@example.com&kind=user.disabled",
    )
    .await;
    let e = &events["items"][0];
    assert_eq!(e["actor"], format!("client:{}", admin.id));
    assert_eq!(e["ip"], "127.0.0.1");
    assert_eq!(
        e["device"], "unknown on unknown",
        "the caller's device (this one sends no User-Agent)"
    );
    let since = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let none = get(
        &app,
        &token,
        &format!("/admin/api/v1/audit-events?since={}", urlencode(&since)),
    )
    .await;
    assert_eq!(none["items"], json!([]), "the time range filters");

    let enable = format!("/admin/api/v1/users/{id}/enable");
    assert_eq!(call(&app, Some(&token), Method::POST, &enable, None, None).await.0, 200);
    let r = flow::login(&app, &browser(), "/login", "dora@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account", "enabled again");

    // Bad input: precise problems, nothing changed.
    for (method, path, body, status) in [
        ("GET", "/admin/api/v1/users?limit=lots", None, 400),
        ("GET", "/admin/api/v1/users/not-a-uuid", None, 404),
        ("POST", &format!("/admin/api/v1/users/{id}/explode") as &str, None, 404),
        (
            "POST",
            &format!("/admin/api/v1/users/{id}/disable"),
            Some(json!({"why": 1})),
            400,
        ),
        ("GET", "/admin/api/v1/audit-events?since=yesterday", None, 400),
        ("GET", "/admin/api/v1/outbox?state=lost", None, 400),
        ("POST", &format!("/admin/api/v1/users/{id}/purge"), None, 422),
    ] {
        let (got, headers, problem) = call(&app, Some(&token), method.parse().unwrap(), path, body, None).await;
        assert_eq!(got, status, "{method} {path}: {problem}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert!(!problem["detail"].as_str().unwrap().is_empty());
    }
    let r = flow::login(&app, &browser(), "/login", "dora@example.com", flow::PASSWORD).await;
    assert_eq!(location(&r), "/account", "the refused purge erased nothing");
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn client_and_key_changes_show_where_relying_parties_look() {
    let app = TestApp::spawn().await;
    let admin = admin_client(&app).await;
    let token = admin_token(&app, &admin).await;
    let rp = flow::client(&app, false, &["client_credentials"]).await;
    let list = get(&app, &token, "/admin/api/v1/clients").await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == rp.id)
    );
    assert!(!list.to_string().contains("secret_hash"));

    // Registered through the API: its secret works at once.
    let body = json!({ "name": "Batch", "redirect_uris": ["https://batch.example.com/cb"], "grant_types": ["client_credentials"], "access_token_secs": 90 });
    let (status, headers, made) = call(
        &app,
        Some(&token),
        Method::POST,
        "/admin/api/v1/clients",
        Some(body),
        None,
    )
    .await;
    assert_eq!(status, 201, "{made}");
    assert!(headers.get("etag").is_some());
    let batch = TestClient {
        id: made["client"]["client_id"].as_str().unwrap().to_string(),
        secret: Some(made["client_secret"].as_str().unwrap().to_string()),
        redirect_uri: "https://batch.example.com/cb".into(),
    };
    let r = cc_token(&app, &batch, "").await;
    assert_eq!(r.json::<Value>().await.unwrap()["expires_in"], 90);
    let bad = json!({ "name": "Evil", "redirect_uris": ["http://evil.example.com/cb"] });
    let (status, _, problem) = call(
        &app,
        Some(&token),
        Method::POST,
        "/admin/api/v1/clients",
        Some(bad),
        None,
    )
    .await;
    assert_eq!(status, 422, "the registration rules: {problem}");

    // A rotated secret: the old one stops, the new one works.
    let (status, _, rotated) = call(
        &app,
        Some(&token),
        Method::POST,
        &format!("/admin/api/v1/clients/{}/rotate-secret", rp.id),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(cc_token(&app, &rp, "").await.status(), 401, "the old secret stops");
    let new = TestClient {
        secret: Some(rotated["client_secret"].as_str().unwrap().to_string()),
        ..rp.clone()
    };
    assert_eq!(cc_token(&app, &new, "").await.status(), 200);

    // PATCH under If-Match, checked by the registration rules.
    let path = format!("/admin/api/v1/clients/{}", rp.id);
    let (_, headers, _) = call(&app, Some(&token), Method::GET, &path, None, None).await;
    let etag = headers["etag"].to_str().unwrap().to_string();
    let bad = json!({ "redirect_uris": ["http://evil.example.com/cb"] });
    let (status, _, problem) = call(&app, Some(&token), Method::PATCH, &path, Some(bad), Some(&etag)).await;
    assert_eq!(status, 422, "{problem}");
    let rename = json!({ "name": "Renamed RP" });
    let (status, _, c) = call(
        &app,
        Some(&token),
        Method::PATCH,
        &path,
        Some(rename.clone()),
        Some(&etag),
    )
    .await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["name"], "Renamed RP");
    let (status, _, _) = call(&app, Some(&token), Method::PATCH, &path, Some(rename), Some(&etag)).await;
    assert_eq!(status, 412, "the old version no longer matches");

    // A rotated key appears in JWKS.
    let (status, _, created) = call(
        &app,
        Some(&token),
        Method::POST,
        "/admin/api/v1/keys/rotate",
        Some(json!({"alg": "ES256"})),
        None,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let kid = created["items"][0]["kid"].as_str().unwrap().to_string();
    let jwks: Value = app.get("/oauth2/jwks").await.json().await.unwrap();
    assert!(
        jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid),
        "{jwks}"
    );
    let keys = get(&app, &token, "/admin/api/v1/keys").await;
    let listed = keys["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap()
        .clone();
    assert_eq!(listed["state"], "pending");

    // Deleted: its credentials stop.
    let (status, _, _) = call(&app, Some(&token), Method::DELETE, &path, None, None).await;
    assert_eq!(status, 204);
    assert_eq!(cc_token(&app, &new, "").await.status(), 401);
    assert_eq!(call(&app, Some(&token), Method::GET, &path, None, None).await.0, 404);
    let events = get(&app, &token, "/admin/api/v1/audit-events?kind=client.").await;
    let kinds: Vec<&str> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for k in ["client.secret_rotated", "client.updated", "client.deleted"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
    let actor = format!("client:{}", admin.id);
    assert!(
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["actor"] == actor.as_str() || e["kind"] == "client.created")
    );
    let outbox = get(&app, &token, "/admin/api/v1/outbox?state=failed").await;
    assert!(outbox["items"].is_array());

    // The admin client loses the right: its token stops at once.
    let (status, _, _) = call(
        &app,
        Some(&token),
        Method::PATCH,
        &format!("/admin/api/v1/clients/{}", admin.id),
        Some(json!({ "admin_api": false })),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        call(&app, Some(&token), Method::GET, "/admin/api/v1/keys", None, None)
            .await
            .0,
        403
    );
}

#[tokio::test]
async fn a_superusers_token_carries_the_scope_only_after_a_second_factor() {
    let app = TestApp::spawn_with(Options::default()).await;
    let admin = admin_client(&app).await;
    superuser(&app, "root@example.com").await;
    superuser(&app, "deputy@example.com").await;
    let extra = [("scope", "openid gatehouse:admin")];
    let t = flow::code_tokens(&app, &browser(), &admin, &extra, "root@example.com").await;
    assert_eq!(t["scope"], "openid", "the password alone is not enough: {t}");
    let weak = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        call(&app, Some(&weak), Method::GET, "/admin/api/v1/users", None, None)
            .await
            .0,
        403
    );

    let b = browser();
    flow::login(&app, &b, "/login", "root@example.com", flow::PASSWORD).await;
    let step = fresh_step().await;
    let (secret, _) = enrol(&app, &b, step).await;
    let b = password_step(&app, "root@example.com").await;
    second_factor(&app, &b, &code(&secret, step + 1)).await;
    assert!(signed_in(&app, &b).await);
    let back = flow::authorize(&app, &b, &authorize_url(&admin, &extra), "root@example.com").await;
    let t = flow::redeem(&app, &admin, &back).await;
    assert!(t["scope"].as_str().unwrap().split(' ').any(|s| s == ADMIN), "{t}");
    let strong = t["access_token"].as_str().unwrap().to_string();
    let users = get(&app, &strong, "/admin/api/v1/users?q=root").await;
    let root_id = users["items"][0]["id"].as_str().unwrap().to_string();
    let deputy = get(&app, &strong, "/admin/api/v1/users?q=deputy").await;
    let deputy_id = deputy["items"][0]["id"].as_str().unwrap().to_string();

    // The deputy loses superuser by the root's hand; the actor is the root.
    let path = format!("/admin/api/v1/users/{deputy_id}/revoke-superuser");
    assert_eq!(call(&app, Some(&strong), Method::POST, &path, None, None).await.0, 200);
    let events = get(&app, &strong, "/admin/api/v1/audit-events?kind=user.superuser_revoked").await;
    assert_eq!(events["items"][0]["actor"], format!("user:{root_id}"));
    // The last superuser cannot remove itself.
    let path = format!("/admin/api/v1/users/{root_id}/revoke-superuser");
    let (status, _, problem) = call(&app, Some(&strong), Method::POST, &path, None, None).await;
    assert_eq!(status, 409, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("last active superuser"));
}

#[tokio::test]
async fn sign_ins_failed_passwords_and_consents_are_in_the_audit_log() {
    let app = TestApp::spawn().await;
    let admin = admin_client(&app).await;
    let token = admin_token(&app, &admin).await;
    let rp = flow::client(&app, false, &["authorization_code"]).await;
    flow::user(&app, "pia@example.com").await;
    let r = flow::login(&app, &browser(), "/login", "pia@example.com", "not the password").await;
    assert_eq!(r.status(), 401);
    let r = flow::login(&app, &browser(), "/login", "nobody@example.com", "not the password").await;
    assert_eq!(r.status(), 401);
    let b = browser();
    flow::code_tokens(&app, &b, &rp, &[], "pia@example.com").await;
    let r = flow::submit(
        &app,
        &b,
        "/account/security",
        "/account/security/apps",
        &[("client_id", &rp.id)],
    )
    .await;
    assert!(r.text().await.unwrap().contains("Access withdrawn."));
    flow::submit(
        &app,
        &b,
        "/account/security",
        "/account/security/apps",
        &[("client_id", "never-connected")],
    )
    .await;

    let kinds = |events: &Value| -> Vec<String> {
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["kind"].as_str().map(String::from))
            .collect()
    };
    // The failed password is written off the request path.
    let mut events = Value::Null;
    for _ in 0..50 {
        events = get(&app, &token, "/admin/api/v1/audit-events?user=pia@example.com").await;
        if kinds(&events).iter().any(|k| k == "user.sign_in_failed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let found = kinds(&events);
    for k in [
        "user.sign_in_failed",
        "user.signed_in",
        "consent.granted",
        "consent.withdrawn",
    ] {
        assert!(found.iter().any(|f| f == k), "{k} in {found:?}");
    }
    let item = |kind: &str| {
        events["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == kind)
            .unwrap()
            .clone()
    };
    let signed_in = item("user.signed_in");
    assert_eq!(signed_in["detail"]["amr"], json!(["pwd"]));
    assert_eq!(signed_in["ip"], "127.0.0.1");
    assert!(signed_in["device"].is_string(), "{signed_in}");
    assert_eq!(item("consent.granted")["detail"]["client_id"], rp.id.as_str());
    let withdrawn: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "consent.withdrawn")
        .collect();
    assert_eq!(withdrawn.len(), 1, "nothing withdrawn, nothing recorded: {withdrawn:?}");
    assert_eq!(
        item("user.sign_in_failed")["actor"],
        "anonymous",
        "a wrong guess is not the user's act"
    );
    assert!(
        !events.to_string().contains("not the password"),
        "no password in the log"
    );
    let all = get(&app, &token, "/admin/api/v1/audit-events?kind=user.sign_in_failed").await;
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        1,
        "an unknown address leaves nothing: {all}"
    );
}

#[tokio::test]
async fn the_admin_scope_is_never_refreshed_nor_consented_for_good() {
    let app = TestApp::spawn().await;
    let admin = flow::client_with(&app, false, &["authorization_code", "refresh_token"], |mut n| {
        n.scopes = ["openid", "offline_access", ADMIN].map(String::from).to_vec();
        n
    })
    .await;
    superuser(&app, "chief@example.com").await;
    let b = browser();
    flow::login(&app, &b, "/login", "chief@example.com", flow::PASSWORD).await;
    let step = fresh_step().await;
    let (secret, _) = enrol(&app, &b, step).await;
    let b = password_step(&app, "chief@example.com").await;
    second_factor(&app, &b, &code(&secret, step + 1)).await;
    let extra = [("scope", "openid offline_access gatehouse:admin")];
    let t = flow::code_tokens(&app, &b, &admin, &extra, "chief@example.com").await;
    assert!(t["scope"].as_str().unwrap().contains(ADMIN), "{t}");
    let strong = t["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        call(&app, Some(&strong), Method::GET, "/admin/api/v1/keys", None, None)
            .await
            .0,
        200
    );

    // A refreshed token goes without it, and so does the refresh token after it.
    let refresh = t["refresh_token"].as_str().unwrap();
    let r = flow::token(
        &app,
        &admin,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    let t2: Value = r.json().await.unwrap();
    assert!(!t2["scope"].as_str().unwrap().contains(ADMIN), "{t2}");
    let refreshed = t2["access_token"].as_str().unwrap();
    assert_eq!(
        call(&app, Some(refreshed), Method::GET, "/admin/api/v1/keys", None, None)
            .await
            .0,
        403
    );
    let r = flow::token(
        &app,
        &admin,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t2["refresh_token"].as_str().unwrap()),
            ("scope", "openid gatehouse:admin"),
        ],
    )
    .await;
    assert_eq!(r.status(), 400, "nor can it be asked back");

    // The consent to it is asked again next time; the other scopes stand.
    let r = b
        .get(app.url(&flow::authorize_url(&admin, &extra)))
        .send()
        .await
        .unwrap();
    assert!(location(&r).starts_with("/consent"), "{}", location(&r));
    let r = b
        .get(app.url(&flow::authorize_url(&admin, &[("scope", "openid offline_access")])))
        .send()
        .await
        .unwrap();
    assert!(!location(&r).starts_with("/consent"), "{}", location(&r));
}

#[tokio::test]
async fn resetting_a_users_factors_ends_their_sessions() {
    let app = TestApp::spawn().await;
    let admin = admin_client(&app).await;
    let token = admin_token(&app, &admin).await;
    let b = crate::two_factor::signed_in_user(&app, "lost@example.com").await;
    let step = fresh_step().await;
    enrol(&app, &b, step).await;
    assert!(signed_in(&app, &b).await);
    let users = get(&app, &token, "/admin/api/v1/users?q=lost").await;
    let id = users["items"][0]["id"].as_str().unwrap().to_string();
    let (status, _, outcome) = call(
        &app,
        Some(&token),
        Method::POST,
        &format!("/admin/api/v1/users/{id}/reset-factors"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{outcome}");
    assert!(!signed_in(&app, &b).await, "whoever held the factors is signed out");
    let detail = get(&app, &token, &format!("/admin/api/v1/users/{id}")).await;
    assert_eq!(detail["factors"], json!([]));
}
