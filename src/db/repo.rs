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
