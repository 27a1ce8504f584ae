//! Gatehouse: a self-hosted OpenID Connect identity provider.
//!
//! Layers, top to bottom: `cli`/`app` → `web` → `accounts`, `clients` → `crypto`,
//! `store`, `db`, `mail`, `theme`, `audit` → the `entity` crate. `config`, `metrics` and
//! `telemetry` are leaves. See `docs/architecture.md`.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod accounts;
pub mod admin;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod captcha;
pub mod cli;
pub mod clients;
pub mod config;
pub mod crypto;
pub mod db;
pub mod geoip;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod oidc;
pub mod standard_claims;
pub mod store;
pub mod telemetry;
pub mod theme;
pub mod upstream;
pub mod web;

pub use app::App;
pub use config::Config;
