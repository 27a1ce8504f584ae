//! Test helpers: the application under test, per-test databases, an SMTP sink and a
//! switchable TCP proxy for taking a dependency "down".

pub mod backend;
pub mod browser;
pub mod fake_upstream;
pub mod flow;
pub mod mmdb;
pub mod proxy;
pub mod schema;
pub mod smtp;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use gatehouse::web::AppState;
use gatehouse::{App, Config};

pub use backend::{TestDb, notice};

/// A fresh random master key, base64.
pub fn random_key() -> String {
    gatehouse::crypto::MasterKey::generate().encode()
}

/// Settings for one application under test.
#[derive(Clone, Debug)]
pub struct Options {
    pub env: Vec<(String, String)>,
    /// A TOML configuration file, as `GATEHOUSE_CONFIG` would name.
    pub file: Option<PathBuf>,
    /// Use the Redis store when `GATEHOUSE_TEST_REDIS_URL` is set (default true).
    pub redis: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            env: Vec::new(),
            file: None,
            redis: true,
        }
    }
}

impl Options {
    pub fn set(mut self, k: &str, v: impl Into<String>) -> Self {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.to_string(), v.into()));
        self
    }
}

/// The base environment of a test application on `db`.
pub fn base_env(db: &TestDb, key: &str) -> Vec<(String, String)> {
    let mut env = vec![
        ("GATEHOUSE_BIND".into(), "127.0.0.1:0".into()),
        // The host name tests reach the app by; a passkey test runs on `localhost`.
        ("GATEHOUSE_ISSUER".into(), "http://127.0.0.1:8080".into()),
        ("GATEHOUSE_DATABASE_URL".into(), db.url.clone()),
        ("GATEHOUSE_SECRET_KEY".into(), key.to_string()),
        ("GATEHOUSE_ARGON2__MEMORY_KIB".into(), "64".into()),
        ("GATEHOUSE_ARGON2__ITERATIONS".into(), "1".into()),
        ("GATEHOUSE_MAIL_POLL_INTERVAL_MS".into(), "100".into()),
        ("GATEHOUSE_MAIL_RETRY_INITIAL_MS".into(), "200".into()),
        ("GATEHOUSE_MAIL_RETRY_MAX_MS".into(), "400".into()),
        ("GATEHOUSE_LOG_LEVEL".into(), "warn".into()),
        // No scheduled purge unless a test asks for it: the tests of `accounts cleanup`
        // date deletions back and purge them themselves.
        ("GATEHOUSE_ACCOUNTS__PURGE_INTERVAL_SECS".into(), "0".into()),
    ];
    if let Some(redis) = backend::redis_url() {
        env.push(("GATEHOUSE_REDIS_URL".into(), redis));
        env.push((
            "GATEHOUSE_REDIS_KEY_PREFIX".into(),
            format!("gh-test:{}:", uuid::Uuid::new_v4()),
        ));
    }
    env
}

/// A running application.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub state: AppState,
    pub client: reqwest::Client,
    /// Keeps the database (and its temp dir) alive as long as the app.
    _db: TestDb,
    /// The store's settings (`GATEHOUSE_REDIS_*` when it uses Redis), for a CLI run that
    /// must see the same sessions.
    pub store_env: Vec<(String, String)>,
    /// The master key (base64).
    pub key: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub handle: Option<tokio::task::JoinHandle<Result<(), gatehouse::app::StartError>>>,
}

impl TestApp {
    /// A ready application on a fresh database with default options.
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    /// A ready application on a fresh database.
    pub async fn spawn_with(opts: Options) -> Self {
        let db = TestDb::create().await;
        let app = Self::start_on(db, &random_key(), opts).await;
        app.wait_ready().await;
        app
    }

    /// A ready application whose issuer is its own address, so that relying-party
    /// libraries can discover it (discovery requires the issuer to match the URL).
    pub async fn spawn_with_real_issuer(opts: Options) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let opts = opts
            .set("GATEHOUSE_BIND", format!("127.0.0.1:{port}"))
            .set("GATEHOUSE_ISSUER", format!("http://127.0.0.1:{port}"));
        let db = TestDb::create().await;
        let app = Self::start_on(db, &random_key(), opts).await;
        app.wait_ready().await;
        app
    }

    /// A ready application whose issuer is `http://localhost:PORT` and which the test
    /// reaches under that name: what WebAuthn needs (it refuses IP addresses).
    pub async fn spawn_on_localhost(opts: Options) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let opts = opts
            .set("GATEHOUSE_BIND", format!("127.0.0.1:{port}"))
            .set("GATEHOUSE_ISSUER", format!("http://localhost:{port}"));
        let db = TestDb::create().await;
        let mut app = Self::start_on(db, &random_key(), opts).await;
        app.base = format!("http://localhost:{port}");
        app.wait_ready().await;
        app
    }

    /// Starts an application on an existing database, without waiting for readiness.
    pub async fn start_on(db: TestDb, key: &str, opts: Options) -> Self {
        backend::init_logging();
        let mut env = base_env(&db, key);
        if !opts.redis {
            env.retain(|(k, _)| !k.starts_with("GATEHOUSE_REDIS"));
        }
        let file = opts.file.clone();
        for (k, v) in opts.env {
            env.retain(|(key, _)| *key != k);
            env.push((k, v));
        }
        let store_env: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| k.starts_with("GATEHOUSE_REDIS"))
            .cloned()
            .collect();
        let config = Config::load_from(file.as_deref(), env).expect("test configuration is valid");
        let app = App::build(config).await.expect("app builds");
        let addr = app.local_addr();
        let state = app.state();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .expect("http client");
        Self {
            addr,
            base: format!("http://{addr}"),
            state,
            client,
            _db: db,
            store_env,
            key: key.to_string(),
            stop: Some(tx),
            handle: Some(handle),
        }
    }

    /// The database URL this app uses (to point the CLI at it).
    pub fn db_url(&self) -> &str {
        &self._db.url
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request")
    }

    /// Waits until `/readyz` answers 200. Generous: on a loaded 2-core machine, creating
    /// and migrating a PostgreSQL database per test can take a while; this waits for
    /// readiness, it does not measure it.
    pub async fn wait_ready(&self) {
        self.wait_readyz(200, Duration::from_secs(120)).await;
    }

    /// Waits until `/readyz` answers `status`; returns its body.
    pub async fn wait_readyz(&self, status: u16, within: Duration) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + within;
        let mut last = serde_json::Value::Null;
        loop {
            if let Ok(r) = self.client.get(self.url("/readyz")).send().await {
                let code = r.status().as_u16();
                last = r.json().await.unwrap_or_default();
                if code == status {
                    return last;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "/readyz never answered {status}; last body: {last}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the server gracefully and returns what `run` returned.
    pub async fn stop(mut self) -> Result<(), gatehouse::app::StartError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.handle.take() {
            Some(h) => h.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A temporary directory that lives as long as the returned guard.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// Polls `f` until it returns Some or `within` passes.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A path inside the crate (for theme fixtures).
#[allow(dead_code)]
pub fn crate_path(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}
