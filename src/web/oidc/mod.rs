//! Protocol endpoints: thin adapters between HTTP and `crate::oidc`.
//! One file per endpoint; shared here: the router, client authentication, the token
//! context, and response helpers.

mod authorization;
mod introspect;
mod logout;
mod par;
mod token;
mod userinfo;

pub use authorization::*;
use introspect::*;
use logout::*;
use par::*;
use token::*;
use userinfo::*;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tower_http::cors::{Any, CorsLayer};

use crate::accounts::sessions::Session;
use crate::cache::Prebuilt;
use crate::oidc::OAuthError;
use crate::oidc::client_auth::{self, Presented};
use crate::oidc::discovery::paths;
use crate::oidc::tokens::Ctx;
use crate::web::AppState;
use crate::web::extract::oauth_form::OAuthParams;

/// How long a pending authorization request waits for login and consent.
pub(super) const PENDING_TTL: std::time::Duration = std::time::Duration::from_secs(1800);

pub fn router() -> Router<AppState> {
    // CORS only where RFC 9700 §2.6 allows it: metadata, keys and back-channel endpoints
    // called from browsers; never on the authorization endpoint or pages.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]);
    let api = Router::new()
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/.well-known/oauth-authorization-server", get(metadata))
        .route(paths::JWKS, get(jwks))
        .route(paths::TOKEN, post(token))
        .route(paths::USERINFO, get(userinfo).post(userinfo))
        .route(paths::INTROSPECT, post(introspect))
        .route(paths::REVOKE, post(revoke))
        .route(paths::PAR, post(par))
        .layer(cors);
    Router::new()
        .merge(api)
        .route(paths::AUTHORIZE, get(authorize_get).post(authorize_post))
        .route("/oauth2/authorize/resume", get(resume))
        .route(paths::END_SESSION, get(logout).post(logout_post))
        .route(paths::END_SESSION_CONFIRM, post(logout_confirm))
}

pub(crate) fn ctx(state: &AppState) -> Ctx<'_> {
    Ctx {
        config: state.config(),
        db: state.db(),
        store: state.store(),
        keys: state.keys(),
        hasher: state.token_hasher(),
        verified: state.verified(),
    }
}

/// Authenticates the client of a back-channel request.
pub(super) async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &OAuthParams,
    endpoint: &str,
) -> Result<(entity::client::Model, client_auth::Method), OAuthError> {
    let p = presented(headers, form)?;
    let issuer = &state.config().issuer_id;
    // RFC 7523 §3 and the 2025 audience-injection advisory: the issuer, the token
    // endpoint, or the endpoint the assertion is presented to. Built only when an
    // assertion came (secrets are the common case on the token endpoint).
    let audiences = if p.assertion.is_some() {
        vec![
            issuer.clone(),
            format!("{issuer}{}", paths::TOKEN),
            format!("{issuer}{endpoint}"),
        ]
    } else {
        Vec::new()
    };
    let check = client_auth::AssertionCheck {
        audiences: &audiences,
        store: state.store(),
    };
    client_auth::authenticate(state.db(), state.clients(), state.token_hasher(), &p, &check).await
}

pub(super) fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// A prebuilt document as a response: 304 for a matching `If-None-Match` (RFC 9110
/// §13.1.2), else its bytes; the entity tag and caching either way.
fn respond(doc: &Prebuilt, headers: &HeaderMap, content_type: &'static str) -> Response {
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/").as_bytes() == doc.etag.as_bytes()
        });
    let mut res = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = doc.body.clone().into_response();
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, doc.etag.clone());
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    res
}

pub(super) async fn metadata(State(state): State<AppState>, headers: HeaderMap) -> Response {
    respond(state.discovery(), &headers, "application/json")
}

pub(super) async fn jwks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    respond(&state.keys().jwks(), &headers, "application/jwk-set+json")
}

/// Client credentials from `Authorization: Basic` and the form (RFC 6749 §2.3.1: the
/// id and secret are form-encoded before base64).
fn presented(headers: &HeaderMap, form: &OAuthParams) -> Result<Presented, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(v) if v.len() > 6 && v[..6].eq_ignore_ascii_case("basic ") => {
            let bad = || OAuthError::invalid_client("malformed Basic credentials");
            let decoded = STANDARD.decode(v[6..].trim()).map_err(|_| bad())?;
            let text = String::from_utf8(decoded).map_err(|_| bad())?;
            let (id, secret) = text.split_once(':').ok_or_else(bad)?;
            let dec = |s: &str| {
                url::form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((dec(id).ok_or_else(bad)?, dec(secret).ok_or_else(bad)?))
        }
        _ => None,
    };
    let assertion = match (form.get("client_assertion_type"), form.get("client_assertion")) {
        (Some(t), Some(a)) => Some((t.to_string(), a.to_string())),
        (None, None) => None,
        _ => {
            return Err(OAuthError::invalid_request(
                "client_assertion and client_assertion_type go together",
            ));
        }
    };
    Ok(Presented {
        assertion,
        basic,
        client_id: form.get("client_id").map(str::to_string),
        client_secret: form.get("client_secret").map(str::to_string),
    })
}

/// The browser's session, if it is signed in (store errors count as not signed in here:
/// the request then asks for a login rather than failing).
pub(super) async fn current_session(state: &AppState, jar: &CookieJar) -> Option<(String, Session)> {
    match crate::web::extract::session::SignedIn::of(state, jar).await {
        Ok(me) => me.map(|me| (me.token, me.session)),
        Err(e) => {
            tracing::warn!(error = %e, "session not read");
            None
        }
    }
}

pub(super) fn see_other(location: &str) -> Response {
    no_store(Redirect::to(location).into_response())
}
