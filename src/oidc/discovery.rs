//! Provider metadata: OpenID Connect Discovery 1.0 and RFC 8414. It lists exactly what is
//! implemented.

use serde_json::{Value, json};

use crate::config::Config;
use crate::crypto::signing::Alg;

/// Endpoint paths, relative to the issuer.
pub mod paths {
    pub const AUTHORIZE: &str = "/oauth2/authorize";
    pub const TOKEN: &str = "/oauth2/token";
    pub const USERINFO: &str = "/oauth2/userinfo";
    pub const JWKS: &str = "/oauth2/jwks";
    pub const INTROSPECT: &str = "/oauth2/introspect";
    pub const REVOKE: &str = "/oauth2/revoke";
    pub const END_SESSION: &str = "/oauth2/logout";
    /// The hosted confirmation form of a logout that could not be trusted.
    pub const END_SESSION_CONFIRM: &str = "/oauth2/logout/confirm";
    pub const PAR: &str = "/oauth2/par";
}

/// The metadata document (the same for both well-known URLs).
pub fn metadata(config: &Config) -> Value {
    let base = &config.issuer_id;
    let url = |p: &str| format!("{base}{p}");
    let algs: Vec<&str> = Alg::ALL.iter().map(|a| a.as_str()).collect();
    let auth_methods = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];
    json!({
        "issuer": base,
        "authorization_endpoint": url(paths::AUTHORIZE),
        "token_endpoint": url(paths::TOKEN),
        "userinfo_endpoint": url(paths::USERINFO),
        "jwks_uri": url(paths::JWKS),
        "introspection_endpoint": url(paths::INTROSPECT),
        "revocation_endpoint": url(paths::REVOKE),
        "end_session_endpoint": url(paths::END_SESSION),
        "pushed_authorization_request_endpoint": url(paths::PAR),
        "require_pushed_authorization_requests": false,
        "scopes_supported": crate::clients::DEFAULT_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "form_post"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": super::claims::SUPPORTED,
        "acr_values_supported": [crate::auth::ACR_SINGLE, crate::auth::ACR_MULTI],
        "claims_parameter_supported": true,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": true,
        "frontchannel_logout_supported": false,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    })
}
