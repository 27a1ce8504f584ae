//! Sign-in, one pipeline for every way in. A first factor (a password, or a passkey,
//! which is multi-factor by itself) makes a [`FirstFactor`]; [`begin`] asks the policy whether a second factor is needed and
//! either finishes at once or keeps a [`Pending`] sign-in (in the ephemeral store, under
//! the keyed hash of a cookie only this browser holds, short-lived, single use) until
//! [`second_factor`] or an enrolment completes it. [`finish`] is the only place a
//! session is created: new token, `auth_time`, `amr` (and so `acr`), the login
//! notification. Nothing here knows HTTP.

pub mod attempts;
pub mod backup_codes;
pub mod email_code;
mod factors;
pub mod magic_links;
pub mod passkeys;
mod repo;
mod second_step;
pub mod totp;
pub mod trusted;

use std::net::IpAddr;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::accounts::sessions::{self, Session};
use crate::accounts::signup::MailCtx;
use crate::accounts::{Error, notify};
use crate::config::{Config, MfaRequired};
use crate::crypto::TokenHasher;
use crate::store::Store;

use factors::audit;
pub use factors::{factors, record_change, remove_factor, reset};
pub use second_step::{Checked, finish_enrolment, restore, restore_offer, second_factor, second_factor_passkey};

/// `acr` of a session signed in with one factor.
pub const ACR_SINGLE: &str = "urn:gatehouse:acr:sfa";
/// `acr` of a multi-factor session; asked for with `acr_values`.
pub const ACR_MULTI: &str = "urn:gatehouse:acr:mfa";

/// Whether `amr` records more than one factor.
pub fn is_multi_factor(amr: &[String]) -> bool {
    amr.iter().any(|m| m == "mfa")
}

/// The `acr` of a session with these methods.
pub fn acr_of(amr: &[String]) -> &'static str {
    if is_multi_factor(amr) { ACR_MULTI } else { ACR_SINGLE }
}

/// What the sign-in pipeline works with.
pub struct Ctx<'a> {
    pub db: &'a DatabaseConnection,
    pub store: &'a Store,
    pub hasher: &'a TokenHasher,
    pub mail: MailCtx<'a>,
    pub config: &'a Config,
    /// The WebAuthn relying party; None when the issuer cannot have passkeys.
    pub webauthn: Option<&'a webauthn_rs::Webauthn>,
}

/// Where a sign-in comes from: shown in the session list and the notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Origin {
    pub ip: IpAddr,
    /// The User-Agent header, cut to 512 bytes.
    pub user_agent: String,
    /// From the GeoIP database, when one knows the address.
    pub location: Option<String>,
    /// "Keep me signed in".
    pub remember: bool,
}

impl Origin {
    pub fn new(ip: IpAddr, user_agent: &str, location: Option<String>, remember: bool) -> Self {
        let mut end = user_agent.len().min(512);
        while !user_agent.is_char_boundary(end) {
            end -= 1;
        }
        Self {
            ip,
            user_agent: user_agent[..end].to_string(),
            location,
            remember,
        }
    }
}

/// A first factor that passed: who, and how (RFC 8176 `amr` values).
#[derive(Debug, Clone)]
pub struct FirstFactor {
    pub user: entity::user::Model,
    pub amr: Vec<String>,
}

/// A sign-in waiting for its second factor (or for the enrolment of one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub user_id: Uuid,
    pub amr: Vec<String>,
    pub origin: Origin,
    /// Where to continue afterwards (a local path).
    pub then: String,
    /// The user has no second factor but the policy requires one: enrol first.
    pub enrol: bool,
    /// When the first factor passed (Unix ms): a revocation of the user's sessions since
    /// (sign out everywhere, a password reset) ends the pending sign-in too.
    #[serde(default)]
    pub created_ms: i64,
    /// A step-up of this session (`sid`): it finishes only in a browser that still holds
    /// that session, and keeps its `auth_time`.
    #[serde(default)]
    pub step_up: Option<StepUpOf>,
    /// Passkey answers refused so far: after [`MAX_PASSKEY_REFUSALS`] the sign-in ends.
    #[serde(default)]
    pub passkey_refusals: u8,
    /// The account is scheduled for deletion: the sign-in ends in "restore it?".
    #[serde(default)]
    pub restore: bool,
    /// With `restore`: the second factor is done (or not needed); only the answer waits.
    #[serde(default)]
    pub factors_done: bool,
}

/// Refused passkey answers one pending sign-in may have: bounds what someone holding the
/// password can make it do (each refusal is audited), without touching the code lockout.
pub const MAX_PASSKEY_REFUSALS: u8 = 5;

/// The session a step-up strengthens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepUpOf {
    pub sid: String,
    pub auth_time: i64,
    pub auth_time_ms: i64,
}

/// A session made by [`finish`].
#[derive(Debug, Clone)]
pub struct Finished {
    /// The session cookie's value.
    pub token: String,
    pub session: Session,
    pub user: entity::user::Model,
    pub then: String,
}

/// What [`begin`] leads to.
#[derive(Debug)]
pub enum Next {
    Finished(Box<Finished>),
    /// Ask for a second factor; the value goes into the pending-sign-in cookie.
    SecondFactor(String),
    /// Enrol a second factor first; the value goes into the pending-sign-in cookie.
    Enrol(String),
    /// The account is scheduled for deletion: ask whether to restore it; the value goes
    /// into the pending-sign-in cookie.
    Restore(String),
}

/// What the policy asks of a user after the first factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Nothing,
    SecondFactor,
    Enrol,
}

/// The policy: a user with a second factor uses it; one without enrols when the
/// operator requires it of them, superusers excepted under `exempt_superusers`.
pub fn need(config: &Config, user: &entity::user::Model, has_factor: bool) -> Need {
    let m = &config.mfa;
    // A factor the user has is always used; the exemption spares superusers the
    // enrolment only.
    if has_factor {
        return Need::SecondFactor;
    }
    if m.exempt_superusers && user.is_superuser {
        return Need::Nothing;
    }
    match m.required {
        MfaRequired::Everyone => Need::Enrol,
        MfaRequired::Superusers if user.is_superuser => Need::Enrol,
        MfaRequired::Superusers | MfaRequired::Optional => Need::Nothing,
    }
}

/// Whether the user has a second factor (an authenticator app, codes by email, a passkey).
pub async fn has_second_factor(db: &DatabaseConnection, user_id: Uuid) -> Result<bool, sea_orm::DbErr> {
    Ok(repo::factor_count(db, user_id).await? > 0)
}

/// Whether the user had a second factor at `at` (one enrolled before then).
pub async fn had_second_factor_at(
    db: &DatabaseConnection,
    user_id: Uuid,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<bool, sea_orm::DbErr> {
    Ok(repo::factors(db, user_id).await?.iter().any(|f| f.created_at <= at))
}

fn pending_key(ctx: &Ctx<'_>, token: &str) -> String {
    crate::store::keys::pending_sign_in(&ctx.hasher.hash(token))
}

async fn keep_pending(ctx: &Ctx<'_>, p: &Pending) -> Result<String, Error> {
    let token = crate::crypto::random_token::<32>();
    let value = serde_json::to_vec(p).map_err(|e| Error::Mail(format!("pending sign-in: {e}")))?;
    let ttl = Duration::from_secs(ctx.config.mfa.pending_secs);
    ctx.store.put(&pending_key(ctx, &token), &value, ttl).await?;
    Ok(token)
}

/// The pending sign-in of this cookie value, if it still waits.
pub async fn pending(ctx: &Ctx<'_>, token: &str) -> Result<Option<Pending>, Error> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let raw = ctx.store.get(&pending_key(ctx, token)).await?;
    Ok(raw.and_then(|v| serde_json::from_slice(&v).ok()))
}

/// What the browser brings besides the first factor.
#[derive(Debug, Clone, Copy, Default)]
pub struct Browser<'a> {
    /// The session cookie it already holds.
    pub session: Option<&'a str>,
    /// Its trusted-browser cookie for this user.
    pub trusted: Option<&'a str>,
}

/// Takes a first factor as far as the policy allows: finished at once when no second
/// factor is needed or the browser is trusted (a single-factor session then).
pub async fn begin(
    ctx: &Ctx<'_>,
    first: FirstFactor,
    origin: Origin,
    then: String,
    browser: Browser<'_>,
) -> Result<Next, Error> {
    let current = browser.session;
    let has = has_second_factor(ctx.db, first.user.id).await?;
    let mut need = need(ctx.config, &first.user, has);
    // A first factor that is multi-factor by itself (a passkey with user verification)
    // needs nothing more.
    if is_multi_factor(&first.amr) {
        need = Need::Nothing;
    }
    if need == Need::SecondFactor && trusted::is_trusted(ctx, &first.user, browser.trusted).await? {
        need = Need::Nothing;
    }
    let deleted = first.user.deleted_at.is_some();
    if need == Need::Nothing && !deleted {
        let done = finish(ctx, first.user, first.amr, &origin, then, current).await?;
        return Ok(Next::Finished(Box::new(done)));
    }
    // A deleted account is asked "restore it?" once its second factor is done; the
    // enrolment a policy asks for comes after the restore.
    let p = Pending {
        user_id: first.user.id,
        amr: first.amr,
        origin,
        then,
        enrol: need == Need::Enrol && !deleted,
        created_ms: chrono::Utc::now().timestamp_millis(),
        step_up: None,
        passkey_refusals: 0,
        restore: deleted,
        factors_done: deleted && need != Need::SecondFactor,
    };
    let token = keep_pending(ctx, &p).await?;
    Ok(if p.factors_done {
        Next::Restore(token)
    } else if p.enrol {
        Next::Enrol(token)
    } else {
        Next::SecondFactor(token)
    })
}

/// Step-up of a signed-in session that lacks a second factor (a relying party asked for
/// one): a pending sign-in that keeps the session's methods, if the user has a factor.
pub async fn step_up(ctx: &Ctx<'_>, session: &Session, origin: Origin, then: String) -> Result<Option<String>, Error> {
    if !has_second_factor(ctx.db, session.user_id).await? {
        return Ok(None);
    }
    let p = Pending {
        user_id: session.user_id,
        amr: session.amr.iter().filter(|m| *m != "mfa").cloned().collect(),
        origin,
        then,
        enrol: false,
        created_ms: chrono::Utc::now().timestamp_millis(),
        step_up: Some(StepUpOf {
            sid: session.sid.clone(),
            auth_time: session.auth_time,
            auth_time_ms: session.auth_time_ms,
        }),
        passkey_refusals: 0,
        restore: false,
        factors_done: false,
    };
    keep_pending(ctx, &p).await.map(Some)
}

/// Creates the session of a completed sign-in: the only place one is made. Signing in
/// again as the same user keeps the SSO session's `sid` (and so the other applications
/// of this browser) and replaces only its token; signing in as someone else ends the
/// old session and tells its relying parties.
pub async fn finish(
    ctx: &Ctx<'_>,
    user: entity::user::Model,
    amr: Vec<String>,
    origin: &Origin,
    then: String,
    current: Option<&str>,
) -> Result<Finished, Error> {
    finish_with(ctx, user, amr, origin, then, current, None).await
}

/// [`finish`], keeping the `auth_time` (seconds, ms) of the session a step-up strengthens:
/// a second factor alone is no new sign-in (`max_age`, recent-authentication checks).
async fn finish_with(
    ctx: &Ctx<'_>,
    user: entity::user::Model,
    amr: Vec<String>,
    origin: &Origin,
    then: String,
    current: Option<&str>,
    kept_auth_time: Option<(i64, i64)>,
) -> Result<Finished, Error> {
    let mut session = sessions::start(user.id, &[]);
    session.amr = amr;
    if let Some((secs, ms)) = kept_auth_time {
        session.auth_time = secs;
        session.auth_time_ms = ms;
    }
    if let Some(old) = current
        && let Ok(Some(previous)) = sessions::load(ctx.store, ctx.hasher, old).await
    {
        if previous.user_id == user.id {
            session.sid = previous.sid.clone();
            if let Err(e) = sessions::destroy(ctx.store, ctx.hasher, old).await {
                tracing::warn!(error = %e, "previous session token not ended");
            }
        } else {
            crate::oidc::backchannel::end_browser_session(ctx.db, ctx.store, ctx.hasher, old).await;
        }
    }
    let device = notify::device(&origin.user_agent);
    session.device = Some(device.label());
    session.ip = Some(origin.ip.to_string());
    session.location = origin.location.clone();
    session.remember = origin.remember;
    let ttl = ctx.config.session_ttl(session.remember);
    let token = sessions::create(ctx.store, ctx.hasher, &session, ttl).await?;
    let seen_as = crate::accounts::SignIn {
        ip: origin.ip,
        device: session.device.as_deref().unwrap_or_default(),
        amr: &session.amr,
    };
    if let Err(e) = crate::accounts::record_sign_in(ctx.db, user.id, seen_as).await {
        tracing::warn!(error = %e, "last sign-in time not recorded");
    }
    let seen = notify::Seen {
        device: &device,
        ip: origin.ip,
        location: origin.location.as_deref(),
    };
    if let Err(e) = notify::login(ctx.db, &ctx.mail, &user, &seen).await {
        tracing::warn!(error = %e, "login notification not queued");
    }
    Ok(Finished {
        token,
        session,
        user,
        then,
    })
}

/// The same sign-in under a new token, after every older session of the user was
/// revoked by time (a password change that signs out the others): `auth_time`, `amr`,
/// `sid` and the expiry stay, so nothing here extends or strengthens a session.
pub async fn reissue(ctx: &Ctx<'_>, session: &Session) -> Result<String, crate::store::StoreError> {
    let ttl = ctx.config.session_ttl(session.remember);
    sessions::create(ctx.store, ctx.hasher, session, ttl).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(superuser: bool) -> entity::user::Model {
        let now = chrono::Utc::now();
        entity::user::Model {
            id: Uuid::now_v7(),
            email: "a@example.com".into(),
            email_canonical: "a@example.com".into(),
            email_verified_at: Some(now),
            password_hash: None,
            is_active: true,
            is_superuser: superuser,
            deleted_at: None,
            last_login_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    #[test]
    fn the_policy_asks_for_what_the_operator_requires() {
        #[allow(clippy::expect_used)]
        let mut c = Config::load_from(None, Vec::new()).expect("the defaults load");
        let (plain, admin) = (user(false), user(true));
        assert_eq!(need(&c, &plain, false), Need::Nothing);
        assert_eq!(need(&c, &plain, true), Need::SecondFactor);
        c.mfa.required = MfaRequired::Superusers;
        assert_eq!(need(&c, &plain, false), Need::Nothing);
        assert_eq!(need(&c, &admin, false), Need::Enrol);
        c.mfa.required = MfaRequired::Everyone;
        assert_eq!(need(&c, &plain, false), Need::Enrol);
        c.mfa.exempt_superusers = true;
        assert_eq!(need(&c, &admin, false), Need::Nothing, "spared the enrolment");
        assert_eq!(
            need(&c, &admin, true),
            Need::SecondFactor,
            "but a factor they have is used"
        );
        assert_eq!(need(&c, &plain, false), Need::Enrol);
    }

    #[test]
    fn acr_follows_amr() {
        assert_eq!(acr_of(&["pwd".into()]), ACR_SINGLE);
        assert_eq!(acr_of(&["pwd".into(), "otp".into(), "mfa".into()]), ACR_MULTI);
    }
}
