//! Health endpoints: `/healthz` (the process is alive), `/readyz` (the database and the
//! store answer; 503 with a JSON reason otherwise) and `/metrics` (Prometheus text).

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;
use super::state::Startup;
use crate::metrics::PoolLabels;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Json(json!({ "status": "ok" }))).into_response()
}

/// The result of one dependency check, as `{"status":"up"}` or
/// `{"status":"down","error":"unreachable"|"timed out"}`. The detailed cause (host
/// names, user names) goes to the log, not to whoever asks.
async fn check<F, E>(what: &str, f: F) -> (bool, serde_json::Value)
where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    match tokio::time::timeout(CHECK_TIMEOUT, f).await {
        Ok(Ok(())) => (true, json!({ "status": "up" })),
        Ok(Err(e)) => {
            tracing::warn!(dependency = what, error = %e, "readiness check failed");
            (false, json!({ "status": "down", "error": "unreachable" }))
        }
        Err(_) => {
            tracing::warn!(dependency = what, "readiness check timed out");
            (false, json!({ "status": "down", "error": "timed out" }))
        }
    }
}

async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store().clone();
    let (store_ok, store_report) = check("store", async move { store.ping().await }).await;
    let (db_ok, db_report, startup) = match state.startup().await {
        Startup::Done => {
            let (ok, report) = check("database", crate::db::ping(state.db())).await;
            (ok, report, "done")
        }
        Startup::Pending(err) => {
            let reason = if err.is_some() { "unreachable" } else { "starting" };
            (false, json!({ "status": "down", "error": reason }), "pending")
        }
    };
    let ready = store_ok && db_ok;
    state.metrics().ready.set(i64::from(ready));
    let body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "startup": startup,
        "checks": {
            "database": db_report,
            "store": { "kind": state.store().kind(), "status": store_report["status"], "error": store_report.get("error") },
        },
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    let m = state.metrics();
    let (size, idle) = crate::db::pool_stats(state.db());
    m.db_pool
        .get_or_create(&PoolLabels { state: "idle" })
        .set(i64::from(idle));
    m.db_pool
        .get_or_create(&PoolLabels { state: "in_use" })
        .set(i64::from(size.saturating_sub(idle)));
    m.db_pool_max.set(i64::from(state.config().database_max_connections));
    if state.startup().await == Startup::Done {
        match tokio::time::timeout(CHECK_TIMEOUT, crate::mail::outbox::pending_count(state.db())).await {
            Ok(Ok(n)) => {
                m.outbox_pending.set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot count the mail outbox"),
            Err(_) => tracing::warn!("counting the mail outbox timed out"),
        }
    }
    (
        [
            (
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        m.render(),
    )
        .into_response()
}
