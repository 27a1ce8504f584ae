//! Signing-key rotation: `gatehouse keys rotate` in another process publishes a new key
//! that a running instance picks up without restart; it signs only after the publish
//! delay, and the old key stays published so tokens it signed still verify.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::flow::{self, token};
use crate::helpers::{Options, TestApp, eventually};

fn kid(jwt: &str) -> String {
    jsonwebtoken::decode_header(jwt).unwrap().kid.unwrap()
}

async fn es256_kids(app: &TestApp) -> Vec<String> {
    let v: Value = app.get("/oauth2/jwks").await.json().await.unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == "ES256")
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn rotation_from_the_cli_reaches_a_running_instance() {
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_KEYS__REFRESH_SECS", "1")
            .set("GATEHOUSE_KEYS__PUBLISH_SECS", "3"),
    )
    .await;
    let c = flow::client(&app, false, &["client_credentials"]).await;
    let cc = [("grant_type", "client_credentials")];
    let old_token: Value = token(&app, &c, &cc).await.json().await.unwrap();
    let old_token = old_token["access_token"].as_str().unwrap().to_string();
    let old_kid = kid(&old_token);
    assert_eq!(es256_kids(&app).await, vec![old_kid.clone()]);

    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"));
    for (k, _) in std::env::vars() {
        if k.starts_with("GATEHOUSE_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(["keys", "rotate", "--alg", "ES256"])
        .env("GATEHOUSE_DATABASE_URL", app.db_url())
        .env("GATEHOUSE_SECRET_KEY", &app.key)
        .env("GATEHOUSE_KEYS__PUBLISH_SECS", "3")
        .env("GATEHOUSE_LOG_LEVEL", "warn")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ES256 "));

    // Published first ...
    let kids = eventually(Duration::from_secs(10), "new key in the JWKS", || async {
        let k = es256_kids(&app).await;
        (k.len() == 2).then_some(k)
    })
    .await;
    let new_kid = kids.iter().find(|k| **k != old_kid).unwrap().clone();
    let during: Value = token(&app, &c, &cc).await.json().await.unwrap();
    assert_eq!(
        kid(during["access_token"].as_str().unwrap()),
        old_kid,
        "the new key does not sign before its time"
    );

    // ... then signing.
    eventually(Duration::from_secs(15), "the new key signs", || async {
        let t: Value = token(&app, &c, &cc).await.json().await.unwrap();
        (kid(t["access_token"].as_str().unwrap()) == new_kid).then_some(())
    })
    .await;
    // The old key is still published, so its tokens still verify.
    assert!(es256_kids(&app).await.contains(&old_kid));
    let i: Value = flow::introspect(&app, &c, old_token.as_str()).await;
    assert_eq!(i["active"], true);
}

#[tokio::test]
async fn keys_past_their_rotation_age_are_replaced_automatically() {
    use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
    let app = TestApp::spawn().await;
    let before = es256_kids(&app).await;
    // Age the ES256 key past keys.rotation_days (90).
    entity::signing_key::Entity::update_many()
        .set(entity::signing_key::ActiveModel {
            created_at: Set(chrono::Utc::now() - chrono::Duration::days(91)),
            ..Default::default()
        })
        .filter(entity::signing_key::Column::Alg.eq("ES256"))
        .exec(app.state.db())
        .await
        .unwrap();
    app.state.keys().rotate_due(app.state.db()).await.unwrap();
    app.state.keys().reload(app.state.db()).await.unwrap();
    let after = es256_kids(&app).await;
    assert_eq!(after.len(), 2, "a successor is published next to the old key");
    assert!(after.contains(&before[0]));
    // Other algorithms were young enough.
    let v: Value = app.get("/oauth2/jwks").await.json().await.unwrap();
    assert_eq!(
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["alg"] == "RS256")
            .count(),
        1
    );
    // Running it again does not rotate again (the successor is young).
    app.state.keys().rotate_due(app.state.db()).await.unwrap();
    app.state.keys().reload(app.state.db()).await.unwrap();
    assert_eq!(es256_kids(&app).await.len(), 2);
}
