//! Strict security headers on every response (OWASP ASVS V3; RFC 9700 §4.16 against
//! framing, §4.2 against Referer leaks). A handler may set its own value first.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
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

pub async fn apply(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let mut response = next.run(req).await;
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(state.csp()) {
        h.entry(header::CONTENT_SECURITY_POLICY).or_insert(v);
    }
    let mut set = |name: header::HeaderName, value: &'static str| {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    };
    // Dynamic responses are not cached unless the handler says otherwise.
    set(header::CACHE_CONTROL, "no-store");
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(header::REFERRER_POLICY, "no-referrer");
    set(header::X_FRAME_OPTIONS, "DENY");
    set(
        header::HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    );
    set(
        header::HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(
        header::HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    );
    if state.config().issuer_is_https() {
        set(header::STRICT_TRANSPORT_SECURITY, "max-age=63072000; includeSubDomains");
    }
    response
}
