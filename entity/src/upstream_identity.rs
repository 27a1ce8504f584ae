//! An identity at an upstream provider (Google, GitHub, an OpenID Connect provider…)
//! linked to a local account, keyed by (provider id, subject).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "upstream_identity")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    /// The provider's configured id (`[[upstream]] id`).
    pub provider: String,
    /// The provider's stable identifier of the user (`sub`, GitHub's numeric id…).
    pub subject: String,
    /// The address the provider last stated (shown only; never used to link).
    pub email: Option<String>,
    /// The name the provider last stated (shown only).
    pub name: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
