//! The log span of a request: method, matched route and request id — never the query
//! string, which may carry codes or tokens.

use axum::extract::MatchedPath;
use axum::http::Request;
use tracing::Span;

pub fn make_span<B>(req: &Request<B>) -> Span {
    let route = req.extensions().get::<MatchedPath>().map_or("-", |m| m.as_str());
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %req.method(), route = %route, request_id = %request_id)
}
