//! A small bounded cache of recent results, for the hot paths (client metadata, verified
//! access tokens). Bounded by construction: at most `capacity` entries, each for at most
//! its time to live. Invalidation is by epoch: [`Bounded::clear`] empties the cache and
//! starts a new epoch, and a result computed during an older epoch is not inserted (so a
//! lookup that began before a change cannot put the old answer back after it). The
//! [`watch`](crate::app) task clears caches when the change generation in the database or
//! the store moves, which is how a change made by another instance reaches this one.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A document built once and served as is (discovery, JWKS): its bytes and an entity
/// tag made of their SHA-256, as the header value it is sent in.
#[derive(Debug, Clone)]
pub struct Prebuilt {
    pub body: bytes::Bytes,
    pub etag: http::HeaderValue,
}

impl Default for Prebuilt {
    fn default() -> Self {
        Self::bytes(bytes::Bytes::new())
    }
}

impl Prebuilt {
    /// Serializes `value` once.
    pub fn json(value: &impl serde::Serialize) -> Self {
        Self::bytes(serde_json::to_vec(value).unwrap_or_default())
    }

    pub fn bytes(body: impl Into<bytes::Bytes>) -> Self {
        use base64::Engine;
        let body = body.into();
        let d = ring::digest::digest(&ring::digest::SHA256, &body);
        let tag = format!(
            "\"{}\"",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d.as_ref()[..16])
        );
        // Quotes and base64url characters only: always a valid header value.
        let etag = http::HeaderValue::from_str(&tag).unwrap_or(http::HeaderValue::from_static("\"-\""));
        Self { body, etag }
    }
}

/// The last seen value of a change generation (a database or store value that moves on
/// every change), for a cache that must forget everything when it moves.
#[derive(Debug)]
pub struct Generation<G> {
    seen: Mutex<Option<G>>,
}

impl<G> Default for Generation<G> {
    fn default() -> Self {
        Self { seen: Mutex::new(None) }
    }
}

impl<G: PartialEq> Generation<G> {
    /// Records what was just read; true when the cache must be emptied: the generation
    /// moved, or could not be read (nothing cached is trusted then, and the next good
    /// read counts as moved).
    pub fn moved<E: std::fmt::Display>(&self, read: Result<G, E>, what: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match read {
            Ok(g) if seen.as_ref() == Some(&g) => false,
            Ok(g) => {
                *seen = Some(g);
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "{what} generation not read");
                *seen = None;
                true
            }
        }
    }
}

#[derive(Debug)]
pub struct Bounded<K, V> {
    inner: Mutex<Inner<K, V>>,
    capacity: usize,
    ttl: Duration,
}

#[derive(Debug)]
struct Inner<K, V> {
    map: HashMap<K, (Instant, V)>,
    epoch: u64,
}

impl<K: Hash + Eq + Clone, V: Clone> Bounded<K, V> {
    /// A cache of at most `capacity` entries, each kept at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            inner: Mutex::new(Inner {
                map: HashMap::new(),
                epoch: 0,
            }),
            capacity: capacity.max(1),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, V>> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The current epoch: read it before computing a result, pass it to [`Self::insert`].
    pub fn epoch(&self) -> u64 {
        self.lock().epoch
    }

    /// The live entry for `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut g = self.lock();
        match g.map.get(key) {
            Some((until, v)) if *until > Instant::now() => Some(v.clone()),
            Some(_) => {
                g.map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Keeps `value` for at most `ttl` (capped at the cache's own), unless the cache was
    /// cleared since `epoch`. When full, expired entries go first, then any one entry.
    pub fn insert(&self, epoch: u64, key: K, value: V, ttl: Option<Duration>) {
        let now = Instant::now();
        let until = now + ttl.map_or(self.ttl, |t| t.min(self.ttl));
        let mut g = self.lock();
        if g.epoch != epoch {
            return;
        }
        if g.map.len() >= self.capacity && !g.map.contains_key(&key) {
            g.map.retain(|_, (u, _)| *u > now);
            if g.map.len() >= self.capacity
                && let Some(k) = g.map.keys().next().cloned()
            {
                g.map.remove(&k);
            }
        }
        g.map.insert(key, (until, value));
    }

    /// Empties the cache and starts a new epoch.
    pub fn clear(&self) {
        let mut g = self.lock();
        g.map.clear();
        g.epoch += 1;
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_expiring_and_cleared_by_epoch() {
        let c = Bounded::new(2, Duration::from_secs(60));
        let e = c.epoch();
        c.insert(e, 1, "a", None);
        c.insert(e, 2, "b", None);
        c.insert(e, 3, "c", None);
        assert_eq!(c.len(), 2, "never more than the capacity");
        assert_eq!(c.get(&3), Some("c"), "the newest entry is kept");
        c.insert(e, 4, "d", Some(Duration::ZERO));
        assert_eq!(c.get(&4), None, "an expired entry is not served");
        c.clear();
        assert!(c.is_empty());
        c.insert(e, 5, "stale", None);
        assert_eq!(c.get(&5), None, "a result from before the clear is not kept");
        c.insert(c.epoch(), 5, "fresh", None);
        assert_eq!(c.get(&5), Some("fresh"));
    }
}
