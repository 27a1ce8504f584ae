//! Single-use links (activation, password reset, email change): a random token mailed to the user,
//! stored only as its keyed hash in the ephemeral store with a TTL, consumed with the
//! store's atomic take.

use std::time::Duration;

use uuid::Uuid;

use crate::crypto::{TokenHasher, random_token};
use crate::store::{Store, StoreError};

/// What a link is for; part of the key, so a token works for one purpose only.
#[derive(Debug, Clone, Copy)]
pub enum Purpose {
    Activation,
    PasswordReset,
    EmailChange,
}

impl Purpose {
    fn prefix(self) -> &'static str {
        match self {
            Self::Activation => "activate",
            Self::PasswordReset => "reset",
            Self::EmailChange => "email",
        }
    }
}

/// What binds a link to the user's current password and address: a keyed hash of both
/// (salted by `label`, one per kind of link) that travels with the link, so once the
/// password or the address changes, every link mailed before is dead.
pub fn binding(hasher: &TokenHasher, label: &str, user: &entity::user::Model) -> String {
    hasher.hash(&format!(
        "{label}:{}:{}",
        user.email_canonical,
        user.password_hash.as_deref().unwrap_or_default()
    ))
}

/// Whether `bound` (from a link) is the binding of `user` as it is now.
pub fn still_bound(hasher: &TokenHasher, label: &str, user: &entity::user::Model, bound: &str) -> bool {
    super::state::of(user) != super::state::AccountState::Deleted && still_bound_or_deleted(hasher, label, user, bound)
}

/// [`still_bound`], except that a deleted account (within its grace period, whose sign-in
/// leads to "restore it?") still counts as bound when its address and password stand.
pub fn still_bound_or_deleted(hasher: &TokenHasher, label: &str, user: &entity::user::Model, bound: &str) -> bool {
    crate::crypto::constant_time_eq(bound.as_bytes(), binding(hasher, label, user).as_bytes())
}

/// The key naming a user's one live activation link (only the newest works).
pub(crate) fn latest_activation_key(user_id: Uuid) -> String {
    crate::store::keys::activation_latest(user_id)
}

/// Ends every pending link of `user_id` that a password change does not already end by
/// its binding: the activation link (reset and email-change links are bound to the
/// password they were sent under).
pub async fn end_unbound(store: &Store, user_id: Uuid) -> Result<(), StoreError> {
    store.delete(&latest_activation_key(user_id)).await?;
    Ok(())
}

fn key(hasher: &TokenHasher, purpose: Purpose, token: &str) -> String {
    crate::store::keys::link(purpose.prefix(), &hasher.hash(token))
}

/// Creates a link token carrying `user_id` and a value (the password hash chosen with an
/// activation link, the new address of an email change; `-` for none).
pub async fn issue(
    store: &Store,
    hasher: &TokenHasher,
    purpose: Purpose,
    user_id: Uuid,
    value: &str,
    ttl: Duration,
) -> Result<String, StoreError> {
    let token = random_token::<32>();
    store
        .put(
            &key(hasher, purpose, &token),
            format!("{user_id} {value}").as_bytes(),
            ttl,
        )
        .await?;
    Ok(token)
}

fn parse_with(v: Option<Vec<u8>>) -> Option<(Uuid, String)> {
    let s = String::from_utf8(v?).ok()?;
    let (id, value) = s.split_once(' ')?;
    Some((id.parse().ok()?, value.to_string()))
}

/// The user and value of a live token, without consuming it.
pub async fn peek(
    store: &Store,
    hasher: &TokenHasher,
    purpose: Purpose,
    token: &str,
) -> Result<Option<(Uuid, String)>, StoreError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    Ok(parse_with(store.get(&key(hasher, purpose, token)).await?))
}

/// Consumes a token carrying a value.
pub async fn redeem(
    store: &Store,
    hasher: &TokenHasher,
    purpose: Purpose,
    token: &str,
) -> Result<Option<(Uuid, String)>, StoreError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    Ok(parse_with(store.take(&key(hasher, purpose, token)).await?))
}
