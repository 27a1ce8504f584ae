//! The OpenID Connect / OAuth 2.0 protocol core. Request parsing and validation are
//! plain functions over plain types; `web/oidc.rs` adapts HTTP to them.

pub mod access;
pub mod authorize;
pub mod backchannel;
pub mod backchannel_repo;
pub mod claims;
pub mod client_auth;
pub mod consent;
pub mod discovery;
pub mod error;
pub mod interaction;
pub mod pkce;
pub mod repo;
pub mod resource;
pub mod scope;
pub mod tokens;

pub use error::{ErrorCode, OAuthError};
