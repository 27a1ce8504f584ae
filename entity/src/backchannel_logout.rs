//! A back-channel logout waiting to be delivered to a relying party (OIDC
//! Back-Channel Logout 1.0). Scheduling times are Unix milliseconds.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "backchannel_logout")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub client_id: String,
    pub uri: String,
    /// What the logout token says (`sub`, `sid`, signing algorithm): it is signed afresh
    /// for every attempt, so a retry never carries an expired token.
    pub payload: String,
    pub created_at: DateTimeUtc,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub locked_until: Option<i64>,
    pub last_error: Option<String>,
    pub sent_at: Option<DateTimeUtc>,
    pub failed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
