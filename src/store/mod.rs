//! The ephemeral store: short-lived state with a time to live — sessions, authorization
//! codes, single-use links, rate-limit counters, and sets whose members expire one by
//! one (the sessions of a user, the relying parties of a session). Two implementations share one contract,
//! checked by one conformance suite (`tests/api/store.rs`):
//! - [`SqlStore`] (default): tables in the main database, purged periodically;
//! - [`RedisStore`] (`redis_url`): for many instances at scale.

pub mod keys;
mod redis;
mod sql;

use std::sync::Arc;
use std::time::Duration;

pub use self::redis::RedisStore;
pub use self::sql::SqlStore;

/// A store failure (the backend is unreachable or answered unexpectedly).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("store redis error: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// Asked to store something whose lifetime is already over.
    #[error("the entry has already expired")]
    Expired,
}

/// Short-lived key/value state. Keys are namespaced by the caller (`"code:…"`).
#[async_trait::async_trait]
pub trait EphemeralStore: Send + Sync + std::fmt::Debug {
    /// Stores `value` under `key` for `ttl`, replacing any previous value.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError>;
    /// Returns and deletes the value in one atomic step: of concurrent callers, exactly
    /// one gets it. The basis of single-use codes and links.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Replaces the value of a live `key` and returns the value it had, in one atomic
    /// step (of concurrent swaps each sees the value the one before it left); when there
    /// is no live value it writes nothing and returns None. The TTL restarts at `ttl`.
    async fn swap(&self, key: &str, value: &[u8], ttl: Duration) -> Result<Option<Vec<u8>>, StoreError>;
    /// Returns the value if present and not expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deletes the value; true if one was there.
    async fn delete(&self, key: &str) -> Result<bool, StoreError>;
    /// Counts a hit in a fixed window that starts at the first hit and lasts `window`;
    /// returns the number of hits in the current window, this one included.
    async fn incr(&self, key: &str, window: Duration) -> Result<u64, StoreError>;
    /// Takes back one hit of the live window at `key` (never below zero, the window's
    /// end unchanged) if that window ends no later than `ends_by_ms` (Unix ms), that is,
    /// if it is still the window the hit was counted in: a window that began after the
    /// hit ends later. A no-op otherwise. Lets a caller count an attempt up front,
    /// atomically, and refund it when the attempt turns out not to be what the counter
    /// counts (a successful sign-in is not a failure), without ever refunding into a
    /// newer window.
    async fn decr(&self, key: &str, ends_by_ms: i64) -> Result<(), StoreError>;
    /// Adds `member` to the set at `key` until `ttl` passes (adding it again renews it).
    /// One atomic step: of concurrent adds to one set, every one lands.
    async fn add_member(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError>;
    /// The live members of the set at `key`, in no particular order.
    async fn members(&self, key: &str) -> Result<Vec<String>, StoreError>;
    /// Removes `member` from the set at `key`; true if it was there.
    async fn remove_member(&self, key: &str, member: &str) -> Result<bool, StoreError>;
    /// Returns the live members of the set at `key` and deletes the set, in one atomic
    /// step: of concurrent callers, each member goes to exactly one.
    async fn take_members(&self, key: &str) -> Result<Vec<String>, StoreError>;
    /// Checks that the backend answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Removes expired entries (a no-op where the backend expires them itself); returns
    /// how many were removed.
    async fn purge_expired(&self) -> Result<u64, StoreError>;
    /// A short name for logs and readiness reports.
    fn kind(&self) -> &'static str;
}

/// The store as the application holds it.
pub type Store = Arc<dyn EphemeralStore>;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A TTL in milliseconds, at least 1.
pub(crate) fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2).max(1)
}
