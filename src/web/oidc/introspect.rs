//! Introspection (RFC 7662) and revocation (RFC 7009), for the client a token was
//! issued to.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::oidc::OAuthError;
use crate::oidc::client_auth::{self};
use crate::oidc::discovery::paths;
use crate::oidc::tokens::{self};
use crate::web::AppState;
use crate::web::extract::oauth_form::OAuthForm;

use super::*;

pub(super) async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<OAuthForm, OAuthError>,
) -> Response {
    let result = async {
        let OAuthForm(form) = form?;
        let (client, method) = authenticate(&state, &headers, &form, paths::INTROSPECT).await?;
        if method == client_auth::Method::None {
            return Err(OAuthError::invalid_client(
                "introspection needs an authenticated client",
            ));
        }
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let ctx = ctx(&state);
        // Only the client a token was issued to learns about it (resource servers validate
        // access tokens with the JWKS).
        if let Ok(c) = tokens::verify_access(&ctx, token).await
            && c.client_id == client.id
        {
            let mut body = json!({
                "active": true,
                "token_type": "Bearer",
                "client_id": c.client_id,
                "sub": c.sub,
                "aud": c.aud,
                "iss": c.iss,
                "exp": c.exp,
                "iat": c.iat,
                "jti": c.jti,
            });
            // No scope, no member: "" is not a scope (RFC 6749 §3.3).
            if !c.scope.is_empty() {
                body["scope"] = c.scope.into();
            }
            return Ok(body);
        }
        if let Some(row) = tokens::find_refresh(&ctx, token).await? {
            let now = chrono::Utc::now();
            let live = row.revoked_at.is_none()
                && row.consumed_at.is_none()
                && row.expires_at > now
                && row.family_expires_at > now;
            if live && row.client_id == client.id {
                return Ok(json!({
                    "active": true,
                    "token_type": "refresh_token",
                    "scope": row.scope,
                    "client_id": row.client_id,
                    "sub": row.user_id.map(|u| u.to_string()),
                    "iss": state.config().issuer_id,
                    "exp": row.expires_at.timestamp(),
                    "iat": row.created_at.timestamp(),
                }));
            }
        }
        Ok(json!({ "active": false }))
    }
    .await;
    match result {
        Ok(body) => no_store(Json(body).into_response()),
        Err(e) => e.into_response(),
    }
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<OAuthForm, OAuthError>,
) -> Response {
    let result = async {
        let OAuthForm(form) = form?;
        let (client, _) = authenticate(&state, &headers, &form, paths::REVOKE).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        let ctx = ctx(&state);
        if let Ok(c) = tokens::verify_access(&ctx, token).await {
            if c.client_id == client.id {
                tokens::revoke_access(&ctx, &c.jti, c.exp).await?;
            }
            return Ok(());
        }
        if let Some(row) = tokens::find_refresh(&ctx, token).await?
            && row.client_id == client.id
        {
            tokens::revoke_refresh(&ctx, &row).await?;
        }
        // RFC 7009 §2.2: unknown tokens are answered 200 as well.
        Ok::<(), OAuthError>(())
    }
    .await;
    match result {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => e.into_response(),
    }
}
