//! `/readyz` follows the database and the store: 503 with a JSON reason while either is
//! unreachable (also when the process starts that way), 200 again once they return.
//! The database and Redis are taken "down" with a switchable TCP proxy in front of the
//! real servers.

use std::time::Duration;

use crate::helpers::backend::{postgres_url, redis_url};
use crate::helpers::proxy::{Proxy, target_of, via};
use crate::helpers::{Options, TestApp, TestDb, notice, random_key};

const WITHIN: Duration = Duration::from_secs(30);

#[tokio::test]
async fn postgres_down_at_start_then_up_then_down_again() {
    let Some(server) = postgres_url() else {
        notice("SKIPPED readiness with PostgreSQL down/up: set GATEHOUSE_TEST_DATABASE_URL to run it");
        return;
    };
    let db = TestDb::create_postgres(&server).await;
    let proxy = Proxy::start(target_of(&db.url, 5432), false).await;
    let proxied = db.with_url(via(&db.url, &proxy));
    let app = TestApp::start_on(
        proxied,
        &random_key(),
        Options {
            redis: false,
            ..Options::default()
        },
    )
    .await;

    let body = app.wait_readyz(503, WITHIN).await;
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["startup"], "pending");
    assert_eq!(body["checks"]["database"]["status"], "down");
    assert!(
        body["checks"]["database"]["error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    // The process keeps serving while it waits.
    assert_eq!(app.get("/healthz").await.status(), 200);

    proxy.up();
    let body = app.wait_readyz(200, WITHIN).await;
    assert_eq!(body["startup"], "done");

    proxy.down();
    let body = app.wait_readyz(503, WITHIN).await;
    assert_eq!(body["checks"]["database"]["status"], "down", "{body}");
    assert_eq!(
        app.get("/").await.status(),
        200,
        "pages that need no database still work"
    );

    proxy.up();
    app.wait_readyz(200, WITHIN).await;
    app.stop().await.expect("clean stop");
}

#[tokio::test]
async fn redis_down_at_start_then_up_then_down_again() {
    let Some(redis) = redis_url() else {
        notice("SKIPPED readiness with Redis down/up: set GATEHOUSE_TEST_REDIS_URL to run it");
        return;
    };
    let proxy = Proxy::start(target_of(&redis, 6379), false).await;
    let opts = Options::default().set("GATEHOUSE_REDIS_URL", via(&redis, &proxy)).set(
        "GATEHOUSE_REDIS_KEY_PREFIX",
        format!("gh-test:{}:", uuid::Uuid::new_v4()),
    );
    let app = TestApp::start_on(TestDb::create().await, &random_key(), opts).await;

    let body = app.wait_readyz(503, WITHIN).await;
    assert_eq!(body["checks"]["store"]["kind"], "redis");
    assert_eq!(body["checks"]["store"]["status"], "down", "{body}");

    proxy.up();
    app.wait_readyz(200, WITHIN).await;
    let store = app.state.store().clone();
    store
        .put("k", b"v", Duration::from_secs(60))
        .await
        .expect("store works once Redis is up");

    proxy.down();
    let body = app.wait_readyz(503, WITHIN).await;
    assert_eq!(body["checks"]["store"]["status"], "down", "{body}");
    assert!(
        store.get("k").await.is_err(),
        "store errors while Redis is unreachable, never panics"
    );

    proxy.up();
    app.wait_readyz(200, WITHIN).await;
    let value = crate::helpers::eventually(WITHIN, "store reconnects", || {
        let s = store.clone();
        async move { s.get("k").await.ok().flatten() }
    })
    .await;
    assert_eq!(value, b"v", "the value kept in Redis is still there");
    app.stop().await.expect("clean stop");
}

#[tokio::test]
async fn a_changed_master_key_stops_the_start_with_a_clear_error() {
    let db = TestDb::create().await;
    let first = TestApp::start_on(db.clone(), &random_key(), Options::default()).await;
    first.wait_ready().await;
    first.stop().await.expect("first instance stops cleanly");

    let second = TestApp::start_on(db, &random_key(), Options::default()).await;
    let result = tokio::time::timeout(WITHIN, second.handle_result())
        .await
        .expect("stops by itself");
    let err = result.expect_err("a wrong master key must not start").to_string();
    assert!(err.contains("is not the one this database was set up with"), "{err}");
}

impl TestApp {
    /// Waits for the server task to end by itself.
    async fn handle_result(mut self) -> Result<(), gatehouse::app::StartError> {
        let h = self.handle.take().expect("running");
        h.await.expect("server task")
    }
}
