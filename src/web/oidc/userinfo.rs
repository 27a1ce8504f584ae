//! UserInfo (OIDC Core §5.3): the bearer token from the header or the form body.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::oidc::tokens::{self};
use crate::oidc::{ErrorCode, OAuthError, scope};
use crate::web::AppState;
use crate::web::extract::oauth_form::OAuthParams;

use super::*;

/// The bearer token of a userinfo request (RFC 6750 §2.1 header, §2.2 form body).
pub(super) fn bearer(headers: &HeaderMap, form: Option<&OAuthParams>) -> Result<Option<String>, OAuthError> {
    let header_token = match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        Some(v) if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") => Some(v[7..].trim().to_string()),
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "the Authorization header is not a Bearer token",
            ));
        }
        None => None,
    };
    let body_token = form.and_then(|f| f.get("access_token")).map(str::to_string);
    match (header_token, body_token) {
        (Some(_), Some(_)) => Err(OAuthError::invalid_request("send the access token only once")),
        (h, b) => Ok(h.or(b)),
    }
}

pub(super) async fn userinfo(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let result = async {
        let form = if method == Method::POST && !body.is_empty() {
            Some(OAuthParams::parse(&body)?)
        } else {
            None
        };
        let Some(token) = bearer(&headers, form.as_ref())? else {
            // RFC 6750 §3.1: no credentials, no error code.
            let mut res = StatusCode::UNAUTHORIZED.into_response();
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse\""),
            );
            return Ok(res);
        };
        let ctx = ctx(&state);
        let claims = tokens::verify_access(&ctx, &token).await?;
        // A token meant for another resource server (RFC 8707) is no key to UserInfo:
        // only one for the client itself, or one naming this endpoint.
        if !claims.aud.contains(&claims.client_id) && !claims.aud.contains(&tokens::userinfo_url(&ctx)) {
            return Err(OAuthError::invalid_token("the access token is not meant for UserInfo"));
        }
        let scope = scope::parse(&claims.scope)?;
        if !scope.contains("openid") {
            return Err(OAuthError::new(
                ErrorCode::InsufficientScope,
                "the access token lacks the openid scope",
            ));
        }
        let user_id = claims
            .sub
            .parse()
            .map_err(|_| OAuthError::invalid_token("the token has no user"))?;
        let Some((user, profile)) = crate::accounts::with_profile(state.db(), user_id).await? else {
            return Err(OAuthError::invalid_token("the user no longer exists"));
        };
        if !crate::accounts::state::of(&user).is_usable() {
            return Err(OAuthError::invalid_token("the user account is not active"));
        }
        let body = crate::oidc::claims::user_claims(&user, profile.as_ref(), &scope, &state.config().profile_fields);
        Ok(no_store(Json(body).into_response()))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
