//! The state every handler can reach.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::RwLock;

use crate::accounts::PasswordHasher;
use crate::config::Config;
use crate::crypto::TokenHasher;
use crate::keys::KeyRing;
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
    keys: Arc<KeyRing>,
    token_hasher: TokenHasher,
    passwords: PasswordHasher,
    dummy_hash: tokio::sync::OnceCell<String>,
    /// Built on first use: an instance with no upstream provider, robot check or
    /// back-channel logout never loads TLS roots.
    http: std::sync::OnceLock<reqwest::Client>,
    /// The Content-Security-Policy header value, built once.
    csp: axum::http::HeaderValue,
    startup: RwLock<Startup>,
    geoip: crate::geoip::GeoIp,
    seen: crate::accounts::sessions::SeenThrottle,
    images: crate::accounts::images::Workers,
    /// The WebAuthn relying party of the issuer (None on an IP address).
    webauthn: Option<webauthn_rs::Webauthn>,
    mail_sealer: crate::crypto::Sealer,
    /// The upstream identity providers, with their cached discovery documents.
    upstream: crate::upstream::Providers,
    /// Client metadata for the hot paths.
    clients: crate::clients::Directory,
    /// Access tokens verified recently.
    verified: crate::oidc::access::Verified,
    /// The discovery document, serialized once (the configuration does not change while
    /// the process runs), with its entity tag.
    discovery: crate::cache::Prebuilt,
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Config,
        db: DatabaseConnection,
        store: Store,
        theme: Theme,
        metrics: Metrics,
        keys: Arc<KeyRing>,
        token_hasher: TokenHasher,
        passwords: PasswordHasher,
        geoip: crate::geoip::GeoIp,
    ) -> Self {
        let csp = axum::http::HeaderValue::from_str(&crate::web::middleware::security_headers::csp(&config))
            .unwrap_or(axum::http::HeaderValue::from_static("default-src 'none'"));
        let mail_sealer = crate::mail::body_sealer(&token_hasher);
        let webauthn = crate::auth::passkeys::relying_party(&config.issuer);
        let upstream = crate::upstream::Providers::new(&config.upstream);
        let discovery = crate::cache::Prebuilt::json(&crate::oidc::discovery::metadata(&config));
        if webauthn.is_none() {
            tracing::info!(issuer = %config.issuer, "passkeys are off: WebAuthn needs a host name, not an IP address, in the issuer");
        }
        Self {
            inner: Arc::new(Inner {
                config,
                db,
                store,
                theme,
                metrics,
                keys,
                token_hasher,
                passwords,
                dummy_hash: tokio::sync::OnceCell::new(),
                http: std::sync::OnceLock::new(),
                csp,
                startup: RwLock::new(Startup::Pending(None)),
                geoip,
                seen: crate::accounts::sessions::SeenThrottle::default(),
                images: crate::accounts::images::Workers::default(),
                webauthn,
                mail_sealer,
                upstream,
                clients: crate::clients::Directory::default(),
                verified: crate::oidc::access::Verified::default(),
                discovery,
            }),
        }
    }

    /// Approximate locations of client IPs (unknown without a database).
    pub fn geoip(&self) -> &crate::geoip::GeoIp {
        &self.inner.geoip
    }

    /// The bounded pool profile images are processed on.
    pub fn images(&self) -> &crate::accounts::images::Workers {
        &self.inner.images
    }

    /// Records that a session was used now (throttled; failures are only logged).
    pub async fn mark_seen(&self, session: &crate::accounts::sessions::Session) {
        let ttl = std::time::Duration::from_secs(self.inner.config.tokens.session_secs);
        if let Err(e) =
            crate::accounts::sessions::mark_seen(&self.inner.store, &self.inner.seen, &session.sid, ttl).await
        {
            tracing::debug!(error = %e, "session last-seen time not recorded");
        }
    }

    /// Seals queued mail bodies.
    pub fn mail_sealer(&self) -> &crate::crypto::Sealer {
        &self.inner.mail_sealer
    }

    /// The configured upstream providers.
    pub fn upstream(&self) -> &crate::upstream::Providers {
        &self.inner.upstream
    }

    /// What the upstream flows use of the app.
    pub fn upstream_ctx(&self) -> crate::upstream::Ctx<'_> {
        crate::upstream::Ctx {
            store: self.store(),
            hasher: self.token_hasher(),
            http: self.http(),
            issuer_id: &self.inner.config.issuer_id,
        }
    }

    /// The WebAuthn relying party, when the issuer can have passkeys.
    pub fn webauthn(&self) -> Option<&webauthn_rs::Webauthn> {
        self.inner.webauthn.as_ref()
    }

    /// The signing key ring.
    /// Client metadata (cached; see [`crate::clients::Directory`]).
    /// What the administration operations need: the admin API's and the CLI's view.
    pub fn admin_ops(&self) -> crate::admin::Ops<'_> {
        crate::admin::Ops {
            auth: crate::web::pages::common::auth_ctx(self),
            tokens: crate::web::oidc::ctx(self),
            clients: self.clients(),
        }
    }

    pub fn clients(&self) -> &crate::clients::Directory {
        &self.inner.clients
    }

    /// Recently verified access tokens.
    pub fn verified(&self) -> &crate::oidc::access::Verified {
        &self.inner.verified
    }

    /// The discovery document as served.
    pub fn discovery(&self) -> &crate::cache::Prebuilt {
        &self.inner.discovery
    }

    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.inner.keys
    }

    /// The HTTP client for calls Gatehouse makes (robot-check verification).
    pub fn http(&self) -> &reqwest::Client {
        // Every outbound call (back-channel logouts, the robot check, upstream
        // providers): no redirects followed, bounded in time, named.
        self.inner.http.get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(std::time::Duration::from_secs(5))
                .timeout(std::time::Duration::from_secs(10))
                .user_agent(concat!("Gatehouse/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default()
        })
    }

    /// The Content-Security-Policy of pages.
    pub fn csp(&self) -> &axum::http::HeaderValue {
        &self.inner.csp
    }

    /// Password hashing (argon2id on its own bounded pool).
    pub fn passwords(&self) -> &PasswordHasher {
        &self.inner.passwords
    }

    /// A hash of a random password with the configured parameters, verified against when
    /// the email is unknown so that answers take the same time either way.
    /// Made on first use; if hashing is at capacity then, the next sign-in tries again
    /// (an empty dummy would answer unknown addresses faster).
    pub async fn dummy_hash(&self) -> Result<String, crate::accounts::password::HashError> {
        self.inner
            .dummy_hash
            .get_or_try_init(|| async {
                let pw = secrecy::SecretString::from(crate::crypto::random_token::<16>());
                self.inner.passwords.hash(pw).await
            })
            .await
            .cloned()
    }

    /// Keyed hashes of tokens and client secrets.
    pub fn token_hasher(&self) -> &TokenHasher {
        &self.inner.token_hasher
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
