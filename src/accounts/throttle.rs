//! Sign-in throttling that counts failures and never locks out the owner.
//!
//! Every attempt is counted up front, atomically (so a burst of parallel guesses cannot
//! slip past a check-then-count race), and refunded when it succeeds: what the counters
//! hold are failures. Three budgets:
//! - per IP address (`accounts.login_ip_limit` per 5 minutes): password spraying;
//! - per account, for browsers the account does not know (`accounts.login_account_limit`
//!   per 15 minutes, whether or not the account exists, so the limit reveals nothing);
//! - per device cookie (`accounts.login_device_limit` per 15 minutes): a browser that has
//!   signed in to the account before holds a signed, per-account device cookie (OWASP
//!   "Slow Down Online Guessing Attacks with Device Cookies"). While the account is locked
//!   for unknown browsers, such a browser still has its own small budget, so a stranger
//!   who keeps the account locked does not lock out its owner. Its failures count against
//!   that cookie only (and the IP), never against the account. The cookie is bound to
//!   the account's password hash too: a password change or reset ends every device
//!   cookie made before it.
//!
//! Besides failures, every attempt of any outcome counts against a larger per-IP budget
//! that is never refunded ([`TOTAL_PER_IP_FACTOR`] × `login_ip_limit`), so no one can
//! keep argon2 busy by signing in to their own account in a loop. IPv6 addresses are
//! counted by /64, the block one subscriber gets.

use std::time::Duration;

use crate::crypto::TokenHasher;
use crate::store::{Store, StoreError};

/// The per-IP window.
pub const IP_WINDOW: Duration = Duration::from_secs(300);
/// The per-account and per-device window.
pub const ACCOUNT_WINDOW: Duration = Duration::from_secs(900);
/// How long a device cookie is trusted after the sign-in that set it (180 days).
pub const DEVICE_COOKIE_SECS: i64 = 180 * 86_400;
/// Attempts of any outcome per IP per window, as a multiple of the failure limit.
pub const TOTAL_PER_IP_FACTOR: u64 = 4;
/// Clock skew allowed between instances when a refund checks its window.
const SKEW_MS: i64 = 1000;

/// The thresholds, from `accounts.*`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub ip: u64,
    pub account: u64,
    pub device: u64,
}

impl From<&crate::config::AccountsConfig> for Limits {
    fn from(a: &crate::config::AccountsConfig) -> Self {
        Self {
            ip: a.login_ip_limit,
            account: a.login_account_limit,
            device: a.login_device_limit,
        }
    }
}

/// An attempt that was allowed and counted; refund it with [`Attempt::succeeded`].
#[derive(Debug)]
#[must_use = "a successful attempt must be refunded"]
pub struct Attempt {
    /// The refundable hits: key and the latest end of the window it was counted in.
    counted: Vec<(String, i64)>,
}

/// The counter key of an address: IPv6 by its /64.
pub fn ip_key(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

/// Counts one attempt against the IP and against either the device cookie (when
/// `device` is the nonce of a valid one) or the account named by `account` (the
/// normalised address as typed). `Err(wait)` when a budget is exhausted: the length of
/// the exhausted window is the wait to announce.
pub async fn begin(
    store: &Store,
    hasher: &TokenHasher,
    limits: Limits,
    ip: std::net::IpAddr,
    account: &str,
    device: Option<&str>,
) -> Result<Result<Attempt, Duration>, StoreError> {
    let ip = ip_key(ip);
    let ip_failures = crate::store::keys::login_ip(&ip);
    let (own_key, own_limit) = match device {
        Some(nonce) => (crate::store::keys::login_device(&hasher.hash(nonce)), limits.device),
        None => (crate::store::keys::login_account(&hasher.hash(account)), limits.account),
    };
    let all = store.incr(&crate::store::keys::login_ip_all(&ip), IP_WINDOW).await?;
    let own = store.incr(&own_key, ACCOUNT_WINDOW).await?;
    let by_ip = store.incr(&ip_failures, IP_WINDOW).await?;
    let now = chrono::Utc::now().timestamp_millis();
    let attempt = Attempt {
        counted: vec![
            (own_key, now + ms(ACCOUNT_WINDOW) + SKEW_MS),
            (ip_failures, now + ms(IP_WINDOW) + SKEW_MS),
        ],
    };
    if own > own_limit {
        return Ok(Err(ACCOUNT_WINDOW));
    }
    // A browser the account knows is judged by its own budget, not by what others at its
    // address do (a shared NAT, or the attacker next door).
    if device.is_none() && by_ip > limits.ip {
        return Ok(Err(IP_WINDOW));
    }
    if all > limits.ip.saturating_mul(TOTAL_PER_IP_FACTOR) {
        return Ok(Err(IP_WINDOW));
    }
    Ok(Ok(attempt))
}

impl Attempt {
    /// The attempt was not a failed guess (right password): takes its hits back.
    pub async fn succeeded(self, store: &Store) {
        for (key, ends_by) in &self.counted {
            if let Err(e) = store.decr(key, *ends_by).await {
                tracing::warn!(error = %e, "sign-in attempt not refunded");
            }
        }
    }
}

/// Who a device cookie is for: the account and the password hash it signed in with.
#[derive(Debug, Clone, Copy)]
pub struct DeviceOf<'a> {
    pub user: uuid::Uuid,
    pub password_hash: &'a str,
}

fn device_tag_input(d: DeviceOf<'_>, nonce: &str, expires: i64) -> String {
    format!("device-cookie\0{}\0{}\0{nonce}\0{expires}", d.user, d.password_hash)
}

/// A new device cookie value: `nonce.expiry.tag`, where the tag is a keyed hash over the
/// user, the password hash, the nonce and the expiry.
pub fn device_token(hasher: &TokenHasher, d: DeviceOf<'_>, now: i64) -> String {
    let nonce = crate::crypto::random_token::<16>();
    let expires = now.saturating_add(DEVICE_COOKIE_SECS);
    let tag = hasher.hash(&device_tag_input(d, &nonce, expires));
    format!("{nonce}.{expires}.{tag}")
}

/// The nonce of a device cookie value if it was made for this account and password and
/// has not expired.
pub fn device_nonce<'a>(hasher: &TokenHasher, d: DeviceOf<'_>, value: &'a str, now: i64) -> Option<&'a str> {
    if value.len() > 200 {
        return None;
    }
    let mut parts = value.splitn(3, '.');
    let (nonce, expires, tag) = (parts.next()?, parts.next()?, parts.next()?);
    let exp: i64 = expires.parse().ok()?;
    (exp > now && hasher.verify(&device_tag_input(d, nonce, exp), tag)).then_some(nonce)
}

/// The cookie name suffix for `user`'s device cookie: a keyed hash, so the name says
/// nothing about the account to anyone without the master key.
pub fn device_cookie_suffix(hasher: &TokenHasher, user: uuid::Uuid) -> String {
    let h = hasher.hash(&format!("device-cookie-name\0{user}"));
    h.chars().filter(char::is_ascii_alphanumeric).take(16).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_tokens_are_bound_to_user_password_and_time() {
        let h = crate::crypto::MasterKey::generate().token_hasher();
        let (a, b) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let alice = DeviceOf {
            user: a,
            password_hash: "$argon2id$one",
        };
        let bob = DeviceOf {
            user: b,
            password_hash: "$argon2id$one",
        };
        let t = device_token(&h, alice, 1_000);
        assert!(device_nonce(&h, alice, &t, 1_000).is_some());
        assert_eq!(device_nonce(&h, bob, &t, 1_000), None, "another account's cookie");
        let changed = DeviceOf {
            password_hash: "$argon2id$two",
            ..alice
        };
        assert_eq!(device_nonce(&h, changed, &t, 1_000), None, "the password changed since");
        assert_eq!(device_nonce(&h, alice, &t, 1_000 + DEVICE_COOKIE_SECS), None, "expired");
        let (head, _) = t.rsplit_once('.').unwrap();
        assert_eq!(
            device_nonce(&h, alice, &format!("{head}.AAAA"), 1_000),
            None,
            "forged tag"
        );
        let mut parts: Vec<&str> = t.split('.').collect();
        let later = (1_000 + DEVICE_COOKIE_SECS * 2).to_string();
        parts[1] = &later;
        assert_eq!(
            device_nonce(&h, alice, &parts.join("."), 1_000),
            None,
            "extended expiry"
        );
        assert_eq!(device_nonce(&h, alice, "garbage", 1_000), None);
        assert_ne!(device_cookie_suffix(&h, a), device_cookie_suffix(&h, b));
    }

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let k = |s: &str| ip_key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2:aaaa::1"), k("2001:db8:1:2:ffff:1:2:3"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("192.0.2.7"), "192.0.2.7");
        assert_eq!(k("::ffff:192.0.2.7"), "192.0.2.7");
    }
}
