//! A refresh token, stored as a keyed hash. Tokens of one grant form a family: each use
//! consumes a token and issues its successor; reuse of a consumed one revokes the family.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_token")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub family_id: Uuid,
    pub client_id: String,
    pub user_id: Option<Uuid>,
    pub scope: String,
    pub sid: Option<String>,
    pub auth_time: Option<DateTimeUtc>,
    pub amr: Json,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub family_expires_at: DateTimeUtc,
    pub consumed_at: Option<DateTimeUtc>,
    pub revoked_at: Option<DateTimeUtc>,
    /// Resources (RFC 8707) the grant was made for: a JSON array; none named when null.
    pub resources: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
