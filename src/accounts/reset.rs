//! Password reset by mailed link. The request answers the same, in the same time, for
//! any address: the link is created and mailed off the request path, and an address
//! without an account gets no mail at all. Setting the new password ends every session
//! and refresh token of the user and sends a notice.
//!
//! A link is bound to the password it replaces and the address it was sent to (a keyed
//! hash of both travels with it), so once the password or the address changes, every
//! link mailed before is dead.

use secrecy::SecretString;
use uuid::Uuid;

use super::links::{self, Purpose};
use super::signup::{LinkCtx, MailCtx};
use super::{Email, Error, PasswordHasher, password, repo};
use crate::config::PasswordPolicy;

/// Prepares and queues the reset mail for `email` if it has an active account.
pub async fn request(
    db: &sea_orm::DatabaseConnection,
    m: &MailCtx<'_>,
    l: &LinkCtx<'_>,
    email: &Email,
) -> Result<(), Error> {
    let Some(user) = repo::find_by_email(db, email).await? else {
        return Ok(());
    };
    if !super::state::of(&user).is_verified() {
        return Ok(());
    }
    let bound = binding(l, &user);
    let token = links::issue(l.store, l.hasher, Purpose::PasswordReset, user.id, &bound, l.ttl).await?;
    let link = format!("{}/password/reset/confirm?token={token}", m.issuer_id);
    let minutes = l.ttl.as_secs().div_ceil(60);
    m.queue(
        db,
        &user.email,
        "password_reset",
        serde_json::json!({ "link": link, "minutes": minutes }),
    )
    .await?;
    Ok(())
}

/// Salts the binding of reset links (an email change also ends the links mailed to the
/// old address).
const BINDING: &str = "reset-binding";

fn binding(l: &LinkCtx<'_>, user: &entity::user::Model) -> String {
    links::binding(l.hasher, BINDING, user)
}

/// The user a live reset link is for, if the password has not changed since it was sent.
pub async fn peek(
    db: &impl sea_orm::ConnectionTrait,
    l: &LinkCtx<'_>,
    token: &str,
) -> Result<Option<entity::user::Model>, Error> {
    let Some((user_id, bound)) = links::peek(l.store, l.hasher, Purpose::PasswordReset, token).await? else {
        return Ok(None);
    };
    let Some(user) = repo::find_by_id(db, user_id).await? else {
        return Ok(None);
    };
    Ok(links::still_bound(l.hasher, BINDING, &user, &bound).then_some(user))
}

/// Sets a new password with a reset link. Returns the user's id, or None when the link
/// is unknown, used or expired. The policy is checked before the link is consumed, so a
/// refused password leaves the link usable.
#[allow(clippy::too_many_arguments)]
pub async fn confirm(
    db: &sea_orm::DatabaseConnection,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    m: &MailCtx<'_>,
    l: &LinkCtx<'_>,
    token: &str,
    new_password: SecretString,
) -> Result<Option<Uuid>, Error> {
    let Some(user) = peek(db, l, token).await? else {
        return Ok(None);
    };
    let user_id = user.id;
    password::check_policy(policy, secrecy::ExposeSecret::expose_secret(&new_password), &user.email)?;
    hasher.check_breached(&new_password).await?;
    let hash = hasher
        .hash(new_password)
        .await
        .map_err(|e| Error::Hashing(e.to_string()))?;
    if links::redeem(l.store, l.hasher, Purpose::PasswordReset, token)
        .await?
        .map(|(id, _)| id)
        != Some(user_id)
    {
        return Ok(None);
    }
    let txn = crate::db::begin(db).await?;
    // Changed while the new one was hashed (another link, the account page): this link
    // was bound to the old password, so it is spent and does nothing.
    if !repo::replace_password_hash(
        &txn,
        user.id,
        user.password_hash.as_deref(),
        Some(&user.email_canonical),
        hash,
    )
    .await?
    {
        return Ok(None);
    }
    repo::revoke_all_refresh_tokens(&txn, user.id).await?;
    crate::auth::passkeys::remove_password_only(&txn, m, &user).await?;
    super::password_changed(&txn, m, &user, "user.password_reset").await?;
    txn.commit().await?;
    if let Err(e) = links::end_unbound(l.store, user.id).await {
        tracing::warn!(error = %e, "pending activation link not ended");
    }
    Ok(Some(user.id))
}
