//! Counts requests and records latency by method, matched route and status. Every label
//! has a fixed set of values, so no request can grow the label space: unmatched paths
//! share one route label, methods outside the standard nine share `other`, and status
//! codes are the 500 three-digit numbers at most.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::metrics::{RequestLabels, RouteLabels};
use crate::web::AppState;

pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = method_label(req.method());
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| route_label(m.as_str()));
    let response = next.run(req).await;
    let m = state.metrics();
    m.requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    m.latency
        .get_or_create(&RouteLabels { method, route })
        .observe(start.elapsed().as_secs_f64());
    response
}

/// Route patterns are the router's own (a fixed set, a few dozen), so each is made
/// `'static` once and labels cost no allocation per request. Bounded: past
/// [`MAX_ROUTES`] patterns (never reached by this router) the rest share one label.
const MAX_ROUTES: usize = 512;

fn route_label(pattern: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::{OnceLock, RwLock};
    static ROUTES: OnceLock<RwLock<HashSet<&'static str>>> = OnceLock::new();
    let routes = ROUTES.get_or_init(RwLock::default);
    if let Some(r) = routes
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(pattern)
    {
        return r;
    }
    let mut w = routes.write().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(r) = w.get(pattern) {
        return r;
    }
    if w.len() >= MAX_ROUTES {
        return "other";
    }
    let leaked: &'static str = Box::leak(pattern.to_string().into_boxed_str());
    w.insert(leaked);
    leaked
}

/// The method label: one of the nine methods of RFC 9110 and RFC 5789, else `other`.
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}
