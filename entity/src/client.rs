//! A registered OAuth 2.0 / OpenID Connect client (relying party).
//! `id` is the public `client_id`; `secret_hash` is a keyed hash, never the secret.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub token_endpoint_auth_method: String,
    /// JSON array of strings.
    pub redirect_uris: Json,
    /// JSON array of strings.
    pub post_logout_redirect_uris: Json,
    /// JSON array of strings.
    pub grant_types: Json,
    /// JSON array of strings.
    pub allowed_scopes: Json,
    pub first_party: bool,
    pub id_token_signed_response_alg: Option<String>,
    pub access_token_signed_alg: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    /// The client must use pushed authorization requests (RFC 9126).
    pub require_par: bool,
    /// The client's public keys for `private_key_jwt` (a JWK Set).
    pub jwks: Option<Json>,
    /// Per-client lifetimes (seconds); the server defaults when None.
    pub access_token_secs: Option<i64>,
    pub refresh_token_idle_secs: Option<i64>,
    pub refresh_token_absolute_secs: Option<i64>,
    /// Resources (RFC 8707) the client may ask tokens for: a JSON array of absolute URIs.
    pub allowed_resources: Option<Json>,
    /// Every sign-in for this client must be multi-factor (step-up otherwise).
    pub require_mfa: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
