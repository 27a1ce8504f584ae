//! Users as administrators see and change them.

use chrono::{DateTime, Utc};
use entity::user;
use serde::Serialize;
use uuid::Uuid;

use super::{Actor, Error, Ops, Page, repo};
use crate::accounts::state::AccountState;
use crate::accounts::{self, lifecycle};
use crate::audit;

/// What an administrator can do to an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Disable,
    Enable,
    VerifyEmail,
    SendPasswordReset,
    ResetFactors,
    EndSessions,
    ScheduleDeletion,
    Restore,
    Purge,
    GrantSuperuser,
    RevokeSuperuser,
}

impl Action {
    /// Every action, in the order pages list them.
    pub const ALL: [Action; 11] = [
        Self::Disable,
        Self::Enable,
        Self::VerifyEmail,
        Self::SendPasswordReset,
        Self::ResetFactors,
        Self::EndSessions,
        Self::ScheduleDeletion,
        Self::Restore,
        Self::Purge,
        Self::GrantSuperuser,
        Self::RevokeSuperuser,
    ];

    /// The action's name in URLs, the API and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Enable => "enable",
            Self::VerifyEmail => "verify-email",
            Self::SendPasswordReset => "send-password-reset",
            Self::ResetFactors => "reset-factors",
            Self::EndSessions => "end-sessions",
            Self::ScheduleDeletion => "delete",
            Self::Restore => "restore",
            Self::Purge => "purge",
            Self::GrantSuperuser => "grant-superuser",
            Self::RevokeSuperuser => "revoke-superuser",
        }
    }

    /// The action named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// What the action does, in a sentence for confirmation pages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Disable => "Disable the account: it cannot sign in, its sessions end and its tokens stop working.",
            Self::Enable => "Enable the account again.",
            Self::VerifyEmail => "Mark the email address verified (the account becomes active).",
            Self::SendPasswordReset => "Mail the user a link to choose a new password.",
            Self::ResetFactors => "Remove every second factor, passkey and backup code (the user is mailed).",
            Self::EndSessions => "End every session and revoke every token of the user.",
            Self::ScheduleDeletion => "Delete the account: it stops working now and is erased after the grace period.",
            Self::Restore => "Restore the account scheduled for deletion.",
            Self::Purge => "Erase the account and everything it owns now, for good.",
            Self::GrantSuperuser => "Make the user a superuser (administrator).",
            Self::RevokeSuperuser => "Take the superuser role away.",
        }
    }

    /// Whether the action destroys something that cannot be brought back: the pages ask
    /// for the account's address typed in.
    pub fn needs_typed_confirmation(self) -> bool {
        self == Self::Purge
    }

    /// Whether the action fits the account as it is: the pages offer only these (and
    /// [`apply`] refuses the others with a reason anyway).
    pub fn applies(self, d: &Detail) -> bool {
        let s = d.summary.status;
        let usable = s == "active";
        match self {
            Self::Disable => usable,
            Self::Enable => s == "disabled",
            Self::VerifyEmail => s == "unverified",
            Self::SendPasswordReset => usable,
            Self::ResetFactors => s != "deleted" && (!d.factors.is_empty() || d.backup_codes_left > 0),
            Self::EndSessions => !d.sessions.is_empty(),
            Self::ScheduleDeletion => s != "deleted",
            Self::Restore | Self::Purge => s == "deleted",
            Self::GrantSuperuser => !d.summary.superuser && s != "deleted",
            Self::RevokeSuperuser => d.summary.superuser,
        }
    }

    fn event(self) -> &'static str {
        match self {
            Self::Disable => "user.disabled",
            Self::Enable => "user.enabled",
            Self::VerifyEmail => "user.email_verified",
            Self::SendPasswordReset => "user.password_reset_sent",
            Self::ResetFactors => "mfa.reset",
            Self::EndSessions => "user.sessions_ended",
            Self::ScheduleDeletion => "user.deleted",
            Self::Restore => "user.restored",
            Self::Purge => "user.purged",
            Self::GrantSuperuser => "user.superuser_granted",
            Self::RevokeSuperuser => "user.superuser_revoked",
        }
    }
}

/// An account's standing, as administrators read it.
pub fn status(u: &user::Model) -> &'static str {
    match accounts::state::of(u) {
        AccountState::Active => "active",
        AccountState::Unverified => "unverified",
        AccountState::Disabled => "disabled",
        AccountState::Deleted => "deleted",
    }
}

/// One account in a listing.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Summary {
    pub id: Uuid,
    pub email: String,
    pub name: Option<String>,
    pub status: &'static str,
    pub superuser: bool,
    pub created_at: DateTime<Utc>,
    pub last_login_at: Option<DateTime<Utc>>,
    /// When a deleted account is erased.
    pub purge_on: Option<DateTime<Utc>>,
    /// The version `If-Match` names.
    #[serde(skip)]
    pub etag: String,
}

fn display_name(p: Option<&entity::user_profile::Model>) -> Option<String> {
    let p = p?;
    let joined = [p.given_name.as_deref(), p.family_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    (!joined.is_empty())
        .then_some(joined)
        .or_else(|| p.nickname.clone())
        .or_else(|| p.preferred_username.clone())
}

fn summary(ops_grace: u64, u: &user::Model, p: Option<&entity::user_profile::Model>) -> Summary {
    Summary {
        id: u.id,
        email: u.email.clone(),
        name: display_name(p),
        status: status(u),
        superuser: u.is_superuser,
        created_at: u.created_at,
        last_login_at: u.last_login_at,
        purge_on: u.deleted_at.map(|d| lifecycle::purge_date(d, ops_grace)),
        etag: super::etag(u.updated_at),
    }
}

/// Accounts whose address or name contains `q` (all without it), oldest first, after
/// `cursor` (the last id of the page before).
pub async fn list(ops: &Ops<'_>, q: Option<&str>, cursor: Option<&str>, limit: u64) -> Result<Page<Summary>, Error> {
    let after = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => Some(
            c.parse::<Uuid>()
                .map_err(|_| Error::Invalid("the cursor is not valid".into()))?,
        ),
        None => None,
    };
    let q = q.map(str::trim).filter(|q| !q.is_empty());
    if q.is_some_and(|q| q.chars().count() > 200) {
        return Err(Error::Invalid("the search is longer than 200 characters".into()));
    }
    let rows = repo::search_users(ops.auth.db, q, after, limit + 1).await?;
    let grace = ops.auth.config.accounts.deletion_grace_days;
    let more = rows.len() as u64 > limit;
    let items: Vec<Summary> = rows
        .iter()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(|(u, p)| summary(grace, u, p.as_ref()))
        .collect();
    let next = if more {
        items.last().map(|s| s.id.to_string())
    } else {
        None
    };
    Ok(Page { items, next })
}

/// A second factor or passkey: names and dates only.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FactorInfo {
    pub kind: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A linked upstream identity.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LinkInfo {
    pub provider: String,
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A browser session.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionInfo {
    pub device: Option<String>,
    pub ip: Option<String>,
    pub location: Option<String>,
    pub signed_in_at: Option<DateTime<Utc>>,
    pub amr: Vec<String>,
}

/// An application the user consented to.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApplicationInfo {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
}

/// Everything the admin pages show about one account (nothing secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Detail {
    #[serde(flatten)]
    pub summary: Summary,
    pub email_verified: bool,
    pub has_password: bool,
    pub factors: Vec<FactorInfo>,
    pub backup_codes_left: u64,
    pub linked: Vec<LinkInfo>,
    pub sessions: Vec<SessionInfo>,
    pub applications: Vec<ApplicationInfo>,
}

/// The account `id`.
pub async fn find(ops: &Ops<'_>, id: Uuid) -> Result<user::Model, Error> {
    accounts::find(ops.auth.db, id).await?.ok_or(Error::NotFound("user"))
}

/// The account with the address `email`.
pub async fn find_by_email(ops: &Ops<'_>, email: &str) -> Result<user::Model, Error> {
    let email = accounts::Email::parse(email).map_err(|e| Error::Invalid(e.to_string()))?;
    accounts::find_by_email(ops.auth.db, &email)
        .await?
        .ok_or(Error::NotFound("user"))
}

/// Everything about the account `id`.
pub async fn detail(ops: &Ops<'_>, id: Uuid) -> Result<Detail, Error> {
    let db = ops.auth.db;
    let (u, profile) = accounts::with_profile(db, id).await?.ok_or(Error::NotFound("user"))?;
    let grace = ops.auth.config.accounts.deletion_grace_days;
    let factors = crate::auth::factors(db, id)
        .await?
        .into_iter()
        .map(|f| FactorInfo {
            kind: f.kind,
            name: f.name,
            created_at: f.created_at,
            last_used_at: f.last_used_at,
        })
        .collect();
    let linked = crate::upstream::linked_identities(db, id)
        .await?
        .into_iter()
        .map(|l| LinkInfo {
            provider: l.provider,
            email: l.email,
            created_at: l.created_at,
            last_used_at: l.last_used_at,
        })
        .collect();
    let sessions = accounts::sessions::list(ops.auth.store, id)
        .await?
        .into_iter()
        .map(|s| SessionInfo {
            device: s.device,
            ip: s.ip,
            location: s.location,
            signed_in_at: DateTime::from_timestamp(s.auth_time, 0),
            amr: s.amr,
        })
        .collect();
    let applications = crate::oidc::consent::applications_of(db, id)
        .await?
        .into_iter()
        .map(|(c, scopes)| ApplicationInfo {
            client_id: c.id,
            name: c.name,
            scopes,
        })
        .collect();
    Ok(Detail {
        summary: summary(grace, &u, profile.as_ref()),
        email_verified: u.email_verified_at.is_some(),
        has_password: u.password_hash.is_some(),
        factors,
        backup_codes_left: repo::backup_codes_left(db, id).await?,
        linked,
        sessions,
        applications,
    })
}

/// What an action did, in a sentence for the page, the API and the CLI.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub action: &'static str,
    pub message: String,
}

/// Applies `action` to the account `id` for `actor`. `if_match`, when given, must name
/// the account's current version. Refuses what would leave no usable superuser.
pub async fn apply(
    ops: &Ops<'_>,
    actor: &Actor,
    id: Uuid,
    action: Action,
    if_match: Option<&str>,
    from: &super::Source,
) -> Result<Outcome, Error> {
    let u = find(ops, id).await?;
    super::check_match(if_match, &super::etag(u.updated_at))?;
    let who = actor.audit();
    let by = from.by(&who);
    let grace = ops.auth.config.accounts.deletion_grace_days;
    let detail = serde_json::json!({ "via": actor.via(), "email": u.email });
    let message = match action {
        Action::Disable | Action::ScheduleDeletion | Action::RevokeSuperuser => {
            let txn = crate::db::begin(ops.auth.db).await?;
            if u.is_superuser && accounts::state::of(&u).is_usable() && repo::other_superusers(&txn, u.id).await? == 0 {
                return Err(Error::Conflict(
                    "this is the last active superuser: make another one first".into(),
                ));
            }
            let done = match action {
                Action::Disable => {
                    if accounts::state::of(&u) != AccountState::Active {
                        return Err(Error::Conflict(format!("the account is {}, not active", status(&u))));
                    }
                    repo::set_active(&txn, u.id, false).await?
                }
                Action::RevokeSuperuser => {
                    if !u.is_superuser {
                        return Err(Error::Conflict("the user is not a superuser".into()));
                    }
                    repo::set_superuser(&txn, u.id, false).await?
                }
                _ => true,
            };
            if action == Action::ScheduleDeletion {
                txn.commit().await?;
                if u.deleted_at.is_some() {
                    return Err(Error::Conflict("the account is scheduled for deletion already".into()));
                }
                end_everything(ops, u.id, false).await?;
                // Checked again where the deletion is written: two deletions of the last two
                // superusers at once cannot both pass.
                let txn = crate::db::begin(ops.auth.db).await?;
                if u.is_superuser && repo::other_superusers(&txn, u.id).await? == 0 {
                    return Err(Error::Conflict(
                        "this is the last active superuser: make another one first".into(),
                    ));
                }
                let purge = lifecycle::schedule_in(&txn, &ops.auth.mail, &u, grace, by).await?;
                txn.commit().await?;
                let _ = end_browser_sessions(ops, u.id).await;
                match purge {
                    Some(p) => format!("{} is deleted; it is erased on {}", u.email, p.format("%Y-%m-%d")),
                    None => return Err(Error::Conflict("the account is scheduled for deletion already".into())),
                }
            } else {
                if !done {
                    return Err(Error::Conflict("the account changed meanwhile; try again".into()));
                }
                record(&txn, by, u.id, action, detail).await?;
                txn.commit().await?;
                if action == Action::Disable {
                    end_everything(ops, u.id, true).await?;
                    format!("{} is disabled; its sessions and tokens ended", u.email)
                } else {
                    format!("{} is no longer a superuser", u.email)
                }
            }
        }
        Action::Enable => {
            if accounts::state::of(&u) != AccountState::Disabled {
                return Err(Error::Conflict(format!("the account is {}, not disabled", status(&u))));
            }
            let txn = crate::db::begin(ops.auth.db).await?;
            repo::set_active(&txn, u.id, true).await?;
            record(&txn, by, u.id, action, detail).await?;
            txn.commit().await?;
            format!("{} is enabled", u.email)
        }
        Action::GrantSuperuser => {
            if u.is_superuser {
                return Err(Error::Conflict("the user is a superuser already".into()));
            }
            if u.deleted_at.is_some() {
                return Err(Error::Conflict("the account is scheduled for deletion".into()));
            }
            let txn = crate::db::begin(ops.auth.db).await?;
            repo::set_superuser(&txn, u.id, true).await?;
            record(&txn, by, u.id, action, detail).await?;
            txn.commit().await?;
            format!("{} is a superuser", u.email)
        }
        Action::VerifyEmail => {
            let txn = crate::db::begin(ops.auth.db).await?;
            if accounts::repo::mark_verified(&txn, u.id).await?.is_none() {
                return Err(Error::Conflict(
                    "the address is verified already (or the account is deleted)".into(),
                ));
            }
            record(&txn, by, u.id, action, detail).await?;
            txn.commit().await?;
            format!("{} is verified", u.email)
        }
        Action::SendPasswordReset => {
            if !accounts::state::of(&u).is_verified() {
                return Err(Error::Conflict(format!(
                    "the account is {}: no reset mail goes to it",
                    status(&u)
                )));
            }
            let links = accounts::signup::LinkCtx {
                store: ops.auth.store,
                hasher: ops.auth.hasher,
                ttl: std::time::Duration::from_secs(ops.auth.config.accounts.reset_ttl_secs),
                carry: String::new(),
            };
            let email = accounts::Email::parse(&u.email).map_err(|e| Error::Invalid(e.to_string()))?;
            accounts::reset::request(ops.auth.db, &ops.auth.mail, &links, &email).await?;
            let txn = crate::db::begin(ops.auth.db).await?;
            record(&txn, by, u.id, action, detail).await?;
            txn.commit().await?;
            format!("a password-reset link was mailed to {}", u.email)
        }
        Action::ResetFactors => {
            let n = crate::auth::reset(ops.auth.db, &ops.auth.mail, &u, &who).await?;
            // A reset is a recovery: whoever held the old factors loses their sessions too.
            end_everything(ops, u.id, true).await?;
            format!(
                "{n} second factors of {} were removed, their sessions and tokens ended; they were mailed",
                u.email
            )
        }
        Action::EndSessions => {
            end_everything(ops, u.id, true).await?;
            let txn = crate::db::begin(ops.auth.db).await?;
            record(&txn, by, u.id, action, detail).await?;
            txn.commit().await?;
            format!("every session and token of {} ended", u.email)
        }
        Action::Restore => {
            if u.deleted_at.is_none() {
                return Err(Error::Conflict("the account is not scheduled for deletion".into()));
            }
            if !lifecycle::restore(ops.auth.db, &ops.auth.mail, &u, grace, by).await? {
                return Err(Error::Conflict(
                    "the grace period is over: the account cannot be restored".into(),
                ));
            }
            format!("{} is restored", u.email)
        }
        Action::Purge => {
            if u.deleted_at.is_none() {
                return Err(Error::Conflict(
                    "only an account scheduled for deletion can be purged: delete it first".into(),
                ));
            }
            if !lifecycle::purge(ops.auth.db, &u, by).await? {
                return Err(Error::Conflict("the account changed meanwhile; try again".into()));
            }
            format!("{} is erased", u.email)
        }
    };
    Ok(Outcome {
        action: action.as_str(),
        message,
    })
}

async fn record(
    txn: &impl sea_orm::ConnectionTrait,
    by: audit::By<'_>,
    user: Uuid,
    action: Action,
    detail: serde_json::Value,
) -> Result<(), sea_orm::DbErr> {
    audit::record(txn, by.event(Some(user), action.event(), detail)).await
}

/// Ends every session of `user` by time (at once, on every instance), makes its access
/// tokens inactive and, with `refresh`, revokes its refresh tokens; then ends the
/// sessions one by one to tell their relying parties (back-channel logout).
async fn end_everything(ops: &Ops<'_>, user: Uuid, refresh: bool) -> Result<(), Error> {
    let ttl = std::time::Duration::from_secs(ops.auth.config.tokens.session_secs);
    accounts::sessions::revoke_all_before_now(ops.auth.store, user, ttl).await?;
    crate::oidc::tokens::revoke_user_tokens(&ops.tokens, user).await?;
    if refresh {
        accounts::revoke_refresh_tokens(ops.auth.db, user).await?;
        end_browser_sessions(ops, user).await?;
    }
    Ok(())
}

async fn end_browser_sessions(ops: &Ops<'_>, user: Uuid) -> Result<(), Error> {
    let ended = accounts::sessions::destroy_all(ops.auth.store, user).await?;
    crate::oidc::backchannel::sessions_ended(ops.auth.db, ops.auth.store, &ended).await;
    Ok(())
}
