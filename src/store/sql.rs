//! The SQL-backed store (the default): `ephemeral_entry`, `ephemeral_counter` and
//! `ephemeral_member` (sets, one row per member), with
//! expiry times in Unix milliseconds checked on every read and a periodic purge.
//! `take` is one `DELETE … RETURNING`, atomic on SQLite and PostgreSQL alike.

use std::time::Duration;

use entity::{ephemeral_counter as counter, ephemeral_entry as entry, ephemeral_member as member};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter, Statement};

use super::{EphemeralStore, StoreError, now_ms, ttl_ms};

/// The ephemeral store in the main database.
#[derive(Debug, Clone)]
pub struct SqlStore {
    db: DatabaseConnection,
}

impl SqlStore {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait::async_trait]
impl EphemeralStore for SqlStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), StoreError> {
        let stmt = Query::insert()
            .into_table(entry::Entity)
            .columns([entry::Column::Key, entry::Column::Value, entry::Column::ExpiresAt])
            .values_panic([key.into(), value.to_vec().into(), (now_ms() + ttl_ms(ttl)).into()])
            .on_conflict(
                OnConflict::column(entry::Column::Key)
                    .update_columns([entry::Column::Value, entry::Column::ExpiresAt])
                    .to_owned(),
            )
            .to_owned();
        self.db.execute(&stmt).await?;
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let stmt = Query::delete()
            .from_table(entry::Entity)
            .and_where(Expr::col(entry::Column::Key).eq(Expr::value(key)))
            .returning(Query::returning().columns([entry::Column::Value, entry::Column::ExpiresAt]))
            .to_owned();
        let Some(row) = self.db.query_one(&stmt).await? else {
            return Ok(None);
        };
        let expires_at: i64 = row.try_get("", "expires_at")?;
        if expires_at <= now_ms() {
            return Ok(None);
        }
        Ok(Some(row.try_get("", "value")?))
    }

    async fn swap(&self, key: &str, value: &[u8], ttl: Duration) -> Result<Option<Vec<u8>>, StoreError> {
        let now = now_ms();
        let expires = now + ttl_ms(ttl);
        if self.db.get_database_backend() == DbBackend::Postgres {
            // One statement; FOR UPDATE makes a concurrent swap wait and then read the
            // value this one wrote.
            let stmt = Statement::from_sql_and_values(
                DbBackend::Postgres,
                r#"UPDATE ephemeral_entry AS e SET value = $1, expires_at = $2
                   FROM (SELECT key, value FROM ephemeral_entry
                         WHERE key = $3 AND expires_at > $4 FOR UPDATE) AS o
                   WHERE e.key = o.key
                   RETURNING o.value AS old"#,
                [value.to_vec().into(), expires.into(), key.into(), now.into()],
            );
            return match self.db.query_one_raw(stmt).await? {
                Some(row) => Ok(Some(row.try_get("", "old")?)),
                None => Ok(None),
            };
        }
        // SQLite: read and write under the write lock (BEGIN IMMEDIATE).
        let txn = crate::db::begin(&self.db).await?;
        let old = entry::Entity::find_by_id(key.to_string())
            .one(&txn)
            .await?
            .filter(|m| m.expires_at > now);
        if old.is_some() {
            entry::Entity::update_many()
                .col_expr(entry::Column::Value, Expr::value(value.to_vec()))
                .col_expr(entry::Column::ExpiresAt, Expr::value(expires))
                .filter(entry::Column::Key.eq(key))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(old.map(|m| m.value))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(entry::Entity::find_by_id(key.to_string())
            .one(&self.db)
            .await?
            .filter(|m| m.expires_at > now_ms())
            .map(|m| m.value))
    }

    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let res = entry::Entity::delete_by_id(key.to_string()).exec(&self.db).await?;
        Ok(res.rows_affected > 0)
    }

    async fn incr(&self, key: &str, window: Duration) -> Result<u64, StoreError> {
        let now = now_ms();
        // A row whose window has passed starts over at 1 with a new window.
        let expired = Expr::col((counter::Entity, counter::Column::ExpiresAt)).lte(now);
        let count: Expr = Expr::case(expired.clone(), 1i64)
            .finally(Expr::col((counter::Entity, counter::Column::Count)).add(1i64))
            .into();
        let expires: Expr = Expr::case(expired, Expr::cust(r#""excluded"."expires_at""#))
            .finally(Expr::col((counter::Entity, counter::Column::ExpiresAt)))
            .into();
        let stmt = Query::insert()
            .into_table(counter::Entity)
            .columns([counter::Column::Key, counter::Column::Count, counter::Column::ExpiresAt])
            .values_panic([key.into(), 1i64.into(), (now + ttl_ms(window)).into()])
            .on_conflict(
                OnConflict::column(counter::Column::Key)
                    .values([(counter::Column::Count, count), (counter::Column::ExpiresAt, expires)])
                    .to_owned(),
            )
            .returning_col(counter::Column::Count)
            .to_owned();
        let row = self
            .db
            .query_one(&stmt)
            .await?
            .ok_or_else(|| sea_orm::DbErr::RecordNotInserted)?;
        let count: i64 = row.try_get("", "count")?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn decr(&self, key: &str, ends_by_ms: i64) -> Result<(), StoreError> {
        counter::Entity::update_many()
            .col_expr(counter::Column::Count, Expr::col(counter::Column::Count).sub(1i64))
            .filter(counter::Column::Key.eq(key))
            .filter(counter::Column::Count.gt(0i64))
            .filter(counter::Column::ExpiresAt.gt(now_ms()))
            .filter(counter::Column::ExpiresAt.lte(ends_by_ms))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    async fn add_member(&self, key: &str, m: &str, ttl: Duration) -> Result<(), StoreError> {
        let stmt = Query::insert()
            .into_table(member::Entity)
            .columns([member::Column::Key, member::Column::Member, member::Column::ExpiresAt])
            .values_panic([key.into(), m.into(), (now_ms() + ttl_ms(ttl)).into()])
            .on_conflict(
                OnConflict::columns([member::Column::Key, member::Column::Member])
                    .update_column(member::Column::ExpiresAt)
                    .to_owned(),
            )
            .to_owned();
        self.db.execute(&stmt).await?;
        Ok(())
    }

    async fn members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        Ok(member::Entity::find()
            .filter(member::Column::Key.eq(key))
            .filter(member::Column::ExpiresAt.gt(now_ms()))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|m| m.member)
            .collect())
    }

    async fn remove_member(&self, key: &str, m: &str) -> Result<bool, StoreError> {
        let res = member::Entity::delete_many()
            .filter(member::Column::Key.eq(key))
            .filter(member::Column::Member.eq(m))
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected > 0)
    }

    async fn take_members(&self, key: &str) -> Result<Vec<String>, StoreError> {
        let stmt = Query::delete()
            .from_table(member::Entity)
            .and_where(Expr::col(member::Column::Key).eq(Expr::value(key)))
            .returning(Query::returning().columns([member::Column::Member, member::Column::ExpiresAt]))
            .to_owned();
        let now = now_ms();
        let mut out = Vec::new();
        for row in self.db.query_all(&stmt).await? {
            let expires_at: i64 = row.try_get("", "expires_at")?;
            if expires_at > now {
                out.push(row.try_get("", "member")?);
            }
        }
        Ok(out)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(self.db.ping().await?)
    }

    async fn purge_expired(&self) -> Result<u64, StoreError> {
        let now = now_ms();
        let a = entry::Entity::delete_many()
            .filter(entry::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        let b = counter::Entity::delete_many()
            .filter(counter::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        let c = member::Entity::delete_many()
            .filter(member::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        Ok(a.rows_affected + b.rows_affected + c.rows_affected)
    }

    fn kind(&self) -> &'static str {
        "sql"
    }
}
