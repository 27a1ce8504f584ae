//! Managing a user's second factors: listing and removing them, the operator's reset,
//! and the audit events of these changes.

use std::net::IpAddr;

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::repo;
use crate::accounts::Error;
use crate::accounts::signup::MailCtx;

/// Records a second-factor event for `user_id` (never a secret or a code).
pub(super) async fn audit(
    db: &impl sea_orm::ConnectionTrait,
    actor: &str,
    user_id: Uuid,
    kind: &str,
    ip: Option<IpAddr>,
    detail: serde_json::Value,
) -> Result<(), sea_orm::DbErr> {
    crate::audit::record(
        db,
        crate::audit::Event {
            actor,
            user_id: Some(user_id),
            kind,
            ip: ip.map(|i| i.to_string()),
            detail: Some(detail),
        },
    )
    .await
}

/// Records that `user_id` enrolled a factor or made new backup codes (`kind`).
pub async fn record_change(
    db: &DatabaseConnection,
    user_id: Uuid,
    kind: &str,
    detail: serde_json::Value,
) -> Result<(), sea_orm::DbErr> {
    audit(db, &format!("user:{user_id}"), user_id, kind, None, detail).await
}

/// The user's second factors, for their security pages.
pub async fn factors(
    db: &DatabaseConnection,
    user_id: Uuid,
) -> Result<Vec<entity::second_factor::Model>, sea_orm::DbErr> {
    repo::factors(db, user_id).await
}

/// Removes one of the user's factors (mailing them); its name if it was theirs. The
/// last factor takes the backup codes with it.
pub async fn remove_factor(
    db: &DatabaseConnection,
    mail: &MailCtx<'_>,
    user: &entity::user::Model,
    id: Uuid,
) -> Result<Option<String>, Error> {
    let txn = crate::db::begin(db).await?;
    let Some(name) = repo::delete_factor(&txn, user.id, id).await? else {
        return Ok(None);
    };
    if repo::factor_count(&txn, user.id).await? == 0 {
        repo::delete_all(&txn, user.id).await?;
    }
    mail.queue(&txn, &user.email, "factor_removed", serde_json::json!({ "name": name }))
        .await?;
    let actor = format!("user:{}", user.id);
    let detail = serde_json::json!({ "factor": id, "name": name });
    audit(&txn, &actor, user.id, "mfa.factor_removed", None, detail).await?;
    txn.commit().await?;
    Ok(Some(name))
}

/// Removes every second factor and backup code of a user (operator recovery), mailing
/// them; `actor` names who did it in the audit log.
pub async fn reset(
    db: &DatabaseConnection,
    mail: &MailCtx<'_>,
    user: &entity::user::Model,
    actor: &str,
) -> Result<u64, Error> {
    let txn = crate::db::begin(db).await?;
    let n = repo::delete_all(&txn, user.id).await?;
    mail.queue(&txn, &user.email, "factors_reset", serde_json::json!({}))
        .await?;
    audit(
        &txn,
        actor,
        user.id,
        "mfa.reset",
        None,
        serde_json::json!({ "factors": n }),
    )
    .await?;
    txn.commit().await?;
    Ok(n)
}
