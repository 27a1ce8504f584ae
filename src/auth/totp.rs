//! Authenticator apps (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of skew).
//! Secrets are sealed at rest; a step accepted once is never accepted again for that
//! authenticator, nor any earlier one (replay).

use sea_orm::{ConnectionTrait, DbErr};
use serde::{Deserialize, Serialize};
use totp_rs::{Builder, Secret, Totp};
use uuid::Uuid;

use super::repo;
use crate::crypto::{Sealer, TokenHasher};
use crate::store::{Store, StoreError};

/// A new secret being set up: held in the store (sealed) until a code confirms it.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Names the held secret in the setup form.
    pub id: String,
    /// The secret in base32, for manual entry.
    pub secret: String,
    /// The `otpauth://` URL (for phones and password managers).
    pub url: String,
    /// A QR code of the URL: a PNG, base64.
    pub qr_png_base64: String,
}

#[derive(Serialize, Deserialize)]
struct Held {
    user_id: Uuid,
    secret: Vec<u8>,
}

/// How long a secret waits for its confirming code.
const SETUP_SECS: u64 = 900;
/// Names are cut to this many characters.
pub const NAME_MAX: usize = 64;

/// The sealer of second-factor secrets, derived from the master key.
pub fn sealer(hasher: &TokenHasher) -> Sealer {
    hasher.sealer_for("second-factor secrets v1")
}

fn totp(secret: Vec<u8>, account: &str, issuer: &str) -> Option<Totp> {
    // `:` separates issuer and account in otpauth labels.
    let clean = |s: &str| s.replace(':', " ");
    Builder::new()
        .with_secret(Secret::from(secret))
        .with_account_name(clean(account))
        .with_issuer(Some(clean(issuer)))
        .build()
        .ok()
}

fn describe(id: String, secret: &[u8], account: &str, issuer: &str) -> Option<Setup> {
    let t = totp(secret.to_vec(), account, issuer)?;
    Some(Setup {
        id,
        secret: Secret::from(secret.to_vec()).to_base32(),
        url: t.to_url().ok()?,
        qr_png_base64: t.to_qr_base64().ok()?,
    })
}

/// New setups per user per [`SETUP_SECS`]: each is a store entry until it expires.
pub const SETUPS_PER_WINDOW: u64 = 30;

/// Starts setting up an authenticator for `user_id`: a fresh 160-bit secret; None when
/// the user started more than [`SETUPS_PER_WINDOW`] setups lately.
pub async fn start_setup(
    store: &Store,
    hasher: &TokenHasher,
    user_id: Uuid,
    account: &str,
    issuer: &str,
) -> Result<Option<Setup>, StoreError> {
    let window = std::time::Duration::from_secs(SETUP_SECS);
    if store.incr(&crate::store::keys::totp_setups(user_id), window).await? > SETUPS_PER_WINDOW {
        return Ok(None);
    }
    let secret = crate::crypto::random_bytes::<20>().to_vec();
    let id = crate::crypto::random_token::<16>();
    let held = serde_json::to_vec(&Held {
        user_id,
        secret: secret.clone(),
    })
    .unwrap_or_default();
    let sealed = hasher.sealer_for(&id).seal(&held, "totp-setup");
    let key = crate::store::keys::totp_setup(&hasher.hash(&id));
    store.put(&key, &sealed, window).await?;
    let setup = describe(id, &secret, account, issuer);
    if setup.is_none() {
        // A 160-bit secret and a parsed address always make a URL and a QR code.
        tracing::error!("an authenticator secret could not be described");
    }
    Ok(setup)
}

async fn held(store: &Store, hasher: &TokenHasher, user_id: Uuid, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
    if id.is_empty() || id.len() > 64 {
        return Ok(None);
    }
    let key = crate::store::keys::totp_setup(&hasher.hash(id));
    let Some(sealed) = store.get(&key).await? else {
        return Ok(None);
    };
    Ok(open_held(hasher, user_id, id, &sealed))
}

fn open_held(hasher: &TokenHasher, user_id: Uuid, id: &str, sealed: &[u8]) -> Option<Vec<u8>> {
    let held = hasher
        .sealer_for(id)
        .open(sealed, "totp-setup")
        .ok()
        .and_then(|v| serde_json::from_slice::<Held>(&v).ok());
    held.filter(|h| h.user_id == user_id).map(|h| h.secret)
}

/// The setup `id` of `user_id` again (to show it with an error), if it still waits.
pub async fn resume_setup(
    store: &Store,
    hasher: &TokenHasher,
    user_id: Uuid,
    id: &str,
    account: &str,
    issuer: &str,
) -> Result<Option<Setup>, StoreError> {
    Ok(held(store, hasher, user_id, id)
        .await?
        .and_then(|s| describe(id.to_string(), &s, account, issuer)))
}

/// What confirming a setup did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// The authenticator is enrolled: its id and the name it was stored under.
    Enrolled(Uuid, String),
    /// The code does not match the secret (the setup still waits).
    WrongCode,
    /// The setup expired or belongs to someone else.
    Expired,
}

fn now_secs() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

/// The digits of a code as typed ("123 456" → "123456"), if it can be a TOTP code.
pub fn normalise(code: &str) -> Option<String> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Enrols the setup `id` if `code` matches its secret. The matched step counts as used.
pub async fn confirm_setup(
    db: &impl ConnectionTrait,
    store: &Store,
    hasher: &TokenHasher,
    user_id: Uuid,
    id: &str,
    name: &str,
    code: &str,
) -> Result<Confirmed, crate::accounts::Error> {
    if id.is_empty() || id.len() > 64 {
        return Ok(Confirmed::Expired);
    }
    // Taken, so of two confirmations one enrols; a wrong code puts it back.
    let key = crate::store::keys::totp_setup(&hasher.hash(id));
    let Some(sealed) = store.take(&key).await? else {
        return Ok(Confirmed::Expired);
    };
    let Some(secret) = open_held(hasher, user_id, id, &sealed) else {
        return Ok(Confirmed::Expired);
    };
    let step = normalise(code).and_then(|c| totp(secret.clone(), "x", "x").and_then(|t| t.check(&c, now_secs())));
    let Some(step) = step else {
        store
            .put(&key, &sealed, std::time::Duration::from_secs(SETUP_SECS))
            .await?;
        return Ok(Confirmed::WrongCode);
    };
    let factor_id = Uuid::now_v7();
    let name: String = name.trim().chars().take(NAME_MAX).collect();
    let name = if name.is_empty() {
        "Authenticator app".to_string()
    } else {
        name
    };
    repo::insert_factor(
        db,
        entity::second_factor::Model {
            id: factor_id,
            user_id,
            kind: "totp".into(),
            name: name.clone(),
            secret: sealer(hasher).seal(&secret, &format!("totp:{factor_id}")),
            last_step: i64::try_from(step).ok(),
            created_at: chrono::Utc::now(),
            last_used_at: None,
            credential_id: None,
            added_with_mfa: false,
        },
    )
    .await?;
    Ok(Confirmed::Enrolled(factor_id, name))
}

/// Checks `code` against the user's authenticators; the one it matches has its step
/// claimed (so the code, and every earlier one, is refused from then on).
pub async fn verify(
    db: &impl ConnectionTrait,
    hasher: &TokenHasher,
    user_id: Uuid,
    code: &str,
) -> Result<Option<Uuid>, DbErr> {
    let Some(code) = normalise(code) else {
        return Ok(None);
    };
    let sealer = sealer(hasher);
    let now = now_secs();
    for f in repo::factors(db, user_id)
        .await?
        .into_iter()
        .filter(|f| f.kind == "totp")
    {
        let Ok(secret) = sealer.open(&f.secret, &format!("totp:{}", f.id)) else {
            tracing::error!(factor = %f.id, "a second-factor secret does not open under this master key");
            continue;
        };
        let Some(step) = totp(secret, "x", "x").and_then(|t| t.check(&code, now)) else {
            continue;
        };
        let Ok(step) = i64::try_from(step) else { continue };
        if repo::claim_step(db, f.id, step).await? {
            return Ok(Some(f.id));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_six_digits_as_typed() {
        assert_eq!(super::normalise(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(super::normalise("123-456").as_deref(), Some("123456"));
        assert_eq!(super::normalise("12345"), None);
        assert_eq!(super::normalise("12345a"), None);
        assert_eq!(super::normalise("١٢٣٤٥٦"), None, "ASCII digits only");
    }
}
