//! Browser sessions, kept in the ephemeral store under the keyed hash of the cookie
//! value, so the store never holds a usable session token.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::crypto::{TokenHasher, random_token};
use crate::store::{Store, StoreError};

/// A logged-in browser.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    pub user_id: Uuid,
    /// When the user last authenticated (Unix seconds).
    pub auth_time: i64,
    /// Authentication methods (RFC 8176), e.g. `["pwd"]`.
    pub amr: Vec<String>,
    /// Public session id, shared with relying parties as `sid`.
    pub sid: String,
    /// `auth_time` in milliseconds, to order a login against a request made in the same
    /// second (`prompt=login`).
    #[serde(default)]
    pub auth_time_ms: i64,
    /// When this session record was created (Unix ms); sessions created before the
    /// user's revocation time (see [`revoke_all_before_now`]) are dead.
    #[serde(default)]
    pub created_ms: i64,
    /// "Chrome 126 on Linux", for the session list.
    #[serde(default)]
    pub device: Option<String>,
    /// The client IP at login.
    #[serde(default)]
    pub ip: Option<String>,
    /// Approximate place of that IP ("Berlin, Germany"), when a GeoIP database is set.
    #[serde(default)]
    pub location: Option<String>,
    /// "Keep me signed in": a persistent cookie and the longer lifetime.
    #[serde(default)]
    pub remember: bool,
    /// When the session ends (Unix ms), set when it is first stored; a session re-issued
    /// for the same login keeps it, so nothing renews a session without a password.
    #[serde(default)]
    pub expires_ms: i64,
    /// When the session was last used (Unix ms); filled in by [`list`].
    #[serde(default, skip_serializing)]
    pub last_seen_ms: i64,
}

/// How fine last-seen times are: a session in use costs at most one store write per
/// this many milliseconds per instance.
pub const SEEN_RESOLUTION_MS: i64 = 60_000;

/// Remembers per process when each session's last-seen time was last written.
#[derive(Debug, Default)]
pub struct SeenThrottle(std::sync::Mutex<std::collections::HashMap<String, i64>>);

fn seen_key(sid: &str) -> String {
    crate::store::keys::session_seen(sid)
}

/// Records that the session `sid` was used now (at most once per
/// [`SEEN_RESOLUTION_MS`] per instance). `ttl` is the session lifetime.
pub async fn mark_seen(store: &Store, throttle: &SeenThrottle, sid: &str, ttl: Duration) -> Result<(), StoreError> {
    let now = chrono::Utc::now().timestamp_millis();
    {
        let mut m = throttle.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.get(sid).is_some_and(|t| now - t < SEEN_RESOLUTION_MS) {
            return Ok(());
        }
        if m.len() >= 10_000 {
            m.retain(|_, t| now - *t < SEEN_RESOLUTION_MS);
            if m.len() >= 10_000 {
                m.clear();
            }
        }
        m.insert(sid.to_string(), now);
    }
    store.put(&seen_key(sid), now.to_string().as_bytes(), ttl).await
}

/// The set of a user's session keys.
fn index_key(user_id: Uuid) -> String {
    crate::store::keys::user_sessions(user_id)
}

fn key(hasher: &TokenHasher, token: &str) -> String {
    crate::store::keys::session(&hasher.hash(token))
}

/// Sessions kept per user; a login beyond this ends the oldest.
pub const MAX_PER_USER: usize = 100;

/// Creates a session and returns the cookie value. `ttl` is its lifetime, cut to what is
/// left of `session.expires_ms` when that is set (a re-issued session).
pub async fn create(
    store: &Store,
    hasher: &TokenHasher,
    session: &Session,
    ttl: Duration,
) -> Result<String, StoreError> {
    let token = random_token::<32>();
    let mut session = session.clone();
    let now = chrono::Utc::now().timestamp_millis();
    // Strictly after any revocation time recorded in this millisecond.
    session.created_ms = now + 1;
    let full = now + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
    session.expires_ms = if session.expires_ms > 0 {
        session.expires_ms.min(full)
    } else {
        full
    };
    let left = u64::try_from(session.expires_ms - now).unwrap_or(0);
    if left == 0 {
        return Err(StoreError::Expired);
    }
    let ttl = Duration::from_millis(left);
    let value = serde_json::to_vec(&session).unwrap_or_default();
    let session_key = key(hasher, &token);
    store.put(&session_key, &value, ttl).await?;
    // Index the user's sessions, so they can be listed and ended one by one.
    let index = index_key(session.user_id);
    store.add_member(&index, &session_key, ttl).await?;
    let keys = store.members(&index).await?;
    if keys.len() > MAX_PER_USER {
        let mut live = Vec::new();
        for k in keys {
            match parse(store.get(&k).await?) {
                Some(s) => live.push((s.created_ms, k)),
                None => {
                    store.remove_member(&index, &k).await?;
                }
            }
        }
        live.sort();
        let excess = live.len().saturating_sub(MAX_PER_USER);
        for (_, k) in live.into_iter().take(excess) {
            store.delete(&k).await?;
            store.remove_member(&index, &k).await?;
        }
    }
    Ok(token)
}

/// The keys of a user's sessions (the index set).
async fn session_keys(store: &Store, user_id: Uuid) -> Result<Vec<String>, StoreError> {
    store.members(&index_key(user_id)).await
}

/// The live sessions of `user_id`, newest first.
pub async fn list(store: &Store, user_id: Uuid) -> Result<Vec<Session>, StoreError> {
    let index = index_key(user_id);
    let revoked_before = revoked_before(store, user_id).await?.unwrap_or(0);
    let mut out = Vec::new();
    for k in session_keys(store, user_id).await? {
        match parse(store.get(&k).await?) {
            Some(s) if s.created_ms >= revoked_before => out.push(s),
            // Ended or revoked: tidy the index.
            _ => {
                store.remove_member(&index, &k).await?;
            }
        }
    }
    for s in &mut out {
        s.last_seen_ms = store
            .get(&seen_key(&s.sid))
            .await?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(s.created_ms)
            .max(s.created_ms);
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.created_ms));
    Ok(out)
}

fn parse(v: Option<Vec<u8>>) -> Option<Session> {
    v.and_then(|v| serde_json::from_slice::<Session>(&v).ok())
}

/// Ends the session of `user_id` whose public id is `sid`; returns it.
pub async fn destroy_by_sid(store: &Store, user_id: Uuid, sid: &str) -> Result<Option<Session>, StoreError> {
    for k in session_keys(store, user_id).await? {
        if let Some(s) = parse(store.get(&k).await?)
            && s.sid == sid
            && s.user_id == user_id
        {
            store.delete(&k).await?;
            store.remove_member(&index_key(user_id), &k).await?;
            return Ok(Some(s));
        }
    }
    Ok(None)
}

/// Ends every session of `user_id` but the one whose public id is `keep_sid`; returns the
/// ended sessions (for back-channel logout).
pub async fn destroy_others(store: &Store, user_id: Uuid, keep_sid: &str) -> Result<Vec<Session>, StoreError> {
    let index = index_key(user_id);
    let mut ended = Vec::new();
    for k in session_keys(store, user_id).await? {
        if parse(store.get(&k).await?).is_some_and(|s| s.sid == keep_sid) {
            continue;
        }
        if let Some(s) = parse(store.take(&k).await?) {
            ended.push(s);
        }
        store.remove_member(&index, &k).await?;
    }
    Ok(ended)
}

/// Ends every session of `user_id`; returns the ended sessions (for back-channel logout).
pub async fn destroy_all(store: &Store, user_id: Uuid) -> Result<Vec<Session>, StoreError> {
    let keys = store.take_members(&index_key(user_id)).await?;
    let mut ended = Vec::new();
    for k in keys {
        if let Some(s) = parse(store.take(&k).await?) {
            ended.push(s);
        }
    }
    Ok(ended)
}

/// The session of a cookie value, if it exists.
pub async fn load(store: &Store, hasher: &TokenHasher, token: &str) -> Result<Option<Session>, StoreError> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let Some(session) = parse(store.get(&key(hasher, token)).await?) else {
        return Ok(None);
    };
    let now = chrono::Utc::now().timestamp_millis();
    // A session without an expiry (stored before sessions had one) is not honoured.
    let expired = session.expires_ms <= now;
    if expired
        || revoked_before(store, session.user_id)
            .await?
            .is_some_and(|t| session.created_ms < t)
    {
        let _ = store.delete(&key(hasher, token)).await;
        return Ok(None);
    }
    Ok(Some(session))
}

fn revoked_key(user_id: Uuid) -> String {
    crate::store::keys::user_sessions_revoked(user_id)
}

/// The user's revocation time (Unix ms): sessions created before it are dead.
pub async fn revoked_before(store: &Store, user_id: Uuid) -> Result<Option<i64>, StoreError> {
    Ok(store
        .get(&revoked_key(user_id))
        .await?
        .and_then(|v| String::from_utf8(v).ok())
        .and_then(|s| s.parse::<i64>().ok()))
}

/// Ends, at once and for certain, every session of `user_id` created before now: later
/// loads of them fail whatever the session index holds. `ttl` is the session lifetime
/// (older sessions have expired anyway).
pub async fn revoke_all_before_now(store: &Store, user_id: Uuid, ttl: Duration) -> Result<(), StoreError> {
    let now = chrono::Utc::now().timestamp_millis();
    store.put(&revoked_key(user_id), now.to_string().as_bytes(), ttl).await
}

/// Ends a session.
pub async fn destroy(store: &Store, hasher: &TokenHasher, token: &str) -> Result<(), StoreError> {
    let k = key(hasher, token);
    if let Some(s) = parse(store.take(&k).await?) {
        store.remove_member(&index_key(s.user_id), &k).await?;
    }
    Ok(())
}

/// A new public session id.
pub fn new_sid() -> String {
    random_token::<16>()
}

/// Starts a session for `user_id` now.
pub fn start(user_id: Uuid, amr: &[&str]) -> Session {
    let now = chrono::Utc::now();
    Session {
        user_id,
        auth_time: now.timestamp(),
        auth_time_ms: now.timestamp_millis(),
        created_ms: now.timestamp_millis(),
        device: None,
        ip: None,
        location: None,
        remember: false,
        expires_ms: 0,
        last_seen_ms: 0,
        amr: amr.iter().map(|s| (*s).to_string()).collect(),
        sid: new_sid(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EphemeralStore;

    type Sets = std::collections::HashMap<String, std::collections::BTreeSet<String>>;

    #[derive(Debug, Default)]
    struct Mem(
        std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>,
        std::sync::Mutex<Sets>,
    );

    #[async_trait::async_trait]
    impl EphemeralStore for Mem {
        async fn put(&self, k: &str, v: &[u8], _: Duration) -> Result<(), StoreError> {
            self.0.lock().unwrap().insert(k.into(), v.to_vec());
            Ok(())
        }
        async fn take(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self.0.lock().unwrap().remove(k))
        }
        async fn swap(&self, k: &str, v: &[u8], _: Duration) -> Result<Option<Vec<u8>>, StoreError> {
            let mut m = self.0.lock().unwrap();
            Ok(m.get_mut(k).map(|old| std::mem::replace(old, v.to_vec())))
        }
        async fn get(&self, k: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(self.0.lock().unwrap().get(k).cloned())
        }
        async fn delete(&self, k: &str) -> Result<bool, StoreError> {
            Ok(self.0.lock().unwrap().remove(k).is_some())
        }
        async fn incr(&self, _: &str, _: Duration) -> Result<u64, StoreError> {
            Ok(1)
        }
        async fn decr(&self, _: &str, _: i64) -> Result<(), StoreError> {
            Ok(())
        }
        async fn add_member(&self, k: &str, m: &str, _: Duration) -> Result<(), StoreError> {
            self.1.lock().unwrap().entry(k.into()).or_default().insert(m.into());
            Ok(())
        }
        async fn members(&self, k: &str) -> Result<Vec<String>, StoreError> {
            Ok(self
                .1
                .lock()
                .unwrap()
                .get(k)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default())
        }
        async fn remove_member(&self, k: &str, m: &str) -> Result<bool, StoreError> {
            Ok(self.1.lock().unwrap().get_mut(k).is_some_and(|s| s.remove(m)))
        }
        async fn take_members(&self, k: &str) -> Result<Vec<String>, StoreError> {
            Ok(self
                .1
                .lock()
                .unwrap()
                .remove(k)
                .map(|s| s.into_iter().collect())
                .unwrap_or_default())
        }
        async fn ping(&self) -> Result<(), StoreError> {
            Ok(())
        }
        async fn purge_expired(&self) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn kind(&self) -> &'static str {
            "memory"
        }
    }

    #[tokio::test]
    async fn sessions_are_stored_under_a_hash_of_the_cookie() {
        let mem = std::sync::Arc::new(Mem::default());
        let store: Store = mem.clone();
        let hasher = crate::crypto::MasterKey::generate().token_hasher();
        let s = start(Uuid::now_v7(), &["pwd"]);
        let token = create(&store, &hasher, &s, Duration::from_secs(60)).await.unwrap();
        assert_eq!(load(&store, &hasher, &token).await.unwrap().map(|l| l.sid), Some(s.sid));
        assert!(
            !mem.0.lock().unwrap().keys().any(|k| k.contains(&token)),
            "raw token stored"
        );
        destroy(&store, &hasher, &token).await.unwrap();
        assert_eq!(load(&store, &hasher, &token).await.unwrap(), None);
        assert_eq!(load(&store, &hasher, "").await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_busy_session_writes_its_last_seen_time_once_a_minute() {
        let mem = std::sync::Arc::new(Mem::default());
        let store: Store = mem.clone();
        let hasher = crate::crypto::MasterKey::generate().token_hasher();
        let user = Uuid::now_v7();
        let s = start(user, &["pwd"]);
        create(&store, &hasher, &s, Duration::from_secs(60)).await.unwrap();
        let listed = list(&store, user).await.unwrap();
        assert_eq!(
            listed[0].last_seen_ms, listed[0].created_ms,
            "never used: seen at login"
        );

        let throttle = SeenThrottle::default();
        mark_seen(&store, &throttle, &s.sid, Duration::from_secs(60))
            .await
            .unwrap();
        let first = mem.0.lock().unwrap().get(&seen_key(&s.sid)).cloned();
        assert!(first.is_some());
        // An old write is overwritten only once the resolution has passed.
        mem.0.lock().unwrap().insert(seen_key(&s.sid), b"1".to_vec());
        mark_seen(&store, &throttle, &s.sid, Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(
            mem.0.lock().unwrap().get(&seen_key(&s.sid)).cloned(),
            Some(b"1".to_vec())
        );
        throttle.0.lock().unwrap().insert(s.sid.clone(), 0);
        mark_seen(&store, &throttle, &s.sid, Duration::from_secs(60))
            .await
            .unwrap();
        assert_ne!(
            mem.0.lock().unwrap().get(&seen_key(&s.sid)).cloned(),
            Some(b"1".to_vec())
        );
        let listed = list(&store, user).await.unwrap();
        assert!(listed[0].last_seen_ms >= listed[0].created_ms);
    }

    #[tokio::test]
    async fn a_user_keeps_at_most_the_newest_sessions() {
        let store: Store = std::sync::Arc::new(Mem::default());
        let hasher = crate::crypto::MasterKey::generate().token_hasher();
        let user = Uuid::now_v7();
        let mut tokens = Vec::new();
        for _ in 0..MAX_PER_USER + 2 {
            let s = start(user, &["pwd"]);
            tokens.push(create(&store, &hasher, &s, Duration::from_secs(60)).await.unwrap());
            // Distinct creation times.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert_eq!(list(&store, user).await.unwrap().len(), MAX_PER_USER);
        assert_eq!(
            load(&store, &hasher, &tokens[0]).await.unwrap(),
            None,
            "the oldest ended"
        );
        assert_eq!(load(&store, &hasher, &tokens[1]).await.unwrap(), None);
        assert!(load(&store, &hasher, &tokens[2]).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_reissued_session_keeps_its_expiry() {
        let store: Store = std::sync::Arc::new(Mem::default());
        let hasher = crate::crypto::MasterKey::generate().token_hasher();
        let s = start(Uuid::now_v7(), &["pwd"]);
        let token = create(&store, &hasher, &s, Duration::from_secs(3600)).await.unwrap();
        let first = load(&store, &hasher, &token).await.unwrap().unwrap();
        assert!(first.expires_ms > first.created_ms);
        tokio::time::sleep(Duration::from_millis(5)).await;
        let again = create(&store, &hasher, &first, Duration::from_secs(3600))
            .await
            .unwrap();
        let second = load(&store, &hasher, &again).await.unwrap().unwrap();
        assert_eq!(second.expires_ms, first.expires_ms, "no renewal");
        let mut over = second.clone();
        over.expires_ms = chrono::Utc::now().timestamp_millis() - 1;
        assert!(matches!(
            create(&store, &hasher, &over, Duration::from_secs(3600)).await,
            Err(StoreError::Expired)
        ));
    }

    #[tokio::test]
    async fn a_session_stored_without_an_expiry_is_not_honoured() {
        let store: Store = std::sync::Arc::new(Mem::default());
        let hasher = crate::crypto::MasterKey::generate().token_hasher();
        // The format of an earlier version: no expiry field, not in the index.
        let mut old = serde_json::to_value(start(Uuid::now_v7(), &["pwd"])).unwrap();
        old.as_object_mut().unwrap().remove("expires_ms");
        let old_token = "old-format-session-cookie";
        let k = key(&hasher, old_token);
        store
            .put(&k, old.to_string().as_bytes(), Duration::from_secs(60))
            .await
            .unwrap();
        assert_eq!(load(&store, &hasher, old_token).await.unwrap(), None);
        assert_eq!(store.get(&k).await.unwrap(), None, "and it is removed");
    }
}
