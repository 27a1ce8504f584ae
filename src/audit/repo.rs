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
