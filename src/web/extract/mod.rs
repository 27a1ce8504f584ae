//! Extractors that carry cross-cutting rules.

pub mod client_ip;

pub use client_ip::ClientIp;
