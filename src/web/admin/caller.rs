//! Who calls the admin API: the bearer token decides, on every request.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::Problem;
use crate::admin::{ADMIN_SCOPE, Actor};
use crate::web::AppState;

/// The authenticated caller of an admin API route: a client allowed the admin API, or a
/// superuser, holding a live access token with [`ADMIN_SCOPE`]; its address for the
/// audit log.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    /// The caller's IP and device, for the audit log.
    pub source: crate::admin::Source,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip = match crate::web::extract::ClientIp::from_request_parts(parts, state).await {
            Ok(ip) => ip.0,
            Err(never) => match never {},
        };
        let source = crate::admin::Source::http(ip, crate::web::pages::common::user_agent(&parts.headers));
        let token = match parts.headers.get(header::AUTHORIZATION).map(|v| v.to_str()) {
            None => {
                return Err(Problem::unauthorized(
                    "an access token with the gatehouse:admin scope is required",
                ));
            }
            Some(Ok(v)) if v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer ") => v[7..].trim().to_string(),
            Some(_) => return Err(Problem::unauthorized("the Authorization header is not a Bearer token")),
        };
        let ctx = crate::web::oidc::ctx(state);
        let claims = crate::oidc::tokens::verify_access(&ctx, &token)
            .await
            .map_err(|e| match e.code {
                crate::oidc::ErrorCode::ServerError | crate::oidc::ErrorCode::TemporarilyUnavailable => Problem::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "the server cannot answer right now; try again in a moment",
                ),
                _ => Problem::unauthorized("the access token is invalid, expired or revoked"),
            })?;
        // A token made for another resource server (RFC 8707) is no key here.
        if !claims.aud.contains(&claims.client_id) {
            return Err(Problem::unauthorized("the access token is not meant for Gatehouse"));
        }
        if !claims.scope.split(' ').any(|s| s == ADMIN_SCOPE) {
            return Err(Problem::forbidden("the access token lacks the gatehouse:admin scope"));
        }
        // The rights behind the token are checked now, not only when it was issued: a
        // client no longer allowed, a user no longer a superuser, loses the API at once.
        let Some(client) = state.clients().find(state.db(), &claims.client_id).await? else {
            return Err(Problem::unauthorized("the token's client is no longer registered"));
        };
        if !crate::clients::manage::admin_api(&client) {
            return Err(Problem::forbidden("the token's client may no longer use the admin API"));
        }
        let actor = if claims.sub == claims.client_id {
            Actor::Client(client.id)
        } else {
            let Ok(id) = claims.sub.parse::<uuid::Uuid>() else {
                return Err(Problem::unauthorized("the access token names no user"));
            };
            let usable_superuser = crate::accounts::find(state.db(), id)
                .await?
                .is_some_and(|u| u.is_superuser && crate::accounts::state::of(&u).is_usable());
            if !usable_superuser {
                return Err(Problem::forbidden("the token's user is not an active superuser"));
            }
            Actor::User(id)
        };
        Ok(Self { actor, source })
    }
}
