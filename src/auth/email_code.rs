//! Codes by mail, a second factor the user turns on (a `second_factor` row of kind
//! `email`): 6 digits from the CSPRNG, for one pending sign-in, stored as a keyed hash,
//! single use, `mfa.email_code_secs` long; at most [`SENDS_PER_WINDOW`] mails per user
//! per ten minutes. Never an automatic fallback: only users who turned it on get codes.

use std::time::Duration;

use uuid::Uuid;

use super::{Ctx, repo};
use crate::accounts::Error;

/// Code mails per user per [`SEND_WINDOW`].
pub const SENDS_PER_WINDOW: u64 = 3;
const SEND_WINDOW: Duration = Duration::from_secs(600);
/// The kind of the factor row that turns email codes on.
pub const KIND: &str = "email";

fn code_key(ctx: &Ctx<'_>, pending_token: &str) -> String {
    crate::store::keys::email_code(&ctx.hasher.hash(pending_token))
}

fn hash(ctx: &Ctx<'_>, user_id: Uuid, code: &str) -> String {
    ctx.hasher.hash(&format!("email-code\0{user_id}\0{code}"))
}

/// Whether a mailed code may be the second factor after a first factor proving `amr`:
/// not after a sign-in link, which proved the same mailbox (one factor twice is one).
pub fn allowed_after(amr: &[String]) -> bool {
    !amr.iter().any(|m| m == "email")
}

/// Whether the user turned email codes on.
pub async fn enabled(ctx: &Ctx<'_>, user_id: Uuid) -> Result<bool, sea_orm::DbErr> {
    Ok(repo::factors(ctx.db, user_id).await?.iter().any(|f| f.kind == KIND))
}

/// What asking for a code did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    Sent,
    /// Too many mails lately.
    TooMany,
    /// The user has not turned email codes on (nothing is sent).
    NotEnabled,
}

/// Mails a new code for the pending sign-in `pending_token` of `user` (replacing an
/// earlier one).
pub async fn send(ctx: &Ctx<'_>, pending_token: &str, user: &entity::user::Model) -> Result<Sent, Error> {
    if !enabled(ctx, user.id).await? {
        return Ok(Sent::NotEnabled);
    }
    let sends = ctx
        .store
        .incr(&crate::store::keys::email_code_sends(user.id), SEND_WINDOW)
        .await?;
    if sends > SENDS_PER_WINDOW {
        return Ok(Sent::TooMany);
    }
    let n = u32::from_le_bytes(crate::crypto::random_bytes::<4>()) % 1_000_000;
    let code = format!("{n:06}");
    let ttl = Duration::from_secs(ctx.config.mfa.email_code_secs);
    ctx.store
        .put(&code_key(ctx, pending_token), hash(ctx, user.id, &code).as_bytes(), ttl)
        .await?;
    let minutes = ctx.config.mfa.email_code_secs.div_ceil(60);
    let mail = serde_json::json!({ "code": code, "minutes": minutes });
    ctx.mail.queue(ctx.db, &user.email, "email_code", mail).await?;
    Ok(Sent::Sent)
}

/// Uses the mailed code of this pending sign-in if `code` is it.
pub async fn redeem(ctx: &Ctx<'_>, pending_token: &str, user_id: Uuid, code: &str) -> Result<bool, Error> {
    let Some(code) = super::totp::normalise(code) else {
        return Ok(false);
    };
    let key = code_key(ctx, pending_token);
    let Some(stored) = ctx.store.get(&key).await? else {
        return Ok(false);
    };
    if !crate::crypto::constant_time_eq(&stored, hash(ctx, user_id, &code).as_bytes()) {
        return Ok(false);
    }
    // Single use: of two requests with it, one takes it.
    Ok(ctx.store.take(&key).await?.is_some())
}

/// Turns email codes on for `user`; false if they were on.
pub async fn enable(ctx: &Ctx<'_>, user: &entity::user::Model) -> Result<bool, Error> {
    if enabled(ctx, user.id).await? {
        return Ok(false);
    }
    let id = Uuid::now_v7();
    repo::insert_factor(
        ctx.db,
        entity::second_factor::Model {
            id,
            user_id: user.id,
            kind: KIND.into(),
            name: "Codes by email".into(),
            secret: Vec::new(),
            last_step: None,
            created_at: chrono::Utc::now(),
            last_used_at: None,
            credential_id: None,
            added_with_mfa: false,
        },
    )
    .await?;
    ctx.mail
        .queue(
            ctx.db,
            &user.email,
            "factor_added",
            serde_json::json!({ "name": "Codes by email" }),
        )
        .await?;
    super::record_change(
        ctx.db,
        user.id,
        "mfa.factor_added",
        serde_json::json!({ "factor": id, "kind": KIND }),
    )
    .await?;
    Ok(true)
}
