//! Passkeys and security keys (WebAuthn, webauthn-rs): registered on the account pages,
//! used as a second factor after a password, or alone as a passwordless sign-in with a
//! discoverable credential and user verification (multi-factor by itself).
//!
//! A passkey is a row of `second_factor` (`kind = "passkey"`): the credential (public
//! key, counter, flags) sealed under `passkey:<id>`, its credential id in a column with
//! a unique index, so a credential registered to one account is refused for any other.
//!
//! Ceremony state never needs the store: it is sealed (ChaCha20-Poly1305 under a key
//! derived from the master key, bound to its purpose and to the user or pending sign-in
//! it belongs to, with an expiry) and carried by the page's form. So an anonymous visit
//! to the login page, which starts a passwordless ceremony, writes nothing anywhere. A
//! ceremony is single use: registration by the credential id's uniqueness, the second
//! factor by its pending sign-in (taken), the passwordless sign-in by a store entry
//! written only when an assertion verified.
//!
//! The relying party id is the issuer's host; WebAuthn refuses IP addresses, so an issuer
//! on an IP address has no passkeys (the pages then do not offer them).

use std::time::Duration;

use sea_orm::{ConnectionTrait, SqlErr};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

use super::{Ctx, FirstFactor, repo};
use crate::accounts::Error;

/// `second_factor.kind` of a passkey.
pub const KIND: &str = "passkey";
/// Passkeys one user may register: bounds the rows and every ceremony's credential list.
pub const MAX_PER_USER: usize = 20;
/// How long a ceremony may take (the browser's timeout too).
pub const CEREMONY_SECS: u64 = 300;
/// Longest accepted browser answer (bytes): far above real ones (a few KB), far below
/// the form limit.
const MAX_ANSWER: usize = 32 * 1024;
/// Longest accepted sealed state (bytes): a second factor's lists every passkey of the
/// user, at most [`MAX_PER_USER`] × ([`MAX_CREDENTIAL_ID`] and a little) before sealing
/// and base64.
const MAX_STATE: usize = 128 * 1024;
/// Longest credential id accepted (bytes; WebAuthn's limit is 1023).
const MAX_CREDENTIAL_ID: usize = 1023;
/// Longest stored credential (JSON bytes): a public key, its id and a few flags.
const MAX_CREDENTIAL_JSON: usize = 4 * 1024;
/// Longest name of a passkey.
pub const NAME_MAX: usize = 64;

/// The relying party of this issuer: its host is the RP id, its origin the only origin.
/// None when the host is an IP address (WebAuthn refuses those) or the builder refuses.
pub fn relying_party(issuer: &Url) -> Option<Webauthn> {
    let host = match issuer.host()? {
        url::Host::Domain(d) => d.to_string(),
        url::Host::Ipv4(_) | url::Host::Ipv6(_) => return None,
    };
    let origin = Url::parse(&issuer.origin().ascii_serialization()).ok()?;
    WebauthnBuilder::new(&host, &origin)
        .ok()?
        .rp_name("Gatehouse")
        .timeout(Duration::from_secs(CEREMONY_SECS))
        .build()
        .ok()
}

/// A ceremony for the browser: the options for `navigator.credentials` (JSON) and the
/// sealed state its form carries back.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub options: String,
    pub state: String,
}

#[derive(Serialize, Deserialize)]
struct Held<T> {
    exp_ms: i64,
    state: T,
}

fn ceremony_sealer(ctx: &Ctx<'_>) -> crate::crypto::Sealer {
    ctx.hasher.sealer_for("webauthn ceremonies v1")
}

fn seal<T: Serialize>(ctx: &Ctx<'_>, purpose: &str, bind: &str, state: T) -> Option<String> {
    use base64::Engine as _;
    let exp_ms = chrono::Utc::now().timestamp_millis() + i64::try_from(CEREMONY_SECS * 1000).unwrap_or(0);
    let json = serde_json::to_vec(&Held { exp_ms, state }).ok()?;
    let sealed = ceremony_sealer(ctx).seal(&json, &format!("{purpose}:{bind}"));
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed))
}

fn open<T: DeserializeOwned>(ctx: &Ctx<'_>, purpose: &str, bind: &str, sealed: &str) -> Option<T> {
    use base64::Engine as _;
    if sealed.is_empty() || sealed.len() > MAX_STATE {
        return None;
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sealed).ok()?;
    let json = ceremony_sealer(ctx).open(&raw, &format!("{purpose}:{bind}")).ok()?;
    let held: Held<T> = serde_json::from_slice(&json).ok()?;
    (held.exp_ms > chrono::Utc::now().timestamp_millis()).then_some(held.state)
}

fn parse<T: DeserializeOwned>(credential: &str) -> Option<T> {
    if credential.is_empty() || credential.len() > MAX_ANSWER {
        return None;
    }
    serde_json::from_str(credential).ok()
}

fn credential_id(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn context(id: Uuid) -> String {
    format!("{KIND}:{id}")
}

/// The user's passkeys with their credentials (those that open under this master key).
async fn load(ctx: &Ctx<'_>, user_id: Uuid) -> Result<Vec<(entity::second_factor::Model, Passkey)>, Error> {
    let sealer = super::totp::sealer(ctx.hasher);
    Ok(repo::factors(ctx.db, user_id)
        .await?
        .into_iter()
        .filter(|f| f.kind == KIND)
        .filter_map(|f| open_row(&sealer, f))
        .collect())
}

/// The credential of a passkey row, if it opens under this master key.
fn open_row(
    sealer: &crate::crypto::Sealer,
    f: entity::second_factor::Model,
) -> Option<(entity::second_factor::Model, Passkey)> {
    let opened = sealer
        .open(&f.secret, &context(f.id))
        .ok()
        .and_then(|j| serde_json::from_slice::<Passkey>(&j).ok());
    match opened {
        Some(p) => Some((f, p)),
        None => {
            tracing::error!(factor = %f.id, "a passkey does not open under this master key");
            None
        }
    }
}

/// What starting a registration gives.
#[derive(Debug)]
pub enum Start {
    Ready(Ceremony),
    /// The user has [`MAX_PER_USER`] passkeys.
    TooMany,
    /// This issuer has no passkeys (an IP address).
    Unavailable,
}

/// Starts registering a passkey for `user`: a discoverable credential where the
/// authenticator can make one (so it also signs in without a password), user
/// verification required, the user's passkeys excluded.
pub async fn start_registration(ctx: &Ctx<'_>, user: &entity::user::Model) -> Result<Start, Error> {
    let Some(wa) = ctx.webauthn else {
        return Ok(Start::Unavailable);
    };
    let existing = load(ctx, user.id).await?;
    if existing.len() >= MAX_PER_USER {
        return Ok(Start::TooMany);
    }
    let exclude = existing.iter().map(|(_, p)| p.cred_id().clone()).collect();
    let (mut ccr, reg) = match wa.start_passkey_registration(user.id, &user.email, &user.email, Some(exclude)) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "passkey registration not started");
            return Ok(Start::Unavailable);
        }
    };
    if let Some(sel) = ccr.public_key.authenticator_selection.as_mut() {
        sel.resident_key = Some(webauthn_rs_proto::ResidentKeyRequirement::Preferred);
    }
    let options = serde_json::to_string(&ccr).map_err(|e| Error::Mail(format!("passkey options: {e}")))?;
    let state = seal(ctx, "register", &user.id.to_string(), reg)
        .ok_or_else(|| Error::Mail("passkey registration state".into()))?;
    Ok(Start::Ready(Ceremony { options, state }))
}

/// What finishing a registration did.
#[derive(Debug)]
pub enum Registered {
    /// Added under this name (the user was mailed, the change audited).
    Added(Uuid, String),
    /// The credential is registered already (to this account or another).
    Duplicate,
    /// The browser's answer did not verify (wrong origin, no user verification, …).
    Refused,
    /// The ceremony is over (expired, or not this user's).
    Expired,
}

/// Registers the credential the browser made in the ceremony `state`, named `name`;
/// `multi_factor` says whether the sign-in registering it was (a password reset removes
/// the passkeys the password alone could have added).
pub async fn finish_registration(
    ctx: &Ctx<'_>,
    user: &entity::user::Model,
    state: &str,
    credential: &str,
    name: &str,
    multi_factor: bool,
) -> Result<Registered, Error> {
    let Some(wa) = ctx.webauthn else {
        return Ok(Registered::Expired);
    };
    let Some(reg) = open::<PasskeyRegistration>(ctx, "register", &user.id.to_string(), state) else {
        return Ok(Registered::Expired);
    };
    let Some(answer) = parse::<RegisterPublicKeyCredential>(credential) else {
        return Ok(Registered::Refused);
    };
    let passkey = match wa.finish_passkey_registration(&answer, &reg) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "passkey registration refused");
            return Ok(Registered::Refused);
        }
    };
    if passkey.cred_id().len() > MAX_CREDENTIAL_ID || load(ctx, user.id).await?.len() >= MAX_PER_USER {
        return Ok(Registered::Refused);
    }
    let id = Uuid::now_v7();
    let name: String = name.trim().chars().filter(|c| !c.is_control()).take(NAME_MAX).collect();
    let name = if name.is_empty() { "Passkey".to_string() } else { name };
    let json = serde_json::to_vec(&passkey).map_err(|e| Error::Mail(format!("passkey: {e}")))?;
    if json.len() > MAX_CREDENTIAL_JSON {
        return Ok(Registered::Refused);
    }
    let row = entity::second_factor::Model {
        id,
        user_id: user.id,
        kind: KIND.into(),
        name: name.clone(),
        secret: super::totp::sealer(ctx.hasher).seal(&json, &context(id)),
        last_step: None,
        created_at: chrono::Utc::now(),
        last_used_at: None,
        credential_id: Some(credential_id(passkey.cred_id())),
        added_with_mfa: multi_factor,
    };
    let txn = crate::db::begin(ctx.db).await?;
    match repo::insert_factor(&txn, row).await {
        Ok(()) => {}
        Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Ok(Registered::Duplicate);
        }
        Err(e) => return Err(e.into()),
    }
    ctx.mail
        .queue(&txn, &user.email, "factor_added", serde_json::json!({ "name": name }))
        .await?;
    let actor = format!("user:{}", user.id);
    let detail = serde_json::json!({ "factor": id, "kind": KIND, "name": name });
    super::audit(&txn, &actor, user.id, "mfa.factor_added", None, detail).await?;
    txn.commit().await?;
    Ok(Registered::Added(id, name))
}

/// Renames one of the user's passkeys; false if it is not theirs.
pub async fn rename(ctx: &Ctx<'_>, user_id: Uuid, id: Uuid, name: &str) -> Result<bool, Error> {
    let name: String = name.trim().chars().filter(|c| !c.is_control()).take(NAME_MAX).collect();
    if name.is_empty() {
        return Ok(false);
    }
    let txn = crate::db::begin(ctx.db).await?;
    if !repo::rename_factor(&txn, user_id, id, KIND, &name).await? {
        return Ok(false);
    }
    let detail = serde_json::json!({ "factor": id, "name": name });
    super::audit(
        &txn,
        &format!("user:{user_id}"),
        user_id,
        "mfa.factor_renamed",
        None,
        detail,
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// The RFC 8176 method of a credential: `swk` for one that can be synced (backup
/// eligible, so its key lives in software somewhere), `hwk` for one bound to a device.
fn method(result: &AuthenticationResult) -> &'static str {
    if result.backup_eligible() { "swk" } else { "hwk" }
}

/// Records a use: the counter and flags the assertion carried, and the time. False
/// when the counter did not move past the last one seen (a cloned authenticator, or the
/// same answer twice): the use is refused. The counter is claimed in one conditional
/// update, against the row as it is now (a ceremony's own copy may be minutes old).
async fn used(
    db: &impl ConnectionTrait,
    ctx: &Ctx<'_>,
    row: &entity::second_factor::Model,
    mut passkey: Passkey,
    result: &AuthenticationResult,
) -> Result<bool, Error> {
    // Authenticators without a counter (most synced passkeys) always send 0.
    let counter = i64::from(result.counter());
    if counter > 0 && !repo::claim_step(db, row.id, counter).await? {
        tracing::warn!(factor = %row.id, "passkey counter did not advance: possibly cloned");
        return Ok(false);
    }
    let secret = if passkey.update_credential(result) == Some(true) {
        let json = serde_json::to_vec(&passkey).map_err(|e| Error::Mail(format!("passkey: {e}")))?;
        Some(super::totp::sealer(ctx.hasher).seal(&json, &context(row.id)))
    } else {
        None
    };
    repo::passkey_used(db, row.id, secret).await?;
    Ok(true)
}

/// Starts a passkey as the second factor of the pending sign-in `pending` (whose token
/// the state is bound to): None when the user has no passkey.
pub async fn start_second_factor(ctx: &Ctx<'_>, user_id: Uuid, pending: &str) -> Result<Option<Ceremony>, Error> {
    let Some(wa) = ctx.webauthn else {
        return Ok(None);
    };
    let keys: Vec<Passkey> = load(ctx, user_id).await?.into_iter().map(|(_, p)| p).collect();
    if keys.is_empty() {
        return Ok(None);
    }
    let Ok((rcr, auth)) = wa.start_passkey_authentication(&keys) else {
        return Ok(None);
    };
    let options = serde_json::to_string(&rcr).map_err(|e| Error::Mail(format!("passkey options: {e}")))?;
    let Some(state) = seal(ctx, "second-factor", &ctx.hasher.hash(pending), auth) else {
        return Ok(None);
    };
    Ok(Some(Ceremony { options, state }))
}

/// Verifies a passkey as the second factor of the pending sign-in `pending`: the
/// `amr` method it proves, or None.
pub(super) async fn verify_second_factor(
    ctx: &Ctx<'_>,
    user_id: Uuid,
    pending: &str,
    state: &str,
    credential: &str,
) -> Result<Option<&'static str>, Error> {
    let Some(wa) = ctx.webauthn else {
        return Ok(None);
    };
    let Some(auth) = open::<PasskeyAuthentication>(ctx, "second-factor", &ctx.hasher.hash(pending), state) else {
        return Ok(None);
    };
    let Some(answer) = parse::<PublicKeyCredential>(credential) else {
        return Ok(None);
    };
    let result = match wa.finish_passkey_authentication(&answer, &auth) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "passkey second factor refused");
            return Ok(None);
        }
    };
    let Some((row, passkey)) = load(ctx, user_id)
        .await?
        .into_iter()
        .find(|(_, p)| p.cred_id() == result.cred_id())
    else {
        return Ok(None);
    };
    if !used(ctx.db, ctx, &row, passkey, &result).await? {
        return Ok(None);
    }
    Ok(Some(method(&result)))
}

/// Starts a passwordless sign-in (any discoverable credential of this site): nothing is
/// stored, so anyone may start one.
pub fn start_sign_in(ctx: &Ctx<'_>) -> Option<Ceremony> {
    let (rcr, auth) = ctx.webauthn?.start_discoverable_authentication().ok()?;
    let options = serde_json::to_string(&rcr).ok()?;
    let state = seal(ctx, "sign-in", "", auth)?;
    Some(Ceremony { options, state })
}

/// Verifies a passwordless sign-in: the user whose discoverable credential signed the
/// ceremony's challenge with user verification, as a first factor that is multi-factor
/// by itself (`amr` `hwk`/`swk`, `user`, `mfa`). None for anything else, alike.
pub async fn sign_in(ctx: &Ctx<'_>, state: &str, credential: &str) -> Result<Option<FirstFactor>, Error> {
    let Some(wa) = ctx.webauthn else {
        return Ok(None);
    };
    let Some(auth) = open::<DiscoverableAuthentication>(ctx, "sign-in", "", state) else {
        return Ok(None);
    };
    let Some(answer) = parse::<PublicKeyCredential>(credential) else {
        return Ok(None);
    };
    let Ok((user_id, cred_id)) = wa.identify_discoverable_authentication(&answer) else {
        return Ok(None);
    };
    let Some(row) = repo::factor_by_credential(ctx.db, &credential_id(cred_id)).await? else {
        return Ok(None);
    };
    if row.user_id != user_id || row.kind != KIND {
        return Ok(None);
    }
    let Some((row, passkey)) = open_row(&super::totp::sealer(ctx.hasher), row) else {
        return Ok(None);
    };
    let result = match wa.finish_discoverable_authentication_v2(&answer, auth, &passkey) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(error = %e, "passkey sign-in refused");
            return Ok(None);
        }
    };
    // One sign-in per ceremony: a replayed answer finds it spent.
    let spent = crate::store::keys::webauthn_spent(&ctx.hasher.hash(state));
    if ctx.store.incr(&spent, Duration::from_secs(CEREMONY_SECS + 60)).await? != 1 {
        return Ok(None);
    }
    let Some(user) = crate::accounts::find(ctx.db, user_id).await? else {
        return Ok(None);
    };
    if !crate::accounts::lifecycle::may_begin(&user, ctx.config.accounts.deletion_grace_days) {
        return Ok(None);
    }
    if !used(ctx.db, ctx, &row, passkey, &result).await? {
        return Ok(None);
    }
    let amr = vec![method(&result).to_string(), "user".to_string(), "mfa".to_string()];
    Ok(Some(FirstFactor { user, amr }))
}

/// On a password reset: removes the user's passkeys that a sign-in with the password
/// alone added (someone who only had the password may have added one to keep a way in),
/// mailing and auditing each; the last factor takes the backup codes with it. Runs in the
/// reset's transaction. Passkeys added by a multi-factor sign-in stay.
pub async fn remove_password_only(
    db: &impl ConnectionTrait,
    mail: &crate::accounts::signup::MailCtx<'_>,
    user: &entity::user::Model,
) -> Result<u64, Error> {
    let weak: Vec<_> = repo::factors(db, user.id)
        .await?
        .into_iter()
        .filter(|f| f.kind == KIND && !f.added_with_mfa)
        .collect();
    let actor = format!("user:{}", user.id);
    for f in &weak {
        repo::delete_factor(db, user.id, f.id).await?;
        mail.queue(db, &user.email, "factor_removed", serde_json::json!({ "name": f.name }))
            .await?;
        let detail = serde_json::json!({ "factor": f.id, "name": f.name, "reason": "password_reset" });
        super::audit(db, &actor, user.id, "mfa.factor_removed", None, detail).await?;
    }
    if !weak.is_empty() && repo::factor_count(db, user.id).await? == 0 {
        repo::delete_all(db, user.id).await?;
    }
    Ok(u64::try_from(weak.len()).unwrap_or(u64::MAX))
}
