//! Which database and store the tests run on, and one fresh database per test.

use std::io::Write;
use std::sync::Once;

use sea_orm::{ConnectionTrait, Database};

/// `GATEHOUSE_TEST_DATABASE_URL`: a PostgreSQL server to create test databases on.
pub fn postgres_url() -> Option<String> {
    std::env::var("GATEHOUSE_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.is_empty())
}

/// `GATEHOUSE_TEST_REDIS_URL`: a Redis server for the Redis store.
pub fn redis_url() -> Option<String> {
    std::env::var("GATEHOUSE_TEST_REDIS_URL").ok().filter(|s| !s.is_empty())
}

/// Prints a line to the terminal even though the test harness captures output, so a
/// skipped suite is reported plainly.
pub fn notice(msg: &str) {
    let _ = writeln!(std::io::stderr(), "NOTE: {msg}");
}

/// Logs of the app under test go to stderr when `TEST_LOG` is set.
pub fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            gatehouse::telemetry::init(gatehouse::config::LogFormat::Text, "info");
        }
    });
}

/// A database of one test: a SQLite file in a temp dir, or a fresh PostgreSQL database.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    pub postgres: bool,
    _dir: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl Clone for TestDb {
    fn clone(&self) -> Self {
        Self {
            url: self.url.clone(),
            postgres: self.postgres,
            _dir: self._dir.clone(),
        }
    }
}

fn replace_db_name(server_url: &str, name: &str) -> String {
    let mut url = url::Url::parse(server_url).expect("GATEHOUSE_TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

impl TestDb {
    /// A fresh database on the configured backend.
    pub async fn create() -> Self {
        match postgres_url() {
            Some(server) => Self::create_postgres(&server).await,
            None => Self::sqlite(),
        }
    }

    /// The same database reached through another URL (e.g. via a proxy).
    pub fn with_url(&self, url: String) -> Self {
        Self { url, ..self.clone() }
    }

    /// A fresh SQLite file, whatever the configured backend.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("gatehouse.db").display());
        Self {
            url,
            postgres: false,
            _dir: Some(std::sync::Arc::new(dir)),
        }
    }

    /// A fresh PostgreSQL database on `server`.
    pub async fn create_postgres(server: &str) -> Self {
        static CLEANUP: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        let admin = Database::connect(server)
            .await
            .unwrap_or_else(|e| panic!("GATEHOUSE_TEST_DATABASE_URL is set but PostgreSQL is unreachable: {e}"));
        CLEANUP
            .get_or_init(|| async {
                drop_stale_databases(&admin).await;
            })
            .await;
        let name = format!("gh_t_{}_{}", std::process::id(), uuid::Uuid::new_v4().simple());
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create test database");
        let _ = admin.close().await;
        Self {
            url: replace_db_name(server, &name),
            postgres: true,
            _dir: None,
        }
    }
}

/// Drops test databases left by earlier test processes that are no longer running.
async fn drop_stale_databases(admin: &sea_orm::DatabaseConnection) {
    let rows = admin
        .query_all_raw(sea_orm::Statement::from_string(
            admin.get_database_backend(),
            "SELECT datname FROM pg_database WHERE datname LIKE 'gh_t_%'".to_string(),
        ))
        .await
        .unwrap_or_default();
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let pid = name.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        let alive =
            pid.is_some_and(|p| p == std::process::id() || std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
    }
}
