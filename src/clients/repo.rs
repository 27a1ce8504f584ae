//! Queries on clients.

use entity::client;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, QueryOrder, Set};

/// The values of a new client row.
#[derive(Debug)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub first_party: bool,
    pub id_token_alg: Option<String>,
    pub access_token_alg: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub require_par: bool,
    pub require_mfa: bool,
    pub jwks: Option<serde_json::Value>,
    pub lifetimes: Lifetimes,
    pub allowed_resources: Vec<String>,
}

/// Per-client token lifetimes in seconds (None: the server default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Lifetimes {
    pub access_token_secs: Option<i64>,
    pub refresh_token_idle_secs: Option<i64>,
    pub refresh_token_absolute_secs: Option<i64>,
}

pub async fn insert(db: &impl ConnectionTrait, row: ClientRow) -> Result<client::Model, DbErr> {
    let now = chrono::Utc::now();
    client::ActiveModel {
        id: Set(row.id),
        name: Set(row.name),
        secret_hash: Set(row.secret_hash),
        token_endpoint_auth_method: Set(row.token_endpoint_auth_method),
        redirect_uris: Set(serde_json::json!(row.redirect_uris)),
        post_logout_redirect_uris: Set(serde_json::json!(row.post_logout_redirect_uris)),
        grant_types: Set(serde_json::json!(row.grant_types)),
        allowed_scopes: Set(serde_json::json!(row.allowed_scopes)),
        first_party: Set(row.first_party),
        id_token_signed_response_alg: Set(row.id_token_alg),
        access_token_signed_alg: Set(row.access_token_alg),
        backchannel_logout_uri: Set(row.backchannel_logout_uri),
        require_par: Set(row.require_par),
        require_mfa: Set(row.require_mfa),
        jwks: Set(row.jwks),
        access_token_secs: Set(row.lifetimes.access_token_secs),
        refresh_token_idle_secs: Set(row.lifetimes.refresh_token_idle_secs),
        refresh_token_absolute_secs: Set(row.lifetimes.refresh_token_absolute_secs),
        allowed_resources: Set(Some(serde_json::json!(row.allowed_resources))),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<client::Model>, DbErr> {
    client::Entity::find()
        .order_by_asc(client::Column::CreatedAt)
        .all(db)
        .await
}

/// Sets a client's `token_endpoint_auth_method`.
pub async fn set_auth_method(db: &impl ConnectionTrait, client_id: &str, method: &str) -> Result<(), DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    client::Entity::update_many()
        .col_expr(
            client::Column::TokenEndpointAuthMethod,
            sea_orm::sea_query::Expr::value(method),
        )
        .col_expr(
            client::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now()),
        )
        .filter(client::Column::Id.eq(client_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, client_id: &str) -> Result<Option<client::Model>, DbErr> {
    client::Entity::find_by_id(client_id.to_string()).one(db).await
}

/// A value that moves whenever a client is added, removed or updated: the number of
/// clients and the newest `updated_at` (Unix µs). Polled by the client cache.
pub async fn generation(db: &impl ConnectionTrait) -> Result<(i64, i64), DbErr> {
    use sea_orm::{ExprTrait, QuerySelect, sea_query::Expr};
    let row: Option<(i64, Option<chrono::DateTime<chrono::Utc>>)> = client::Entity::find()
        .select_only()
        .column_as(Expr::col(client::Column::Id).count(), "n")
        .column_as(Expr::col(client::Column::UpdatedAt).max(), "at")
        .into_tuple()
        .one(db)
        .await?;
    Ok(row.map_or((0, 0), |(n, at)| (n, at.map_or(0, |t| t.timestamp_micros()))))
}
