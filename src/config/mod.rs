//! One typed configuration: built-in defaults, overridden by a TOML file
//! (`GATEHOUSE_CONFIG=path`), overridden by `GATEHOUSE_*` environment variables
//! (nested keys joined with `__`, e.g. `GATEHOUSE_ARGON2__MEMORY_KIB`).
//!
//! [`RawConfig`] is what the layers deserialize into; [`Config::load`] validates it into
//! [`Config`], whose fields are parsed types. A bad value stops the process with one
//! line that names the key (as the environment variable or TOML key it came from), the
//! value and what was expected. Every key is documented in `docs/configuration.md`.
//!
//! Here: the validated [`Config`] and loading. Beside it: `raw.rs` (every key, with its
//! default), `sources.rs` (file, environment, `*_file` secrets, naming a key as written),
//! `validate.rs` (the rules and the bounds of every number), `tests.rs`.

mod raw;
mod sources;
#[cfg(test)]
mod tests;
mod upstream;
mod validate;

pub use raw::*;
use sources::*;
pub use sources::{env_name, unknown_env_vars};
pub use upstream::{Upstream, UpstreamKind};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use url::Url;

/// Prefix of every environment variable read as configuration.
pub const ENV_PREFIX: &str = "GATEHOUSE_";

/// Environment variables with the prefix that are not configuration keys.
const ENV_NOT_KEYS: &[&str] = &["config", "test_database_url", "test_redis_url", "test_browser"];

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailTransportConfig {
    /// Written to the log (development default).
    Console,
    /// `.eml` files written into a directory.
    File(PathBuf),
    /// An SMTP relay (`smtp://`, `smtp://…?tls=required`, `smtps://`).
    Smtp(SecretString),
}

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum SecretKeySource {
    /// Given inline (`secret_key`).
    Inline(SecretString),
    /// Read from a file that must exist (`secret_key_file`).
    File(PathBuf),
    /// Generated on first start into this file (SQLite default: next to the database).
    Generated(PathBuf),
    /// Generated for this process only (in-memory SQLite databases).
    Ephemeral,
}

/// An enabled robot check.
#[derive(Debug, Clone)]
pub struct Captcha {
    pub site_key: String,
    pub secret: SecretString,
    pub verify_url: Url,
    pub script_url: Url,
    pub response_field: String,
    pub widget_class: String,
    pub csp_sources: Vec<String>,
}

/// Which header a trusted proxy states the client address in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (nginx, HAProxy, most load balancers).
    XForwardedFor,
    /// `Forwarded` (RFC 7239).
    Forwarded,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The issuer URL as parsed.
    pub issuer: Url,
    /// The issuer exactly as published in `iss` and discovery: the configured URL
    /// without a trailing slash.
    pub issuer_id: String,
    pub bind: SocketAddr,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub redis_url: Option<SecretString>,
    pub redis_key_prefix: String,
    pub mail_transport: MailTransportConfig,
    pub mail_from: lettre::message::Mailbox,
    pub mail_max_attempts: u32,
    pub mail_retry_initial: Duration,
    pub mail_retry_max: Duration,
    pub mail_poll_interval: Duration,
    pub secret_key: SecretKeySource,
    pub theme_dir: Option<PathBuf>,
    /// A MaxMind DB file (City or Country) for approximate login locations.
    pub geoip_database: Option<PathBuf>,
    pub log_format: LogFormat,
    pub log_level: String,
    pub trusted_proxies: Vec<IpNet>,
    pub forwarded_header: ForwardedHeader,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    /// Pages asked for under another host name than the issuer's redirect to it.
    pub redirect_to_issuer_host: bool,
    pub shutdown_grace: Duration,
    pub store_purge_interval: Duration,
    pub argon2: Argon2Config,
    pub password: PasswordPolicy,
    pub tokens: TokenLifetimes,
    pub access_token_alg: crate::crypto::signing::Alg,
    pub keys: KeysConfig,
    pub accounts: AccountsConfig,
    pub mfa: MfaConfig,
    pub magic_links: MagicLinksConfig,
    pub audit: AuditConfig,
    /// The robot check, with its secret resolved (None when disabled).
    pub captcha: Option<Captcha>,
    pub profile_fields: Vec<ProfileField>,
    /// Upstream identity providers, in the order the pages show them.
    pub upstream: Vec<Upstream>,
    /// The layered values this configuration was validated from (for `config check`).
    pub raw: RawConfig,
}

/// A configuration that could not be loaded. Its `Display` is the one line shown to the
/// operator.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{key}: {value} {expected}")]
    Invalid {
        key: String,
        value: String,
        expected: String,
    },
    #[error("{0}")]
    Source(String),
}

impl Config {
    /// How long a session lives in the store: `tokens.session_secs` with "keep me
    /// signed in", else `tokens.browser_session_secs`.
    pub fn session_ttl(&self, remember: bool) -> Duration {
        Duration::from_secs(if remember {
            self.tokens.session_secs
        } else {
            self.tokens.browser_session_secs
        })
    }

    /// Loads from the process environment (and `GATEHOUSE_CONFIG` if set).
    pub fn load() -> Result<Self, ConfigError> {
        let file = std::env::var_os("GATEHOUSE_CONFIG").map(PathBuf::from);
        Self::load_from(file.as_deref(), std::env::vars())
    }

    /// Loads from an optional TOML file and the given environment, then validates.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::Source(format!("GATEHOUSE_CONFIG: cannot read \"{}\": {e}", path.display()))
            })?;
            check_unknown_toml_keys(&text, path)?;
            figment = figment.merge(Toml::file_exact(path));
        }
        // Like figment's `Env::prefixed(..).split("__")`, but over the given variables
        // rather than the live process environment, so loading is a pure function.
        figment = figment.merge(EnvSnapshot { vars: env });
        let raw: RawConfig = figment.extract().map_err(|e| describe_figment_error(&e))?;
        Self::validate(raw, &Origins { figment })
    }

    /// The effective configuration as TOML, with every secret redacted.
    pub fn redacted_toml(&self) -> String {
        let mut raw = self.raw.redacted();
        // Values read from *_file keys are shown redacted too.
        raw.database_url = redact_url(self.database_url.expose_secret());
        raw.redis_url = self.redis_url.as_ref().map(|u| redact_url(u.expose_secret()));
        raw.smtp_url = match &self.mail_transport {
            MailTransportConfig::Smtp(u) => Some(redact_url(u.expose_secret())),
            _ => None,
        };
        toml::to_string_pretty(&raw).unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
    }

    /// The database kind `database_url` names.
    pub fn database_kind(&self) -> DatabaseKind {
        DatabaseKind::of(self.database_url.expose_secret()).unwrap_or(DatabaseKind::Sqlite(None))
    }

    /// True when the issuer is served over https (cookies get `__Host-`, HSTS is sent).
    pub fn issuer_is_https(&self) -> bool {
        self.issuer.scheme() == "https"
    }
}

/// Which database a URL points at; for SQLite, the file (None for in-memory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite(Option<PathBuf>),
    Postgres,
}

impl DatabaseKind {
    /// Classifies a database URL, or `None` when it is neither SQLite nor PostgreSQL.
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Some(Self::Postgres);
        }
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path == ":memory:" || url.contains("mode=memory") {
            Some(Self::Sqlite(None))
        } else {
            Some(Self::Sqlite(Some(PathBuf::from(path))))
        }
    }
}

/// Whether a URL's host is loopback (`localhost`, 127.0.0.0/8, ::1).
pub fn is_loopback(url: &Url) -> bool {
    validate::is_loopback_url(url)
}

/// A URL with its password (in the userinfo or a `password=` query parameter) replaced
/// by `***`, safe to print.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            if u.query_pairs().any(|(k, _)| k.eq_ignore_ascii_case("password")) {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .map(|(k, v)| {
                        let v = if k.eq_ignore_ascii_case("password") {
                            "***".to_string()
                        } else {
                            v.into_owned()
                        };
                        (k.into_owned(), v)
                    })
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
            }
            u.to_string()
        }
        Err(_) if url.contains('@') => "[redacted]".into(),
        Err(_) => url.to_string(),
    }
}
