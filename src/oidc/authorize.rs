//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1), validated without
//! I/O beyond the client lookup done by the caller.
//!
//! Order matters (RFC 6749 §4.1.2.1): an unknown client or a redirect URI that does not
//! match is shown to the user and never redirected to; every later error goes back to
//! the client with `error`, `error_description`, `state` and `iss` (RFC 9207).

use std::collections::BTreeSet;

use entity::client;
use serde::{Deserialize, Serialize};
use url::Url;

use super::error::{ErrorCode, OAuthError};
use super::{pkce, scope};

/// Parameters as received (query string or form body).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Params {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub response_mode: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub acr_values: Option<String>,
    pub id_token_hint: Option<String>,
    pub ui_locales: Option<String>,
    pub claims: Option<String>,
    pub request: Option<String>,
    pub request_uri: Option<String>,
    /// RFC 8707 resource indicators, joined by spaces when repeated.
    pub resource: Option<String>,
}

/// How the authorization response is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseMode {
    Query,
    FormPost,
}

/// Where and how a response goes back to the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub redirect_uri: String,
    pub state: Option<String>,
    pub mode: ResponseMode,
}

/// A validated authorization request, as kept while the user logs in and consents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthRequest {
    pub client_id: String,
    pub reply: Reply,
    pub scope: BTreeSet<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: BTreeSet<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// When the request was made (Unix milliseconds): `prompt=login` needs a login after it.
    pub created_at_ms: i64,
    /// The user answered the consent screen for this very request.
    #[serde(default)]
    pub consent_given: bool,
    /// The `sub` of a valid `id_token_hint`: the end-user the client expects.
    #[serde(default)]
    pub expected_sub: Option<String>,
    /// Keyed hash binding the request to the browser that started it; login, consent and
    /// resumption only work in that browser.
    #[serde(default)]
    pub browser: Option<String>,
    /// The session (`sid`) in which the user consented to this request.
    #[serde(default)]
    pub consented_sid: Option<String>,
    /// Resources (RFC 8707) the tokens are for.
    #[serde(default)]
    pub resources: Vec<String>,
    /// The `acr_values` asked for, in order of preference (OIDC Core §3.1.2.1).
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// The user (id) who was asked for a second factor for this request but has none,
    /// when only `acr_values` (not the client's registration) asked for it: issue without
    /// for that user alone.
    #[serde(default)]
    pub mfa_waived_for: Option<String>,
}

/// The claim names requested per target (`id_token`, `userinfo`) by a `claims` parameter
/// (OIDC Core §5.5).
pub fn parse_claims_param(s: &str) -> Result<(BTreeSet<String>, BTreeSet<String>), OAuthError> {
    let bad = || OAuthError::invalid_request("the claims parameter is not a valid claims request");
    let v: serde_json::Value = serde_json::from_str(s).map_err(|_| bad())?;
    let obj = v.as_object().ok_or_else(bad)?;
    let names = |target: &str| -> Result<BTreeSet<String>, OAuthError> {
        match obj.get(target) {
            None | Some(serde_json::Value::Null) => Ok(BTreeSet::new()),
            Some(serde_json::Value::Object(m)) => {
                if m.values().any(|c| !(c.is_null() || c.is_object())) {
                    return Err(bad());
                }
                Ok(m.keys()
                    .filter(|k| super::claims::SUPPORTED.contains(&k.as_str()))
                    .cloned()
                    .collect())
            }
            Some(_) => Err(bad()),
        }
    };
    Ok((names("id_token")?, names("userinfo")?))
}

/// Why a request was refused.
#[derive(Debug)]
pub enum Rejection {
    /// Shown as an error page: there is no trustworthy place to redirect to.
    Page(String),
    /// Sent back to the client.
    Redirect(Reply, OAuthError),
}

const MAX_PARAM: usize = 4096;

/// Whether `presented` matches a registered redirect URI: exact string comparison,
/// except that the port of an `http` loopback IP-literal URI may vary (RFC 8252 §7.3).
pub fn redirect_uri_matches(registered: &[String], presented: &str) -> bool {
    if registered.iter().any(|r| r == presented) {
        return true;
    }
    let Ok(p) = Url::parse(presented) else { return false };
    let loopback_ip = |u: &Url| {
        u.scheme() == "http"
            && matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                | matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
    };
    if !loopback_ip(&p) {
        return false;
    }
    registered.iter().filter_map(|r| Url::parse(r).ok()).any(|r| {
        loopback_ip(&r)
            && r.host() == p.host()
            && r.path() == p.path()
            && r.query() == p.query()
            && r.fragment().is_none()
            && p.fragment().is_none()
    })
}

/// Validates the request for `client` (None when `client_id` names no client).
pub fn validate(p: &Params, client: Option<&client::Model>, now: i64) -> Result<AuthRequest, Rejection> {
    let Some(client_id) = p.client_id.as_deref().filter(|c| !c.is_empty()) else {
        return Err(Rejection::Page("The request has no client_id.".into()));
    };
    let Some(client) = client else {
        return Err(Rejection::Page(format!(
            "The application {client_id:?} is not registered here."
        )));
    };
    let registered = crate::clients::strings(&client.redirect_uris);
    let redirect_uri = match p.redirect_uri.as_deref() {
        Some(r) if redirect_uri_matches(&registered, r) => r.to_string(),
        Some(_) => {
            return Err(Rejection::Page(
                "The redirect_uri does not match any registered for this application.".into(),
            ));
        }
        None => return Err(Rejection::Page("The request has no redirect_uri.".into())),
    };
    let mode = match p.response_mode.as_deref() {
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some(_) => ResponseMode::Query,
    };
    let reply = Reply {
        redirect_uri,
        state: p.state.clone(),
        mode,
    };
    let fail = |code: ErrorCode, d: &str| Err(Rejection::Redirect(reply.clone(), OAuthError::new(code, d)));

    if let Some(m) = p.response_mode.as_deref()
        && !matches!(m, "query" | "form_post")
    {
        return fail(ErrorCode::InvalidRequest, "response_mode must be query or form_post");
    }
    for (name, v) in [
        ("state", &p.state),
        ("nonce", &p.nonce),
        ("scope", &p.scope),
        ("login_hint", &p.login_hint),
        ("acr_values", &p.acr_values),
        ("claims", &p.claims),
        ("ui_locales", &p.ui_locales),
        ("id_token_hint", &p.id_token_hint),
    ] {
        if v.as_ref().is_some_and(|s| s.len() > MAX_PARAM) {
            return fail(ErrorCode::InvalidRequest, &format!("{name} is too long"));
        }
    }
    if p.request.is_some() {
        return fail(ErrorCode::RequestNotSupported, "request objects are not supported");
    }
    if p.request_uri.is_some() {
        return fail(ErrorCode::RequestUriNotSupported, "request_uri is not supported");
    }
    match p.response_type.as_deref() {
        Some("code") => {}
        None => return fail(ErrorCode::InvalidRequest, "response_type is missing"),
        Some(_) => {
            return fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported",
            );
        }
    }
    let grants = crate::clients::strings(&client.grant_types);
    if !grants.iter().any(|g| g == "authorization_code") {
        return fail(
            ErrorCode::UnauthorizedClient,
            "the client may not use the authorization code grant",
        );
    }
    let scope = match scope::parse(p.scope.as_deref().unwrap_or_default()) {
        Ok(s) => s,
        Err(e) => return Err(Rejection::Redirect(reply, e)),
    };
    if let Err(e) = scope::check_allowed(&scope, &crate::clients::strings(&client.allowed_scopes)) {
        return Err(Rejection::Redirect(reply, e));
    }
    let code_challenge = match (p.code_challenge.as_deref(), p.code_challenge_method.as_deref()) {
        (None, None) => None,
        (None, Some(_)) => {
            return fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method without code_challenge",
            );
        }
        (Some(c), Some("S256")) if pkce::valid_syntax(c) => Some(c.to_string()),
        (Some(_), Some("S256")) => return fail(ErrorCode::InvalidRequest, "code_challenge is malformed"),
        (Some(_), Some("plain") | None) => {
            return fail(
                ErrorCode::InvalidRequest,
                "code_challenge_method must be S256 (plain is not allowed)",
            );
        }
        (Some(_), Some(_)) => return fail(ErrorCode::InvalidRequest, "code_challenge_method must be S256"),
    };
    if code_challenge.is_none() && super::client_auth::is_public(client) {
        return fail(
            ErrorCode::InvalidRequest,
            "PKCE (code_challenge with S256) is required for public clients",
        );
    }
    let prompt: BTreeSet<String> = p
        .prompt
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = prompt
        .iter()
        .find(|v| !matches!(v.as_str(), "none" | "login" | "consent" | "select_account"))
    {
        return fail(ErrorCode::InvalidRequest, &format!("unknown prompt value {bad:?}"));
    }
    if prompt.contains("none") && prompt.len() > 1 {
        return fail(
            ErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        );
    }
    // A claims request is checked, but releases nothing beyond the granted scopes: ID
    // tokens and UserInfo already carry every claim those allow (OIDC Core §5.5 lets the
    // provider decline claims; consent is given per scope).
    if let Some(c) = p.claims.as_deref()
        && let Err(e) = parse_claims_param(c)
    {
        return Err(Rejection::Redirect(reply, e));
    }
    let resources = match super::resource::requested(p.resource.as_deref(), &client_resources(client)) {
        Ok(r) => r,
        Err(e) => return Err(Rejection::Redirect(reply, e)),
    };
    let max_age = match p.max_age.as_deref() {
        None => None,
        Some(s) => match s.parse::<i64>() {
            Ok(v) if v >= 0 => Some(v),
            _ => return fail(ErrorCode::InvalidRequest, "max_age must be a non-negative integer"),
        },
    };
    Ok(AuthRequest {
        client_id: client.id.clone(),
        reply,
        scope,
        nonce: p.nonce.clone(),
        code_challenge,
        prompt,
        max_age,
        login_hint: p.login_hint.clone().filter(|h| h.len() <= 254),
        created_at_ms: now,
        consent_given: false,
        expected_sub: None,
        browser: None,
        consented_sid: None,
        resources,
        acr_values: p
            .acr_values
            .as_deref()
            .unwrap_or_default()
            .split_ascii_whitespace()
            .take(8)
            .map(str::to_string)
            .collect(),
        mfa_waived_for: None,
    })
}

/// The resources `client` is registered for.
pub fn client_resources(client: &client::Model) -> Vec<String> {
    client
        .allowed_resources
        .as_ref()
        .map(crate::clients::strings)
        .unwrap_or_default()
}

/// The `(name, value)` pairs of a response: the given ones plus `state` and `iss`.
pub fn response_params(
    reply: &Reply,
    issuer: &str,
    mut params: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String)> {
    if let Some(s) = &reply.state {
        params.push(("state", s.clone()));
    }
    params.push(("iss", issuer.to_string()));
    params
}

/// The redirect URL of a query-mode response.
pub fn query_redirect(reply: &Reply, params: &[(&'static str, String)]) -> String {
    match Url::parse(&reply.redirect_uri) {
        Ok(mut u) => {
            u.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            u.to_string()
        }
        Err(_) => reply.redirect_uri.clone(),
    }
}

/// The error parameters of a response.
pub fn error_params(e: &OAuthError) -> Vec<(&'static str, String)> {
    vec![
        ("error", e.code.as_str().to_string()),
        ("error_description", e.description.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_may_change_port_only() {
        let reg = vec![
            "http://127.0.0.1/cb".to_string(),
            "https://app.example.com/cb".to_string(),
        ];
        assert!(redirect_uri_matches(&reg, "https://app.example.com/cb"));
        assert!(redirect_uri_matches(&reg, "http://127.0.0.1:51234/cb"));
        assert!(!redirect_uri_matches(&reg, "http://127.0.0.1:51234/cb2"));
        assert!(!redirect_uri_matches(&reg, "http://127.0.0.1:51234/cb?x=1"));
        assert!(!redirect_uri_matches(&reg, "https://app.example.com/cb/"));
        assert!(!redirect_uri_matches(&reg, "https://app.example.com/cb?x=1"));
        assert!(!redirect_uri_matches(&reg, "https://APP.example.com/cb"));
        assert!(!redirect_uri_matches(&reg, "http://localhost:51234/cb"));
    }
}
