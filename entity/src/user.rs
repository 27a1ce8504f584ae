//! A local account. `email_canonical` (lower-cased) carries the unique constraint.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "user")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub email: String,
    #[sea_orm(unique)]
    pub email_canonical: String,
    pub email_verified_at: Option<DateTimeUtc>,
    pub password_hash: Option<String>,
    pub is_active: bool,
    pub is_superuser: bool,
    pub deleted_at: Option<DateTimeUtc>,
    pub last_login_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_one = "super::user_profile::Entity")]
    UserProfile,
    #[sea_orm(has_one = "super::user_preference::Entity")]
    UserPreference,
}

impl Related<super::user_profile::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserProfile.def()
    }
}

impl Related<super::user_preference::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::UserPreference.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
