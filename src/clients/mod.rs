//! OAuth 2.0 / OpenID Connect clients (relying parties): registration rules and storage.
//!
//! Redirect URIs (RFC 9700 §2.1, §2.6; RFC 8252 §7): absolute, no fragment, `https`, or
//! `http` only on a loopback host, or a private-use scheme containing a dot for native
//! apps; matched later by exact string comparison. Client secrets carry 256 bits of
//! entropy, are shown once and stored as a keyed hash.

pub mod manage;
pub mod repo;

pub use repo::Lifetimes;

use sea_orm::{DatabaseConnection, DbErr};
use url::Url;

use crate::audit;
use crate::crypto::signing::Alg;
use crate::crypto::{TokenHasher, random_token};

/// Grant types a client may be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(s: &str) -> Result<Self, Error> {
        match s.trim() {
            "authorization_code" => Ok(Self::AuthorizationCode),
            "refresh_token" => Ok(Self::RefreshToken),
            "client_credentials" => Ok(Self::ClientCredentials),
            other => Err(Error::Invalid(format!(
                "grant type {other:?} is not one of authorization_code, refresh_token, client_credentials"
            ))),
        }
    }
}

/// Errors of client registration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the client changed since it was read (its ETag no longer matches)")]
    Stale,
    #[error("database error: {0}")]
    Db(#[from] DbErr),
}

/// What to register.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub public: bool,
    pub grant_types: Vec<GrantType>,
    /// Trusted first-party application: no consent screen.
    pub first_party: bool,
    /// ID token algorithm (RS256 when None).
    pub id_token_alg: Option<Alg>,
    /// Access token algorithm (the server default when None).
    pub access_token_alg: Option<Alg>,
    /// OIDC Back-Channel Logout URI.
    pub backchannel_logout_uri: Option<String>,
    /// Authorization requests must be pushed first (RFC 9126).
    pub require_par: bool,
    /// Every sign-in for this client must be multi-factor.
    pub require_mfa: bool,
    /// Public keys for `private_key_jwt` client authentication (a JWK Set).
    pub jwks: Option<serde_json::Value>,
    /// Token lifetimes of this client.
    pub lifetimes: repo::Lifetimes,
    /// Scopes the client may request (the defaults when empty).
    pub scopes: Vec<String>,
    /// How a confidential client authenticates at the token endpoint (RFC 7591 §2
    /// `token_endpoint_auth_method`): `client_secret_basic` when None (or
    /// `private_key_jwt` when `jwks` is given); public clients use `none`.
    pub auth_method: Option<String>,
    /// Resources (RFC 8707) the client may ask tokens for: absolute URIs, no fragment.
    pub resources: Vec<String>,
}

impl NewClient {
    /// A client with the given name, redirect URIs and grants, and default settings.
    pub fn new(name: &str, redirect_uris: Vec<String>, public: bool, grant_types: Vec<GrantType>) -> Self {
        Self {
            name: name.to_string(),
            redirect_uris,
            post_logout_redirect_uris: Vec::new(),
            public,
            grant_types,
            first_party: false,
            id_token_alg: None,
            access_token_alg: None,
            backchannel_logout_uri: None,
            require_par: false,
            require_mfa: false,
            jwks: None,
            lifetimes: repo::Lifetimes::default(),
            scopes: Vec::new(),
            auth_method: None,
            resources: Vec::new(),
        }
    }
}

/// A registered client with its secret, which exists only in this value.
pub struct Created {
    pub client: entity::client::Model,
    pub secret: Option<String>,
}

impl std::fmt::Debug for Created {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Created")
            .field("client", &self.client)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// A client's settings that passed every rule, with what they imply.
struct Checked {
    name: String,
    grants: Vec<GrantType>,
    auth_method: &'static str,
}

/// Every rule a client's settings must follow, on creation and on every update.
fn validate(new: &NewClient) -> Result<Checked, Error> {
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "the client name must be 1 to 200 printable characters".into(),
        ));
    }
    for u in &new.redirect_uris {
        validate_redirect_uri(u, "redirect URI")?;
    }
    for u in &new.post_logout_redirect_uris {
        validate_redirect_uri(u, "post-logout redirect URI")?;
    }
    let mut grants = if new.grant_types.is_empty() {
        vec![GrantType::AuthorizationCode]
    } else {
        new.grant_types.clone()
    };
    grants.sort();
    grants.dedup();
    if grants.contains(&GrantType::AuthorizationCode) && new.redirect_uris.is_empty() {
        return Err(Error::Invalid(
            "the authorization_code grant needs at least one redirect URI".into(),
        ));
    }
    if grants.contains(&GrantType::RefreshToken) && !grants.contains(&GrantType::AuthorizationCode) {
        return Err(Error::Invalid(
            "the refresh_token grant needs the authorization_code grant".into(),
        ));
    }
    if let Some(u) = &new.backchannel_logout_uri {
        validate_redirect_uri(u, "back-channel logout URI")?;
    }
    if let Some(j) = &new.jwks {
        let ok = j.get("keys").and_then(|k| k.as_array()).is_some_and(|keys| {
            !keys.is_empty()
                && keys.iter().all(|k| {
                    k.get("d").is_none() && serde_json::from_value::<jsonwebtoken::jwk::Jwk>(k.clone()).is_ok()
                })
        });
        if !ok {
            return Err(Error::Invalid("jwks must be a JWK Set of public keys".into()));
        }
    }
    if let Err(e) = crate::oidc::scope::parse(&new.scopes.join(" ")) {
        return Err(Error::Invalid(e.description));
    }
    let l = &new.lifetimes;
    for (what, v, max) in [
        ("access token lifetime", l.access_token_secs, 86_400),
        ("refresh token idle lifetime", l.refresh_token_idle_secs, 366 * 86_400),
        (
            "refresh token absolute lifetime",
            l.refresh_token_absolute_secs,
            3 * 366 * 86_400,
        ),
    ] {
        if v.is_some_and(|v| v < 1 || v > max) {
            return Err(Error::Invalid(format!(
                "the {what} must be between 1 and {max} seconds"
            )));
        }
    }
    if new.public && grants.contains(&GrantType::ClientCredentials) {
        return Err(Error::Invalid(
            "a public client cannot use the client_credentials grant".into(),
        ));
    }
    let auth_method = match (new.public, new.jwks.is_some(), new.auth_method.as_deref()) {
        (true, _, None | Some("none")) => "none",
        (true, _, Some(m)) => {
            return Err(Error::Invalid(format!(
                "a public client authenticates with none, not {m}"
            )));
        }
        (false, true, None | Some("private_key_jwt")) => "private_key_jwt",
        (false, false, Some("private_key_jwt")) => {
            return Err(Error::Invalid("private_key_jwt needs the client's keys (jwks)".into()));
        }
        (false, false, None | Some("client_secret_basic")) => "client_secret_basic",
        (false, false, Some("client_secret_post")) => "client_secret_post",
        (false, true, Some(m)) => {
            return Err(Error::Invalid(format!(
                "a client with keys authenticates with private_key_jwt, not {m}"
            )));
        }
        (false, false, Some(m)) => {
            return Err(Error::Invalid(format!(
                "token endpoint auth method {m:?} is not one of client_secret_basic, client_secret_post, private_key_jwt"
            )));
        }
    };
    for r in &new.resources {
        crate::oidc::resource::validate(r).map_err(|e| Error::Invalid(e.description))?;
    }
    if new.resources.len() > crate::oidc::resource::MAX_PER_CLIENT {
        return Err(Error::Invalid(format!(
            "at most {} resources per client",
            crate::oidc::resource::MAX_PER_CLIENT
        )));
    }
    Ok(Checked {
        name,
        grants,
        auth_method,
    })
}

/// The scopes a new client may request.
pub const DEFAULT_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Checks a redirect URI (or post-logout redirect URI) for registration.
pub fn validate_redirect_uri(s: &str, what: &str) -> Result<(), Error> {
    let bad = |why: &str| Err(Error::Invalid(format!("{what} {s:?} {why}")));
    // The URL parser would silently drop these; the stored string must be what matches.
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces or control characters");
    }
    let Ok(url) = Url::parse(s) else {
        return bad("is not an absolute URI");
    };
    if url.fragment().is_some() {
        return bad("must not contain a fragment (RFC 6749 §3.1.2)");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return bad("must not contain credentials");
    }
    match url.scheme() {
        "https" if url.has_host() => Ok(()),
        "http" => {
            let loopback = match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            };
            if loopback {
                Ok(())
            } else {
                bad("uses http, which is only allowed for loopback hosts (RFC 9700 §2.6)")
            }
        }
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "ftp" | "ws" | "wss" => {
            bad("uses a scheme that cannot be a redirect target")
        }
        // Private-use schemes for native apps are reverse domain names (RFC 8252 §7.1).
        scheme if scheme.contains('.') => Ok(()),
        _ => bad("must use https, http on a loopback host, or a reverse-domain private-use scheme"),
    }
}

/// Validates and stores a new client, returning its one-time secret.
pub async fn create(
    db: &DatabaseConnection,
    hasher: &TokenHasher,
    new: NewClient,
    actor: &str,
) -> Result<Created, Error> {
    let Checked {
        name,
        grants,
        auth_method,
    } = validate(&new)?;
    let client_id = random_token::<16>();
    let secret = (!new.public && new.jwks.is_none()).then(random_token::<32>);
    let txn = crate::db::begin(db).await?;
    let client = repo::insert(
        &txn,
        repo::ClientRow {
            id: client_id.clone(),
            name: name.to_string(),
            secret_hash: secret.as_deref().map(|s| hasher.hash(s)),
            token_endpoint_auth_method: auth_method.to_string(),
            redirect_uris: new.redirect_uris.clone(),
            post_logout_redirect_uris: new.post_logout_redirect_uris.clone(),
            grant_types: grants.iter().map(|g| g.as_str().to_string()).collect(),
            allowed_scopes: if new.scopes.is_empty() {
                DEFAULT_SCOPES.iter().map(|s| (*s).to_string()).collect()
            } else {
                new.scopes.clone()
            },
            first_party: new.first_party,
            id_token_alg: new.id_token_alg.map(|a| a.as_str().to_string()),
            access_token_alg: new.access_token_alg.map(|a| a.as_str().to_string()),
            backchannel_logout_uri: new.backchannel_logout_uri.clone(),
            require_par: new.require_par,
            require_mfa: new.require_mfa,
            jwks: new.jwks.clone(),
            lifetimes: new.lifetimes,
            allowed_resources: new.resources.clone(),
        },
    )
    .await?;
    audit::record(
        &txn,
        audit::Event {
            actor,
            user_id: None,
            kind: "client.created",
            ip: None,
            detail: Some(serde_json::json!({ "client_id": client_id, "public": new.public })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(Created { client, secret })
}

/// Changes how a confidential client with a secret authenticates at the token endpoint:
/// `client_secret_basic` or `client_secret_post` (RFC 7591 §2).
pub async fn set_auth_method(db: &DatabaseConnection, client_id: &str, method: &str, actor: &str) -> Result<(), Error> {
    if !matches!(method, "client_secret_basic" | "client_secret_post") {
        return Err(Error::Invalid(format!(
            "token endpoint auth method {method:?} is not one of client_secret_basic, client_secret_post"
        )));
    }
    let Some(client) = repo::find(db, client_id).await? else {
        return Err(Error::Invalid(format!("no client {client_id:?}")));
    };
    if client.secret_hash.is_none() {
        return Err(Error::Invalid(format!(
            "client {client_id:?} has no secret (it authenticates with {})",
            client.token_endpoint_auth_method
        )));
    }
    let txn = crate::db::begin(db).await?;
    repo::set_auth_method(&txn, client_id, method).await?;
    audit::record(
        &txn,
        audit::Event {
            actor,
            user_id: None,
            kind: "client.auth_method_changed",
            ip: None,
            detail: Some(serde_json::json!({ "client_id": client_id, "method": method })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// How many clients the metadata cache keeps at most (unknown ids are never cached, so
/// requests naming random clients cannot fill it).
pub const CACHE_CAPACITY: usize = 1024;
/// How long a cached client lives at most: the bound on seeing a change when the
/// generation poll cannot tell (two instances' clocks skewed within one second).
pub const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(30);

/// Client metadata for the hot paths: the token, introspection and authorization
/// endpoints read a client from here, not from the database, on every request. A change
/// made anywhere (this instance, another one, the CLI) moves [`repo::generation`], which
/// [`Directory::refresh`] polls every second, emptying the cache when it moves.
#[derive(Debug)]
pub struct Directory {
    cache: crate::cache::Bounded<String, entity::client::Model>,
    generation: crate::cache::Generation<(i64, i64)>,
}

impl Default for Directory {
    fn default() -> Self {
        Self {
            cache: crate::cache::Bounded::new(CACHE_CAPACITY, CACHE_TTL),
            generation: crate::cache::Generation::default(),
        }
    }
}

impl Directory {
    /// The client `client_id`, if registered.
    pub async fn find(&self, db: &DatabaseConnection, client_id: &str) -> Result<Option<entity::client::Model>, DbErr> {
        if let Some(c) = self.cache.get(client_id) {
            return Ok(Some(c));
        }
        let epoch = self.cache.epoch();
        let found = repo::find(db, client_id).await?;
        if let Some(c) = &found {
            self.cache.insert(epoch, client_id.to_string(), c.clone(), None);
        }
        Ok(found)
    }

    /// Forgets every cached client (after a change made here, so it shows at once).
    pub fn invalidate(&self) {
        self.cache.clear();
    }

    /// Reads the clients' generation and empties the cache if it moved (or cannot be
    /// read: nothing cached is trusted then).
    pub async fn refresh(&self, db: &DatabaseConnection) {
        if self.generation.moved(repo::generation(db).await, "client") {
            self.cache.clear();
        }
    }
}

/// All clients, oldest first.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<entity::client::Model>, Error> {
    Ok(repo::list(db).await?)
}

/// A JSON array column as strings.
pub fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uri_rules() {
        for ok in [
            "https://app.example.com/cb",
            "https://app.example.com/cb?x=1",
            "http://127.0.0.1:8000/cb",
            "http://[::1]/cb",
            "http://localhost:3000/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(validate_redirect_uri(ok, "redirect URI").is_ok(), "{ok} refused");
        }
        for bad in [
            "/relative",
            "app.example.com/cb",
            "https://app.example.com/cb#frag",
            "http://app.example.com/cb",
            "https://user:pw@app.example.com/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "file:///etc/passwd",
            "myapp:/cb",
            "https://app.example.com/cb\r\n",
            " https://app.example.com/cb",
            "https://app.example.com/c\tb",
        ] {
            assert!(validate_redirect_uri(bad, "redirect URI").is_err(), "{bad} accepted");
        }
    }
}
