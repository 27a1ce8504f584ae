//! Client authentication at the token, introspection and revocation endpoints
//! (RFC 6749 §2.3): `client_secret_basic`, `client_secret_post`, and `none` for public
//! clients. Secrets are checked against their keyed hash in constant time — no argon2 on
//! these paths.

use entity::client;
use sea_orm::DatabaseConnection;

use super::error::OAuthError;
use crate::crypto::TokenHasher;

/// RFC 7523 §2.2.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The credentials a request carried.
#[derive(Debug, Default, Clone)]
pub struct Presented {
    /// `client_assertion_type` and `client_assertion` (private_key_jwt).
    pub assertion: Option<(String, String)>,
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
    /// A JWT signed with one of the client's registered keys.
    PrivateKeyJwt,
}

/// What `private_key_jwt` checks the assertion against.
pub struct AssertionCheck<'a> {
    /// Accepted audiences: the issuer and the endpoint URL.
    pub audiences: &'a [String],
    pub store: &'a crate::store::Store,
}

#[derive(serde::Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    /// A string, or an array (RFC 7519 §4.1.3) whose members are all accepted audiences.
    aud: serde_json::Value,
    exp: i64,
    jti: String,
}

/// Verifies a `private_key_jwt` assertion (RFC 7523 §3) for `client`.
async fn verify_assertion(
    client: &client::Model,
    assertion: &str,
    check: &AssertionCheck<'_>,
) -> Result<(), OAuthError> {
    let failed = || OAuthError::invalid_client("client authentication failed");
    let jwks: jsonwebtoken::jwk::JwkSet = client
        .jwks
        .clone()
        .and_then(|j| serde_json::from_value(j).ok())
        .ok_or_else(failed)?;
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| failed())?;
    let candidates: Vec<&jsonwebtoken::jwk::Jwk> = match &header.kid {
        Some(kid) => jwks.find(kid).into_iter().collect(),
        None => jwks.keys.iter().collect(),
    };
    if !matches!(
        header.alg,
        jsonwebtoken::Algorithm::RS256 | jsonwebtoken::Algorithm::ES256 | jsonwebtoken::Algorithm::EdDSA
    ) {
        return Err(failed());
    }
    let mut v = jsonwebtoken::Validation::new(header.alg);
    v.set_audience(check.audiences);
    v.set_required_spec_claims(&["iss", "sub", "aud", "exp", "jti"]);
    v.leeway = 30;
    let claims = candidates
        .into_iter()
        .filter_map(|jwk| jsonwebtoken::DecodingKey::from_jwk(jwk).ok())
        .find_map(|key| jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &v).ok())
        .map(|d| d.claims)
        .ok_or_else(failed)?;
    let now = chrono::Utc::now().timestamp();
    // An array is accepted only if every member is an accepted audience: no member may
    // name another server (audience injection), and at least one is ours.
    let aud_ok = match &claims.aud {
        serde_json::Value::String(a) => check.audiences.contains(a),
        serde_json::Value::Array(all) => {
            !all.is_empty()
                && all.len() <= 4
                && all
                    .iter()
                    .all(|a| a.as_str().is_some_and(|a| check.audiences.iter().any(|x| x == a)))
        }
        _ => false,
    };
    if claims.iss != client.id
        || claims.sub != client.id
        || !aud_ok
        || claims.exp > now + 3600
        || claims.jti.len() > 256
    {
        return Err(failed());
    }
    // Single use: a replayed assertion is refused.
    let seen = check
        .store
        .incr(
            &crate::store::keys::assertion_jti(&client.id, &claims.jti),
            std::time::Duration::from_secs(3900),
        )
        .await?;
    if seen > 1 {
        return Err(OAuthError::invalid_client("the client assertion was already used"));
    }
    Ok(())
}

/// The `sub` of an unverified assertion, to find which client it claims to be.
fn assertion_subject(assertion: &str) -> Option<String> {
    use base64::Engine;
    let payload = assertion.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes).ok()?["sub"]
        .as_str()
        .map(str::to_string)
}

/// Whether the client is public (cannot keep a credential).
pub fn is_public(c: &client::Model) -> bool {
    c.token_endpoint_auth_method == "none"
}

/// Authenticates the client of a back-channel request.
pub async fn authenticate(
    db: &DatabaseConnection,
    clients: &crate::clients::Directory,
    hasher: &TokenHasher,
    p: &Presented,
    check: &AssertionCheck<'_>,
) -> Result<(client::Model, Method), OAuthError> {
    let failed = || OAuthError::invalid_client("client authentication failed");
    if let Some((kind, assertion)) = &p.assertion {
        if p.basic.is_some() || p.client_secret.is_some() {
            return Err(OAuthError::invalid_request("use only one client authentication method"));
        }
        if kind != JWT_BEARER {
            return Err(OAuthError::invalid_client("client_assertion_type must be jwt-bearer"));
        }
        if assertion.len() > 8192 {
            return Err(failed());
        }
        let id = assertion_subject(assertion).ok_or_else(failed)?;
        if p.client_id.as_deref().is_some_and(|c| c != id) {
            return Err(OAuthError::invalid_request(
                "client_id does not match the client assertion",
            ));
        }
        let client = clients.find(db, &id).await?.ok_or_else(failed)?;
        if client.token_endpoint_auth_method != "private_key_jwt" {
            return Err(failed());
        }
        verify_assertion(&client, assertion, check).await?;
        return Ok((client, Method::PrivateKeyJwt));
    }
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
    let Some(client) = clients.find(db, &id).await? else {
        return Err(failed());
    };
    match (&client.secret_hash, secret) {
        (Some(hash), Some(secret)) if hasher.verify(&secret, hash) => {
            // Only the method the client was registered with (RFC 7591 §2).
            if method.registered_name() != client.token_endpoint_auth_method {
                return Err(OAuthError::invalid_client(format!(
                    "the client is registered to authenticate with {}",
                    client.token_endpoint_auth_method
                )));
            }
            Ok((client, method))
        }
        (None, None) if is_public(&client) => Ok((client, Method::None)),
        _ => Err(failed()),
    }
}

impl Method {
    /// The `token_endpoint_auth_method` value of this method (RFC 7591 §2).
    pub fn registered_name(self) -> &'static str {
        match self {
            Self::Basic => "client_secret_basic",
            Self::Post => "client_secret_post",
            Self::None => "none",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }
}
