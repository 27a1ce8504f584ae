//! The admin API's OpenAPI document: 3.1, generated from the code, naming every route,
//! and every answer the API gives matching the schema it documents.

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin_api::{ROUTES, admin_client, admin_token, call};
use crate::helpers::TestApp;
use crate::helpers::flow;
use crate::helpers::schema::Doc;

/// `/admin/api/v1/users/0000…/disable` as the document writes it: `/admin/api/v1/users/{id}/{action}`.
fn template(path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["admin", "api", "v1", "users", _] => "/admin/api/v1/users/{id}".to_string(),
        ["admin", "api", "v1", "users", _, _] => "/admin/api/v1/users/{id}/{action}".to_string(),
        ["admin", "api", "v1", "clients", _] => "/admin/api/v1/clients/{id}".to_string(),
        ["admin", "api", "v1", "clients", _, "rotate-secret"] => "/admin/api/v1/clients/{id}/rotate-secret".to_string(),
        ["admin", "api", "v1", "outbox", _, "retry"] => "/admin/api/v1/outbox/{id}/retry".to_string(),
        _ => path.split('?').next().unwrap_or(path).to_string(),
    }
}

/// A call: method, path, body, `If-Match`, the status expected.
type Case<'a> = (Method, String, Option<Value>, Option<&'a str>, u16);

#[tokio::test]
async fn the_document_names_every_route_and_every_answer_matches_it() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/admin/api/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer");

    // Every route the API serves, and nothing it does not.
    let mut served: Vec<(String, String)> = ROUTES
        .iter()
        .filter(|(_, p)| !p.ends_with("no-such-thing"))
        .map(|(m, p)| (m.to_lowercase(), template(p)))
        .collect();
    served.sort();
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, ops)| ops.as_object().unwrap().keys().map(move |m| (m.clone(), p.clone())))
        .collect();
    documented.sort();
    assert_eq!(documented, served);

    // Each answer matches its documented schema.
    let d = Doc { root: &doc };
    let admin = admin_client(&app).await;
    let token = admin_token(&app, &admin).await;
    flow::user(&app, "oa@example.com").await;
    let rp = flow::client(&app, false, &["client_credentials"]).await;
    let users = call(&app, Some(&token), Method::GET, "/admin/api/v1/users?q=oa", None, None)
        .await
        .2;
    let id = users["items"][0]["id"].as_str().unwrap().to_string();
    let (_, headers, _) = call(
        &app,
        Some(&token),
        Method::GET,
        &format!("/admin/api/v1/clients/{}", rp.id),
        None,
        None,
    )
    .await;
    let etag = headers["etag"].to_str().unwrap().to_string();
    let cases: Vec<Case> = vec![
        (Method::GET, "/admin/api/v1/users?q=oa".into(), None, None, 200),
        (Method::GET, format!("/admin/api/v1/users/{id}"), None, None, 200),
        (
            Method::GET,
            "/admin/api/v1/users/00000000-0000-0000-0000-000000000000".into(),
            None,
            None,
            404,
        ),
        (
            Method::POST,
            format!("/admin/api/v1/users/{id}/end-sessions"),
            None,
            None,
            200,
        ),
        (
            Method::POST,
            format!("/admin/api/v1/users/{id}/enable"),
            None,
            None,
            409,
        ),
        (
            Method::POST,
            format!("/admin/api/v1/users/{id}/disable"),
            None,
            Some("\"0\""),
            412,
        ),
        (Method::POST, format!("/admin/api/v1/users/{id}/purge"), None, None, 422),
        (Method::GET, "/admin/api/v1/clients".into(), None, None, 200),
        (
            Method::POST,
            "/admin/api/v1/clients".into(),
            Some(json!({"name": "Doc", "redirect_uris": ["https://doc.example.com/cb"], "public": true})),
            None,
            201,
        ),
        (
            Method::POST,
            "/admin/api/v1/clients".into(),
            Some(json!({"name": "Doc"})),
            None,
            422,
        ),
        (
            Method::POST,
            "/admin/api/v1/clients".into(),
            Some(json!({"title": "Doc"})),
            None,
            400,
        ),
        (Method::GET, format!("/admin/api/v1/clients/{}", rp.id), None, None, 200),
        (
            Method::PATCH,
            format!("/admin/api/v1/clients/{}", rp.id),
            Some(json!({"name": "OA"})),
            Some(etag.as_str()),
            200,
        ),
        (
            Method::PATCH,
            format!("/admin/api/v1/clients/{}", rp.id),
            Some(json!({"nope": 1})),
            None,
            400,
        ),
        (
            Method::POST,
            format!("/admin/api/v1/clients/{}/rotate-secret", rp.id),
            None,
            None,
            200,
        ),
        (Method::GET, "/admin/api/v1/keys".into(), None, None, 200),
        (
            Method::POST,
            "/admin/api/v1/keys/rotate".into(),
            Some(json!({"alg": "EdDSA"})),
            None,
            201,
        ),
        (
            Method::POST,
            "/admin/api/v1/keys/rotate".into(),
            Some(json!({"alg": "HS256"})),
            None,
            422,
        ),
        (
            Method::GET,
            "/admin/api/v1/audit-events?limit=5".into(),
            None,
            None,
            200,
        ),
        (
            Method::GET,
            "/admin/api/v1/audit-events?since=soon".into(),
            None,
            None,
            400,
        ),
        (Method::GET, "/admin/api/v1/outbox".into(), None, None, 200),
        (Method::GET, "/admin/api/v1/outbox?state=failed".into(), None, None, 200),
        (
            Method::POST,
            "/admin/api/v1/outbox/00000000-0000-0000-0000-000000000000/retry".into(),
            None,
            None,
            404,
        ),
        (
            Method::DELETE,
            format!("/admin/api/v1/clients/{}", rp.id),
            None,
            None,
            204,
        ),
        (Method::GET, "/admin/api/v1/users".into(), None, None, 200),
    ];
    for (method, path, body, tag, status) in cases {
        let m = method.as_str().to_lowercase();
        let (got, _, v) = call(&app, Some(&token), method, &path, body, tag).await;
        assert_eq!(got, status, "{m} {path}: {v}");
        let documented = &doc["paths"][template(&path)][&m]["responses"][status.to_string()];
        assert!(documented.is_object(), "{m} {path}: status {status} is not documented");
        match d.response(&m, &template(&path), status) {
            Some(schema) => d
                .check(&v, schema, "$")
                .unwrap_or_else(|e| panic!("{m} {path} {status}: {e}\n{v}")),
            None => assert!(v.is_null(), "{m} {path}: an undocumented body {v}"),
        }
    }
    // The checker itself refuses what the document does not allow.
    let summary = json!({ "$ref": "#/components/schemas/Summary" });
    let good = users["items"][0].clone();
    d.check(&good, &summary, "$").unwrap();
    let mut extra = good.clone();
    extra["password_hash"] = json!("x");
    assert!(d.check(&extra, &summary, "$").is_err(), "an undocumented member");
    let mut wrong = good.clone();
    wrong["superuser"] = json!("yes");
    assert!(d.check(&wrong, &summary, "$").is_err(), "a wrong type");
    let mut missing = good;
    missing.as_object_mut().unwrap().remove("email");
    assert!(d.check(&missing, &summary, "$").is_err(), "a required member missing");

    // A token-less call is answered as documented too.
    let (got, _, v) = call(&app, None, Method::GET, "/admin/api/v1/keys", None, None).await;
    assert_eq!(got, 401);
    d.check(&v, d.response("get", "/admin/api/v1/keys", 401).unwrap(), "$")
        .unwrap();
}
