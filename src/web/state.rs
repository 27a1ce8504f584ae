//! The state every handler can reach.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::RwLock;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::theme::Theme;

/// Where start-up stands: the database must be reached, migrated and its master key
/// verified before the instance is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    /// Still trying; the last error, if any.
    Pending(Option<String>),
    Done,
}

/// Shared application state (cheap to clone).
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    db: DatabaseConnection,
    store: Store,
    theme: Theme,
    metrics: Metrics,
    startup: RwLock<Startup>,
}

impl AppState {
    pub fn new(config: Config, db: DatabaseConnection, store: Store, theme: Theme, metrics: Metrics) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                db,
                store,
                theme,
                metrics,
                startup: RwLock::new(Startup::Pending(None)),
            }),
        }
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn theme(&self) -> &Theme {
        &self.inner.theme
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub async fn startup(&self) -> Startup {
        self.inner.startup.read().await.clone()
    }

    pub async fn set_startup(&self, s: Startup) {
        *self.inner.startup.write().await = s;
    }
}
