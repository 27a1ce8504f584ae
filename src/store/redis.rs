//! The Redis-backed store: `SET PX`, `GETDEL`, `GET`, `DEL`, and a Lua script for the
//! windowed counter so `INCR` and its expiry are one atomic step. Sets are sorted sets
//! scored by each member's expiry (Unix ms); the key's own TTL is only ever extended,
//! to that of its longest-lived member. The connection manager
//! is created lazily and reconnects by itself, so Redis may be down at start.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use super::{EphemeralStore, StoreError, now_ms, ttl_ms};

const INCR_SCRIPT: &str = r"
local c = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return c
";

const DECR_SCRIPT: &str = r"
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if c > 0 and ttl > 0 and tonumber(ARGV[1]) + ttl <= tonumber(ARGV[2]) then
  redis.call('DECR', KEYS[1])
end
return 1
";

const ADD_MEMBER_SCRIPT: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1
";

const TAKE_MEMBERS_SCRIPT: &str = r"
local m = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')
redis.call('DEL', KEYS[1])
return m
";

/// The ephemeral store in Redis. All keys carry the configured prefix.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    incr: Script,
    decr: Script,
    add_member: Script,
    take_members: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("prefix", &self.prefix).finish()
    }
}

impl RedisStore {
    /// Prepares a connection to `url` without connecting yet.
    pub fn new(url: &str, prefix: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
            incr: Script::new(INCR_SCRIPT),
            decr: Script::new(DECR_SCRIPT),
            add_member: Script::new(ADD_MEMBER_SCRIPT),
            take_members: Script::new(TAKE_MEMBERS_SCRIPT),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

#[async_trait::async_trait]
impl EphemeralStore for RedisStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let ms = u64::try_from(ttl_ms(ttl)).unwrap_or(1);
        let _: () = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("PX")
            .arg(ms)
            .query_async(&mut c)
            .await?;
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.get_del(self.key(key)).await?)
    }

    async fn swap(&self, key: &str, value: &[u8], ttl: Duration) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        let ms = u64::try_from(ttl_ms(ttl)).unwrap_or(1);
        // XX: only an existing key; GET: the value it had (Redis 6.2 or newer).
        Ok(redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("XX")
            .arg("GET")
            .arg("PX")
            .arg(ms)
            .query_async(&mut c)
            .await?)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut c = self.conn.clone();
        Ok(c.get(self.key(key)).await?)
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let n: u64 = c.del(self.key(key)).await?;
        Ok(n > 0)
    }

    async fn incr(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        let mut c = self.conn.clone();
        Ok(self
            .incr
            .key(self.key(key))
            .arg(ttl_ms(window))
            .invoke_async(&mut c)
            .await?)
    }

    async fn decr(&self, key: &str, ends_by_ms: i64) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = self
            .decr
            .key(self.key(key))
            .arg(now_ms())
            .arg(ends_by_ms)
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    async fn add_member(&self, key: &str, member: &str, ttl: Duration) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let now = now_ms();
        let _: i64 = self
            .add_member
            .key(self.key(key))
            .arg(member)
            .arg(now + ttl_ms(ttl))
            .arg(now)
            .arg(ttl_ms(ttl))
            .invoke_async(&mut c)
            .await?;
        Ok(())
    }

    async fn members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("ZRANGEBYSCORE")
            .arg(self.key(key))
            .arg(format!("({}", now_ms()))
            .arg("+inf")
            .query_async(&mut c)
            .await?)
    }

    async fn remove_member(&self, key: &str, member: &str) -> Result<bool, StoreError> {
        let mut c = self.conn.clone();
        let n: u64 = c.zrem(self.key(key), member).await?;
        Ok(n > 0)
    }

    async fn take_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let mut c = self.conn.clone();
        Ok(self
            .take_members
            .key(self.key(key))
            .arg(now_ms())
            .invoke_async(&mut c)
            .await?)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(())
    }

    async fn purge_expired(&self) -> Result<u64, StoreError> {
        Ok(0)
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
