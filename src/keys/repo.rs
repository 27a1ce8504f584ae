//! Queries on signing keys.

use chrono::{DateTime, Utc};
use entity::signing_key;
use sea_orm::sea_query::ExprTrait;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};

/// Keys that are still published (not expired), oldest first.
pub async fn published(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<Vec<signing_key::Model>, DbErr> {
    signing_key::Entity::find()
        .filter(
            signing_key::Column::ExpiresAt
                .is_null()
                .or(signing_key::Column::ExpiresAt.gt(now)),
        )
        .order_by_asc(signing_key::Column::CreatedAt)
        .all(db)
        .await
}

/// Inserts a new key.
pub async fn insert(db: &impl ConnectionTrait, row: signing_key::Model) -> Result<(), DbErr> {
    signing_key::ActiveModel {
        kid: Set(row.kid),
        alg: Set(row.alg),
        private_key_sealed: Set(row.private_key_sealed),
        public_jwk: Set(row.public_jwk),
        created_at: Set(row.created_at),
        activates_at: Set(row.activates_at),
        retired_at: Set(row.retired_at),
        expires_at: Set(row.expires_at),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// Schedules the retirement of every unretired key of `alg` other than `keep`: they stop
/// signing at `retire_at` and leave the JWKS at `expire_at`.
pub async fn retire_others(
    db: &impl ConnectionTrait,
    alg: &str,
    keep: &str,
    retire_at: DateTime<Utc>,
    expire_at: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let res = signing_key::Entity::update_many()
        .set(signing_key::ActiveModel {
            retired_at: Set(Some(retire_at)),
            expires_at: Set(Some(expire_at)),
            ..Default::default()
        })
        .filter(signing_key::Column::Alg.eq(alg))
        .filter(signing_key::Column::Kid.ne(keep))
        .filter(signing_key::Column::RetiredAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected)
}
