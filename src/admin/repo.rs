//! Queries of the administrative operations.

use entity::{backup_code, user, user_profile};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

/// `%q%` for LIKE, with the wildcards of `q` escaped, lower-cased.
fn contains(q: &str) -> LikeExpr {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    LikeExpr::new(p).escape('\\')
}

/// Users (with their profiles) whose address or name contains `q`, by id, after `after`.
pub(super) async fn search_users(
    db: &impl ConnectionTrait,
    q: Option<&str>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<(user::Model, Option<user_profile::Model>)>, DbErr> {
    let mut find = user::Entity::find().find_also_related(user_profile::Entity);
    if let Some(q) = q {
        let like = contains(q);
        let names = Query::select()
            .column(user_profile::Column::UserId)
            .from(user_profile::Entity)
            .cond_where(
                Condition::any()
                    .add(Expr::expr(Func::lower(Expr::col(user_profile::Column::GivenName))).like(like.clone()))
                    .add(Expr::expr(Func::lower(Expr::col(user_profile::Column::FamilyName))).like(like.clone()))
                    .add(Expr::expr(Func::lower(Expr::col(user_profile::Column::Nickname))).like(like.clone()))
                    .add(
                        Expr::expr(Func::lower(Expr::col(user_profile::Column::PreferredUsername))).like(like.clone()),
                    ),
            )
            .to_owned();
        find = find.filter(
            Condition::any()
                .add(Expr::col((user::Entity, user::Column::EmailCanonical)).like(like))
                .add(user::Column::Id.in_subquery(names)),
        );
    }
    if let Some(after) = after {
        find = find.filter(user::Column::Id.gt(after));
    }
    find.order_by_asc(user::Column::Id).limit(limit).all(db).await
}

/// How many unused backup codes a user has.
pub(super) async fn backup_codes_left(db: &impl ConnectionTrait, user: Uuid) -> Result<u64, DbErr> {
    backup_code::Entity::find()
        .filter(backup_code::Column::UserId.eq(user))
        .filter(backup_code::Column::UsedAt.is_null())
        .count(db)
        .await
}

/// How many other usable superusers there are. On PostgreSQL their rows are locked for
/// the transaction, so two administrators removing each other's role run in turn (SQLite
/// has one writer).
pub(super) async fn other_superusers(txn: &impl ConnectionTrait, except: Uuid) -> Result<u64, DbErr> {
    let mut q = user::Entity::find()
        .select_only()
        .column(user::Column::Id)
        .filter(user::Column::IsSuperuser.eq(true))
        .filter(user::Column::IsActive.eq(true))
        .filter(user::Column::EmailVerifiedAt.is_not_null())
        .filter(user::Column::DeletedAt.is_null())
        .filter(user::Column::Id.ne(except));
    if txn.get_database_backend() == DbBackend::Postgres {
        q = q.lock_exclusive();
    }
    let ids: Vec<Uuid> = q.into_tuple().all(txn).await?;
    Ok(ids.len() as u64)
}

/// Enables or disables an account (only a verified one that is not deleted); false when
/// nothing changed.
pub(super) async fn set_active(db: &impl ConnectionTrait, id: Uuid, on: bool) -> Result<bool, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(user::Column::IsActive, Expr::value(on))
        .col_expr(user::Column::UpdatedAt, Expr::value(chrono::Utc::now()))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::IsActive.eq(!on))
        .filter(user::Column::EmailVerifiedAt.is_not_null())
        .filter(user::Column::DeletedAt.is_null())
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Grants or revokes the superuser role; false when nothing changed.
pub(super) async fn set_superuser(db: &impl ConnectionTrait, id: Uuid, on: bool) -> Result<bool, DbErr> {
    let res = user::Entity::update_many()
        .col_expr(user::Column::IsSuperuser, Expr::value(on))
        .col_expr(user::Column::UpdatedAt, Expr::value(chrono::Utc::now()))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::IsSuperuser.eq(!on))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
