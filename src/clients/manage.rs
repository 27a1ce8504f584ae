//! Changing registered clients: update, rotate the secret, delete. The same rules as
//! registration apply ([`super::validate`]); every change is audited with its actor and
//! moves the clients' generation, so every instance's cache forgets the old settings
//! within a second (this one at once, through [`super::Directory::invalidate`]).

use entity::client;
use sea_orm::DatabaseConnection;

use super::{Checked, Error, GrantType, NewClient, repo, strings, validate};
use crate::audit;
use crate::crypto::{TokenHasher, random_token};

/// The scope that lets a client (or a superuser's token through it) call the admin API.
pub const ADMIN_SCOPE: &str = crate::admin::ADMIN_SCOPE;

/// Changes to a client's settings; None leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct Update {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<GrantType>>,
    pub first_party: Option<bool>,
    pub require_par: Option<bool>,
    pub require_mfa: Option<bool>,
    pub scopes: Option<Vec<String>>,
    /// Some(None) removes the back-channel logout URI.
    pub backchannel_logout_uri: Option<Option<String>>,
    pub resources: Option<Vec<String>>,
    /// Whether the client may ask for [`ADMIN_SCOPE`].
    pub admin_api: Option<bool>,
    pub access_token_secs: Option<Option<i64>>,
    pub refresh_token_idle_secs: Option<Option<i64>>,
    pub refresh_token_absolute_secs: Option<Option<i64>>,
}

/// The scopes a new client may request when it may also use the admin API: those given
/// (the defaults without any) and [`ADMIN_SCOPE`].
pub fn with_admin_scope(mut scopes: Vec<String>) -> Vec<String> {
    if scopes.is_empty() {
        scopes = super::DEFAULT_SCOPES.iter().map(|s| (*s).to_string()).collect();
    }
    if !scopes.iter().any(|s| s == ADMIN_SCOPE) {
        scopes.push(ADMIN_SCOPE.to_string());
    }
    scopes
}

/// Whether a client may ask for the admin API's scope.
pub fn admin_api(c: &client::Model) -> bool {
    strings(&c.allowed_scopes).iter().any(|s| s == ADMIN_SCOPE)
}

/// A strong entity tag of the client's current settings.
pub fn etag(c: &client::Model) -> String {
    crate::admin::etag(c.updated_at)
}

/// The settings of a registered client, as registration would take them.
fn settings_of(c: &client::Model) -> Result<NewClient, Error> {
    let grants = strings(&c.grant_types)
        .iter()
        .map(|g| GrantType::parse(g))
        .collect::<Result<Vec<_>, _>>()?;
    let parse_alg = |a: &Option<String>| a.as_deref().and_then(|a| a.parse().ok());
    Ok(NewClient {
        post_logout_redirect_uris: strings(&c.post_logout_redirect_uris),
        first_party: c.first_party,
        id_token_alg: parse_alg(&c.id_token_signed_response_alg),
        access_token_alg: parse_alg(&c.access_token_signed_alg),
        backchannel_logout_uri: c.backchannel_logout_uri.clone(),
        require_par: c.require_par,
        require_mfa: c.require_mfa,
        jwks: c.jwks.clone(),
        lifetimes: repo::Lifetimes {
            access_token_secs: c.access_token_secs,
            refresh_token_idle_secs: c.refresh_token_idle_secs,
            refresh_token_absolute_secs: c.refresh_token_absolute_secs,
        },
        scopes: strings(&c.allowed_scopes),
        auth_method: Some(c.token_endpoint_auth_method.clone()),
        resources: c.allowed_resources.as_ref().map(strings).unwrap_or_default(),
        ..NewClient::new(
            &c.name,
            strings(&c.redirect_uris),
            c.token_endpoint_auth_method == "none",
            grants,
        )
    })
}

/// The client `id`.
pub async fn find(db: &DatabaseConnection, id: &str) -> Result<client::Model, Error> {
    repo::find(db, id)
        .await?
        .ok_or_else(|| Error::NotFound(format!("no client {id:?}")))
}

/// Applies `change` to the client `id` if `if_match` (when given) names its current
/// version; the updated client.
pub async fn update(
    db: &DatabaseConnection,
    id: &str,
    change: Update,
    if_match: Option<&str>,
    by: audit::By<'_>,
) -> Result<client::Model, Error> {
    let current = find(db, id).await?;
    if let Some(tag) = if_match
        && crate::admin::check_match(Some(tag), &etag(&current)).is_err()
    {
        return Err(Error::Stale);
    }
    let mut s = settings_of(&current)?;
    let mut changed = Vec::new();
    macro_rules! set {
        ($field:ident, $target:expr) => {
            if let Some(v) = change.$field {
                $target = v;
                changed.push(stringify!($field));
            }
        };
    }
    set!(name, s.name);
    set!(redirect_uris, s.redirect_uris);
    set!(post_logout_redirect_uris, s.post_logout_redirect_uris);
    set!(grant_types, s.grant_types);
    set!(first_party, s.first_party);
    set!(require_par, s.require_par);
    set!(require_mfa, s.require_mfa);
    set!(scopes, s.scopes);
    set!(backchannel_logout_uri, s.backchannel_logout_uri);
    set!(resources, s.resources);
    set!(access_token_secs, s.lifetimes.access_token_secs);
    set!(refresh_token_idle_secs, s.lifetimes.refresh_token_idle_secs);
    set!(refresh_token_absolute_secs, s.lifetimes.refresh_token_absolute_secs);
    if let Some(on) = change.admin_api {
        s.scopes.retain(|x| x != ADMIN_SCOPE);
        if on {
            s.scopes.push(ADMIN_SCOPE.to_string());
        }
        changed.push("admin_api");
    }
    if s.scopes.is_empty() {
        return Err(Error::Invalid("a client needs at least one scope".into()));
    }
    let Checked {
        name,
        grants,
        auth_method: _,
    } = validate(&s)?;
    let txn = crate::db::begin(db).await?;
    let updated = repo::update(&txn, id, &current.updated_at, &name, &s, &grants).await?;
    let Some(updated) = updated else {
        return Err(Error::Stale);
    };
    let detail = serde_json::json!({ "client_id": id, "changed": changed });
    audit::record(&txn, by.event(None, "client.updated", detail)).await?;
    txn.commit().await?;
    Ok(updated)
}

/// Gives a client with a secret a new one (returned, shown once); the old one stops
/// working at once.
pub async fn rotate_secret(
    db: &DatabaseConnection,
    hasher: &TokenHasher,
    id: &str,
    by: audit::By<'_>,
) -> Result<String, Error> {
    let current = find(db, id).await?;
    if current.secret_hash.is_none() {
        return Err(Error::Invalid(format!(
            "client {id:?} has no secret (it authenticates with {})",
            current.token_endpoint_auth_method
        )));
    }
    let secret = random_token::<32>();
    let txn = crate::db::begin(db).await?;
    repo::set_secret(&txn, id, &hasher.hash(&secret)).await?;
    let detail = serde_json::json!({ "client_id": id });
    audit::record(&txn, by.event(None, "client.secret_rotated", detail)).await?;
    txn.commit().await?;
    Ok(secret)
}

/// Deletes a client with its consents and refresh tokens; its access tokens stop at
/// introspection (the client is gone) and expire on their own elsewhere.
pub async fn delete(db: &DatabaseConnection, id: &str, by: audit::By<'_>) -> Result<(), Error> {
    let current = find(db, id).await?;
    let txn = crate::db::begin(db).await?;
    let (tokens, consents) = repo::delete(&txn, id).await?;
    let detail =
        serde_json::json!({ "client_id": id, "name": current.name, "refresh_tokens": tokens, "consents": consents });
    audit::record(&txn, by.event(None, "client.deleted", detail)).await?;
    txn.commit().await?;
    Ok(())
}

/// A client as the admin API and `gatehouse client show` present it: its settings,
/// never its secret.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ClientView {
    pub client_id: String,
    pub name: String,
    /// No secret; PKCE required.
    pub public: bool,
    pub token_endpoint_auth_method: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// The scopes the client may request.
    pub scopes: Vec<String>,
    /// Whether the client may ask for `gatehouse:admin`.
    pub admin_api: bool,
    pub first_party: bool,
    pub require_par: bool,
    pub require_mfa: bool,
    pub backchannel_logout_uri: Option<String>,
    pub resources: Vec<String>,
    pub id_token_signed_response_alg: Option<String>,
    pub access_token_signed_alg: Option<String>,
    pub access_token_secs: Option<i64>,
    pub refresh_token_idle_secs: Option<i64>,
    pub refresh_token_absolute_secs: Option<i64>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

pub fn view(c: &client::Model) -> ClientView {
    ClientView {
        client_id: c.id.clone(),
        name: c.name.clone(),
        public: c.token_endpoint_auth_method == "none",
        token_endpoint_auth_method: c.token_endpoint_auth_method.clone(),
        redirect_uris: strings(&c.redirect_uris),
        post_logout_redirect_uris: strings(&c.post_logout_redirect_uris),
        grant_types: strings(&c.grant_types),
        scopes: strings(&c.allowed_scopes),
        admin_api: admin_api(c),
        first_party: c.first_party,
        require_par: c.require_par,
        require_mfa: c.require_mfa,
        backchannel_logout_uri: c.backchannel_logout_uri.clone(),
        resources: c.allowed_resources.as_ref().map(strings).unwrap_or_default(),
        id_token_signed_response_alg: c.id_token_signed_response_alg.clone(),
        access_token_signed_alg: c.access_token_signed_alg.clone(),
        access_token_secs: c.access_token_secs,
        refresh_token_idle_secs: c.refresh_token_idle_secs,
        refresh_token_absolute_secs: c.refresh_token_absolute_secs,
        created_at: c.created_at,
        updated_at: c.updated_at,
    }
}
