//! Queries on audit events.

use entity::audit_event;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, QueryOrder, QuerySelect, Set};
use uuid::Uuid;

use super::Event;

pub(super) async fn insert(db: &impl ConnectionTrait, e: Event<'_>) -> Result<(), DbErr> {
    audit_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        created_at: Set(chrono::Utc::now()),
        actor: Set(e.actor.to_string()),
        user_id: Set(e.user_id),
        kind: Set(e.kind.to_string()),
        ip: Set(e.ip),
        detail: Set(e.detail),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// The most recent events, newest first.
pub async fn list_recent(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<audit_event::Model>, DbErr> {
    audit_event::Entity::find()
        .order_by_desc(audit_event::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The most recent events about one user, newest first.
pub async fn list_for_user(
    db: &impl ConnectionTrait,
    user: Uuid,
    limit: u64,
) -> Result<Vec<audit_event::Model>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    audit_event::Entity::find()
        .filter(audit_event::Column::UserId.eq(user))
        .order_by_desc(audit_event::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Events matching `f`, newest first, before the id `before`; at most `limit`.
pub async fn query(
    db: &impl ConnectionTrait,
    f: &super::Filter,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<audit_event::Model>, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let mut q = audit_event::Entity::find();
    if let Some(u) = f.user {
        q = q.filter(audit_event::Column::UserId.eq(u));
    }
    if let Some(a) = &f.actor {
        q = q.filter(audit_event::Column::Actor.eq(a.as_str()));
    }
    if let Some(k) = &f.kind {
        q = match k.strip_suffix('.') {
            // "mfa." is every event of that family.
            Some(family) => q.filter(audit_event::Column::Kind.starts_with(format!("{family}."))),
            None => q.filter(audit_event::Column::Kind.eq(k.as_str())),
        };
    }
    if let Some(s) = f.since {
        q = q.filter(audit_event::Column::CreatedAt.gte(s));
    }
    if let Some(u) = f.until {
        q = q.filter(audit_event::Column::CreatedAt.lt(u));
    }
    if let Some(b) = before {
        q = q.filter(audit_event::Column::Id.lt(b));
    }
    q.order_by_desc(audit_event::Column::Id).limit(limit).all(db).await
}

/// Deletes the events older than `before`: how many went.
pub async fn delete_before(db: &impl ConnectionTrait, before: chrono::DateTime<chrono::Utc>) -> Result<u64, DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(audit_event::Entity::delete_many()
        .filter(audit_event::Column::CreatedAt.lt(before))
        .exec(db)
        .await?
        .rows_affected)
}
