//! Cookies: the browser session and the CSRF token (double-submit). Both are `HttpOnly`,
//! `SameSite=Lax`, `Path=/`; with an https issuer they are `Secure` and carry the
//! `__Host-` prefix.

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::config::Config;

fn name(config: &Config, base: &'static str) -> String {
    if config.issuer_is_https() {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

fn build(config: &Config, base: &'static str, value: String, max_age_secs: i64) -> Cookie<'static> {
    let mut c = Cookie::new(name(config, base), value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(config.issuer_is_https());
    c.set_max_age(cookie_time(max_age_secs));
    c
}

fn cookie_time(secs: i64) -> time::Duration {
    time::Duration::seconds(secs)
}

/// The session cookie's value, if any.
pub fn session(config: &Config, jar: &CookieJar) -> Option<String> {
    jar.get(&name(config, "gh_session")).map(|c| c.value().to_string())
}

/// Sets the session cookie: persistent for `tokens.session_secs` when `remember`, else a
/// browser-session cookie (the server-side session still expires on its own).
pub fn set_session(config: &Config, jar: CookieJar, token: String, remember: bool) -> CookieJar {
    let ttl = i64::try_from(config.tokens.session_secs).unwrap_or(86_400);
    let mut c = build(config, "gh_session", token, ttl);
    if !remember {
        c.set_max_age(None);
        c.unset_expires();
    }
    jar.add(c)
}

/// Removes the session cookie.
pub fn clear_session(config: &Config, jar: CookieJar) -> CookieJar {
    jar.add(build(config, "gh_session", String::new(), 0))
}

/// The CSRF token of this browser, creating one when missing.
pub fn csrf(config: &Config, jar: CookieJar) -> (CookieJar, String) {
    if let Some(c) = jar.get(&name(config, "gh_csrf")).filter(|c| c.value().len() == 43) {
        let v = c.value().to_string();
        return (jar, v);
    }
    let token = crate::crypto::random_token::<32>();
    (jar.add(build(config, "gh_csrf", token.clone(), 86_400)), token)
}

/// Whether a submitted CSRF token matches this browser's cookie.
pub fn csrf_ok(config: &Config, jar: &CookieJar, submitted: Option<&str>) -> bool {
    match (jar.get(&name(config, "gh_csrf")), submitted) {
        (Some(c), Some(s)) => !s.is_empty() && crate::crypto::constant_time_eq(c.value().as_bytes(), s.as_bytes()),
        _ => false,
    }
}

/// The device cookie of `user` (see `accounts::throttle`), if this browser holds one.
pub fn device(config: &Config, jar: &CookieJar, suffix: &str) -> Option<String> {
    jar.get(&device_name(config, suffix)).map(|c| c.value().to_string())
}

/// Sets the device cookie named by `suffix` for its lifetime.
pub fn set_device(config: &Config, jar: CookieJar, suffix: &str, value: String) -> CookieJar {
    let mut c = build(
        config,
        "gh_device",
        value,
        crate::accounts::throttle::DEVICE_COOKIE_SECS,
    );
    c.set_name(device_name(config, suffix));
    jar.add(c)
}

fn device_name(config: &Config, suffix: &str) -> String {
    format!("{}_{suffix}", name(config, "gh_device"))
}

/// The pending sign-in of this browser (between the first and the second factor).
pub fn pending_sign_in(config: &Config, jar: &CookieJar) -> Option<String> {
    jar.get(&name(config, "gh_signin")).map(|c| c.value().to_string())
}

/// Sets the pending-sign-in cookie for as long as a pending sign-in waits.
pub fn set_pending_sign_in(config: &Config, jar: CookieJar, token: String) -> CookieJar {
    let ttl = i64::try_from(config.mfa.pending_secs).unwrap_or(600);
    jar.add(build(config, "gh_signin", token, ttl))
}

/// Removes the pending-sign-in cookie.
pub fn clear_pending_sign_in(config: &Config, jar: CookieJar) -> CookieJar {
    jar.add(build(config, "gh_signin", String::new(), 0))
}

/// The magic-link binding cookie of a browser that asked for a sign-in link.
pub fn magic_link(config: &Config, jar: &CookieJar) -> Option<String> {
    jar.get(&name(config, "gh_magic")).map(|c| c.value().to_string())
}

/// Sets the magic-link binding cookie for as long as a link works.
pub fn set_magic_link(config: &Config, jar: CookieJar, value: String) -> CookieJar {
    let ttl = i64::try_from(config.magic_links.lifetime_secs).unwrap_or(600);
    jar.add(build(config, "gh_magic", value, ttl))
}

/// The upstream-sign-in binding cookie: ties a provider's answer, a waiting identity and
/// an address confirmation to the browser that started them.
pub fn upstream(config: &Config, jar: &CookieJar) -> Option<String> {
    jar.get(&name(config, "gh_upstream"))
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// This browser's binding cookie, made if it has none; set (again) for as long as an
/// address confirmation may take.
pub fn ensure_upstream(config: &Config, jar: CookieJar) -> (CookieJar, String) {
    let value = upstream(config, &jar).unwrap_or_else(crate::crypto::random_token::<32>);
    let ttl = i64::try_from(config.accounts.activation_ttl_secs).unwrap_or(86_400);
    (jar.add(build(config, "gh_upstream", value.clone(), ttl)), value)
}

/// The trusted-browser cookie of the user named by `suffix` (see `auth::trusted`).
pub fn trusted(config: &Config, jar: &CookieJar, suffix: &str) -> Option<String> {
    jar.get(&trusted_name(config, suffix)).map(|c| c.value().to_string())
}

/// Sets the trusted-browser cookie for `days`.
pub fn set_trusted(config: &Config, jar: CookieJar, suffix: &str, value: String, days: u64) -> CookieJar {
    let secs = i64::try_from(days.saturating_mul(86_400)).unwrap_or(i64::MAX / 2);
    let mut c = build(config, "gh_trusted", value, secs);
    c.set_name(trusted_name(config, suffix));
    jar.add(c)
}

fn trusted_name(config: &Config, suffix: &str) -> String {
    format!("{}_{suffix}", name(config, "gh_trusted"))
}
