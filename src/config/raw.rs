//! What the layered sources deserialize into, section by section, with the built-in
//! defaults: every key of `docs/configuration.md` is a field here.

use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

use super::*;

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
    pub redirect_to_issuer_host: bool,
    pub shutdown_grace_secs: u64,
    pub store_purge_interval_secs: u64,
    pub argon2: Argon2Config,
    pub password: PasswordPolicy,
    pub tokens: TokenLifetimes,
    /// Default algorithm of access tokens (RS256, ES256, EdDSA).
    pub access_token_alg: String,
    pub keys: KeysConfig,
    pub accounts: AccountsConfig,
    pub mfa: MfaConfig,
    pub magic_links: MagicLinksConfig,
    pub audit: AuditConfig,
    pub captcha: CaptchaConfig,
    /// Operator-defined profile fields (`[[profile_fields]]` in the file).
    pub profile_fields: Vec<ProfileField>,
    /// Upstream identity providers (`[[upstream]]` in the file).
    pub upstream: Vec<RawUpstream>,
}

/// An upstream identity provider, as written; validated into [`Upstream`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// The URL segment: `/login/upstream/{id}`.
    pub id: String,
    /// `google`, `github`, `discord`, `facebook` or `oidc`.
    pub kind: String,
    /// Shown on the button ("Continue with {name}"); the kind's name by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// The scopes asked for; each kind has defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// `google` and `oidc`: the provider's issuer (discovery and keys come from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// `github`, `discord`, `facebook`: overrides of the real endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// Hosts a profile picture may be fetched from (a host, or `.suffix` for its
    /// subdomains); each kind has defaults, `oidc` none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture_hosts: Option<Vec<String>>,
    /// OpenID Connect kinds: hosts besides the issuer's that its discovery document may
    /// name for endpoints and keys (`.suffix` for subdomains); Google's default is
    /// `.googleapis.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_hosts: Option<Vec<String>>,
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

pub(super) fn default_field_scope() -> String {
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
    /// Days a deleted account can be restored by signing in, before it is purged.
    pub deletion_grace_days: u64,
    /// How often `serve` erases accounts whose grace period is over (0: never; then run
    /// `gatehouse accounts cleanup` yourself).
    pub purge_interval_secs: u64,
    /// Whether a new identity at an upstream provider may create an account (false:
    /// only identities linked from an existing account sign in).
    pub upstream_signup: bool,
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
            deletion_grace_days: 30,
            purge_interval_secs: 86_400,
            upstream_signup: true,
        }
    }
}

/// Sign-in links by mail, for users who turn them on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct MagicLinksConfig {
    /// How long a link (and its code) works.
    pub lifetime_secs: u64,
    /// Only the network the link was asked from may use it (off by default).
    pub pin_ip: bool,
    /// With `pin_ip`: the IPv4 prefix length compared (24: the same /24).
    pub pin_ipv4_prefix: u8,
    /// With `pin_ip`: the IPv6 prefix length compared (48, so privacy addresses and a
    /// changing /64 still match).
    pub pin_ipv6_prefix: u8,
}

impl Default for MagicLinksConfig {
    fn default() -> Self {
        Self {
            lifetime_secs: 600,
            pin_ip: false,
            pin_ipv4_prefix: 24,
            pin_ipv6_prefix: 48,
        }
    }
}

/// Who must use a second factor.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum MfaRequired {
    /// Users choose (the default).
    #[default]
    Optional,
    /// Superusers must enrol one.
    Superusers,
    /// Every user must enrol one.
    Everyone,
}

/// The audit log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct AuditConfig {
    /// Days an audit event is kept; older ones are deleted by the scheduler that purges
    /// deleted accounts (`accounts.purge_interval_secs`).
    pub retention_days: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { retention_days: 365 }
    }
}

/// Second factors: policy, attempts and lockout, backup codes, re-authentication.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct MfaConfig {
    /// Who must have a second factor; users without one enrol at their next sign-in.
    pub required: MfaRequired,
    /// Superusers are never asked for a second factor (off by default).
    pub exempt_superusers: bool,
    /// Wrong second-factor codes per account before the lockout.
    pub max_attempts: u64,
    /// How long the lockout lasts (and the window the failures are counted in).
    pub lockout_secs: u64,
    /// How many backup codes a set has.
    pub backup_codes: u64,
    /// How long a mailed sign-in code works.
    pub email_code_secs: u64,
    /// How long a sign-in may wait between the first and the second factor.
    pub pending_secs: u64,
    /// How long a browser stays trusted after a second factor when the user asks for it
    /// (its sign-ins then need the password only); 0 turns the option off.
    pub trusted_browser_days: u64,
    /// How recent a sign-in must be for sensitive changes (adding or removing factors,
    /// new backup codes); older sessions are asked to sign in again first.
    pub recent_auth_secs: u64,
}

impl Default for MfaConfig {
    fn default() -> Self {
        Self {
            required: MfaRequired::Optional,
            exempt_superusers: false,
            max_attempts: 5,
            lockout_secs: 900,
            backup_codes: 10,
            pending_secs: 600,
            email_code_secs: 600,
            trusted_browser_days: 14,
            recent_auth_secs: 600,
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
    pub(super) fn redacted(&self) -> Self {
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
        for u in &mut raw.upstream {
            if u.client_secret.is_some() {
                u.client_secret = Some("[redacted]".into());
            }
        }
        raw
    }
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            issuer: "http://localhost:8080".into(),
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
            redirect_to_issuer_host: true,
            shutdown_grace_secs: 30,
            store_purge_interval_secs: 60,
            argon2: Argon2Config::default(),
            password: PasswordPolicy::default(),
            tokens: TokenLifetimes::default(),
            access_token_alg: "ES256".into(),
            keys: KeysConfig::default(),
            accounts: AccountsConfig::default(),
            mfa: MfaConfig::default(),
            magic_links: MagicLinksConfig::default(),
            audit: AuditConfig::default(),
            captcha: CaptchaConfig::default(),
            profile_fields: Vec::new(),
            upstream: Vec::new(),
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
    /// Hashes waiting for a thread at most; more are refused with 503 at once.
    pub max_waiting: usize,
}

impl Default for Argon2Config {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            max_concurrent: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_waiting: 64,
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

pub(super) fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
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
