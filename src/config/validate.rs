//! Validation: from the raw layered values to a [`Config`] of parsed types, every number
//! within its bounds, every error one line naming the key.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;
use url::Url;

use super::*;

impl Config {
    pub(super) fn validate(raw: RawConfig, o: &Origins) -> Result<Self, ConfigError> {
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
            && !Url::parse(r).is_ok_and(|u| u.fragment().is_none() && !r.chars().any(char::is_whitespace))
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
        // Its format is checked where the list is opened (start-up, `user create`).
        if let Some(f) = &raw.password.breached_list
            && !f.is_file()
        {
            return Err(o.invalid(
                "password.breached_list",
                f.display(),
                "is not a file (SHA-1 hashes, sorted, one per line)",
            ));
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
            if !key_ok || crate::standard_claims::SUPPORTED.contains(&f.key.as_str()) || !seen.insert(f.key.clone()) {
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
        let upstream = super::upstream::validate(&raw, o)?;
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
            redirect_to_issuer_host: raw.redirect_to_issuer_host,
            shutdown_grace: Duration::from_secs(raw.shutdown_grace_secs),
            store_purge_interval: Duration::from_secs(raw.store_purge_interval_secs),
            argon2: raw.argon2.clone(),
            password: raw.password.clone(),
            tokens: raw.tokens.clone(),
            access_token_alg,
            keys: raw.keys.clone(),
            accounts: raw.accounts.clone(),
            mfa: raw.mfa.clone(),
            magic_links: raw.magic_links.clone(),
            audit: raw.audit.clone(),
            captcha,
            profile_fields: raw.profile_fields.clone(),
            upstream,
            raw,
        })
    }
}

pub(super) const DAY: u64 = 86_400;

/// Every number of the configuration within bounds that keep it meaningful and every
/// computation on it (durations, time arithmetic, allocations) far from overflow; a value
/// outside is refused with its key. Cross-key rules (idle ≤ absolute, …) follow later.
pub(super) fn check_bounds(raw: &RawConfig, o: &Origins) -> Result<(), ConfigError> {
    let t = &raw.tokens;
    let a = &raw.accounts;
    let k = &raw.keys;
    let usize_u64 = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    let m = &raw.mfa;
    let ml = &raw.magic_links;
    let bounds: [(&str, u64, u64, u64); 47] = [
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
        ("argon2.max_waiting", usize_u64(raw.argon2.max_waiting), 1, 100_000),
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
        ("accounts.deletion_grace_days", a.deletion_grace_days, 1, 365),
        ("accounts.purge_interval_secs", a.purge_interval_secs, 0, 7 * DAY),
        ("audit.retention_days", raw.audit.retention_days, 1, 36_500),
        ("mfa.max_attempts", m.max_attempts, 1, 100),
        ("mfa.lockout_secs", m.lockout_secs, 1, DAY),
        ("mfa.backup_codes", m.backup_codes, 4, 100),
        ("mfa.pending_secs", m.pending_secs, 30, 3600),
        ("mfa.email_code_secs", m.email_code_secs, 10, 3600),
        ("mfa.recent_auth_secs", m.recent_auth_secs, 1, DAY),
        ("mfa.trusted_browser_days", m.trusted_browser_days, 0, 365),
        ("magic_links.lifetime_secs", ml.lifetime_secs, 10, DAY),
        ("magic_links.pin_ipv4_prefix", ml.pin_ipv4_prefix.into(), 8, 32),
        ("magic_links.pin_ipv6_prefix", ml.pin_ipv6_prefix.into(), 16, 128),
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

pub(super) fn is_loopback_url(url: &Url) -> bool {
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
