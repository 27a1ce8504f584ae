//! Email change: the new address confirms with a mailed link before anything changes,
//! the old address is told once it does, and an address that belongs to another account
//! is never taken over (its owner gets a notice instead, and the requester the same
//! answer as always).

use std::time::Duration;

use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use uuid::Uuid;

use super::links::{self, Purpose};
use super::signup::MailCtx;
use super::{Email, Error, PasswordHasher, repo};
use crate::crypto::TokenHasher;
use crate::store::Store;

/// Asks to move `user_id` to `new_email` (the current password is required).
#[allow(clippy::too_many_arguments)]
pub async fn request(
    db: &DatabaseConnection,
    store: &Store,
    token_hasher: &TokenHasher,
    passwords: &PasswordHasher,
    m: &MailCtx<'_>,
    user_id: Uuid,
    password: SecretString,
    new_email: &Email,
    ttl: Duration,
) -> Result<(), Error> {
    let Some((user, _)) = repo::find_with_profile(db, user_id).await? else {
        return Err(Error::WrongPassword);
    };
    let stored = user.password_hash.clone().unwrap_or_default();
    if !passwords
        .verify(password, stored)
        .await
        .map_err(|e| Error::Hashing(e.to_string()))?
    {
        return Err(Error::WrongPassword);
    }
    if new_email.canonical() == user.email_canonical {
        return Ok(());
    }
    if repo::find_by_email(db, new_email).await?.is_some() {
        let ctx = serde_json::json!({ "login": format!("{}/login", m.issuer_id), "reset": format!("{}/password/reset", m.issuer_id) });
        m.queue(db, new_email.as_str(), "account_exists", ctx).await?;
        return Ok(());
    }
    let value = format!(
        "{} {}",
        links::binding(token_hasher, BINDING, &user),
        new_email.as_str()
    );
    let token = links::issue(store, token_hasher, Purpose::EmailChange, user.id, &value, ttl).await?;
    let link = format!("{}/account/email/confirm?token={token}", m.issuer_id);
    let hours = ttl.as_secs().div_ceil(3600);
    m.queue(
        db,
        new_email.as_str(),
        "email_change",
        serde_json::json!({ "link": link, "hours": hours, "old": user.email }),
    )
    .await?;
    Ok(())
}

/// Salts the binding of email-change links to the password and address they were
/// requested under: a password change or reset (the owner taking the account back) ends
/// them, and so does another change of address.
const BINDING: &str = "email-change-binding";

/// The user and new address of a link value, if it is still bound to the user as now.
async fn live(
    db: &impl sea_orm::ConnectionTrait,
    hasher: &TokenHasher,
    user_id: Uuid,
    value: &str,
) -> Result<Option<(entity::user::Model, Email)>, Error> {
    let Some((bound, new)) = value.split_once(' ') else {
        return Ok(None);
    };
    let Some(user) = repo::find_by_id(db, user_id).await? else {
        return Ok(None);
    };
    let Ok(new) = Email::parse(new) else {
        return Ok(None);
    };
    Ok(links::still_bound(hasher, BINDING, &user, bound).then_some((user, new)))
}

/// The new address a live confirmation link is for.
pub async fn peek(
    db: &DatabaseConnection,
    store: &Store,
    token_hasher: &TokenHasher,
    token: &str,
) -> Result<Option<String>, Error> {
    let Some((user_id, value)) = links::peek(store, token_hasher, Purpose::EmailChange, token).await? else {
        return Ok(None);
    };
    Ok(live(db, token_hasher, user_id, &value)
        .await?
        .map(|(_, e)| e.as_str().to_string()))
}

/// Applies a confirmed change. Returns the new address, or None for a dead link or an
/// address taken meanwhile.
pub async fn confirm(
    db: &DatabaseConnection,
    store: &Store,
    token_hasher: &TokenHasher,
    m: &MailCtx<'_>,
    token: &str,
) -> Result<Option<String>, Error> {
    let Some((user_id, value)) = links::redeem(store, token_hasher, Purpose::EmailChange, token).await? else {
        return Ok(None);
    };
    let Some((user, new_email)) = live(db, token_hasher, user_id, &value).await? else {
        return Ok(None);
    };
    let txn = crate::db::begin(db).await?;
    // Only over the password and address the link was bound to, checked just now.
    let Some(old) = repo::change_email(&txn, &user, &new_email).await.or_else(|e| {
        if repo::is_unique_violation(&e) {
            Ok(None)
        } else {
            Err(e)
        }
    })?
    else {
        return Ok(None);
    };
    m.queue(
        &txn,
        &old,
        "email_changed_notice",
        serde_json::json!({ "new": new_email.as_str(), "reset": format!("{}/password/reset", m.issuer_id) }),
    )
    .await?;
    crate::audit::record(
        &txn,
        crate::audit::Event {
            actor: "user",
            user_id: Some(user_id),
            kind: "user.email_changed",
            ip: None,
            detail: Some(serde_json::json!({ "old": old })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Some(new_email.as_str().to_string()))
}
