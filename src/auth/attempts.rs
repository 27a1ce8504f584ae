//! Wrong second-factor codes, counted per account across factors. Only someone who passed
//! the first factor can add to the count, so the lockout it leads to is mailed to the
//! owner; it ends by itself, and it never blocks a sign-in that needs no code.

use std::time::Duration;

use uuid::Uuid;

use crate::config::MfaConfig;
use crate::store::{Store, StoreError};

fn key(user_id: Uuid) -> String {
    crate::store::keys::mfa_failures(user_id)
}

fn lock_key(user_id: Uuid) -> String {
    crate::store::keys::mfa_lockout(user_id)
}

/// Whether the account is locked out of second-factor attempts.
pub async fn locked(store: &Store, user_id: Uuid) -> Result<bool, StoreError> {
    Ok(store.get(&lock_key(user_id)).await?.is_some())
}

/// Counts a wrong code (in a window of `lockout_secs` from the first); returns how many
/// are left before the lockout, 0 when this one locked the account for `lockout_secs`.
pub async fn failed(store: &Store, cfg: &MfaConfig, user_id: Uuid) -> Result<u64, StoreError> {
    let window = Duration::from_secs(cfg.lockout_secs);
    let n = store.incr(&key(user_id), window).await?;
    if n >= cfg.max_attempts {
        store.put(&lock_key(user_id), b"1", window).await?;
    }
    Ok(cfg.max_attempts.saturating_sub(n))
}
