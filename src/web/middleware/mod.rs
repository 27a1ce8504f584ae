//! Middleware: tracing spans, metrics, security headers.

pub mod metrics;
pub mod security_headers;
pub mod trace;
