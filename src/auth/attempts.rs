//! Wrong second-factor codes, counted per account across factors. Only someone who passed
//! the first factor can add to the count, so the lockout it leads to is mailed to the
//! owner; it ends by itself, and it never blocks a sign-in that needs no code. Each
//! attempt is counted before its code is checked (so parallel guesses cannot slip past
//! the limit) and refunded when the code was right: only failures count.

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

/// An attempt that was counted and may go ahead.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    user_id: Uuid,
    /// Attempts counted in the window, this one included.
    pub count: u64,
    counted_ms: i64,
}

/// Counts an attempt for `user_id`; None when the account is locked out (now or by
/// this attempt).
pub async fn begin(store: &Store, cfg: &MfaConfig, user_id: Uuid) -> Result<Option<Attempt>, StoreError> {
    if store.get(&lock_key(user_id)).await?.is_some() {
        return Ok(None);
    }
    let window = Duration::from_secs(cfg.lockout_secs);
    let count = store.incr(&key(user_id), window).await?;
    if count > cfg.max_attempts {
        return Ok(None);
    }
    Ok(Some(Attempt {
        user_id,
        count,
        counted_ms: chrono::Utc::now().timestamp_millis(),
    }))
}

impl Attempt {
    /// The code was right: the attempt is no failure.
    pub async fn passed(self, store: &Store, cfg: &MfaConfig) {
        let window_ms = i64::try_from(cfg.lockout_secs.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
        if let Err(e) = store.decr(&key(self.user_id), self.counted_ms + window_ms + 1000).await {
            tracing::warn!(error = %e, "second-factor attempt not refunded");
        }
    }

    /// The code was wrong: how many attempts are left; at 0 the account is locked out
    /// for `lockout_secs` from now.
    pub async fn failed(self, store: &Store, cfg: &MfaConfig) -> Result<u64, StoreError> {
        let left = cfg.max_attempts.saturating_sub(self.count);
        if left == 0 {
            store
                .put(&lock_key(self.user_id), b"1", Duration::from_secs(cfg.lockout_secs))
                .await?;
        }
        Ok(left)
    }
}
