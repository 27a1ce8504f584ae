//! Access tokens as resource endpoints see them: verification (signature, issuer, expiry,
//! type, revocation) with a bounded cache of recent results, and revocation.
//!
//! Revocations live in the store (a revoked `jti`; a per-user "issued before" mark). A
//! verified token is remembered for at most [`VERIFIED_TTL`] (and never past its `exp`), so
//! introspection and UserInfo of a token seen before cost neither a signature check nor a
//! store round trip. Every revocation also rewrites the store's revocation generation
//! ([`keys::REVOCATIONS`]); each instance reads it every second ([`Verified::refresh`]) and
//! forgets every cached result when it moved. A revocation therefore takes effect at once
//! on the instance that made it, on every other instance within about a second, and in any
//! case within [`VERIFIED_TTL`] (if the generation could not be written or read).

use std::time::Duration;

use chrono::Utc;

use super::error::OAuthError;
use super::tokens::{AccessClaims, Ctx};
use crate::store::{Store, StoreError, keys};

/// At most this many verified tokens are remembered. Only tokens this server signed get
/// in, so each is what it mints (about 1 KiB with its claims): about 4 MiB at most.
pub const VERIFIED_CAPACITY: usize = 4096;
/// How long a verification result is trusted at most without a fresh store check.
pub const VERIFIED_TTL: Duration = Duration::from_secs(30);
/// How long the revocation generation lives in the store; when it expires, instances
/// see "moved" once and start over.
const GENERATION_TTL: Duration = Duration::from_secs(2 * 86_400);

/// Recently verified access tokens, by the whole token (compared in full; hashing it
/// with SHA-256 first cost a sixth of an introspection).
#[derive(Debug)]
pub struct Verified {
    cache: crate::cache::Bounded<Box<str>, AccessClaims>,
    generation: crate::cache::Generation<Option<Vec<u8>>>,
}

impl Default for Verified {
    fn default() -> Self {
        Self {
            cache: crate::cache::Bounded::new(VERIFIED_CAPACITY, VERIFIED_TTL),
            generation: crate::cache::Generation::default(),
        }
    }
}

impl Verified {
    /// Reads the revocation generation and forgets every cached result if it moved (or
    /// cannot be read).
    pub async fn refresh(&self, store: &Store) {
        if self.generation.moved(store.get(keys::REVOCATIONS).await, "revocation") {
            self.cache.clear();
        }
    }

    /// Forgets every cached result (a revocation made here).
    fn invalidate(&self) {
        self.cache.clear();
    }
}

/// Marks a revocation for every instance: this one forgets its cache now, the others
/// when they see the generation move.
async fn revoked(ctx: &Ctx<'_>) -> Result<(), StoreError> {
    ctx.verified.invalidate();
    let mark = crate::crypto::random_token::<12>();
    ctx.store.put(keys::REVOCATIONS, mark.as_bytes(), GENERATION_TTL).await
}

/// Records that an access token was revoked, until it would have expired.
pub async fn revoke_access(ctx: &Ctx<'_>, jti: &str, exp: i64) -> Result<(), OAuthError> {
    let ttl = exp - Utc::now().timestamp();
    if ttl > 0 {
        ctx.store
            .put(
                &keys::revoked_jti(jti),
                b"1",
                Duration::from_secs(u64::try_from(ttl).unwrap_or(1)),
            )
            .await?;
        revoked(ctx).await?;
    }
    Ok(())
}

/// Whether an access token's jti was revoked.
async fn is_revoked(store: &Store, jti: &str) -> Result<bool, OAuthError> {
    Ok(store.get(&keys::revoked_jti(jti)).await?.is_some())
}

/// Makes every access token of `user_id` issued until now inactive (a deleted or
/// disabled account), for as long as such a token could live.
pub async fn revoke_user_tokens(ctx: &Ctx<'_>, user_id: uuid::Uuid) -> Result<(), StoreError> {
    let now = Utc::now().timestamp();
    // Per-client lifetimes go up to a day (the configuration's bound), so the mark
    // outlives every token it covers.
    let ttl = Duration::from_secs(86_400 + 60);
    ctx.store
        .put(&keys::user_tokens_revoked(user_id), now.to_string().as_bytes(), ttl)
        .await?;
    revoked(ctx).await
}

/// Whether the access tokens of the user `sub` issued at `iat` were revoked since.
async fn user_revoked(store: &Store, sub: &str, iat: i64) -> Result<bool, OAuthError> {
    let Ok(user) = sub.parse::<uuid::Uuid>() else {
        return Ok(false);
    };
    let at = store.get(&keys::user_tokens_revoked(user)).await?;
    Ok(at
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse::<i64>().ok())
        .is_some_and(|t| iat <= t))
}

/// Verifies an access token issued here: signature, issuer, expiry, type, revocation.
pub async fn verify_access(ctx: &Ctx<'_>, token: &str) -> Result<AccessClaims, OAuthError> {
    let invalid = || OAuthError::invalid_token("the access token is invalid, expired or revoked");
    if token.len() > 8192 {
        return Err(invalid());
    }
    let now = Utc::now().timestamp();
    if let Some(c) = ctx.verified.cache.get(token) {
        return if now <= c.exp { Ok(c) } else { Err(invalid()) };
    }
    // Read before the checks: a revocation during them makes the result uncacheable.
    let epoch = ctx.verified.cache.epoch();
    let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
    if header.typ.as_deref() != Some("at+jwt") {
        return Err(invalid());
    }
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.set_issuer(&[&ctx.config.issuer_id]);
    v.validate_aud = false;
    v.leeway = 0;
    v.set_required_spec_claims(&["exp", "iss", "sub"]);
    let claims: AccessClaims = ctx.keys.verify(token, v).map_err(|_| invalid())?;
    if is_revoked(ctx.store, &claims.jti).await? || user_revoked(ctx.store, &claims.sub, claims.iat).await? {
        return Err(invalid());
    }
    let left = u64::try_from(claims.exp - now).unwrap_or(0);
    ctx.verified
        .cache
        .insert(epoch, token.into(), claims.clone(), Some(Duration::from_secs(left)));
    Ok(claims)
}
