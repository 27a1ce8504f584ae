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

/// Writes a client's changed settings if it is still at version `seen`; the new row, or
/// None when it changed (or went) meanwhile.
pub async fn update(
    db: &impl ConnectionTrait,
    id: &str,
    seen: &chrono::DateTime<chrono::Utc>,
    name: &str,
    s: &super::NewClient,
    grants: &[super::GrantType],
) -> Result<Option<client::Model>, DbErr> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    let res = client::Entity::update_many()
        .col_expr(client::Column::Name, Expr::value(name))
        .col_expr(
            client::Column::RedirectUris,
            Expr::value(serde_json::json!(s.redirect_uris)),
        )
        .col_expr(
            client::Column::PostLogoutRedirectUris,
            Expr::value(serde_json::json!(s.post_logout_redirect_uris)),
        )
        .col_expr(
            client::Column::GrantTypes,
            Expr::value(serde_json::json!(grants.iter().map(|g| g.as_str()).collect::<Vec<_>>())),
        )
        .col_expr(client::Column::AllowedScopes, Expr::value(serde_json::json!(s.scopes)))
        .col_expr(client::Column::FirstParty, Expr::value(s.first_party))
        .col_expr(client::Column::RequirePar, Expr::value(s.require_par))
        .col_expr(client::Column::RequireMfa, Expr::value(s.require_mfa))
        .col_expr(
            client::Column::BackchannelLogoutUri,
            Expr::value(s.backchannel_logout_uri.clone()),
        )
        .col_expr(
            client::Column::AllowedResources,
            Expr::value(Some(serde_json::json!(s.resources))),
        )
        .col_expr(
            client::Column::AccessTokenSecs,
            Expr::value(s.lifetimes.access_token_secs),
        )
        .col_expr(
            client::Column::RefreshTokenIdleSecs,
            Expr::value(s.lifetimes.refresh_token_idle_secs),
        )
        .col_expr(
            client::Column::RefreshTokenAbsoluteSecs,
            Expr::value(s.lifetimes.refresh_token_absolute_secs),
        )
        .col_expr(client::Column::UpdatedAt, Expr::value(chrono::Utc::now()))
        .filter(client::Column::Id.eq(id))
        .filter(client::Column::UpdatedAt.eq(*seen))
        .exec(db)
        .await?;
    if res.rows_affected != 1 {
        return Ok(None);
    }
    find(db, id).await
}

/// Replaces a client's secret hash.
pub async fn set_secret(db: &impl ConnectionTrait, id: &str, hash: &str) -> Result<(), DbErr> {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, QueryFilter};
    client::Entity::update_many()
        .col_expr(client::Column::SecretHash, Expr::value(Some(hash.to_string())))
        .col_expr(client::Column::UpdatedAt, Expr::value(chrono::Utc::now()))
        .filter(client::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes a client, its refresh tokens and its consents: how many of each went.
pub async fn delete(db: &impl ConnectionTrait, id: &str) -> Result<(u64, u64), DbErr> {
    use sea_orm::{ColumnTrait, QueryFilter};
    let tokens = entity::refresh_token::Entity::delete_many()
        .filter(entity::refresh_token::Column::ClientId.eq(id))
        .exec(db)
        .await?
        .rows_affected;
    let consents = entity::consent::Entity::delete_many()
        .filter(entity::consent::Column::ClientId.eq(id))
        .exec(db)
        .await?
        .rows_affected;
    client::Entity::delete_by_id(id.to_string()).exec(db).await?;
    Ok((tokens, consents))
}
