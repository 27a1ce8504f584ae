//! The Redis-backed store: `SET PX`, `GETDEL`, `GET`, `DEL`, and a Lua script for the
//! windowed counter so `INCR` and its expiry are one atomic step. The connection manager
//! is created lazily and reconnects by itself, so Redis may be down at start.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use super::{EphemeralStore, StoreError, ttl_ms};

const INCR_SCRIPT: &str = r"
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return c
";

/// The ephemeral store in Redis. All keys carry the configured prefix.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    incr: Script,
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
