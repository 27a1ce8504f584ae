//! Deleting an account: a soft delete at once (the account stops working, its refresh
//! tokens and consents are revoked, the owner is mailed the purge date), a grace period
//! of `accounts.deletion_grace_days` in which signing in offers to restore it, then the
//! purge. The caller ends the sessions (and tells their relying parties) after the
//! transaction here commits.

use chrono::{DateTime, Utc};

use super::signup::MailCtx;
use super::{Error, repo};
use crate::audit;

/// When an account deleted at `deleted_at` is purged.
pub fn purge_date(deleted_at: DateTime<Utc>, grace_days: u64) -> DateTime<Utc> {
    deleted_at + chrono::Duration::days(i64::try_from(grace_days).unwrap_or(365))
}

/// Whether a first factor of `user` may begin a sign-in: an account that works, or one
/// deleted within its grace period (the sign-in then offers to restore it).
pub fn may_begin(user: &entity::user::Model, grace_days: u64) -> bool {
    super::state::of(user).is_usable() || restorable(user, grace_days)
}

/// Whether a deleted account can still be restored (its grace period runs).
pub fn restorable(user: &entity::user::Model, grace_days: u64) -> bool {
    user.deleted_at.is_some_and(|d| purge_date(d, grace_days) > Utc::now())
}

/// Schedules the deletion of `user` (by `actor`): the purge date, or None when the
/// account was deleted already.
pub async fn schedule(
    db: &sea_orm::DatabaseConnection,
    m: &MailCtx<'_>,
    user: &entity::user::Model,
    grace_days: u64,
    by: audit::By<'_>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let txn = crate::db::begin(db).await?;
    let purge = schedule_in(&txn, m, user, grace_days, by).await?;
    txn.commit().await?;
    Ok(purge)
}

/// [`schedule`] inside the caller's transaction (which may check more in it first).
pub async fn schedule_in(
    txn: &sea_orm::DatabaseTransaction,
    m: &MailCtx<'_>,
    user: &entity::user::Model,
    grace_days: u64,
    by: audit::By<'_>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let now = Utc::now();
    if !repo::mark_deleted(txn, user.id, now).await? {
        return Ok(None);
    }
    let tokens = repo::revoke_all_refresh_tokens(txn, user.id).await?;
    let consents = repo::delete_consents(txn, user.id).await?;
    let purge = purge_date(now, grace_days);
    let date = purge.format("%Y-%m-%d").to_string();
    let mail = serde_json::json!({ "date": date, "login": format!("{}/login", m.issuer_id) });
    m.queue(txn, &user.email, "account_deleted", mail).await?;
    let detail = serde_json::json!({ "purge_on": date, "refresh_tokens": tokens, "consents": consents });
    audit::record(txn, by.event(Some(user.id), "user.deleted", detail)).await?;
    Ok(Some(purge))
}

/// Accounts deleted more than `days` ago (at most `limit`, oldest first).
pub async fn due(db: &sea_orm::DatabaseConnection, days: u64, limit: u64) -> Result<Vec<entity::user::Model>, Error> {
    // A century is far enough back (and keeps the date arithmetic in range).
    let before = Utc::now() - chrono::Duration::days(i64::try_from(days.min(36_500)).unwrap_or(36_500));
    Ok(repo::deleted_before(db, before, limit).await?)
}

/// Erases one deleted account for good (see `repo::purge`), in one transaction; a
/// `user.purged` event (no personal data) records it. False when it was restored or
/// erased meanwhile.
pub async fn purge(
    db: &sea_orm::DatabaseConnection,
    user: &entity::user::Model,
    by: audit::By<'_>,
) -> Result<bool, Error> {
    let txn = crate::db::begin(db).await?;
    if !repo::purge(&txn, user).await? {
        return Ok(false);
    }
    let detail = serde_json::json!({ "deleted_at": user.deleted_at.map(|d| d.to_rfc3339()) });
    audit::record(&txn, by.event(Some(user.id), "user.purged", detail)).await?;
    txn.commit().await?;
    Ok(true)
}

/// What a purge run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PurgeRun {
    pub purged: Vec<String>,
    pub failed: Vec<(String, String)>,
}

/// Purges every account deleted more than `days` ago, one transaction each, going on
/// past a failure (reported). Bounded per run: `limit` accounts.
pub async fn purge_due(
    db: &sea_orm::DatabaseConnection,
    days: u64,
    limit: u64,
    actor: &str,
) -> Result<PurgeRun, Error> {
    let mut run = PurgeRun::default();
    for user in due(db, days, limit).await? {
        match purge(db, &user, audit::By::actor(actor)).await {
            Ok(true) => run.purged.push(user.email.clone()),
            Ok(false) => {}
            Err(e) => run.failed.push((user.email.clone(), e.to_string())),
        }
    }
    Ok(run)
}

/// The scheduled purge of `gatehouse serve`: [`purge_due`] after the grace period, by one
/// instance at a time (on PostgreSQL an advisory lock held for the run; SQLite has one).
pub async fn scheduled_purge(db: &sea_orm::DatabaseConnection, grace_days: u64) -> Result<Option<PurgeRun>, Error> {
    const PER_RUN: u64 = 1000;
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return purge_due(db, grace_days, PER_RUN, "system").await.map(Some);
    }
    let lock = crate::db::begin(db).await?;
    if !repo::try_purge_lock(&lock).await? {
        return Ok(None);
    }
    let run = purge_due(db, grace_days, PER_RUN, "system").await;
    lock.commit().await?;
    run.map(Some)
}

/// Restores a deleted account within its grace period (mailing the owner), by `actor`
/// (the owner signing in, or an administrator); false when it
/// was not deleted or its grace period is over.
pub async fn restore(
    db: &sea_orm::DatabaseConnection,
    m: &MailCtx<'_>,
    user: &entity::user::Model,
    grace_days: u64,
    by: audit::By<'_>,
) -> Result<bool, Error> {
    if !restorable(user, grace_days) {
        return Ok(false);
    }
    let txn = crate::db::begin(db).await?;
    let since = Utc::now() - chrono::Duration::days(i64::try_from(grace_days).unwrap_or(365));
    if !repo::mark_restored(&txn, user.id, since).await? {
        return Ok(false);
    }
    m.queue(&txn, &user.email, "account_restored", serde_json::json!({}))
        .await?;
    audit::record(&txn, by.event(Some(user.id), "user.restored", serde_json::json!({}))).await?;
    txn.commit().await?;
    Ok(true)
}
