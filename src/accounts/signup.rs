//! Signup, activation and resending the activation mail. Answers never reveal whether
//! an address has an account: an existing, verified address gets a notice mail instead
//! of a new account, an unverified one a fresh activation link; the password is hashed in
//! every case so the timing matches.

use std::time::Duration;

use sea_orm::DatabaseConnection;
use secrecy::SecretString;
use uuid::Uuid;

use super::links::{self, Purpose};
use super::{Email, Error, NewUser, PasswordHasher, password, repo};
use crate::config::PasswordPolicy;
use crate::crypto::TokenHasher;
use crate::mail;
use crate::store::Store;
use crate::theme::Theme;

/// What mails need: the theme and the public base URL.
pub struct MailCtx<'a> {
    pub theme: &'a Theme,
    pub issuer: &'a url::Url,
    pub issuer_id: &'a str,
    /// Seals the queued bodies (`mail::body_sealer`).
    pub sealer: &'a crate::crypto::Sealer,
}

impl MailCtx<'_> {
    /// Renders `template` for `to` and puts it in the outbox through `db`, so a mail
    /// queued inside a transaction is sent only if the transaction commits.
    pub async fn queue(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        to: &str,
        template: &str,
        ctx: impl serde::Serialize,
    ) -> Result<(), Error> {
        let rendered =
            mail::render(self.theme, self.issuer, to, template, ctx).map_err(|e| Error::Mail(e.to_string()))?;
        mail::enqueue(db, self.sealer, &rendered)
            .await
            .map_err(|e| Error::Mail(e.to_string()))?;
        Ok(())
    }
}

/// Where the one-time links point.
pub struct LinkCtx<'a> {
    pub store: &'a Store,
    pub hasher: &'a TokenHasher,
    pub ttl: Duration,
    /// Extra query parameters for the link (already encoded), to continue where the
    /// user came from: `next=…` or `authreq=…`.
    pub carry: String,
}

/// Creates an activation link for `user_id` (in the store, before any database
/// transaction: on SQLite the store shares the database, whose writer the transaction
/// would hold).
/// The link carries the password hash chosen with it (`-` for none): activation sets
/// that password, so whoever controls the mailbox decides the password, not whoever
/// signed up with the address first.
async fn activation_link(m: &MailCtx<'_>, l: &LinkCtx<'_>, user_id: Uuid, hash: Option<&str>) -> Result<String, Error> {
    let token = links::issue(
        l.store,
        l.hasher,
        Purpose::Activation,
        user_id,
        hash.unwrap_or("-"),
        l.ttl,
    )
    .await?;
    // Only the newest link of a user works: an older one may carry someone else's password.
    l.store
        .put(&latest_key(user_id), l.hasher.hash(&token).as_bytes(), l.ttl)
        .await?;
    let carry = if l.carry.is_empty() {
        String::new()
    } else {
        format!("&{}", l.carry)
    };
    Ok(format!("{}/signup/activate?token={token}{carry}", m.issuer_id))
}

fn latest_key(user_id: Uuid) -> String {
    links::latest_activation_key(user_id)
}

/// Queues the activation mail carrying `link`.
async fn queue_activation(
    db: &impl sea_orm::ConnectionTrait,
    m: &MailCtx<'_>,
    l: &LinkCtx<'_>,
    email: &str,
    link: &str,
) -> Result<(), Error> {
    let hours = l.ttl.as_secs().div_ceil(3600);
    m.queue(
        db,
        email,
        "activation",
        serde_json::json!({ "link": link, "hours": hours }),
    )
    .await?;
    Ok(())
}

/// Signs up `email` with `password` (already confirmed by the caller). Returns Ok for an
/// address that already has an account too, having mailed it instead.
pub async fn signup(
    db: &DatabaseConnection,
    hasher: &PasswordHasher,
    policy: &PasswordPolicy,
    m: &MailCtx<'_>,
    l: &LinkCtx<'_>,
    email: Email,
    pw: SecretString,
) -> Result<(), Error> {
    password::check_policy(policy, secrecy::ExposeSecret::expose_secret(&pw), email.as_str())?;
    hasher.check_breached(&pw).await?;
    // Hashed in every case, so an existing address answers in the same time.
    let hash = hasher.hash(pw).await.map_err(|e| Error::Hashing(e.to_string()))?;
    match repo::find_by_email(db, &email).await? {
        Some(u) if !super::state::of(&u).awaits_activation() => {
            let login = format!("{}/login", m.issuer_id);
            let reset = format!("{}/password/reset", m.issuer_id);
            m.queue(
                db,
                &u.email,
                "account_exists",
                serde_json::json!({ "login": login, "reset": reset }),
            )
            .await?;
        }
        Some(u) => {
            let link = activation_link(m, l, u.id, Some(&hash)).await?;
            queue_activation(db, m, l, &u.email, &link).await?;
        }
        None => {
            let id = Uuid::now_v7();
            let link = activation_link(m, l, id, Some(&hash)).await?;
            let new = NewUser {
                email: email.clone(),
                password: None,
                verified: false,
                superuser: false,
            };
            let txn = crate::db::begin(db).await?;
            let user = match repo::insert_user_as(&txn, id, &new, Some(hash)).await {
                Ok(u) => u,
                // Lost a race with a signup of the same address: nothing more to do.
                Err(e) if repo::is_unique_violation(&e) => return Ok(()),
                Err(e) => return Err(e.into()),
            };
            crate::audit::record(
                &txn,
                crate::audit::Event {
                    actor: "signup",
                    user_id: Some(user.id),
                    kind: "user.signed_up",
                    ip: None,
                    detail: None,
                },
            )
            .await?;
            queue_activation(&txn, m, l, &user.email, &link).await?;
            txn.commit().await?;
        }
    }
    Ok(())
}

/// Sends a new activation link to `email` if it belongs to an unverified account.
pub async fn resend(db: &DatabaseConnection, m: &MailCtx<'_>, l: &LinkCtx<'_>, email: &Email) -> Result<(), Error> {
    if let Some(u) = repo::find_by_email(db, email).await?
        && super::state::of(&u).awaits_activation()
    {
        // No password comes with a resend: activating through it clears the stored one,
        // which may have been chosen by someone else signing up with this address.
        let link = activation_link(m, l, u.id, None).await?;
        queue_activation(db, m, l, &u.email, &link).await?;
    }
    Ok(())
}

/// Whether an activated account still needs a password (activated by a resent link).
pub struct Activated {
    pub user: entity::user::Model,
    pub needs_password: bool,
}

/// Consumes an activation token: verifies the address, activates the account, sets the
/// password that came with the link (or clears it), and queues the welcome mail. None for
/// an unknown, used or expired link.
pub async fn activate(
    db: &DatabaseConnection,
    m: &MailCtx<'_>,
    l: &LinkCtx<'_>,
    token: &str,
) -> Result<Option<Activated>, Error> {
    let Some((user_id, hash)) = links::redeem(l.store, l.hasher, Purpose::Activation, token).await? else {
        return Ok(None);
    };
    let latest = l.store.get(&latest_key(user_id)).await?;
    if latest.as_deref() != Some(l.hasher.hash(token).as_bytes()) {
        return Ok(None);
    }
    let txn = crate::db::begin(db).await?;
    let Some(user) = repo::mark_verified(&txn, user_id).await? else {
        return Ok(None);
    };
    let needs_password = hash == "-";
    repo::set_password(&txn, user.id, (!needs_password).then_some(hash)).await?;
    m.queue(
        &txn,
        &user.email,
        "welcome",
        serde_json::json!({ "login": format!("{}/login", m.issuer_id) }),
    )
    .await?;
    crate::audit::record(
        &txn,
        crate::audit::Event {
            actor: "user",
            user_id: Some(user.id),
            kind: "user.activated",
            ip: None,
            detail: None,
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Some(Activated { user, needs_password }))
}
