//! Queries on second factors and backup codes.

use entity::{backup_code, second_factor};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Set,
};
use uuid::Uuid;

pub(super) async fn factors(db: &impl ConnectionTrait, user_id: Uuid) -> Result<Vec<second_factor::Model>, DbErr> {
    second_factor::Entity::find()
        .filter(second_factor::Column::UserId.eq(user_id))
        .order_by_asc(second_factor::Column::CreatedAt)
        .all(db)
        .await
}

pub(super) async fn factor_count(db: &impl ConnectionTrait, user_id: Uuid) -> Result<u64, DbErr> {
    second_factor::Entity::find()
        .filter(second_factor::Column::UserId.eq(user_id))
        .count(db)
        .await
}

pub(super) async fn insert_factor(db: &impl ConnectionTrait, row: second_factor::Model) -> Result<(), DbErr> {
    second_factor::ActiveModel {
        id: Set(row.id),
        user_id: Set(row.user_id),
        kind: Set(row.kind),
        name: Set(row.name),
        secret: Set(row.secret),
        last_step: Set(row.last_step),
        created_at: Set(row.created_at),
        last_used_at: Set(row.last_used_at),
        credential_id: Set(row.credential_id),
        added_with_mfa: Set(row.added_with_mfa),
    }
    .insert(db)
    .await
    .map(|_| ())
}

/// Records `step` as used if it is later than every step used before: true when this
/// call won (one atomic update, so two requests with one code cannot both pass).
pub(super) async fn claim_step(db: &impl ConnectionTrait, id: Uuid, step: i64) -> Result<bool, DbErr> {
    let res = second_factor::Entity::update_many()
        .col_expr(second_factor::Column::LastStep, Expr::value(Some(step)))
        .col_expr(second_factor::Column::LastUsedAt, Expr::value(Some(chrono::Utc::now())))
        .filter(second_factor::Column::Id.eq(id))
        .filter(
            Condition::any()
                .add(second_factor::Column::LastStep.is_null())
                .add(second_factor::Column::LastStep.lt(step)),
        )
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

pub(super) async fn delete_factor(db: &impl ConnectionTrait, user_id: Uuid, id: Uuid) -> Result<Option<String>, DbErr> {
    let Some(f) = second_factor::Entity::find_by_id(id)
        .filter(second_factor::Column::UserId.eq(user_id))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    second_factor::Entity::delete_by_id(id).exec(db).await?;
    Ok(Some(f.name))
}

pub(super) async fn delete_all(db: &impl ConnectionTrait, user_id: Uuid) -> Result<u64, DbErr> {
    let f = second_factor::Entity::delete_many()
        .filter(second_factor::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    backup_code::Entity::delete_many()
        .filter(backup_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(f.rows_affected)
}

pub(super) async fn replace_backup_codes(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    hashes: Vec<String>,
) -> Result<(), DbErr> {
    backup_code::Entity::delete_many()
        .filter(backup_code::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let now = chrono::Utc::now();
    let rows = hashes.into_iter().map(|h| backup_code::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user_id),
        code_hash: Set(h),
        used_at: Set(None),
        created_at: Set(now),
    });
    backup_code::Entity::insert_many(rows).exec(db).await.map(|_| ())
}

/// Marks the unused code with this hash as used: true when this call used it.
pub(super) async fn use_backup_code(db: &impl ConnectionTrait, user_id: Uuid, hash: &str) -> Result<bool, DbErr> {
    let res = backup_code::Entity::update_many()
        .col_expr(backup_code::Column::UsedAt, Expr::value(Some(chrono::Utc::now())))
        .filter(backup_code::Column::UserId.eq(user_id))
        .filter(backup_code::Column::CodeHash.eq(hash))
        .filter(backup_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// (unused, total) backup codes of a user.
pub(super) async fn backup_code_counts(db: &impl ConnectionTrait, user_id: Uuid) -> Result<(u64, u64), DbErr> {
    let total = backup_code::Entity::find()
        .filter(backup_code::Column::UserId.eq(user_id))
        .count(db)
        .await?;
    let unused = backup_code::Entity::find()
        .filter(backup_code::Column::UserId.eq(user_id))
        .filter(backup_code::Column::UsedAt.is_null())
        .count(db)
        .await?;
    Ok((unused, total))
}

/// The factor with this WebAuthn credential id (unique across users).
pub(super) async fn factor_by_credential(
    db: &impl ConnectionTrait,
    credential_id: &str,
) -> Result<Option<second_factor::Model>, DbErr> {
    second_factor::Entity::find()
        .filter(second_factor::Column::CredentialId.eq(credential_id))
        .one(db)
        .await
}

/// Renames the user's factor `id` of `kind`: true if it was theirs.
pub(super) async fn rename_factor(
    db: &impl ConnectionTrait,
    user_id: Uuid,
    id: Uuid,
    kind: &str,
    name: &str,
) -> Result<bool, DbErr> {
    let res = second_factor::Entity::update_many()
        .col_expr(second_factor::Column::Name, Expr::value(name))
        .filter(second_factor::Column::Id.eq(id))
        .filter(second_factor::Column::UserId.eq(user_id))
        .filter(second_factor::Column::Kind.eq(kind))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Records a passkey's use, with its re-sealed credential when the counter or flags moved.
pub(super) async fn passkey_used(db: &impl ConnectionTrait, id: Uuid, secret: Option<Vec<u8>>) -> Result<(), DbErr> {
    let mut q = second_factor::Entity::update_many()
        .col_expr(second_factor::Column::LastUsedAt, Expr::value(Some(chrono::Utc::now())));
    if let Some(secret) = secret {
        q = q.col_expr(second_factor::Column::Secret, Expr::value(secret));
    }
    q.filter(second_factor::Column::Id.eq(id)).exec(db).await.map(|_| ())
}
