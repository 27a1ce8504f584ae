//! Pushed authorization requests (RFC 9126): stored 60 seconds, taken once by the
//! authorization endpoint.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::oidc::OAuthError;
use crate::oidc::authorize::{self, Rejection};
use crate::oidc::discovery::paths;
use crate::web::AppState;
use crate::web::extract::oauth_form::{OAuthForm, OAuthParams};

use super::*;

// ----- pushed authorization requests (RFC 9126) ---------------------------------------

pub(super) const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
pub(super) const PAR_TTL_SECS: u64 = 60;

pub(super) async fn par(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<OAuthForm, OAuthError>,
) -> Response {
    let result = async {
        let OAuthForm(mut form) = form?;
        let (client, _) = authenticate(&state, &headers, &form, paths::PAR).await?;
        if form.get("request_uri").is_some() {
            return Err(OAuthError::invalid_request("request_uri cannot be pushed"));
        }
        for k in ["client_secret", "client_assertion", "client_assertion_type"] {
            form.0.remove(k);
        }
        form.0.insert("client_id".into(), client.id.clone());
        let params: authorize::Params = form.to();
        match authorize::validate(&params, Some(&client), chrono::Utc::now().timestamp_millis()) {
            Ok(_) => {}
            Err(Rejection::Page(msg)) => return Err(OAuthError::invalid_request(msg)),
            Err(Rejection::Redirect(_, e)) => return Err(e),
        }
        let id = crate::crypto::random_token::<24>();
        let value = serde_json::to_vec(&form.0).map_err(OAuthError::server)?;
        state
            .store()
            .put(
                &crate::store::keys::par(&id),
                &value,
                std::time::Duration::from_secs(PAR_TTL_SECS),
            )
            .await?;
        Ok(json!({ "request_uri": format!("{REQUEST_URI_PREFIX}{id}"), "expires_in": PAR_TTL_SECS }))
    }
    .await;
    match result {
        Ok(body) => no_store((StatusCode::CREATED, Json(body)).into_response()),
        Err(e) => e.into_response(),
    }
}

/// Replaces a `request_uri` request by the pushed parameters (single use).
pub(super) async fn resolve_pushed(state: &AppState, params: OAuthParams) -> Result<(OAuthParams, bool), String> {
    let Some(uri) = params.get("request_uri") else {
        return Ok((params, false));
    };
    let expired = "The sign-in request has expired or was already used. Go back to the application and start again.";
    let id = uri
        .strip_prefix(REQUEST_URI_PREFIX)
        .filter(|i| i.len() <= 64)
        .ok_or_else(|| expired.to_string())?;
    let raw = state
        .store()
        .take(&crate::store::keys::par(id))
        .await
        .map_err(|_| "The server is busy; try again.".to_string())?;
    let pushed: std::collections::HashMap<String, String> = raw
        .and_then(|r| serde_json::from_slice(&r).ok())
        .ok_or_else(|| expired.to_string())?;
    if params.get("client_id") != pushed.get("client_id").map(String::as_str) {
        return Err("The client_id does not match the pushed request.".into());
    }
    Ok((OAuthParams(pushed), true))
}
