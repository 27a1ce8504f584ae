//! The log span of a request: method, matched route and request id — never the query
//! string, which may carry codes or tokens.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Span;

/// Drops a client-supplied `x-request-id` that is not a short token of safe characters,
/// so a fresh one is generated instead of logging attacker-chosen text.
pub async fn sanitize_request_id(mut req: Request, next: Next) -> Response {
    let ok = req.headers().get("x-request-id").is_none_or(|v| {
        let b = v.as_bytes();
        !b.is_empty() && b.len() <= 128 && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(c))
    });
    if !ok {
        req.headers_mut().remove("x-request-id");
    }
    next.run(req).await
}

pub fn make_span<B>(req: &axum::http::Request<B>) -> Span {
    let route = req.extensions().get::<MatchedPath>().map_or("-", |m| m.as_str());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %req.method(), route = %route, request_id = %request_id)
}
