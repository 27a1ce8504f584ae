//! Trusted browsers: after a second factor the user may keep a browser trusted for
//! `mfa.trusted_browser_days`; within that window its sign-ins need the password only.
//! Such a sign-in is single-factor (`amr` `["pwd"]`), so a relying party that asks for
//! more still gets the second factor asked for. The trust is bound to the user's security
//! setup (the password hash and the set of factors): a new or removed factor, a password
//! change or reset ends it. Kept in the store (listed, and forgotten one by one, on the
//! two-step verification page, by a handle that is the keyed hash of the id); the
//! cookie holds only the random id, which never leaves it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Ctx, repo};
use crate::accounts::Error;

/// A trusted browser, as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trusted {
    /// The keyed hash of the cookie's id: names the browser on pages and in the store.
    pub handle: String,
    pub user_id: Uuid,
    /// "Chrome 126 on Linux".
    pub device: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    fingerprint: String,
}

fn entry_key(handle: &str) -> String {
    crate::store::keys::trusted_browser(handle)
}

/// The keyed hash of what the trust is bound to: the password hash and the factors.
async fn fingerprint(ctx: &Ctx<'_>, user: &entity::user::Model) -> Result<String, Error> {
    let mut ids: Vec<String> = repo::factors(ctx.db, user.id)
        .await?
        .iter()
        .map(|f| f.id.to_string())
        .collect();
    ids.sort();
    let password = user.password_hash.as_deref().unwrap_or_default();
    Ok(ctx
        .hasher
        .hash(&format!("trusted-browser\0{}\0{password}\0{}", user.id, ids.join(","))))
}

fn window(ctx: &Ctx<'_>) -> Duration {
    Duration::from_secs(ctx.config.mfa.trusted_browser_days.saturating_mul(86_400))
}

/// Trusts this browser for `user`; returns the cookie value (None when trust is off).
pub async fn trust(ctx: &Ctx<'_>, user: &entity::user::Model, device: &str) -> Result<Option<String>, Error> {
    if ctx.config.mfa.trusted_browser_days == 0 {
        return Ok(None);
    }
    let id = crate::crypto::random_token::<16>();
    let now = chrono::Utc::now().timestamp_millis();
    let ttl = window(ctx);
    let handle = ctx.hasher.hash(&id);
    let t = Trusted {
        handle: handle.clone(),
        user_id: user.id,
        device: device.chars().take(120).collect(),
        created_ms: now,
        expires_ms: now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2),
        fingerprint: fingerprint(ctx, user).await?,
    };
    let value = serde_json::to_vec(&t).map_err(|e| Error::Mail(format!("trusted browser: {e}")))?;
    ctx.store.put(&entry_key(&handle), &value, ttl).await?;
    let index = crate::store::keys::trusted_browsers(user.id);
    ctx.store.add_member(&index, &handle, ttl).await?;
    let detail = serde_json::json!({ "device": t.device, "days": ctx.config.mfa.trusted_browser_days });
    super::record_change(ctx.db, user.id, "mfa.browser_trusted", detail).await?;
    Ok(Some(id))
}

async fn load(ctx: &Ctx<'_>, handle: &str) -> Result<Option<Trusted>, Error> {
    if handle.is_empty() || handle.len() > 64 {
        return Ok(None);
    }
    let raw = ctx.store.get(&entry_key(handle)).await?;
    Ok(raw.and_then(|v| serde_json::from_slice(&v).ok()))
}

/// Whether the browser holding `cookie` is trusted for `user` with their current setup.
pub async fn is_trusted(ctx: &Ctx<'_>, user: &entity::user::Model, cookie: Option<&str>) -> Result<bool, Error> {
    let Some(id) = cookie.filter(|c| !c.is_empty() && c.len() <= 64) else {
        return Ok(false);
    };
    let Some(t) = load(ctx, &ctx.hasher.hash(id)).await? else {
        return Ok(false);
    };
    // The store expires the entry; the recorded end is checked too (a store that keeps
    // entries past their time must not stretch the window).
    Ok(t.user_id == user.id
        && t.expires_ms > chrono::Utc::now().timestamp_millis()
        && crate::crypto::constant_time_eq(t.fingerprint.as_bytes(), fingerprint(ctx, user).await?.as_bytes()))
}

/// The browsers `user` trusts now (with their current setup), newest first.
pub async fn list(ctx: &Ctx<'_>, user: &entity::user::Model) -> Result<Vec<Trusted>, Error> {
    let index = crate::store::keys::trusted_browsers(user.id);
    let current = fingerprint(ctx, user).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let mut out = Vec::new();
    for handle in ctx.store.members(&index).await? {
        match load(ctx, &handle).await? {
            Some(t) if t.user_id == user.id && t.fingerprint == current && t.expires_ms > now => out.push(t),
            _ => {
                ctx.store.remove_member(&index, &handle).await?;
            }
        }
    }
    out.sort_by_key(|t| std::cmp::Reverse(t.created_ms));
    Ok(out)
}

/// Forgets the trusted browser `handle` of `user`; true if it was theirs.
pub async fn forget(ctx: &Ctx<'_>, user_id: Uuid, handle: &str) -> Result<bool, Error> {
    let Some(t) = load(ctx, handle).await?.filter(|t| t.user_id == user_id) else {
        return Ok(false);
    };
    ctx.store.delete(&entry_key(&t.handle)).await?;
    ctx.store
        .remove_member(&crate::store::keys::trusted_browsers(user_id), &t.handle)
        .await?;
    let detail = serde_json::json!({ "device": t.device });
    super::record_change(ctx.db, user_id, "mfa.browser_forgotten", detail).await?;
    Ok(true)
}
