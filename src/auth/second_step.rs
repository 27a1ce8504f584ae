//! The steps after the first factor: the second factor (a code or a passkey), the
//! enrolment a policy requires, and "restore it?" for an account scheduled for deletion.
//! Each takes its pending sign-in first, so of concurrent requests one proceeds.

use std::time::Duration;

use super::{
    Ctx, Finished, MAX_PASSKEY_REFUSALS, Need, Next, Pending, attempts, audit, backup_codes, email_code, finish,
    finish_with, has_second_factor, is_multi_factor, keep_pending, need, passkeys, pending, pending_key, totp,
};
use crate::accounts::Error;
use crate::accounts::sessions;

/// What a second-factor code did.
#[derive(Debug)]
pub enum Checked {
    Finished(Box<Finished>),
    /// Wrong; this many attempts are left.
    Wrong(u64),
    /// Too many wrong codes: the pending sign-in is over.
    LockedOut,
    /// No such pending sign-in (expired, finished, or never made).
    Expired,
    /// The passkey's answer did not verify; the sign-in still waits.
    Refused,
    /// The account is scheduled for deletion: ask whether to restore it (the value goes
    /// into the pending-sign-in cookie).
    Restore(String),
}

/// Takes the pending sign-in `token` if it is still good: not expired, its user still
/// usable and not revoked since, and (for a step-up) the browser still in the session
/// it strengthens. Returns it with the time it has left.
async fn take_live(
    ctx: &Ctx<'_>,
    token: &str,
    current: Option<&str>,
) -> Result<Option<(Pending, entity::user::Model, Duration)>, Error> {
    if token.is_empty() || token.len() > 128 {
        return Ok(None);
    }
    let Some(raw) = ctx.store.take(&pending_key(ctx, token)).await? else {
        return Ok(None);
    };
    let Ok(p) = serde_json::from_slice::<Pending>(&raw) else {
        return Ok(None);
    };
    let now = chrono::Utc::now().timestamp_millis();
    let ends = p.created_ms + i64::try_from(ctx.config.mfa.pending_secs * 1000).unwrap_or(0);
    let Some(left) = u64::try_from(ends - now).ok().filter(|l| *l > 0) else {
        return Ok(None);
    };
    let Some(user) = crate::accounts::find(ctx.db, p.user_id).await? else {
        return Ok(None);
    };
    let usable = crate::accounts::state::of(&user).is_usable()
        || (p.restore && crate::accounts::lifecycle::restorable(&user, ctx.config.accounts.deletion_grace_days));
    if !usable {
        return Ok(None);
    }
    if sessions::revoked_before(ctx.store, user.id)
        .await?
        .is_some_and(|t| p.created_ms < t)
    {
        return Ok(None);
    }
    if let Some(of) = &p.step_up {
        let still = match current {
            Some(c) => sessions::load(ctx.store, ctx.hasher, c).await?,
            None => None,
        };
        if !still.is_some_and(|s| s.sid == of.sid && s.user_id == user.id) {
            return Ok(None);
        }
    }
    Ok(Some((p, user, Duration::from_millis(left))))
}

/// Checks a code of the pending sign-in `token`: a TOTP code of any of the user's
/// authenticators, or one of their backup codes. The pending sign-in is taken first
/// (of concurrent requests one proceeds; a wrong code puts it back), the attempt is
/// counted before the code is checked, and refunded if the code was right.
pub async fn second_factor(ctx: &Ctx<'_>, token: &str, code: &str, current: Option<&str>) -> Result<Checked, Error> {
    let Some((p, user, left_for)) = take_live(ctx, token, current).await? else {
        return Ok(Checked::Expired);
    };
    let put_back = async |p: &Pending| -> Result<(), Error> {
        let value = serde_json::to_vec(p).map_err(|e| Error::Mail(format!("pending sign-in: {e}")))?;
        ctx.store.put(&pending_key(ctx, token), &value, left_for).await?;
        Ok(())
    };
    if p.enrol {
        put_back(&p).await?;
        return Ok(Checked::Expired);
    }
    let user_id = user.id;
    let Some(attempt) = attempts::begin(ctx.store, &ctx.config.mfa, user_id).await? else {
        return Ok(Checked::LockedOut);
    };
    let method = if totp::verify(ctx.db, ctx.hasher, user_id, code).await?.is_some() {
        Some("otp")
    } else if email_code::allowed_after(&p.amr) && email_code::redeem(ctx, token, user_id, code).await? {
        Some("email")
    } else if backup_codes::redeem(ctx.db, ctx.hasher, user_id, code).await? {
        Some("backup")
    } else {
        None
    };
    let actor = format!("user:{user_id}");
    let ip = p.origin.ip;
    let Some(method) = method else {
        let left = attempt.failed(ctx.store, &ctx.config.mfa).await?;
        tracing::warn!(user = %user_id, left, "wrong second-factor code");
        let detail = serde_json::json!({ "attempts_left": left });
        audit(ctx.db, &actor, user_id, "mfa.failed", Some(ip), detail).await?;
        if left == 0 {
            let detail = serde_json::json!({ "secs": ctx.config.mfa.lockout_secs });
            audit(ctx.db, &actor, user_id, "mfa.locked_out", Some(ip), detail).await?;
            let when = format!("{} minutes", ctx.config.mfa.lockout_secs.div_ceil(60));
            let mail = serde_json::json!({ "minutes": when, "ip": ip.to_string() });
            if let Err(e) = ctx.mail.queue(ctx.db, &user.email, "mfa_lockout", mail).await {
                tracing::warn!(error = %e, "lockout mail not queued");
            }
            return Ok(Checked::LockedOut);
        }
        put_back(&p).await?;
        return Ok(Checked::Wrong(left));
    };
    attempt.passed(ctx.store, &ctx.config.mfa).await;
    if method == "backup" {
        let (left, _) = backup_codes::counts(ctx.db, user_id).await?;
        let mail = serde_json::json!({ "left": left, "ip": ip.to_string() });
        if let Err(e) = ctx.mail.queue(ctx.db, &user.email, "backup_code_used", mail).await {
            tracing::warn!(error = %e, "backup-code notice not queued");
        }
    }
    passed(ctx, p, user, method, "otp", current).await
}

/// The second factor of `p` passed by `method` (audited), proving `amr_method`: the
/// session, keeping the `auth_time` of a session it steps up.
async fn passed(
    ctx: &Ctx<'_>,
    p: Pending,
    user: entity::user::Model,
    method: &str,
    amr_method: &str,
    current: Option<&str>,
) -> Result<Checked, Error> {
    let actor = format!("user:{}", user.id);
    let detail = serde_json::json!({ "method": method });
    audit(ctx.db, &actor, user.id, "mfa.passed", Some(p.origin.ip), detail).await?;
    let mut amr = p.amr.clone();
    amr.extend([amr_method.to_string(), "mfa".to_string()]);
    if p.restore {
        let p = Pending {
            amr,
            factors_done: true,
            ..p
        };
        return Ok(Checked::Restore(keep_pending(ctx, &p).await?));
    }
    let kept = p.step_up.as_ref().map(|s| (s.auth_time, s.auth_time_ms));
    let done = finish_with(ctx, user, amr, &p.origin, p.then, current, kept).await?;
    Ok(Checked::Finished(Box::new(done)))
}

/// Checks a passkey's answer to the ceremony `state` of the pending sign-in `token`. A
/// passkey cannot be guessed, so its use is not counted against the code attempts and
/// the code lockout does not block it; a refused answer leaves the sign-in pending.
pub async fn second_factor_passkey(
    ctx: &Ctx<'_>,
    token: &str,
    state: &str,
    credential: &str,
    current: Option<&str>,
) -> Result<Checked, Error> {
    let Some((p, user, left_for)) = take_live(ctx, token, current).await? else {
        return Ok(Checked::Expired);
    };
    let proved = if p.enrol {
        None
    } else {
        passkeys::verify_second_factor(ctx, user.id, token, state, credential).await?
    };
    let Some(amr_method) = proved else {
        if p.enrol {
            let value = serde_json::to_vec(&p).map_err(|e| Error::Mail(format!("pending sign-in: {e}")))?;
            ctx.store.put(&pending_key(ctx, token), &value, left_for).await?;
            return Ok(Checked::Expired);
        }
        let actor = format!("user:{}", user.id);
        let detail = serde_json::json!({ "method": "passkey" });
        audit(ctx.db, &actor, user.id, "mfa.failed", Some(p.origin.ip), detail).await?;
        let mut p = p;
        p.passkey_refusals = p.passkey_refusals.saturating_add(1);
        if p.passkey_refusals >= MAX_PASSKEY_REFUSALS {
            return Ok(Checked::Expired);
        }
        let value = serde_json::to_vec(&p).map_err(|e| Error::Mail(format!("pending sign-in: {e}")))?;
        ctx.store.put(&pending_key(ctx, token), &value, left_for).await?;
        return Ok(Checked::Refused);
    };
    passed(ctx, p, user, "passkey", amr_method, current).await
}

/// The account a sign-in waiting for "restore it?" would restore, and its purge date.
pub async fn restore_offer(
    ctx: &Ctx<'_>,
    token: &str,
) -> Result<Option<(entity::user::Model, chrono::DateTime<chrono::Utc>)>, Error> {
    let Some(p) = pending(ctx, token).await?.filter(|p| p.restore && p.factors_done) else {
        return Ok(None);
    };
    let Some(user) = crate::accounts::find(ctx.db, p.user_id).await? else {
        return Ok(None);
    };
    let grace = ctx.config.accounts.deletion_grace_days;
    Ok(user
        .deleted_at
        .filter(|_| crate::accounts::lifecycle::restorable(&user, grace))
        .map(|d| crate::accounts::lifecycle::purge_date(d, grace))
        .map(|purge| (user, purge)))
}

/// Restores the account of the sign-in `token` (the owner asked to, after every factor
/// the sign-in needs) and goes on: signed in, or on to an enrolment the policy requires.
pub async fn restore(ctx: &Ctx<'_>, token: &str, current: Option<&str>) -> Result<Option<Next>, Error> {
    let Some((p, user, _)) = take_live(ctx, token, current).await? else {
        return Ok(None);
    };
    if !p.restore || !p.factors_done {
        return Ok(None);
    }
    let grace = ctx.config.accounts.deletion_grace_days;
    let actor = format!("user:{}", user.id);
    let (ip, device) = (
        p.origin.ip.to_string(),
        crate::accounts::notify::device(&p.origin.user_agent),
    );
    let device = device.label();
    let by = crate::audit::By {
        actor: &actor,
        ip: Some(&ip),
        device: Some(&device),
    };
    if !crate::accounts::lifecycle::restore(ctx.db, &ctx.mail, &user, grace, by).await? {
        return Ok(None);
    }
    let user = entity::user::Model {
        deleted_at: None,
        ..user
    };
    let has = has_second_factor(ctx.db, user.id).await?;
    if !is_multi_factor(&p.amr) && need(ctx.config, &user, has) == Need::Enrol {
        let p = Pending {
            enrol: true,
            restore: false,
            factors_done: false,
            created_ms: chrono::Utc::now().timestamp_millis(),
            ..p
        };
        return Ok(Some(Next::Enrol(keep_pending(ctx, &p).await?)));
    }
    let done = finish(ctx, user, p.amr, &p.origin, p.then, current).await?;
    Ok(Some(Next::Finished(Box::new(done))))
}

/// Finishes the enrolment-first sign-in `token` after its user enrolled a factor. The
/// session counts the password only: whoever enrolled had nothing but the password.
pub async fn finish_enrolment(ctx: &Ctx<'_>, token: &str, current: Option<&str>) -> Result<Option<Finished>, Error> {
    let Some((p, user, _)) = take_live(ctx, token, current).await? else {
        return Ok(None);
    };
    if !p.enrol {
        return Ok(None);
    }
    finish(ctx, user, p.amr, &p.origin, p.then, current).await.map(Some)
}
