//! Middleware: tracing spans, metrics, security headers, the issuer's host for pages.

pub mod canonical_host;
pub mod metrics;
pub mod security_headers;
pub mod trace;
