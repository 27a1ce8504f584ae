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
        first_party: Set(false),
        id_token_signed_response_alg: Set(None),
        access_token_signed_alg: Set(None),
        backchannel_logout_uri: Set(None),
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

pub async fn find(db: &impl ConnectionTrait, client_id: &str) -> Result<Option<client::Model>, DbErr> {
    client::Entity::find_by_id(client_id.to_string()).one(db).await
}
