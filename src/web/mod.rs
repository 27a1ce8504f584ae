//! The HTTP layer: the only module that knows axum. Handlers parse, call a domain
//! function and map its result; cross-cutting rules live in middleware and extractors.

mod admin;
pub mod cookies;
pub mod error;
pub mod extract;
mod health;
mod middleware;
pub mod oidc;
mod pages;
pub mod state;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate as _};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Serves the application on `listener` until `shutdown` completes, then drains
/// in-flight requests. The peer address is recorded for [`extract::ClientIp`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Request ids: a random per-process prefix and a counter (`3f9a…-1c`), unique across
/// instances without a system call or a UUID per request.
#[derive(Clone, Debug)]
struct RequestIds {
    prefix: std::sync::Arc<str>,
    next: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        Self {
            prefix: crate::crypto::random_token::<9>().into(),
            next: std::sync::Arc::default(),
        }
    }
}

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        axum::http::HeaderValue::from_str(&format!("{}-{n:x}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let config = state.config().clone();
    let routes = Router::new()
        .merge(health::router())
        .merge(oidc::router())
        .merge(admin::router())
        .merge(pages::router().route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::canonical_host::redirect,
        )))
        .fallback(pages::not_found);

    // Each `.layer` wraps everything above it, so the last one added runs first on the
    // way in. Layers added with `Router::layer` run after routing, so the matched route
    // is known to tracing and metrics.
    routes
        // Innermost: an `Err(PageError)` answered by a handler becomes the themed page.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            error::render_page_errors,
        ))
        .layer(DefaultBodyLimit::max(config.body_limit_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        // Pages are never compressed: they carry a CSRF token (or a code) beside reflected
        // input, the preconditions of BREACH. CSS, JSON and the rest are.
        .layer(
            CompressionLayer::new()
                .compress_when(DefaultPredicate::new().and(NotForContentType::const_new("text/html"))),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::security_headers::apply,
        ))
        // Counted with the final status, including timeouts.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::metrics::track,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(middleware::trace::make_span)
                // A 503 from /readyz is an answer, not a server fault: warn, not error.
                .on_failure(tower_http::trace::DefaultOnFailure::new().level(tracing::Level::WARN)),
        )
        // A request id for every request, echoed back and attached to its log span.
        .layer(SetRequestIdLayer::new(REQUEST_ID, RequestIds::default()))
        .layer(axum::middleware::from_fn(middleware::trace::sanitize_request_id))
        .with_state(state)
}
