//! What an upstream identity may do. Identities are keyed by (provider id, subject):
//!
//! - a linked identity signs in as its user (whatever address the provider states now);
//!   the user's own second factor is still asked;
//! - a new identity with a **verified** address no account uses creates an account
//!   (unless `accounts.upstream_signup` is off), after the user agreed on a page;
//! - a new identity whose verified address an account uses never signs in to it: the
//!   user signs in to that account first, then confirms the link;
//! - a new identity with an **unverified** address (or none) creates an account only
//!   after the address is confirmed by mail, in the same browser, and is never linked by
//!   that address (the mail tells an existing account's owner how to link instead).
//!
//! Links and unlinks are audited and mailed; the last way to sign in cannot be unlinked.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Identity, PENDING_TTL, repo};
use crate::accounts::{Email, Error, NewUser};
use crate::audit;
use crate::auth::Ctx;

/// What a new sign-in with an identity leads to.
#[derive(Debug)]
pub enum Decision {
    /// A linked identity: sign in as this user.
    SignIn(Box<entity::user::Model>),
    /// Ask the user whether to create an account with the verified address.
    Create,
    /// An account (verified) uses the verified address: sign in to that account first,
    /// then link.
    ProveAccount(Uuid),
    /// The address is unverified or missing: confirm one by mail first.
    ConfirmAddress,
    /// New identities may not create accounts here.
    SignupClosed,
}

/// Decides what `identity` may do, and records a sign-in of a linked one.
pub async fn decide(ctx: &Ctx<'_>, identity: &Identity) -> Result<Decision, Error> {
    if let Some(row) = repo::find(ctx.db, &identity.provider, &identity.subject).await? {
        repo::touch(ctx.db, row.id, identity).await?;
        return match crate::accounts::find(ctx.db, row.user_id).await? {
            Some(u) => Ok(Decision::SignIn(Box::new(u))),
            // Gone between the two reads (a purge): like a new identity.
            None => Ok(Decision::SignupClosed),
        };
    }
    // An unverified address says nothing about an account, not even that one exists.
    let verified = identity
        .email
        .as_deref()
        .filter(|_| identity.email_verified)
        .and_then(|e| Email::parse(e).ok());
    let Some(email) = verified else {
        return Ok(if ctx.config.accounts.upstream_signup {
            Decision::ConfirmAddress
        } else {
            Decision::SignupClosed
        });
    };
    // An account that never confirmed its address does not own it: whoever proves the
    // address (here, the provider) may claim it (see `create_account`), so nobody can
    // squat an address with a signup they never finish ("pre-hijacking").
    if let Some(u) = crate::accounts::find_by_email(ctx.db, &email).await?
        && !crate::accounts::state::of(&u).awaits_activation()
    {
        return Ok(Decision::ProveAccount(u.id));
    }
    Ok(if ctx.config.accounts.upstream_signup {
        Decision::Create
    } else {
        Decision::SignupClosed
    })
}

/// Which answer a waiting identity needs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// "Create an account?" (a verified address no account uses).
    Create,
    /// Sign in to the account that uses the address, then confirm the link.
    ProveAccount,
    /// Type an address to confirm by mail.
    ConfirmAddress,
}

/// An identity waiting for this browser's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub stage: Stage,
    pub identity: Identity,
    /// `ProveAccount`: the account that must be signed in to make the link.
    #[serde(default)]
    pub for_user: Option<Uuid>,
    /// Where to continue once signed in.
    pub then: String,
    pub remember: bool,
}

fn pending_key(ctx: &Ctx<'_>, binding: &str) -> String {
    crate::store::keys::upstream_pending(&super::binding_hash(ctx.hasher, binding))
}

/// The pending key of a binding cookie that looks like one.
fn pending_key_of(ctx: &Ctx<'_>, binding: Option<&str>) -> Option<String> {
    binding
        .filter(|b| !b.is_empty() && b.len() <= 128)
        .map(|b| pending_key(ctx, b))
}

/// Keeps `p` for the browser holding `binding` (replacing what it waited with before).
pub async fn keep_pending(ctx: &Ctx<'_>, binding: &str, p: &Pending) -> Result<(), Error> {
    let value = serde_json::to_vec(p).map_err(|e| Error::Mail(format!("pending identity: {e}")))?;
    ctx.store.put(&pending_key(ctx, binding), &value, PENDING_TTL).await?;
    Ok(())
}

/// The identity this browser waits with, if any.
pub async fn pending(ctx: &Ctx<'_>, binding: Option<&str>) -> Result<Option<Pending>, Error> {
    let Some(key) = pending_key_of(ctx, binding) else {
        return Ok(None);
    };
    let raw = ctx.store.get(&key).await?;
    Ok(raw.and_then(|v| serde_json::from_slice(&v).ok()))
}

/// Takes the identity this browser waits with (once).
pub async fn take_pending(ctx: &Ctx<'_>, binding: Option<&str>) -> Result<Option<Pending>, Error> {
    let Some(key) = pending_key_of(ctx, binding) else {
        return Ok(None);
    };
    let raw = ctx.store.take(&key).await?;
    Ok(raw.and_then(|v| serde_json::from_slice(&v).ok()))
}

/// Creates an account for a new identity with an address known to be the user's
/// (verified by the provider, or confirmed by mail): verified, without a password, the
/// profile prefilled, the identity linked; one transaction with its audit events.
pub async fn create_account(
    ctx: &Ctx<'_>,
    identity: &Identity,
    email: &Email,
    ip: Option<String>,
) -> Result<entity::user::Model, Error> {
    let existing = crate::accounts::find_by_email(ctx.db, email).await?;
    let actor = format!("upstream:{}", identity.provider);
    if let Some(u) = existing {
        if !crate::accounts::state::of(&u).awaits_activation() {
            return Err(Error::DuplicateEmail(email.as_str().to_string()));
        }
        return claim(ctx, u, identity, &actor, ip).await;
    }
    let txn = crate::db::begin(ctx.db).await?;
    let new = NewUser {
        email: email.clone(),
        password: None,
        verified: true,
        superuser: false,
    };
    let user = match crate::accounts::repo::insert_user(&txn, &new, None).await {
        Ok(u) => u,
        Err(e) if crate::accounts::repo::is_unique_violation(&e) => {
            return Err(Error::DuplicateEmail(email.as_str().to_string()));
        }
        Err(e) => return Err(e.into()),
    };
    let created = (
        "user.created",
        serde_json::json!({ "verified": true, "through": identity.provider }),
    );
    give_identity(&txn, &user, identity, &actor, ip, created).await?;
    txn.commit().await?;
    Ok(user)
}

/// What a new account's owner gets from the identity that made it: the profile
/// prefilled, the identity linked, and the audit events (`first`, then the link).
async fn give_identity(
    txn: &impl sea_orm::ConnectionTrait,
    user: &entity::user::Model,
    identity: &Identity,
    actor: &str,
    ip: Option<String>,
    first: (&str, serde_json::Value),
) -> Result<(), Error> {
    repo::prefill_profile(txn, user.id, identity).await?;
    insert_identity(txn, user.id, identity).await?;
    let linked = ("upstream.linked", serde_json::json!({ "provider": identity.provider }));
    for (kind, detail) in [first, linked] {
        audit::record(
            txn,
            audit::Event {
                actor,
                user_id: Some(user.id),
                kind,
                ip: ip.clone(),
                detail: Some(detail),
            },
        )
        .await?;
    }
    Ok(())
}

/// Links a new identity; one that another browser linked meanwhile is refused.
async fn insert_identity(txn: &impl sea_orm::ConnectionTrait, user_id: Uuid, identity: &Identity) -> Result<(), Error> {
    match repo::insert(txn, user_id, identity).await {
        Ok(_) => Ok(()),
        Err(e) if crate::accounts::repo::is_unique_violation(&e) => Err(Error::Conflict),
        Err(e) => Err(e.into()),
    }
}

/// Gives the account that waits for activation with `identity`'s proven address to
/// the identity: the password set by whoever signed up without finishing is removed
/// (an account made before its owner arrives keeps nothing of its maker's), the
/// activation link dies, the address counts as verified and the identity is linked.
async fn claim(
    ctx: &Ctx<'_>,
    u: entity::user::Model,
    identity: &Identity,
    actor: &str,
    ip: Option<String>,
) -> Result<entity::user::Model, Error> {
    let txn = crate::db::begin(ctx.db).await?;
    let Some(locked) = repo::lock_user(&txn, u.id).await? else {
        return Err(Error::Conflict);
    };
    if !crate::accounts::state::of(&locked).awaits_activation() {
        return Err(Error::DuplicateEmail(locked.email));
    }
    crate::accounts::repo::set_password(&txn, u.id, None).await?;
    let Some(user) = crate::accounts::repo::mark_verified(&txn, u.id).await? else {
        return Err(Error::Conflict);
    };
    let claimed = (
        "user.claimed",
        serde_json::json!({ "through": identity.provider, "password_removed": locked.password_hash.is_some() }),
    );
    give_identity(&txn, &user, identity, actor, ip, claimed).await?;
    txn.commit().await?;
    if let Err(e) = crate::accounts::links::end_unbound(ctx.store, user.id).await {
        tracing::warn!(error = %e, "pending activation link not ended");
    }
    Ok(user)
}

/// What linking an identity to a user did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linked {
    Linked,
    /// It was linked to this user already.
    AlreadyYours,
    /// Another account has it: nothing changed.
    OtherAccount,
}

/// Links `identity` to `user` (who proved the account): audited and mailed.
pub async fn link(
    ctx: &Ctx<'_>,
    user: &entity::user::Model,
    identity: &Identity,
    provider_name: &str,
    ip: Option<String>,
) -> Result<Linked, Error> {
    if let Some(row) = repo::find(ctx.db, &identity.provider, &identity.subject).await? {
        return Ok(if row.user_id == user.id {
            repo::touch(ctx.db, row.id, identity).await?;
            Linked::AlreadyYours
        } else {
            Linked::OtherAccount
        });
    }
    let txn = crate::db::begin(ctx.db).await?;
    match insert_identity(&txn, user.id, identity).await {
        Ok(()) => {}
        // Lost a race with another link of the same identity.
        Err(Error::Conflict) => return Ok(Linked::OtherAccount),
        Err(e) => return Err(e),
    }
    audit::record(
        &txn,
        audit::Event {
            actor: &format!("user:{}", user.id),
            user_id: Some(user.id),
            kind: "upstream.linked",
            ip,
            detail: Some(serde_json::json!({ "provider": identity.provider })),
        },
    )
    .await?;
    ctx.mail
        .queue(
            &txn,
            &user.email,
            "upstream_linked",
            serde_json::json!({
                "provider": provider_name,
                "upstream_email": identity.email,
                "linked": format!("{}/account/linked", ctx.mail.issuer_id),
            }),
        )
        .await?;
    txn.commit().await?;
    Ok(Linked::Linked)
}

/// The identities linked to the user.
pub async fn linked(ctx: &Ctx<'_>, user_id: Uuid) -> Result<Vec<entity::upstream_identity::Model>, Error> {
    Ok(repo::of_user(ctx.db, user_id).await?)
}

/// What unlinking did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlinked {
    /// Unlinked the identity at this provider id.
    Done(String),
    /// It is the last way to sign in (no password, no passkey, no other provider).
    LastWay,
    NotFound,
}

/// Unlinks the user's identity `id`, unless nothing else could sign in to the account.
pub async fn unlink(
    ctx: &Ctx<'_>,
    user: &entity::user::Model,
    id: Uuid,
    provider_name: impl Fn(&str) -> String,
    configured: impl Fn(&str) -> bool,
    ip: Option<String>,
) -> Result<Unlinked, Error> {
    let txn = crate::db::begin(ctx.db).await?;
    // Locked first: concurrent unlinks (or a password change) are judged one at a time.
    let Some(current) = repo::lock_user(&txn, user.id).await? else {
        return Ok(Unlinked::NotFound);
    };
    let rows = repo::of_user(&txn, user.id).await?;
    let Some(row) = rows.iter().find(|r| r.id == id) else {
        return Ok(Unlinked::NotFound);
    };
    // Another link counts only if its provider is still configured (it can sign in).
    let other_links = rows.iter().any(|r| r.id != id && configured(&r.provider));
    let other_ways = current.password_hash.is_some() || other_links || repo::passkey_count(&txn, user.id).await? > 0;
    if !other_ways {
        return Ok(Unlinked::LastWay);
    }
    if !repo::delete(&txn, user.id, id).await? {
        return Ok(Unlinked::NotFound);
    }
    audit::record(
        &txn,
        audit::Event {
            actor: &format!("user:{}", user.id),
            user_id: Some(user.id),
            kind: "upstream.unlinked",
            ip,
            detail: Some(serde_json::json!({ "provider": row.provider })),
        },
    )
    .await?;
    ctx.mail
        .queue(
            &txn,
            &user.email,
            "upstream_unlinked",
            serde_json::json!({
                "provider": provider_name(&row.provider),
                "upstream_email": row.email,
                "linked": format!("{}/account/linked", ctx.mail.issuer_id),
            }),
        )
        .await?;
    txn.commit().await?;
    Ok(Unlinked::Done(row.provider.clone()))
}

/// An address confirmation waiting for its mailed link.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Confirmation {
    pub pending: Pending,
    /// The address typed (or stated by the provider), confirmed by the link.
    pub email: String,
    /// The keyed hash of the binding cookie of the browser that asked.
    binding: String,
}

/// How long a confirmation link works.
pub fn confirmation_ttl(ctx: &Ctx<'_>) -> Duration {
    Duration::from_secs(ctx.config.accounts.activation_ttl_secs)
}

/// Mails the confirmation for an account with `email` made from this browser's
/// pending identity, or, when an account uses the address, a note to its owner on how to
/// link the provider instead: the page answers the same either way.
pub async fn request_confirmation(
    ctx: &Ctx<'_>,
    binding: &str,
    pending: Pending,
    email: &Email,
    provider_name: &str,
) -> Result<(), Error> {
    let owned = crate::accounts::find_by_email(ctx.db, email)
        .await?
        .is_some_and(|u| !crate::accounts::state::of(&u).awaits_activation());
    if owned {
        return ctx
            .mail
            .queue(
                ctx.db,
                email.as_str(),
                "upstream_exists",
                serde_json::json!({
                    "provider": provider_name,
                    "linked": format!("{}/account/linked", ctx.mail.issuer_id),
                    "reset": format!("{}/password/reset", ctx.mail.issuer_id),
                }),
            )
            .await;
    }
    let token = crate::crypto::random_token::<32>();
    let c = Confirmation {
        pending,
        email: email.as_str().to_string(),
        binding: super::binding_hash(ctx.hasher, binding),
    };
    let value = serde_json::to_vec(&c).map_err(|e| Error::Mail(format!("confirmation: {e}")))?;
    let key = crate::store::keys::upstream_verify(&ctx.hasher.hash(&token));
    ctx.store.put(&key, &value, confirmation_ttl(ctx)).await?;
    let link = format!("{}/login/upstream/confirm?token={token}", ctx.mail.issuer_id);
    ctx.mail
        .queue(
            ctx.db,
            email.as_str(),
            "upstream_confirm",
            serde_json::json!({ "provider": provider_name, "link": link, "hours": confirmation_ttl(ctx).as_secs() / 3600 }),
        )
        .await
}

/// What a confirmation link opened in a browser finds.
#[derive(Debug)]
pub enum Confirmed {
    /// The asking browser: the confirmation is spent and the account may be made.
    Yes(Box<Confirmation>),
    /// Another browser (a mail scanner, another person): nothing is spent.
    OtherBrowser,
    /// Unknown, used or expired.
    Gone,
}

/// Opens a confirmation link; it is spent only in the browser that asked for it, so
/// neither a scanner nor someone forwarded the mail can finish a sign-up started by
/// someone else.
pub async fn confirm(ctx: &Ctx<'_>, token: &str, binding: Option<&str>) -> Result<Confirmed, Error> {
    if token.is_empty() || token.len() > 128 {
        return Ok(Confirmed::Gone);
    }
    let key = crate::store::keys::upstream_verify(&ctx.hasher.hash(token));
    let Some(c) = ctx
        .store
        .get(&key)
        .await?
        .and_then(|v| serde_json::from_slice::<Confirmation>(&v).ok())
    else {
        return Ok(Confirmed::Gone);
    };
    let same = binding.is_some_and(|b| {
        crate::crypto::constant_time_eq(super::binding_hash(ctx.hasher, b).as_bytes(), c.binding.as_bytes())
    });
    if !same {
        return Ok(Confirmed::OtherBrowser);
    }
    match ctx.store.take(&key).await? {
        Some(_) => Ok(Confirmed::Yes(Box::new(c))),
        None => Ok(Confirmed::Gone),
    }
}
