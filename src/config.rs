//! One typed configuration: built-in defaults, overridden by a TOML file
//! (`GATEHOUSE_CONFIG=path`), overridden by `GATEHOUSE_*` environment variables
//! (nested keys joined with `__`, e.g. `GATEHOUSE_ARGON2__MEMORY_KIB`).
//!
//! [`RawConfig`] is what the layers deserialize into; [`Config::load`] validates it into
//! [`Config`], whose fields are parsed types. A bad value stops the process with one
//! line that names the key (as the environment variable or TOML key it came from), the
//! value and what was expected. Every key is documented in `docs/configuration.md`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

/// Prefix of every environment variable read as configuration.
pub const ENV_PREFIX: &str = "GATEHOUSE_";

/// Environment variables with the prefix that are not configuration keys.
const ENV_NOT_KEYS: &[&str] = &["config", "test_database_url", "test_redis_url", "test_browser"];

/// The configuration as layered sources give it, before validation. Its `Debug` output
/// is the redacted form, so a stray `{:?}` cannot print a secret.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RawConfig {
    pub issuer: String,
    pub bind: String,
    pub database_url: String,
    pub database_url_file: Option<PathBuf>,
    pub database_max_connections: u32,
    pub redis_url: Option<String>,
    pub redis_url_file: Option<PathBuf>,
    pub redis_key_prefix: String,
    pub smtp_url: Option<String>,
    pub smtp_url_file: Option<PathBuf>,
    pub mail_from: String,
    pub mail_file_dir: Option<PathBuf>,
    pub mail_max_attempts: u32,
    pub mail_retry_initial_ms: u64,
    pub mail_retry_max_ms: u64,
    pub mail_poll_interval_ms: u64,
    pub secret_key: Option<String>,
    pub secret_key_file: Option<PathBuf>,
    pub theme_dir: Option<PathBuf>,
    pub geoip_database: Option<PathBuf>,
    pub log_format: String,
    pub log_level: String,
    #[serde(deserialize_with = "string_or_list")]
    pub trusted_proxies: Vec<String>,
    pub forwarded_header: String,
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    pub shutdown_grace_secs: u64,
    pub store_purge_interval_secs: u64,
    pub argon2: Argon2Config,
    pub password: PasswordPolicy,
    pub tokens: TokenLifetimes,
    /// Default algorithm of access tokens (RS256, ES256, EdDSA).
    pub access_token_alg: String,
    pub keys: KeysConfig,
    pub accounts: AccountsConfig,
    pub captcha: CaptchaConfig,
    /// Operator-defined profile fields (`[[profile_fields]]` in the file).
    pub profile_fields: Vec<ProfileField>,
}

/// An operator-defined profile field, edited on the profile page and released as a claim
/// named `key` under `scope`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ProfileField {
    pub key: String,
    pub label: String,
    /// `text`, `number`, `date`, `select` or `boolean`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub required: bool,
    /// The choices of a `select`.
    #[serde(default)]
    pub options: Vec<String>,
    /// The scope under which the claim is released.
    #[serde(default = "default_field_scope")]
    pub scope: String,
}

fn default_field_scope() -> String {
    "profile".into()
}

/// A reCAPTCHA-compatible robot check (Google reCAPTCHA v2, hCaptcha, Cloudflare
/// Turnstile) on signup, login, password reset and resending activation.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct CaptchaConfig {
    pub enabled: bool,
    pub site_key: String,
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// Where answers are verified (server to server).
    pub verify_url: String,
    /// The provider's widget script.
    pub script_url: String,
    /// The form field the widget fills in.
    pub response_field: String,
    /// The CSS class the widget attaches to.
    pub widget_class: String,
    /// Origins the widget loads scripts and frames from, added to the CSP.
    #[serde(deserialize_with = "string_or_list")]
    pub csp_sources: Vec<String>,
}

impl std::fmt::Debug for CaptchaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptchaConfig")
            .field("enabled", &self.enabled)
            .field("verify_url", &self.verify_url)
            .finish()
    }
}

impl Default for CaptchaConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            site_key: String::new(),
            secret: None,
            secret_file: None,
            verify_url: "https://www.google.com/recaptcha/api/siteverify".into(),
            script_url: "https://www.google.com/recaptcha/api.js".into(),
            response_field: "g-recaptcha-response".into(),
            widget_class: "g-recaptcha".into(),
            csp_sources: vec!["https://www.google.com".into(), "https://www.gstatic.com".into()],
        }
    }
}

/// Account flows: link lifetimes and throttling thresholds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct AccountsConfig {
    /// How long an activation link works.
    pub activation_ttl_secs: u64,
    /// How long a password-reset link works.
    pub reset_ttl_secs: u64,
    /// Failed sign-ins per IP address per 5 minutes (browsers with a device cookie for the
    /// account are judged by their own budget instead).
    pub login_ip_limit: u64,
    /// Failed sign-ins per account (existing or not) per 15 minutes from browsers that
    /// hold no device cookie for it.
    pub login_account_limit: u64,
    /// Failed sign-ins per 15 minutes from one browser that has signed in to the account
    /// before (its device cookie): the owner's own budget while the account is locked.
    pub login_device_limit: u64,
    /// Mails (activation resends, resets) per address and per IP per hour.
    pub mail_requests_per_hour: u64,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            activation_ttl_secs: 86_400,
            reset_ttl_secs: 3600,
            login_ip_limit: 30,
            login_account_limit: 10,
            login_device_limit: 5,
            mail_requests_per_hour: 5,
        }
    }
}

/// Signing-key rotation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct KeysConfig {
    /// A key older than this is replaced automatically.
    pub rotation_days: u64,
    /// How long a new key is published in the JWKS before it signs, so relying parties'
    /// caches know it first.
    pub publish_secs: u64,
    /// How often each instance reloads the key set from the database.
    pub refresh_secs: u64,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            rotation_days: 90,
            publish_secs: 3600,
            refresh_secs: 30,
        }
    }
}

impl std::fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&toml::to_string(&self.redacted()).unwrap_or_default())
    }
}

impl RawConfig {
    /// A copy with every secret redacted.
    fn redacted(&self) -> Self {
        let mut raw = self.clone();
        raw.database_url = redact_url(&raw.database_url);
        raw.redis_url = raw.redis_url.as_deref().map(redact_url);
        raw.smtp_url = raw.smtp_url.as_deref().map(redact_url);
        if raw.secret_key.is_some() {
            raw.secret_key = Some("[redacted]".into());
        }
        if raw.captcha.secret.is_some() {
            raw.captcha.secret = Some("[redacted]".into());
        }
        raw
    }
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            issuer: "http://127.0.0.1:8080".into(),
            bind: "127.0.0.1:8080".into(),
            database_url: "sqlite://gatehouse.db?mode=rwc".into(),
            database_url_file: None,
            database_max_connections: 10,
            redis_url: None,
            redis_url_file: None,
            redis_key_prefix: "gatehouse:".into(),
            smtp_url: None,
            smtp_url_file: None,
            mail_from: "Gatehouse <gatehouse@localhost>".into(),
            mail_file_dir: None,
            mail_max_attempts: 12,
            mail_retry_initial_ms: 5_000,
            mail_retry_max_ms: 3_600_000,
            mail_poll_interval_ms: 2_000,
            secret_key: None,
            secret_key_file: None,
            theme_dir: None,
            geoip_database: None,
            log_format: "text".into(),
            log_level: "info".into(),
            trusted_proxies: Vec::new(),
            forwarded_header: "x-forwarded-for".into(),
            request_timeout_secs: 30,
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 30,
            store_purge_interval_secs: 60,
            argon2: Argon2Config::default(),
            password: PasswordPolicy::default(),
            tokens: TokenLifetimes::default(),
            access_token_alg: "ES256".into(),
            keys: KeysConfig::default(),
            accounts: AccountsConfig::default(),
            captcha: CaptchaConfig::default(),
            profile_fields: Vec::new(),
        }
    }
}

/// argon2id parameters (defaults are OWASP's: 19 MiB, 2 passes, 1 lane) and the bound on
/// concurrent hashes, so a login storm cannot starve other work.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct Argon2Config {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub max_concurrent: usize,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// Password policy (OWASP ASVS 6.2): a length range and a minimum strength estimate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct PasswordPolicy {
    pub min_length: usize,
    pub max_length: usize,
    /// Minimum zxcvbn score, 0 (anything) to 4 (very strong).
    pub min_strength: u8,
    /// A file of SHA-1 hashes of compromised passwords, sorted, one per line (the Pwned
    /// Passwords download format, `HASH:COUNT`): new passwords found in it are refused.
    pub breached_list: Option<PathBuf>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            max_length: 128,
            min_strength: 3,
            breached_list: None,
        }
    }
}

/// Lifetimes, in seconds, of the tokens and sessions Gatehouse issues.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct TokenLifetimes {
    pub authorization_code_secs: u64,
    pub access_token_secs: u64,
    pub id_token_secs: u64,
    pub refresh_token_idle_secs: u64,
    pub refresh_token_absolute_secs: u64,
    /// Lifetime of a session with "keep me signed in" (the longest a session lives).
    pub session_secs: u64,
    /// Lifetime of a session without "keep me signed in" (its cookie also ends with the
    /// browser).
    pub browser_session_secs: u64,
    /// A refresh token presented again within this many seconds of its first use, by the
    /// same client, gets the same successor (parallel refreshes of one RP); later reuse
    /// revokes the family. 0 turns the grace off.
    pub refresh_reuse_grace_secs: u64,
    /// The `aud` of access tokens whose request names no resource (RFC 8707): an
    /// absolute URI; the client itself when unset.
    pub default_resource: Option<String>,
}

impl Default for TokenLifetimes {
    fn default() -> Self {
        Self {
            authorization_code_secs: 60,
            access_token_secs: 600,
            id_token_secs: 3600,
            refresh_token_idle_secs: 14 * 86_400,
            refresh_token_absolute_secs: 90 * 86_400,
            session_secs: 14 * 86_400,
            browser_session_secs: 12 * 3600,
            refresh_reuse_grace_secs: 5,
            default_resource: None,
        }
    }
}

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
    pub shutdown_grace: Duration,
    pub store_purge_interval: Duration,
    pub argon2: Argon2Config,
    pub password: PasswordPolicy,
    pub tokens: TokenLifetimes,
    pub access_token_alg: crate::crypto::signing::Alg,
    pub keys: KeysConfig,
    pub accounts: AccountsConfig,
    /// The robot check, with its secret resolved (None when disabled).
    pub captcha: Option<Captcha>,
    pub profile_fields: Vec<ProfileField>,
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

/// Where a key's value came from, to name it the way the operator wrote it.
struct Origins {
    figment: Figment,
}

impl Origins {
    /// `GATEHOUSE_ARGON2__MEMORY_KIB` when the value came from the environment,
    /// `argon2.memory_kib (in config.toml)` when from the file, the key otherwise.
    fn name(&self, key: &str) -> String {
        match self.figment.find_metadata(key) {
            Some(md) if md.name.contains("environment") => env_name(key),
            Some(md) if md.name.contains("TOML") => match &md.source {
                Some(figment::Source::File(path)) => format!("{key} (in {})", path.display()),
                _ => key.to_string(),
            },
            _ => key.to_string(),
        }
    }

    fn invalid(&self, key: &str, value: impl std::fmt::Display, expected: &str) -> ConfigError {
        ConfigError::Invalid {
            key: self.name(key),
            value: format!("\"{}\"", value.to_string().escape_debug()),
            expected: expected.to_string(),
        }
    }
}

const DAY: u64 = 86_400;

/// Every number of the configuration within bounds that keep it meaningful and every
/// computation on it (durations, time arithmetic, allocations) far from overflow; a value
/// outside is refused with its key. Cross-key rules (idle ≤ absolute, …) follow later.
fn check_bounds(raw: &RawConfig, o: &Origins) -> Result<(), ConfigError> {
    let t = &raw.tokens;
    let a = &raw.accounts;
    let k = &raw.keys;
    let usize_u64 = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    let bounds: [(&str, u64, u64, u64); 33] = [
        ("database_max_connections", raw.database_max_connections.into(), 1, 1000),
        ("mail_max_attempts", raw.mail_max_attempts.into(), 1, 100),
        ("mail_retry_initial_ms", raw.mail_retry_initial_ms, 1, DAY * 1000),
        ("mail_retry_max_ms", raw.mail_retry_max_ms, 1, 7 * DAY * 1000),
        ("mail_poll_interval_ms", raw.mail_poll_interval_ms, 1, 3_600_000),
        ("request_timeout_secs", raw.request_timeout_secs, 1, 3600),
        (
            "body_limit_bytes",
            usize_u64(raw.body_limit_bytes),
            1024,
            64 * 1024 * 1024,
        ),
        ("shutdown_grace_secs", raw.shutdown_grace_secs, 0, 3600),
        ("store_purge_interval_secs", raw.store_purge_interval_secs, 1, DAY),
        ("argon2.memory_kib", raw.argon2.memory_kib.into(), 1, 4 * 1024 * 1024),
        ("argon2.iterations", raw.argon2.iterations.into(), 1, 100),
        ("argon2.parallelism", raw.argon2.parallelism.into(), 1, 64),
        ("argon2.max_concurrent", usize_u64(raw.argon2.max_concurrent), 1, 1024),
        ("tokens.authorization_code_secs", t.authorization_code_secs, 1, 600),
        ("tokens.access_token_secs", t.access_token_secs, 1, DAY),
        ("tokens.id_token_secs", t.id_token_secs, 1, DAY),
        (
            "tokens.refresh_token_idle_secs",
            t.refresh_token_idle_secs,
            1,
            366 * DAY,
        ),
        (
            "tokens.refresh_token_absolute_secs",
            t.refresh_token_absolute_secs,
            1,
            3 * 366 * DAY,
        ),
        ("tokens.session_secs", t.session_secs, 1, 366 * DAY),
        ("tokens.browser_session_secs", t.browser_session_secs, 1, 366 * DAY),
        ("tokens.refresh_reuse_grace_secs", t.refresh_reuse_grace_secs, 0, 60),
        ("keys.rotation_days", k.rotation_days, 1, 3650),
        ("keys.publish_secs", k.publish_secs, 0, 30 * DAY),
        ("keys.refresh_secs", k.refresh_secs, 1, DAY),
        ("accounts.activation_ttl_secs", a.activation_ttl_secs, 60, 30 * DAY),
        ("accounts.reset_ttl_secs", a.reset_ttl_secs, 60, 7 * DAY),
        ("accounts.login_ip_limit", a.login_ip_limit, 1, 1_000_000),
        ("accounts.login_account_limit", a.login_account_limit, 1, 10_000),
        ("accounts.login_device_limit", a.login_device_limit, 1, 10_000),
        ("accounts.mail_requests_per_hour", a.mail_requests_per_hour, 1, 10_000),
        ("password.min_length", usize_u64(raw.password.min_length), 8, 4096),
        ("password.max_length", usize_u64(raw.password.max_length), 64, 4096),
        ("password.min_strength", raw.password.min_strength.into(), 0, 4),
    ];
    for (key, v, min, max) in bounds {
        if v < min || v > max {
            return Err(o.invalid(key, v, &format!("must be between {min} and {max}")));
        }
    }
    Ok(())
}

/// The environment variable that sets `key` (`argon2.memory_kib` → `GATEHOUSE_ARGON2__MEMORY_KIB`).
pub fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "__").to_uppercase())
}

fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Either::deserialize(d)? {
        Either::One(s) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
        Either::Many(v) => v,
    })
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

    fn validate(raw: RawConfig, o: &Origins) -> Result<Self, ConfigError> {
        let issuer = Url::parse(&raw.issuer)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .ok_or_else(|| o.invalid("issuer", &raw.issuer, "is not an absolute http(s) URL"))?;
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(o.invalid(
                "issuer",
                &raw.issuer,
                "must not have a query or fragment (OpenID Connect Discovery §3)",
            ));
        }
        if issuer.scheme() == "http" && !is_loopback_url(&issuer) {
            return Err(o.invalid(
                "issuer",
                &raw.issuer,
                "must be https unless the host is a loopback address",
            ));
        }
        if let Some(r) = &raw.tokens.default_resource
            && crate::oidc::resource::validate(r).is_err()
        {
            return Err(o.invalid(
                "tokens.default_resource",
                r,
                "is not an absolute URI without a fragment",
            ));
        }
        let bind: SocketAddr = raw
            .bind
            .parse()
            .map_err(|_| o.invalid("bind", &raw.bind, "is not an IP address and port, e.g. 127.0.0.1:8080"))?;

        let database_url = resolve_secret(
            o,
            "database_url",
            Some(raw.database_url.clone()),
            &raw.database_url_file,
        )?
        .unwrap_or_default();
        let db_kind = DatabaseKind::of(&database_url).ok_or_else(|| {
            o.invalid(
                "database_url",
                redact_url(&database_url),
                "is not a sqlite:// or postgres:// URL",
            )
        })?;
        if raw.database_max_connections == 0 {
            return Err(o.invalid("database_max_connections", 0, "must be at least 1"));
        }

        let redis_url = resolve_secret(o, "redis_url", raw.redis_url.clone(), &raw.redis_url_file)?;
        if let Some(url) = &redis_url {
            let ok = Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "redis" | "rediss") && u.has_host());
            if !ok {
                return Err(o.invalid("redis_url", redact_url(url), "is not a redis:// or rediss:// URL"));
            }
        }

        let smtp_url = resolve_secret(o, "smtp_url", raw.smtp_url.clone(), &raw.smtp_url_file)?;
        let mail_transport = match (smtp_url, &raw.mail_file_dir) {
            (Some(url), _) => {
                let parsed = Url::parse(&url).ok().filter(|u| u.has_host());
                let tls = parsed
                    .as_ref()
                    .and_then(|u| u.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned()));
                let ok = match parsed.as_ref().map(|u| u.scheme()) {
                    Some("smtp") => matches!(tls.as_deref(), None | Some("required") | Some("opportunistic")),
                    Some("smtps") => tls.is_none(),
                    _ => false,
                };
                if !ok {
                    return Err(o.invalid(
                        "smtp_url",
                        redact_url(&url),
                        "is not smtp://host:port, smtp://host:port?tls=required or smtps://host:port",
                    ));
                }
                let encrypted =
                    parsed.as_ref().is_some_and(|u| u.scheme() == "smtps") || tls.as_deref() == Some("required");
                let has_credentials = parsed.as_ref().is_some_and(|u| u.password().is_some());
                if has_credentials && !encrypted && !parsed.as_ref().is_some_and(is_loopback_url) {
                    return Err(o.invalid(
                        "smtp_url",
                        redact_url(&url),
                        "sends credentials without TLS: use ?tls=required (STARTTLS) or smtps://",
                    ));
                }
                MailTransportConfig::Smtp(SecretString::from(url))
            }
            (None, Some(dir)) => MailTransportConfig::File(dir.clone()),
            (None, None) => {
                if issuer.scheme() == "https" {
                    return Err(ConfigError::Source(format!(
                        "{}: mail would only be written to the log, which is for development: set {} (or {} for .eml files)",
                        o.name("smtp_url"),
                        env_name("smtp_url"),
                        env_name("mail_file_dir")
                    )));
                }
                MailTransportConfig::Console
            }
        };
        let mail_from: lettre::message::Mailbox = raw.mail_from.parse().map_err(|_| {
            o.invalid(
                "mail_from",
                &raw.mail_from,
                "is not a mailbox such as \"Gatehouse <id@example.com>\"",
            )
        })?;
        if raw.mail_max_attempts == 0 {
            return Err(o.invalid("mail_max_attempts", 0, "must be at least 1"));
        }
        for (key, v) in [
            ("mail_retry_initial_ms", raw.mail_retry_initial_ms),
            ("mail_retry_max_ms", raw.mail_retry_max_ms),
            ("mail_poll_interval_ms", raw.mail_poll_interval_ms),
            ("request_timeout_secs", raw.request_timeout_secs),
            ("store_purge_interval_secs", raw.store_purge_interval_secs),
        ] {
            if v == 0 {
                return Err(o.invalid(key, v, "must be greater than 0"));
            }
        }
        if raw.mail_retry_max_ms < raw.mail_retry_initial_ms {
            return Err(o.invalid(
                "mail_retry_max_ms",
                raw.mail_retry_max_ms,
                "must not be less than mail_retry_initial_ms",
            ));
        }

        if raw.secret_key.is_some() && raw.secret_key_file.is_some() {
            return Err(ConfigError::Source(format!(
                "{} and {}: set one of them, not both",
                o.name("secret_key"),
                o.name("secret_key_file")
            )));
        }
        let secret_key = match (&raw.secret_key, &raw.secret_key_file) {
            (Some(k), _) => SecretKeySource::Inline(SecretString::from(k.clone())),
            (None, Some(p)) => SecretKeySource::File(p.clone()),
            (None, None) => match db_kind {
                DatabaseKind::Sqlite(Some(path)) => {
                    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
                    name.push(".key");
                    SecretKeySource::Generated(path.with_file_name(name))
                }
                DatabaseKind::Sqlite(None) => SecretKeySource::Ephemeral,
                DatabaseKind::Postgres => {
                    return Err(ConfigError::Source(format!(
                        "{}: a master key is required with PostgreSQL, so that every instance shares it: set {} or {} (generate one with `openssl rand -base64 32`)",
                        o.name("secret_key"),
                        env_name("secret_key"),
                        env_name("secret_key_file")
                    )));
                }
            },
        };

        let log_format = match raw.log_format.as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => return Err(o.invalid("log_format", other, "is not one of: text, json")),
        };
        if tracing_subscriber::EnvFilter::try_new(&raw.log_level).is_err() {
            return Err(o.invalid(
                "log_level",
                &raw.log_level,
                "is not a log filter such as info or gatehouse=debug,info",
            ));
        }
        let trusted_proxies = raw
            .trusted_proxies
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        o.invalid(
                            "trusted_proxies",
                            s,
                            "is not an IP address or CIDR block such as 10.0.0.0/8",
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(everyone) = trusted_proxies.iter().find(|n| n.prefix_len() == 0) {
            return Err(o.invalid(
                "trusted_proxies",
                everyone,
                "trusts every address, so any client could choose its own IP: list your proxies only",
            ));
        }
        let forwarded_header = match raw.forwarded_header.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => ForwardedHeader::XForwardedFor,
            "forwarded" => ForwardedHeader::Forwarded,
            other => return Err(o.invalid("forwarded_header", other, "is not one of: x-forwarded-for, forwarded")),
        };
        if raw.body_limit_bytes < 1024 {
            return Err(o.invalid("body_limit_bytes", raw.body_limit_bytes, "must be at least 1024"));
        }
        if let Some(dir) = &raw.theme_dir
            && !dir.is_dir()
        {
            return Err(o.invalid("theme_dir", dir.display(), "is not a directory"));
        }
        if let Some(f) = &raw.password.breached_list {
            let why = if f.is_file() {
                crate::accounts::breached::BreachedList::open(f)
                    .err()
                    .map(|e| e.to_string())
            } else {
                Some("no such file".to_string())
            };
            if let Some(why) = why {
                return Err(o.invalid(
                    "password.breached_list",
                    f.display(),
                    &format!("is not a usable list of compromised passwords: {why}"),
                ));
            }
        }
        if let Some(f) = &raw.geoip_database
            && !f.is_file()
        {
            return Err(o.invalid(
                "geoip_database",
                f.display(),
                "is not a file (a GeoLite2/GeoIP2/DB-IP .mmdb)",
            ));
        }

        let a = &raw.argon2;
        if argon2::Params::new(a.memory_kib, a.iterations, a.parallelism, None).is_err() {
            return Err(o.invalid(
                "argon2",
                format!("memory_kib={} iterations={} parallelism={}", a.memory_kib, a.iterations, a.parallelism),
                "are not valid argon2 parameters (memory_kib >= 8 * parallelism, iterations >= 1, parallelism 1..=16777215)",
            ));
        }
        if a.max_concurrent == 0 {
            return Err(o.invalid("argon2.max_concurrent", 0, "must be at least 1"));
        }
        let p = &raw.password;
        if p.min_length < 8 {
            return Err(o.invalid(
                "password.min_length",
                p.min_length,
                "must be at least 8 (OWASP ASVS 6.2.1)",
            ));
        }
        if p.max_length < 64 || p.max_length < p.min_length || p.max_length > 4096 {
            return Err(o.invalid(
                "password.max_length",
                p.max_length,
                "must be between 64 and 4096 and not below min_length",
            ));
        }
        if p.min_strength > 4 {
            return Err(o.invalid("password.min_strength", p.min_strength, "must be between 0 and 4"));
        }
        let t = &raw.tokens;
        if t.authorization_code_secs == 0 || t.authorization_code_secs > 600 {
            return Err(o.invalid(
                "tokens.authorization_code_secs",
                t.authorization_code_secs,
                "must be between 1 and 600 (RFC 6749 §4.1.2)",
            ));
        }
        for (key, v) in [
            ("tokens.access_token_secs", t.access_token_secs),
            ("tokens.id_token_secs", t.id_token_secs),
            ("tokens.refresh_token_idle_secs", t.refresh_token_idle_secs),
            ("tokens.session_secs", t.session_secs),
            ("tokens.browser_session_secs", t.browser_session_secs),
        ] {
            if v == 0 {
                return Err(o.invalid(key, v, "must be greater than 0"));
            }
        }
        if t.browser_session_secs > t.session_secs {
            return Err(o.invalid(
                "tokens.browser_session_secs",
                t.browser_session_secs,
                "must not exceed tokens.session_secs",
            ));
        }
        if t.refresh_token_absolute_secs < t.refresh_token_idle_secs {
            return Err(o.invalid(
                "tokens.refresh_token_absolute_secs",
                t.refresh_token_absolute_secs,
                "must not be less than tokens.refresh_token_idle_secs",
            ));
        }

        let access_token_alg = raw
            .access_token_alg
            .parse::<crate::crypto::signing::Alg>()
            .map_err(|_| {
                o.invalid(
                    "access_token_alg",
                    &raw.access_token_alg,
                    "is not one of: RS256, ES256, EdDSA",
                )
            })?;
        let k = &raw.keys;
        if k.rotation_days == 0 {
            return Err(o.invalid("keys.rotation_days", 0, "must be at least 1"));
        }
        if k.refresh_secs == 0 {
            return Err(o.invalid("keys.refresh_secs", 0, "must be greater than 0"));
        }
        let a = &raw.accounts;
        for (key, v) in [
            ("accounts.activation_ttl_secs", a.activation_ttl_secs),
            ("accounts.reset_ttl_secs", a.reset_ttl_secs),
            ("accounts.login_ip_limit", a.login_ip_limit),
            ("accounts.login_account_limit", a.login_account_limit),
            ("accounts.login_device_limit", a.login_device_limit),
            ("accounts.mail_requests_per_hour", a.mail_requests_per_hour),
        ] {
            if v == 0 {
                return Err(o.invalid(key, v, "must be greater than 0"));
            }
        }
        let cc = &raw.captcha;
        let captcha = if cc.enabled {
            let secret = resolve_secret(o, "captcha.secret", cc.secret.clone(), &cc.secret_file)?
                .filter(|s| !s.is_empty())
                .ok_or_else(|| o.invalid("captcha.secret", "", "must be set when captcha.enabled is true"))?;
            if cc.site_key.trim().is_empty() {
                return Err(o.invalid("captcha.site_key", "", "must be set when captcha.enabled is true"));
            }
            let url = |key: &str, v: &str| {
                Url::parse(v)
                    .ok()
                    .filter(|u| u.scheme() == "https" || (u.scheme() == "http" && is_loopback_url(u)))
                    .ok_or_else(|| o.invalid(key, v, "is not an https URL (http only on loopback)"))
            };
            Some(Captcha {
                site_key: cc.site_key.trim().to_string(),
                secret: SecretString::from(secret),
                verify_url: url("captcha.verify_url", &cc.verify_url)?,
                script_url: url("captcha.script_url", &cc.script_url)?,
                response_field: cc.response_field.clone(),
                widget_class: cc.widget_class.clone(),
                csp_sources: cc
                    .csp_sources
                    .iter()
                    .map(|s| {
                        Url::parse(s)
                            .ok()
                            .filter(|u| u.scheme() == "https" && u.path() == "/")
                            .map(|u| u.origin().ascii_serialization())
                            .ok_or_else(|| {
                                o.invalid(
                                    "captcha.csp_sources",
                                    s,
                                    "is not an https origin such as https://www.google.com",
                                )
                            })
                    })
                    .collect::<Result<_, _>>()?,
            })
        } else {
            None
        };
        let mut seen = BTreeSet::new();
        for f in &raw.profile_fields {
            let key_ok = f.key.len() <= 40
                && f.key.starts_with(|c: char| c.is_ascii_lowercase())
                && f.key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !key_ok || crate::oidc::claims::SUPPORTED.contains(&f.key.as_str()) || !seen.insert(f.key.clone()) {
                return Err(o.invalid(
                    "profile_fields.key",
                    &f.key,
                    "must be a new, unique name of lower-case letters, digits and _",
                ));
            }
            if !matches!(f.kind.as_str(), "text" | "number" | "date" | "select" | "boolean") {
                return Err(o.invalid(
                    "profile_fields.type",
                    &f.kind,
                    "is not one of: text, number, date, select, boolean",
                ));
            }
            if f.kind == "select" && f.options.is_empty() {
                return Err(o.invalid(
                    "profile_fields.options",
                    &f.key,
                    "needs at least one option for a select",
                ));
            }
            if f.label.trim().is_empty() || f.scope.is_empty() || f.scope.contains(' ') {
                return Err(o.invalid("profile_fields", &f.key, "needs a label and a single scope"));
            }
        }
        // After the rules above, whose messages say more for the values they catch.
        check_bounds(&raw, o)?;
        let issuer_id = issuer.as_str().trim_end_matches('/').to_string();
        Ok(Config {
            issuer,
            issuer_id,
            bind,
            database_url: SecretString::from(database_url),
            database_max_connections: raw.database_max_connections,
            redis_url: redis_url.map(SecretString::from),
            redis_key_prefix: raw.redis_key_prefix.clone(),
            mail_transport,
            mail_from,
            mail_max_attempts: raw.mail_max_attempts,
            mail_retry_initial: Duration::from_millis(raw.mail_retry_initial_ms),
            mail_retry_max: Duration::from_millis(raw.mail_retry_max_ms),
            mail_poll_interval: Duration::from_millis(raw.mail_poll_interval_ms),
            secret_key,
            theme_dir: raw.theme_dir.clone(),
            geoip_database: raw.geoip_database.clone(),
            log_format,
            log_level: raw.log_level.clone(),
            trusted_proxies,
            forwarded_header,
            request_timeout: Duration::from_secs(raw.request_timeout_secs),
            body_limit_bytes: raw.body_limit_bytes,
            shutdown_grace: Duration::from_secs(raw.shutdown_grace_secs),
            store_purge_interval: Duration::from_secs(raw.store_purge_interval_secs),
            argon2: raw.argon2.clone(),
            password: raw.password.clone(),
            tokens: raw.tokens.clone(),
            access_token_alg,
            keys: raw.keys.clone(),
            accounts: raw.accounts.clone(),
            captcha,
            profile_fields: raw.profile_fields.clone(),
            raw,
        })
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

fn is_loopback_url(url: &Url) -> bool {
    match url.host() {
        // Hosts of non-special schemes (smtp://) are not parsed as IPs by the URL parser.
        Some(url::Host::Domain(d)) => {
            d == "localhost"
                || d.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
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

/// `key` or `key_file` (whose content, trimmed, is the value), never both.
fn resolve_secret(
    o: &Origins,
    key: &str,
    inline: Option<String>,
    file: &Option<PathBuf>,
) -> Result<Option<String>, ConfigError> {
    let file_key = format!("{key}_file");
    match file {
        None => Ok(inline),
        Some(path) => {
            // database_url always has a value (its default); the file replaces it.
            let default_inline =
                key == "database_url" && inline.as_deref() == Some(RawConfig::default().database_url.as_str());
            if inline.is_some() && !default_inline {
                return Err(ConfigError::Source(format!(
                    "{} and {}: set one of them, not both",
                    o.name(key),
                    o.name(&file_key)
                )));
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| o.invalid(&file_key, path.display(), &format!("cannot be read: {e}")))?;
            let value = text.trim().to_string();
            if value.is_empty() {
                return Err(o.invalid(&file_key, path.display(), "is empty"));
            }
            Ok(Some(value))
        }
    }
}

/// Turns a figment extraction error into one line naming the key as the operator wrote it.
fn describe_figment_error(e: &figment::Error) -> ConfigError {
    let key = e.path.join(".");
    let from_env = e.metadata.as_ref().is_some_and(|m| m.name.contains("environment"));
    let name = if from_env { env_name(&key) } else { key.clone() };
    match &e.kind {
        figment::error::Kind::InvalidType(actual, expected) => ConfigError::Invalid {
            key: name,
            value: actual.to_string(),
            expected: format!("is not {expected}"),
        },
        figment::error::Kind::InvalidValue(actual, expected) => ConfigError::Invalid {
            key: name,
            value: actual.to_string(),
            expected: format!("is not {expected}"),
        },
        other => ConfigError::Source(format!("{name}: {other}")),
    }
}

/// Every key path (`a`, `argon2.memory_kib`) the configuration knows.
fn known_keys() -> BTreeSet<String> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut BTreeSet<String>) {
        if let serde_json::Value::Object(map) = v {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                out.insert(path.clone());
                walk(&path, child, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    if let Ok(v) = serde_json::to_value(RawConfig::default()) {
        walk("", &v, &mut out);
    }
    out
}

/// A typo in the file is an error, not a silently ignored key.
fn check_unknown_toml_keys(text: &str, path: &Path) -> Result<(), ConfigError> {
    let value: toml::Table = toml::from_str(text)
        .map_err(|e| ConfigError::Source(format!("{}: not valid TOML: {}", path.display(), e.message())))?;
    let known = known_keys();
    fn walk(prefix: &str, t: &toml::Table, known: &BTreeSet<String>, path: &Path) -> Result<(), ConfigError> {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if !known.contains(&key) {
                return Err(ConfigError::Source(format!(
                    "{key} (in {}): unknown configuration key",
                    path.display()
                )));
            }
            if let toml::Value::Table(child) = v {
                walk(&key, child, known, path)?;
            }
        }
        Ok(())
    }
    walk("", &value, &known, path)
}

/// `GATEHOUSE_*` variables that name no configuration key (likely typos), for a warning.
pub fn unknown_env_vars(env: impl IntoIterator<Item = (String, String)>) -> Vec<String> {
    let known = known_keys();
    env.into_iter()
        .filter_map(|(k, _)| {
            let rest = k.strip_prefix(ENV_PREFIX)?.to_lowercase();
            let key = rest.replace("__", ".");
            (!ENV_NOT_KEYS.contains(&rest.as_str()) && !known.contains(&key)).then_some(k)
        })
        .collect()
}

/// An env provider over a given set of variables rather than the live process
/// environment, so loading is a pure function of its inputs.
struct EnvSnapshot {
    vars: Vec<(String, String)>,
}

impl figment::Provider for EnvSnapshot {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(format!("`{ENV_PREFIX}` environment variable(s)"))
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        use figment::value::{Dict, Map, Value};
        let mut dict = Dict::new();
        for (k, v) in &self.vars {
            let Some(rest) = k.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let rest = rest.to_lowercase();
            if rest.is_empty() || ENV_NOT_KEYS.contains(&rest.as_str()) {
                continue;
            }
            let path: Vec<&str> = rest.split("__").collect();
            let value: Value = v.parse().unwrap_or_else(|_| Value::from(v.clone()));
            insert_path(&mut dict, &path, value);
        }
        let mut map = Map::new();
        map.insert(figment::Profile::Default, dict);
        Ok(map)
    }
}

fn insert_path(dict: &mut figment::value::Dict, path: &[&str], value: figment::value::Value) {
    use figment::value::{Dict, Value};
    match path {
        [] => {}
        [last] => {
            dict.insert((*last).to_string(), value);
        }
        [head, rest @ ..] => {
            let entry = dict
                .entry((*head).to_string())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, child) = entry {
                insert_path(child, rest, value);
            } else {
                let mut child = Dict::new();
                insert_path(&mut child, rest, value);
                *entry = Value::from(child);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        Config::load_from(None, env(pairs))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let c = Config::load_from(None, env(&[])).expect("defaults load");
        assert_eq!(c.issuer.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url.expose_secret(), "sqlite://gatehouse.db?mode=rwc");
        assert!(c.redis_url.is_none());
        assert!(matches!(c.mail_transport, MailTransportConfig::Console));
        assert!(matches!(&c.secret_key, SecretKeySource::Generated(p) if p == Path::new("gatehouse.db.key")));
        assert_eq!(c.argon2.memory_kib, 19_456);
        assert_eq!(c.tokens.authorization_code_secs, 60);
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gatehouse.toml");
        std::fs::write(
            &path,
            "issuer = \"https://id.example.com\"\nbind = \"0.0.0.0:9000\"\nmail_file_dir = \"/tmp/mail\"\n[argon2]\nmemory_kib = 32768\niterations = 3\n",
        )
        .unwrap();
        let c = Config::load_from(
            Some(&path),
            env(&[
                ("GATEHOUSE_BIND", "127.0.0.1:9001"),
                ("GATEHOUSE_ARGON2__ITERATIONS", "4"),
            ]),
        )
        .expect("loads");
        assert_eq!(c.issuer_id, "https://id.example.com");
        assert_eq!(c.bind.to_string(), "127.0.0.1:9001");
        assert_eq!(c.argon2.memory_kib, 32768);
        assert_eq!(c.argon2.iterations, 4);
        assert_eq!(c.argon2.parallelism, 1);
    }

    #[test]
    fn invalid_values_name_key_value_and_expectation() {
        assert_eq!(
            err(&[("GATEHOUSE_ISSUER", "htp:/x")]),
            "GATEHOUSE_ISSUER: \"htp:/x\" is not an absolute http(s) URL"
        );
        assert_eq!(
            err(&[("GATEHOUSE_ISSUER", "http://id.example.com")]),
            "GATEHOUSE_ISSUER: \"http://id.example.com\" must be https unless the host is a loopback address"
        );
        assert!(err(&[("GATEHOUSE_ISSUER", "https://id.example.com/?a=b")]).contains("must not have a query"));
        assert_eq!(
            err(&[("GATEHOUSE_BIND", "localhost")]),
            "GATEHOUSE_BIND: \"localhost\" is not an IP address and port, e.g. 127.0.0.1:8080"
        );
        assert_eq!(
            err(&[("GATEHOUSE_DATABASE_URL", "mysql://x")]),
            "GATEHOUSE_DATABASE_URL: \"mysql://x\" is not a sqlite:// or postgres:// URL"
        );
        assert_eq!(
            err(&[("GATEHOUSE_REDIS_URL", "http://r:pw@x")]),
            "GATEHOUSE_REDIS_URL: \"http://r:***@x/\" is not a redis:// or rediss:// URL"
        );
        assert!(
            err(&[("GATEHOUSE_SMTP_URL", "smtp://h?tls=bogus")])
                .starts_with("GATEHOUSE_SMTP_URL: \"smtp://h?tls=bogus\"")
        );
        assert!(err(&[("GATEHOUSE_SMTP_URL", "imap://h")]).starts_with("GATEHOUSE_SMTP_URL:"));
        assert_eq!(
            err(&[("GATEHOUSE_MAIL_FROM", "not a mailbox")]),
            "GATEHOUSE_MAIL_FROM: \"not a mailbox\" is not a mailbox such as \"Gatehouse <id@example.com>\""
        );
        assert_eq!(
            err(&[("GATEHOUSE_LOG_FORMAT", "xml")]),
            "GATEHOUSE_LOG_FORMAT: \"xml\" is not one of: text, json"
        );
        assert!(err(&[("GATEHOUSE_LOG_LEVEL", "=[")]).starts_with("GATEHOUSE_LOG_LEVEL:"));
        assert_eq!(
            err(&[("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8, nope")]),
            "GATEHOUSE_TRUSTED_PROXIES: \"nope\" is not an IP address or CIDR block such as 10.0.0.0/8"
        );
        assert!(
            err(&[("GATEHOUSE_ARGON2__MEMORY_KIB", "abc")])
                .starts_with("GATEHOUSE_ARGON2__MEMORY_KIB: string \"abc\" is not")
        );
        assert!(err(&[("GATEHOUSE_ARGON2__MEMORY_KIB", "1")]).starts_with("GATEHOUSE_ARGON2: \"memory_kib=1"));
        assert!(
            err(&[("GATEHOUSE_ARGON2__MAX_CONCURRENT", "0")])
                .starts_with("GATEHOUSE_ARGON2__MAX_CONCURRENT: \"0\" must be at least 1")
        );
        assert!(
            err(&[("GATEHOUSE_PASSWORD__MIN_LENGTH", "4")])
                .starts_with("GATEHOUSE_PASSWORD__MIN_LENGTH: \"4\" must be at least 8")
        );
        assert!(err(&[("GATEHOUSE_PASSWORD__MAX_LENGTH", "10")]).starts_with("GATEHOUSE_PASSWORD__MAX_LENGTH:"));
        assert!(err(&[("GATEHOUSE_PASSWORD__MIN_STRENGTH", "5")]).starts_with("GATEHOUSE_PASSWORD__MIN_STRENGTH:"));
        assert!(
            err(&[("GATEHOUSE_TOKENS__AUTHORIZATION_CODE_SECS", "3600")])
                .starts_with("GATEHOUSE_TOKENS__AUTHORIZATION_CODE_SECS: \"3600\"")
        );
        assert!(err(&[("GATEHOUSE_TOKENS__ACCESS_TOKEN_SECS", "0")]).contains("must be greater than 0"));
        assert!(
            err(&[("GATEHOUSE_TOKENS__REFRESH_TOKEN_ABSOLUTE_SECS", "1")])
                .contains("must not be less than tokens.refresh_token_idle_secs")
        );
        assert!(err(&[("GATEHOUSE_MAIL_MAX_ATTEMPTS", "0")]).contains("must be at least 1"));
        assert!(err(&[("GATEHOUSE_MAIL_RETRY_MAX_MS", "1")]).contains("must not be less than mail_retry_initial_ms"));
        assert!(err(&[("GATEHOUSE_MAIL_POLL_INTERVAL_MS", "0")]).contains("must be greater than 0"));
        assert!(err(&[("GATEHOUSE_BODY_LIMIT_BYTES", "10")]).contains("must be at least 1024"));
        assert!(err(&[("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "0")]).contains("must be at least 1"));
        assert!(err(&[("GATEHOUSE_THEME_DIR", "/nonexistent/theme")]).contains("is not a directory"));
        assert_eq!(
            err(&[("GATEHOUSE_ACCESS_TOKEN_ALG", "HS256")]),
            "GATEHOUSE_ACCESS_TOKEN_ALG: \"HS256\" is not one of: RS256, ES256, EdDSA"
        );
        assert!(err(&[("GATEHOUSE_KEYS__ROTATION_DAYS", "0")]).contains("must be at least 1"));
        assert!(err(&[("GATEHOUSE_CAPTCHA__ENABLED", "true")]).starts_with("captcha.secret: \"\" must be set"));
        assert!(
            err(&[
                ("GATEHOUSE_CAPTCHA__ENABLED", "true"),
                ("GATEHOUSE_CAPTCHA__SECRET", "x")
            ])
            .starts_with("captcha.site_key")
        );
        assert!(
            err(&[
                ("GATEHOUSE_CAPTCHA__ENABLED", "true"),
                ("GATEHOUSE_CAPTCHA__SECRET", "x"),
                ("GATEHOUSE_CAPTCHA__SITE_KEY", "k"),
                ("GATEHOUSE_CAPTCHA__VERIFY_URL", "http://verify.example.com/"),
            ])
            .contains("is not an https URL")
        );
        assert!(err(&[("GATEHOUSE_TRUSTED_PROXIES", "0.0.0.0/0")]).contains("trusts every address"));
        assert!(
            err(&[("GATEHOUSE_FORWARDED_HEADER", "x-real-ip")]).contains("is not one of: x-forwarded-for, forwarded")
        );
        assert!(
            err(&[("GATEHOUSE_SMTP_URL", "smtp://u:pw@mail.example.com:587")])
                .contains("sends credentials without TLS"),
            "credentials over plain SMTP to a remote host"
        );
        assert!(
            err(&[(
                "GATEHOUSE_SMTP_URL",
                "smtp://u:pw@mail.example.com:587?tls=opportunistic"
            )])
            .contains("without TLS")
        );
        assert!(
            Config::load_from(
                None,
                env(&[("GATEHOUSE_SMTP_URL", "smtp://u:pw@mail.example.com:587?tls=required")])
            )
            .is_ok()
        );
        assert!(Config::load_from(None, env(&[("GATEHOUSE_SMTP_URL", "smtp://u:pw@127.0.0.1:25")])).is_ok());
        assert!(
            err(&[("GATEHOUSE_ISSUER", "https://id.example.com")]).contains("mail would only be written to the log"),
            "production issuers need real mail"
        );
    }

    #[test]
    fn postgres_needs_an_explicit_master_key() {
        let e = err(&[("GATEHOUSE_DATABASE_URL", "postgres://u:pw@127.0.0.1/db")]);
        assert!(e.contains("a master key is required with PostgreSQL"), "{e}");
        let c = Config::load_from(
            None,
            env(&[
                ("GATEHOUSE_DATABASE_URL", "postgres://u:pw@127.0.0.1/db"),
                ("GATEHOUSE_SECRET_KEY", "k"),
            ]),
        )
        .unwrap();
        assert_eq!(c.database_kind(), DatabaseKind::Postgres);
        assert!(err(&[("GATEHOUSE_SECRET_KEY", "a"), ("GATEHOUSE_SECRET_KEY_FILE", "/x")]).contains("not both"));
    }

    #[test]
    fn file_variants_of_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("smtp");
        std::fs::write(&f, "smtp://user:hunter2@mail.example.com:587?tls=required\n").unwrap();
        let c = Config::load_from(None, env(&[("GATEHOUSE_SMTP_URL_FILE", f.to_str().unwrap())])).unwrap();
        assert!(matches!(&c.mail_transport, MailTransportConfig::Smtp(u) if u.expose_secret().contains("hunter2")));
        assert!(!c.redacted_toml().contains("hunter2"));
        let db = dir.path().join("db");
        std::fs::write(&db, "postgres://u:pw@127.0.0.1/x").unwrap();
        let c = Config::load_from(
            None,
            env(&[
                ("GATEHOUSE_DATABASE_URL_FILE", db.to_str().unwrap()),
                ("GATEHOUSE_SECRET_KEY", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(c.database_kind(), DatabaseKind::Postgres);
        let e = err(&[("GATEHOUSE_REDIS_URL_FILE", "/nonexistent/redis")]);
        assert!(
            e.starts_with("GATEHOUSE_REDIS_URL_FILE: \"/nonexistent/redis\" cannot be read"),
            "{e}"
        );
        let e = err(&[("GATEHOUSE_REDIS_URL", "redis://a"), ("GATEHOUSE_REDIS_URL_FILE", "/x")]);
        assert!(e.contains("not both"), "{e}");
    }

    #[test]
    fn toml_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        std::fs::write(&path, "isuer = \"https://x\"\n").unwrap();
        let e = Config::load_from(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(e.starts_with("isuer (in "), "{e}");
        assert!(e.ends_with("unknown configuration key"), "{e}");
        std::fs::write(&path, "issuer = \"ftp://x\"\n").unwrap();
        let e = Config::load_from(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(
            e.starts_with("issuer (in ") && e.contains("\"ftp://x\" is not an absolute http(s) URL"),
            "{e}"
        );
        std::fs::write(&path, "issuer = [\n").unwrap();
        let e = Config::load_from(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(e.contains("not valid TOML"), "{e}");
        let e = Config::load_from(Some(&dir.path().join("missing.toml")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("GATEHOUSE_CONFIG: cannot read"), "{e}");
    }

    #[test]
    fn profile_fields_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.toml");
        let load = |toml: &str| {
            std::fs::write(&path, toml).unwrap();
            Config::load_from(Some(&path), env(&[]))
                .map(|c| c.profile_fields.len())
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            load("[[profile_fields]]\nkey = \"team\"\nlabel = \"Team\"\ntype = \"text\"\n"),
            Ok(1)
        );
        assert!(
            load("[[profile_fields]]\nkey = \"email\"\nlabel = \"E\"\ntype = \"text\"\n")
                .unwrap_err()
                .contains("must be a new, unique name")
        );
        assert!(
            load("[[profile_fields]]\nkey = \"x\"\nlabel = \"X\"\ntype = \"color\"\n")
                .unwrap_err()
                .contains("is not one of: text")
        );
        assert!(
            load("[[profile_fields]]\nkey = \"x\"\nlabel = \"X\"\ntype = \"select\"\n")
                .unwrap_err()
                .contains("needs at least one option")
        );
    }

    #[test]
    fn trusted_proxies_accept_list_or_comma_string() {
        let c = Config::load_from(
            None,
            env(&[("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8,::1, 192.168.1.1")]),
        )
        .unwrap();
        assert_eq!(c.trusted_proxies.len(), 3);
        assert_eq!(c.trusted_proxies[2].to_string(), "192.168.1.1/32");
    }

    #[test]
    fn unknown_env_vars_are_reported() {
        let unknown = unknown_env_vars(env(&[
            ("GATEHOUSE_ISSUER", "x"),
            ("GATEHOUSE_ISUER", "x"),
            ("GATEHOUSE_ARGON2__MEMORY_KIB", "1"),
            ("GATEHOUSE_CONFIG", "x"),
            ("OTHER", "x"),
        ]));
        assert_eq!(unknown, vec!["GATEHOUSE_ISUER".to_string()]);
    }

    #[test]
    fn redaction_hides_every_secret() {
        let c = Config::load_from(
            None,
            env(&[
                ("GATEHOUSE_SECRET_KEY", "supersecretvalue"),
                ("GATEHOUSE_REDIS_URL", "redis://:redispw@127.0.0.1:6379"),
                ("GATEHOUSE_DATABASE_URL", "postgres://u:dbpw@127.0.0.1/db"),
            ]),
        )
        .unwrap();
        let out = c.redacted_toml();
        let debug = format!("{c:?}");
        for secret in ["supersecretvalue", "redispw", "dbpw"] {
            assert!(!out.contains(secret), "{secret} leaked in {out}");
            assert!(!debug.contains(secret), "{secret} leaked in Debug output");
        }
        assert_eq!(
            redact_url("postgres://h/db?user=u&password=pw"),
            "postgres://h/db?user=u&password=***"
        );
        assert!(out.contains("postgres://u:***@127.0.0.1/db"));
    }
}
