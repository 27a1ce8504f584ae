//! The token endpoint (RFC 6749 §3.2): client authentication, then the grant.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::oidc::discovery::paths;
use crate::oidc::tokens::{self};
use crate::oidc::{ErrorCode, OAuthError};
use crate::web::AppState;
use crate::web::extract::oauth_form::OAuthForm;

use super::*;

pub(super) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<OAuthForm, OAuthError>,
) -> Response {
    let result = async {
        let OAuthForm(form) = form?;
        let (client, _) = authenticate(&state, &headers, &form, paths::TOKEN).await?;
        let ctx = ctx(&state);
        match form.get("grant_type") {
            Some("authorization_code") => {
                tokens::exchange_code(
                    &ctx,
                    &client,
                    form.get("code"),
                    form.get("redirect_uri"),
                    form.get("code_verifier"),
                    form.get("resource"),
                )
                .await
            }
            Some("refresh_token") => {
                tokens::refresh(
                    &ctx,
                    &client,
                    form.get("refresh_token"),
                    form.get("scope"),
                    form.get("resource"),
                )
                .await
            }
            Some("client_credentials") => {
                tokens::client_credentials(&ctx, &client, form.get("scope"), form.get("resource")).await
            }
            Some(other) => Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type {other:?} is not supported"),
            )),
            None => Err(OAuthError::invalid_request("grant_type is missing")),
        }
    }
    .await;
    match result {
        Ok(t) => no_store(Json(t).into_response()),
        Err(e) => e.into_response(),
    }
}
