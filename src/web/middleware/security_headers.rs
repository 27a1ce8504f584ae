//! Strict security headers on every response (OWASP ASVS V3; RFC 9700 §4.16 against
//! framing, §4.2 against Referer leaks). A handler may set its own value first.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::web::AppState;

/// No inline script or style, nothing from other origins (but the robot-check provider's,
/// when one is configured), no framing.
pub fn csp(config: &crate::config::Config) -> String {
    let extra = config
        .captcha
        .as_ref()
        .map(|c| c.csp_sources.join(" "))
        .unwrap_or_default();
    let (script, frame) = if extra.is_empty() {
        ("'self'".to_string(), String::new())
    } else {
        (format!("'self' {extra}"), format!("; frame-src {extra}"))
    };
    format!(
        "default-src 'none'; script-src {script}; style-src 'self'; img-src 'self' data:; font-src 'self'; \
connect-src 'self'; manifest-src 'self'; base-uri 'none'; frame-ancestors 'none'{frame}"
    )
}

/// The fixed headers, built at compile time (validating them per response was a visible
/// share of a small response's cost). Dynamic responses are not cached unless the
/// handler says otherwise.
const FIXED: [(HeaderName, HeaderValue); 7] = [
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    ),
    (
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("same-origin"),
    ),
    (
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"),
    ),
];

const HSTS: HeaderValue = HeaderValue::from_static("max-age=63072000; includeSubDomains");

pub async fn apply(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert_with(|| state.csp().clone());
    for (name, value) in FIXED {
        h.entry(name).or_insert(value);
    }
    if state.config().issuer_is_https() {
        h.entry(header::STRICT_TRANSPORT_SECURITY).or_insert(HSTS);
    }
    response
}
