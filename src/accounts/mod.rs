//! Local accounts: parsed input types, the password policy and hashing, and the users
//! repository. Knows nothing of HTTP.

pub mod breached;
pub mod email_change;
pub mod images;
pub mod lifecycle;
pub mod links;
pub mod notify;
pub mod password;
pub mod profile;
pub mod repo;
pub mod reset;
pub mod sessions;
pub mod sign_in;
pub mod signup;
pub mod state;
pub mod throttle;
pub mod types;

use sea_orm::{DatabaseConnection, DbErr};

pub use password::{PasswordHasher, PasswordPolicyError};
pub use types::{Email, EmailError};

use crate::audit;

/// Errors of account operations.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("an account with the email address {0} already exists")]
    DuplicateEmail(String),
    #[error(transparent)]
    Email(#[from] EmailError),
    #[error(transparent)]
    Password(#[from] PasswordPolicyError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("the current password is not correct")]
    WrongPassword,
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("store error: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("mail could not be queued: {0}")]
    Mail(String),
    /// Another request changed the same thing first (a link made twice at once).
    #[error("changed meanwhile by another request")]
    Conflict,
}

/// The user with this id.
pub async fn find(db: &DatabaseConnection, id: uuid::Uuid) -> Result<Option<entity::user::Model>, DbErr> {
    repo::find_by_id(db, id).await
}

/// The user with this address, if any.
pub async fn find_by_email(db: &DatabaseConnection, email: &Email) -> Result<Option<entity::user::Model>, DbErr> {
    repo::find_by_email(db, email).await
}

/// A user and their profile.
pub async fn with_profile(
    db: &DatabaseConnection,
    id: uuid::Uuid,
) -> Result<Option<(entity::user::Model, Option<entity::user_profile::Model>)>, DbErr> {
    repo::find_with_profile(db, id).await
}

/// Records a sign-in (the last sign-in time shown to operators).
pub async fn record_sign_in(db: &DatabaseConnection, id: uuid::Uuid, seen: SignIn<'_>) -> Result<(), DbErr> {
    let txn = crate::db::begin(db).await?;
    repo::touch_last_login(&txn, id).await?;
    let detail = serde_json::json!({ "amr": seen.amr, "device": seen.device });
    sign_in_event(&txn, "user", id, "user.signed_in", seen.ip, detail).await?;
    txn.commit().await
}

/// Where a sign-in (or a failed one) came from, for the audit log.
#[derive(Debug, Clone, Copy)]
pub struct SignIn<'a> {
    pub ip: std::net::IpAddr,
    /// "Browser on OS".
    pub device: &'a str,
    pub amr: &'a [String],
}

/// Records a wrong password for the account `id` (unknown addresses are not recorded:
/// the audit log is no place a stranger can fill).
pub async fn record_failed_sign_in(db: &DatabaseConnection, id: uuid::Uuid, seen: SignIn<'_>) -> Result<(), DbErr> {
    let detail = serde_json::json!({ "amr": seen.amr, "device": seen.device });
    sign_in_event(db, "anonymous", id, "user.sign_in_failed", seen.ip, detail).await
}

async fn sign_in_event(
    db: &impl sea_orm::ConnectionTrait,
    actor: &str,
    id: uuid::Uuid,
    kind: &str,
    ip: std::net::IpAddr,
    detail: serde_json::Value,
) -> Result<(), DbErr> {
    crate::audit::record(
        db,
        crate::audit::Event {
            actor,
            user_id: Some(id),
            kind,
            ip: Some(ip.to_string()),
            detail: Some(detail),
        },
    )
    .await
}

/// Replaces the password hash `old` (just verified) by `new`, made with today's
/// parameters; false when the password changed meanwhile (that change stands).
pub async fn upgrade_password_hash(
    db: &DatabaseConnection,
    id: uuid::Uuid,
    old: &str,
    new: String,
) -> Result<bool, DbErr> {
    repo::replace_password_hash(db, id, Some(old), None, new).await
}

/// Revokes every refresh token of the user.
pub async fn revoke_refresh_tokens(db: &DatabaseConnection, id: uuid::Uuid) -> Result<u64, DbErr> {
    repo::revoke_all_refresh_tokens(db, id).await
}

/// Whether login notifications are on for the user (on when never set).
pub async fn login_notifications(db: &DatabaseConnection, id: uuid::Uuid) -> Result<bool, DbErr> {
    Ok(repo::preferences(db, id).await?.is_none_or(|p| p.login_notifications))
}

/// Whether the user turned sign-in links by mail on (off when never set).
pub async fn magic_links(db: &impl sea_orm::ConnectionTrait, id: uuid::Uuid) -> Result<bool, DbErr> {
    Ok(repo::preferences(db, id).await?.is_some_and(|p| p.magic_links_enabled))
}

/// Turns the user's sign-in links by mail on or off (callers end outstanding links).
pub async fn set_magic_links(db: &DatabaseConnection, id: uuid::Uuid, on: bool) -> Result<(), DbErr> {
    repo::set_magic_links(db, id, on).await
}

/// Turns the user's login notifications on or off.
pub async fn set_login_notifications(db: &DatabaseConnection, id: uuid::Uuid, on: bool) -> Result<(), DbErr> {
    repo::set_login_notifications(db, id, on).await
}

/// What to create.
#[derive(Debug)]
pub struct NewUser {
    pub email: Email,
    pub password: Option<secrecy::SecretString>,
    pub verified: bool,
    pub superuser: bool,
}

/// Creates a user with an empty profile and default preferences, in one transaction
/// with its audit event. `actor` names who did it (`"cli"`, `"user:<id>"`).
pub async fn create_user(
    db: &DatabaseConnection,
    hasher: &PasswordHasher,
    policy: &crate::config::PasswordPolicy,
    new: NewUser,
    actor: &str,
) -> Result<entity::user::Model, Error> {
    if let Some(p) = &new.password {
        password::check_policy(policy, secrecy::ExposeSecret::expose_secret(p), new.email.as_str())?;
        hasher.check_breached(p).await?;
    }
    if repo::find_by_email(db, &new.email).await?.is_some() {
        return Err(Error::DuplicateEmail(new.email.as_str().to_string()));
    }
    let hash = match &new.password {
        Some(p) => Some(
            hasher
                .hash(p.clone())
                .await
                .map_err(|e| Error::Hashing(e.to_string()))?,
        ),
        None => None,
    };
    let txn = crate::db::begin(db).await?;
    let user = match repo::insert_user(&txn, &new, hash).await {
        Ok(u) => u,
        // Lost a race with another insert of the same address.
        Err(e) if repo::is_unique_violation(&e) => {
            return Err(Error::DuplicateEmail(new.email.as_str().to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    audit::record(
        &txn,
        audit::Event {
            actor,
            user_id: Some(user.id),
            kind: "user.created",
            ip: None,
            detail: Some(serde_json::json!({ "verified": new.verified, "superuser": new.superuser })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(user)
}

/// Changes a password after checking the current one, and mails a notice. Every pending
/// link of the user ends with the old password.
#[allow(clippy::too_many_arguments)]
pub async fn change_password(
    db: &DatabaseConnection,
    store: &crate::store::Store,
    hasher: &PasswordHasher,
    policy: &crate::config::PasswordPolicy,
    m: &signup::MailCtx<'_>,
    user_id: uuid::Uuid,
    current: secrecy::SecretString,
    new: secrecy::SecretString,
) -> Result<(), Error> {
    let Some((user, _)) = repo::find_with_profile(db, user_id).await? else {
        return Err(Error::WrongPassword);
    };
    let stored = user.password_hash.clone().unwrap_or_default();
    if !hasher
        .verify(current, stored)
        .await
        .map_err(|e| Error::Hashing(e.to_string()))?
    {
        return Err(Error::WrongPassword);
    }
    password::check_policy(policy, secrecy::ExposeSecret::expose_secret(&new), &user.email)?;
    hasher.check_breached(&new).await?;
    let hash = hasher.hash(new).await.map_err(|e| Error::Hashing(e.to_string()))?;
    let txn = crate::db::begin(db).await?;
    // Only over the password just checked: a reset that landed meanwhile stands.
    if !repo::replace_password_hash(&txn, user.id, user.password_hash.as_deref(), None, hash).await? {
        return Err(Error::WrongPassword);
    }
    password_changed(&txn, m, &user, "user.password_changed").await?;
    txn.commit().await?;
    // The password is changed: a store hiccup here is logged, not reported as failure
    // (activation links also die with the account's verification).
    if let Err(e) = links::end_unbound(store, user.id).await {
        tracing::warn!(error = %e, "pending activation link not ended");
    }
    Ok(())
}

/// What follows a new password stored in `txn`: the notice mail to the user and the
/// audit event `kind`, both committed with it.
pub(crate) async fn password_changed(
    txn: &impl sea_orm::ConnectionTrait,
    m: &signup::MailCtx<'_>,
    user: &entity::user::Model,
    kind: &'static str,
) -> Result<(), Error> {
    m.queue(
        txn,
        &user.email,
        "password_changed",
        serde_json::json!({ "reset": format!("{}/password/reset", m.issuer_id) }),
    )
    .await?;
    audit::record(
        txn,
        audit::Event {
            actor: "user",
            user_id: Some(user.id),
            kind,
            ip: None,
            detail: None,
        },
    )
    .await?;
    Ok(())
}
