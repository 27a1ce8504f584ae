//! Queries on instance-wide settings.

use entity::prelude::SystemSetting;
use entity::system_setting;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, Set};

/// Inserts `name = value` unless the setting exists; returns the stored value either way.
pub async fn insert_setting_if_absent(db: &impl ConnectionTrait, name: &str, value: &str) -> Result<String, DbErr> {
    let row = system_setting::ActiveModel {
        name: Set(name.to_string()),
        value: Set(value.to_string()),
        updated_at: Set(chrono::Utc::now()),
    };
    SystemSetting::insert(row)
        .on_conflict_do_nothing_on([system_setting::Column::Name])
        .exec(db)
        .await?;
    SystemSetting::find_by_id(name.to_string())
        .one(db)
        .await?
        .map(|m| m.value)
        .ok_or_else(|| DbErr::RecordNotFound(format!("system_setting {name}")))
}

/// Claims up to `batch` due rows of a work queue — a table with the columns `id`,
/// `attempts`, `next_attempt_at`, `locked_until` (Unix ms), `sent_at` and `failed_at`, as
/// the mail outbox and the back-channel logout queue have — leasing them until
/// `lease_end`. One `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`:
/// concurrent workers on PostgreSQL never get the same row; SQLite has one writer anyway
/// (and no row locks, which sea-query leaves out for it).
pub async fn claim_due<E>(
    db: &impl ConnectionTrait,
    table: E,
    now: i64,
    lease_end: i64,
    batch: u64,
) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: sea_orm::FromQueryResult,
{
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, Order, Query};
    let col = |name: &str| Expr::col(Alias::new(name));
    let due = Query::select()
        .column(Alias::new("id"))
        .from(table)
        .and_where(col("sent_at").is_null())
        .and_where(col("failed_at").is_null())
        .and_where(col("next_attempt_at").lte(now))
        .and_where(col("locked_until").is_null().or(col("locked_until").lte(now)))
        .order_by(Alias::new("next_attempt_at"), Order::Asc)
        .limit(batch)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .to_owned();
    let stmt = Query::update()
        .table(table)
        .value(Alias::new("locked_until"), lease_end)
        .value(Alias::new("attempts"), col("attempts").add(1))
        .and_where(col("id").in_subquery(due))
        .returning_all()
        .to_owned();
    let rows = db.query_all(&stmt).await?;
    rows.iter()
        .map(|r| <E::Model as sea_orm::FromQueryResult>::from_query_result(r, ""))
        .collect()
}
