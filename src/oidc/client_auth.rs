//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`, and `none` for public
//! clients. Secrets are checked against their keyed hash in constant time — no argon2 on
//! these paths.

use entity::client;
use sea_orm::ConnectionTrait;

use super::error::OAuthError;
use crate::crypto::TokenHasher;

/// The credentials a request carried.
#[derive(Debug, Default, Clone)]
pub struct Presented {
    /// From `Authorization: Basic` (already form-decoded).
    pub basic: Option<(String, String)>,
    /// `client_id` form parameter.
    pub client_id: Option<String>,
    /// `client_secret` form parameter.
    pub client_secret: Option<String>,
}

/// How the client authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Basic,
    Post,
    /// A public client identified only by `client_id`.
    None,
}

/// Whether the client is public (has no secret).
pub fn is_public(c: &client::Model) -> bool {
    c.secret_hash.is_none()
}

/// Authenticates the client of a back-channel request.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    hasher: &TokenHasher,
    p: &Presented,
) -> Result<(client::Model, Method), OAuthError> {
    let failed = || OAuthError::invalid_client("client authentication failed");
    let (id, secret, method) = match (&p.basic, &p.client_secret) {
        (Some(_), Some(_)) => return Err(OAuthError::invalid_request("use only one client authentication method")),
        (Some((id, secret)), None) => {
            if p.client_id.as_deref().is_some_and(|c| c != id) {
                return Err(OAuthError::invalid_request(
                    "client_id does not match the authenticated client",
                ));
            }
            (id.clone(), Some(secret.clone()), Method::Basic)
        }
        (None, Some(secret)) => {
            let id = p
                .client_id
                .clone()
                .ok_or_else(|| OAuthError::invalid_request("client_id is missing"))?;
            (id, Some(secret.clone()), Method::Post)
        }
        (None, None) => {
            let id = p.client_id.clone().ok_or_else(failed)?;
            (id, None, Method::None)
        }
    };
    if id.is_empty() || id.len() > 256 {
        return Err(failed());
    }
    let Some(client) = crate::clients::repo::find(db, &id).await? else {
        return Err(failed());
    };
    match (&client.secret_hash, secret) {
        (Some(hash), Some(secret)) if hasher.verify(&secret, hash) => Ok((client, method)),
        (None, None) => Ok((client, Method::None)),
        _ => Err(failed()),
    }
}
