//! The application: [`App::build`] binds the listener and prepares every handle without
//! needing the database to be up; [`App::run`] serves until the shutdown future
//! completes. Start-up work that needs the database (migrations, the master-key check)
//! runs in the background and is retried until it succeeds, so an instance started
//! while PostgreSQL or Redis is down answers `/readyz` with 503 and recovers by itself.
//! Tests build the same `App` on `127.0.0.1:0`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, SecretKeySource};
use crate::crypto::{KeyError, MasterKey};
use crate::db::{self, KeyCheckError};
use crate::keys::{KeyRing, RingConfig};
use crate::mail::{Transport, outbox};
use crate::metrics::Metrics;
use crate::store::{RedisStore, SqlStore, Store, StoreError};
use crate::theme::Theme;
use crate::web::{self, AppState, state::Startup};

/// Why the application could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    KeyCheck(#[from] KeyCheckError),
    #[error("database: {0}")]
    Db(#[from] DbErr),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("mail: {0}")]
    Mail(#[from] crate::mail::SendError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("server error: {0}")]
    Serve(std::io::Error),
    #[error("signing keys: {0}")]
    Keys(#[from] crate::keys::Error),
    #[error(transparent)]
    GeoIp(#[from] crate::geoip::OpenError),
}

/// Loads the master key from where the configuration says, generating it on first
/// start when none was given.
pub fn load_master_key(config: &Config) -> Result<MasterKey, KeyError> {
    match &config.secret_key {
        SecretKeySource::Inline(s) => MasterKey::parse(s.expose_secret()),
        SecretKeySource::File(p) => MasterKey::read_file(p),
        SecretKeySource::Generated(p) => {
            let (key, generated) = MasterKey::load_or_generate(p)?;
            if generated {
                tracing::warn!(
                    path = %p.display(),
                    key_id = %key.id(),
                    "no secret_key configured: generated a new master key into this file (mode 0600). \
                     Back it up together with the database: without it, sealed secrets cannot be read. \
                     For production set GATEHOUSE_SECRET_KEY_FILE."
                );
            }
            Ok(key)
        }
        SecretKeySource::Ephemeral => {
            tracing::warn!(
                "in-memory database without secret_key: using a master key that lives only as long as this process"
            );
            Ok(MasterKey::generate())
        }
    }
}

/// Builds the configured ephemeral store.
pub fn build_store(config: &Config, db: &DatabaseConnection) -> Result<Store, StoreError> {
    Ok(match &config.redis_url {
        Some(url) => Arc::new(RedisStore::new(url.expose_secret(), &config.redis_key_prefix)?),
        None => Arc::new(SqlStore::new(db.clone())),
    })
}

/// Migrations and the master-key check. `Ok(Err(..))` is fatal (retrying cannot help);
/// `Err(..)` is transient (the database is unreachable).
async fn prepare_database(db: &DatabaseConnection, key: &MasterKey) -> Result<Result<(), StartError>, DbErr> {
    db::ping(db).await?;
    if let Err(e) = db::migrate(db).await {
        // Unreachable again: transient. Reachable but failing: a real migration error.
        db::ping(db).await?;
        return Ok(Err(e.into()));
    }
    match db::check_master_key(db, key).await {
        Ok(()) => Ok(Ok(())),
        Err(KeyCheckError::Db(e)) => {
            db::ping(db).await?;
            Ok(Err(e.into()))
        }
        Err(e) => Ok(Err(e.into())),
    }
}

/// Connects, migrates and checks the master key for a one-shot command (the CLI):
/// unlike `serve`, it fails at once when the database is unreachable.
pub async fn open_database(config: &Config, key: Option<&MasterKey>) -> Result<DatabaseConnection, StartError> {
    let db = db::connect(config).await?;
    db::ping(&db).await?;
    db::migrate(&db).await?;
    if let Some(key) = key {
        db::check_master_key(&db, key).await?;
    }
    Ok(db)
}

/// A built application, ready to run.
pub struct App {
    listener: TcpListener,
    state: AppState,
    key: MasterKey,
    transport: Transport,
}

/// The shared state from its parts.
fn assemble(
    config: Config,
    key: &MasterKey,
    db: DatabaseConnection,
    store: Store,
    theme: Theme,
    geoip: crate::geoip::GeoIp,
) -> Result<AppState, StartError> {
    let keys = Arc::new(KeyRing::new(key, RingConfig::from_config(&config)));
    let hasher = key.token_hasher();
    let passwords = crate::accounts::PasswordHasher::new(&config.argon2)
        .and_then(|h| h.with_breached_list(config.password.breached_list.as_deref()))
        .map_err(|e| StartError::Serve(std::io::Error::other(e.to_string())))?;
    Ok(AppState::new(
        config,
        db,
        store,
        theme,
        Metrics::new(),
        keys,
        hasher,
        passwords,
        geoip,
    ))
}

/// The state the CLI's administrative commands work on: the database (migrated, the key
/// checked), the store and the signing keys as `serve` has them; no listener, no
/// background work, no GeoIP.
pub async fn offline_state(config: Config) -> Result<AppState, StartError> {
    let key = load_master_key(&config)?;
    let db = open_database(&config, Some(&key)).await?;
    let store = build_store(&config, &db)?;
    let theme = Theme::new(config.theme_dir.clone());
    let state = assemble(config, &key, db, store, theme, crate::geoip::GeoIp::none())?;
    state.keys().ensure(state.db()).await?;
    Ok(state)
}

impl App {
    /// Loads the key, prepares the database pool, store, theme and mail transport, and
    /// binds the listener. Does not need the database or Redis to be reachable.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let key = load_master_key(&config)?;
        let db = db::connect(&config).await?;
        let store = build_store(&config, &db)?;
        let theme = Theme::new(config.theme_dir.clone());
        let geoip = match config.geoip_database.clone() {
            Some(path) => tokio::task::spawn_blocking(move || crate::geoip::GeoIp::open(&path))
                .await
                .map_err(|e| StartError::Serve(std::io::Error::other(e.to_string())))??,
            None => crate::geoip::GeoIp::none(),
        };
        let transport = Transport::from_config(&config.mail_transport)?;
        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.bind,
                source,
            })?;
        let state = assemble(config, &key, db, store, theme, geoip)?;
        Ok(Self {
            listener,
            state,
            key,
            transport,
        })
    }

    /// The address the server listens on (tests bind port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or_else(|_| self.state.config().bind)
    }

    /// The shared state (tests use its database and store).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting connections and lets
    /// in-flight requests finish (for at most `shutdown_grace`). Returns an error when
    /// start-up hits something retrying cannot fix, such as a wrong master key.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), StartError> {
        let Self {
            listener,
            state,
            key,
            transport,
        } = self;
        let stop = CancellationToken::new();
        let (fatal_tx, fatal_rx) = tokio::sync::oneshot::channel::<StartError>();
        let workers = tokio::spawn(background(state.clone(), key, transport, stop.clone(), fatal_tx));

        let draining = CancellationToken::new();
        let draining_signal = draining.clone();
        let fatal = Arc::new(tokio::sync::Mutex::new(None));
        let fatal_slot = fatal.clone();
        let signal = async move {
            tokio::select! {
                () = shutdown => tracing::info!("shutting down: draining in-flight requests"),
                Ok(e) = fatal_rx => {
                    tracing::error!(error = %e, "cannot start");
                    *fatal_slot.lock().await = Some(e);
                }
            }
            draining_signal.cancel();
        };
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_default();
        tracing::info!(addr = %addr, issuer = %state.config().issuer_id, "listening");
        let grace = state.config().shutdown_grace;
        let server = web::serve(listener, state, signal);
        let result = tokio::select! {
            r = server => r.map_err(StartError::Serve),
            () = async { draining.cancelled().await; tokio::time::sleep(grace).await } => {
                tracing::warn!(grace_secs = grace.as_secs(), "requests still running after the shutdown grace period; stopping anyway");
                Ok(())
            }
        };
        stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), workers).await;
        if let Some(e) = fatal.lock().await.take() {
            return Err(e);
        }
        result
    }
}

/// Prepares the database (retrying while it is unreachable), then runs the mail worker
/// and the store purge until `stop`.
async fn background(
    state: AppState,
    key: MasterKey,
    transport: Transport,
    stop: CancellationToken,
    fatal: tokio::sync::oneshot::Sender<StartError>,
) {
    let mut delay = Duration::from_millis(200);
    loop {
        match prepare_database(state.db(), &key).await {
            Ok(Ok(())) => break,
            Ok(Err(e)) => {
                let _ = fatal.send(e);
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "database unavailable; retrying");
                state
                    .set_startup(Startup::Pending(Some(format!("database unreachable: {e}"))))
                    .await;
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    let mut delay = Duration::from_millis(200);
    loop {
        let keys = state.keys();
        match async {
            keys.ensure(state.db()).await?;
            keys.reload(state.db()).await
        }
        .await
        {
            Ok(()) => break,
            Err(crate::keys::Error::Db(e)) => {
                tracing::warn!(error = %e, "signing keys unavailable; retrying");
                state
                    .set_startup(Startup::Pending(Some(format!("database unreachable: {e}"))))
                    .await;
            }
            Err(e) => {
                let _ = fatal.send(StartError::Keys(e));
                return;
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    state.set_startup(Startup::Done).await;
    tracing::info!(store = state.store().kind(), mail = transport.kind(), "database ready");
    let keys_task = tokio::spawn(state.keys().clone().maintain(state.db().clone(), stop.clone()));
    let geoip_task = tokio::spawn(state.geoip().clone().maintain(stop.clone()));
    let caches_task = tokio::spawn(watch_caches(state.clone(), stop.clone()));
    let logout_task = tokio::spawn(crate::oidc::backchannel::run_worker(
        state.db().clone(),
        state.keys().clone(),
        state.config().issuer_id.clone(),
        state.config().mail_poll_interval,
        state.config().mail_retry_initial,
        stop.clone(),
    ));

    let c = state.config();
    let worker_cfg = outbox::WorkerConfig {
        from: c.mail_from.clone(),
        max_attempts: c.mail_max_attempts,
        retry_initial: c.mail_retry_initial,
        retry_max: c.mail_retry_max,
        poll_interval: c.mail_poll_interval,
        sealer: crate::mail::body_sealer(state.token_hasher()),
    };
    let mail = tokio::spawn(outbox::run_worker(
        state.db().clone(),
        transport,
        worker_cfg,
        stop.clone(),
    ));
    let purge_every = c.store_purge_interval;
    let store = state.store().clone();
    let purge = tokio::spawn({
        let stop = stop.clone();
        async move {
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(purge_every) => {}
                }
                match store.purge_expired().await {
                    Ok(n) if n > 0 => tracing::debug!(removed = n, "purged expired store entries"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "store purge failed"),
                }
            }
        }
    });
    let accounts_every = c.accounts.purge_interval_secs;
    let grace = c.accounts.deletion_grace_days;
    let retention = c.audit.retention_days;
    let db = state.db().clone();
    let accounts = tokio::spawn({
        let stop = stop.clone();
        async move {
            if accounts_every == 0 {
                return;
            }
            // The first run comes soon after start (instances restarted more often than
            // the interval still purge), 1–11 s after start so that instances started
            // together do not all try at once; then every interval.
            let jitter = u64::from(u16::from_le_bytes(crate::crypto::random_bytes::<2>())) % 10_000;
            let mut wait = Duration::from_millis((1_000 + jitter).min(accounts_every.saturating_mul(1000)));
            loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
                wait = Duration::from_secs(accounts_every);
                match crate::audit::purge_older_than(&db, retention).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(events = n, "audit events past their retention deleted"),
                    Err(e) => tracing::warn!(error = %e, "deleting old audit events failed"),
                }
                match crate::accounts::lifecycle::scheduled_purge(&db, grace).await {
                    Ok(Some(run)) => {
                        if !run.purged.is_empty() || !run.failed.is_empty() {
                            tracing::info!(
                                erased = run.purged.len(),
                                failed = run.failed.len(),
                                "deleted accounts purged"
                            );
                        }
                        for (_, e) in &run.failed {
                            tracing::warn!(error = %e, "a deleted account could not be purged");
                        }
                    }
                    Ok(None) => tracing::debug!("another instance purges deleted accounts"),
                    Err(e) => tracing::warn!(error = %e, "purging deleted accounts failed"),
                }
            }
        }
    });
    let _ = tokio::join!(mail, purge, keys_task, logout_task, geoip_task, accounts, caches_task);
}

/// How often each instance looks for changes made elsewhere to what its hot-path caches
/// hold (clients in the database, revocations in the store): the bound on how long
/// another instance's change can go unseen here.
pub const CACHE_POLL: Duration = Duration::from_secs(1);

/// Empties the client and verified-token caches whenever their generation moves.
async fn watch_caches(state: AppState, stop: CancellationToken) {
    let mut tick = tokio::time::interval(CACHE_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        state.clients().refresh(state.db()).await;
        state.verified().refresh(state.store()).await;
    }
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
