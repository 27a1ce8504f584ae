//! Queries on the back-channel logout queue.

use entity::backchannel_logout::{self as queue, Column};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set,
};
use uuid::Uuid;

/// Queues a logout for `uri`, due now.
pub async fn insert(
    db: &impl ConnectionTrait,
    client_id: &str,
    uri: &str,
    payload: &str,
    now_ms: i64,
) -> Result<(), DbErr> {
    queue::ActiveModel {
        id: Set(Uuid::now_v7()),
        client_id: Set(client_id.to_string()),
        uri: Set(uri.to_string()),
        payload: Set(payload.to_string()),
        created_at: Set(chrono::Utc::now()),
        attempts: Set(0),
        next_attempt_at: Set(now_ms),
        locked_until: Set(None),
        last_error: Set(None),
        sent_at: Set(None),
        failed_at: Set(None),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// Claims up to `batch` due rows with a lease until `lease_end` (ms).
pub async fn claim(
    db: &DatabaseConnection,
    now_ms: i64,
    lease_end: i64,
    batch: u64,
) -> Result<Vec<queue::Model>, DbErr> {
    crate::db::repo::claim_due(db, queue::Entity, now_ms, lease_end, batch).await
}

/// Records the outcome of an attempt made under the lease `lease`.
pub async fn finish(
    db: &DatabaseConnection,
    id: Uuid,
    lease: i64,
    outcome: Result<(), (String, Option<i64>)>,
) -> Result<(), DbErr> {
    let mut m = queue::ActiveModel {
        locked_until: Set(None),
        ..Default::default()
    };
    match outcome {
        Ok(()) => {
            m.sent_at = Set(Some(chrono::Utc::now()));
            m.last_error = Set(None);
        }
        Err((error, next)) => {
            m.last_error = Set(Some(error.chars().take(500).collect()));
            match next {
                Some(at) => m.next_attempt_at = Set(at),
                None => m.failed_at = Set(Some(chrono::Utc::now())),
            }
        }
    }
    queue::Entity::update_many()
        .set(m)
        .filter(Column::Id.eq(id))
        .filter(Column::LockedUntil.eq(lease))
        .exec(db)
        .await
        .map(|_| ())
}
