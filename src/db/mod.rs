//! The database: connection (SQLite by default, PostgreSQL by URL), migrations and the
//! master-key check. Connections are lazy, so a process started while the database is
//! down still serves `/readyz` (503) and connects once the database returns.

pub mod repo;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::PgConnectOptions;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, TransactionTrait};
use secrecy::ExposeSecret;

use crate::config::{Config, DatabaseKind};
use crate::crypto::MasterKey;

/// Arbitrary constant naming Gatehouse's migration lock on PostgreSQL.
const MIGRATION_LOCK_ID: i64 = 0x6761_7465_686f_7573; // "gatehous"

/// Opens a lazily-connecting pool for the configured database.
pub async fn connect(config: &Config) -> Result<DatabaseConnection, DbErr> {
    let url = config.database_url.expose_secret().to_string();
    let kind = config.database_kind();
    let mut opts = ConnectOptions::new(url);
    let max = match kind {
        // Every connection to an in-memory database would be a different database.
        DatabaseKind::Sqlite(None) => 1,
        _ => config.database_max_connections,
    };
    opts.max_connections(max)
        .min_connections(0)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(300))
        .sqlx_logging(false)
        .connect_lazy(true)
        .map_sqlx_sqlite_opts(|o: SqliteConnectOptions| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5))
                .create_if_missing(true)
        })
        .map_sqlx_postgres_opts(|o: PgConnectOptions| o.application_name("gatehouse"));
    if matches!(kind, DatabaseKind::Sqlite(None)) {
        // Keep the single in-memory connection alive for the life of the pool.
        opts.idle_timeout(Duration::from_secs(u64::MAX / 4))
            .max_lifetime(None)
            .min_connections(1);
    }
    // With connect_lazy the pool is built without touching the database.
    Database::connect(opts).await
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), waiting out other writers with the busy timeout: a deferred
/// transaction that reads first fails with `SQLITE_BUSY_SNAPSHOT` when another writer
/// commits before its first write. PostgreSQL ignores the mode.
pub async fn begin(db: &DatabaseConnection) -> Result<sea_orm::DatabaseTransaction, DbErr> {
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// Applies pending migrations in one transaction. On PostgreSQL a transaction-scoped
/// advisory lock makes concurrent starts of several instances wait for each other, so
/// each migration runs exactly once.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    let txn = begin(db).await?;
    advisory_lock(&txn, MIGRATION_LOCK_ID).await?;
    Migrator::up(&txn, None).await?;
    txn.commit().await
}

/// Takes a transaction-scoped advisory lock on PostgreSQL (a no-op on SQLite, whose
/// writers are serialized anyway), so concurrent instances do one-time work once.
pub async fn advisory_lock(txn: &sea_orm::DatabaseTransaction, id: i64) -> Result<(), DbErr> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({id})"))
            .await?;
    }
    Ok(())
}

/// Names of the migrations not yet applied.
pub async fn pending_migrations(db: &DatabaseConnection) -> Result<Vec<String>, DbErr> {
    Ok(Migrator::get_pending_migrations(db)
        .await?
        .iter()
        .map(|m| m.name().to_string())
        .collect())
}

/// Checks that the database answers.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.ping().await
}

/// Errors of the master-key check.
#[derive(Debug, thiserror::Error)]
pub enum KeyCheckError {
    #[error(
        "the master key (id {given}) is not the one this database was set up with (id {expected}): restore the original secret_key / secret_key_file; secrets sealed with the old key cannot be read with another"
    )]
    Mismatch { given: String, expected: String },
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// Records the master key's check value on first start; on later starts verifies that
/// the key in use is the one the database was set up with.
pub async fn check_master_key(db: &DatabaseConnection, key: &MasterKey) -> Result<(), KeyCheckError> {
    const NAME: &str = "master_key_check";
    const PLAINTEXT: &[u8] = b"gatehouse master key check";
    let sealer = key.sealer();
    let fresh = format!("{}:{}", key.id(), hex::encode(sealer.seal(PLAINTEXT, NAME)));
    let stored = repo::insert_setting_if_absent(db, NAME, &fresh).await?;
    let (expected_id, sealed_hex) = stored.split_once(':').unwrap_or(("unknown", ""));
    let opens = hex::decode(sealed_hex)
        .ok()
        .and_then(|sealed| sealer.open(&sealed, NAME).ok())
        .is_some_and(|p| p == PLAINTEXT);
    if opens {
        Ok(())
    } else {
        Err(KeyCheckError::Mismatch {
            given: key.id(),
            expected: expected_id.to_string(),
        })
    }
}

/// Connections open in the pool and how many of them are idle.
pub fn pool_stats(db: &DatabaseConnection) -> (u32, u32) {
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let p = db.get_postgres_connection_pool();
            (p.size(), u32::try_from(p.num_idle()).unwrap_or(0))
        }
        DbBackend::Sqlite => {
            let p = db.get_sqlite_connection_pool();
            (p.size(), u32::try_from(p.num_idle()).unwrap_or(0))
        }
        _ => (0, 0),
    }
}
