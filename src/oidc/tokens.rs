//! Token issuance: authorization codes (single use, in the store), access tokens (JWTs per
//! RFC 9068), ID tokens (OIDC Core §2) and refresh tokens (opaque, hashed, rotated on
//! every use; reuse of a consumed one revokes its family — RFC 9700 §4.14.2).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use entity::client;
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::OAuthError;
use super::resource::Audience;
use super::scope::{self, Scopes};
use super::{claims, pkce, repo};
use crate::config::Config;
use crate::crypto::signing::Alg;
use crate::crypto::{TokenHasher, random_token};
use crate::keys::KeyRing;
use crate::store::Store;

pub use super::access::{Verified, revoke_access, revoke_user_tokens, verify_access};

/// What the token endpoint needs.
pub struct Ctx<'a> {
    pub config: &'a Config,
    pub db: &'a DatabaseConnection,
    pub store: &'a Store,
    pub keys: &'a KeyRing,
    pub hasher: &'a TokenHasher,
    /// Access tokens verified recently (and the revocation generation that keeps it true).
    pub verified: &'a Verified,
}

/// What an authorization code stands for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: Uuid,
    pub scope: Scopes,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub sid: String,
    /// Resources (RFC 8707) named by the authorization request.
    #[serde(default)]
    pub resources: Vec<String>,
}

/// Tokens issued by one grant.
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// Claims of an access token (RFC 9068 §2.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    /// The resource server(s) the token is for (RFC 8707), else the client.
    pub aud: super::resource::Audience,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub client_id: String,
    /// Omitted when empty: "" is no valid scope (RFC 6749 §3.3).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sid: Option<String>,
}

/// The life of a code under its key, moved on only by the store's atomic `swap`:
/// issued → minting (its first use is making tokens; the nonce tells that use its own
/// mark) → redeemed, or → replayed by any later use. What the first use issued is kept
/// apart under `code-used:` (written before "redeemed"), so every replay can revoke it,
/// and a replay that fails halfway can be repeated.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "state", rename_all = "snake_case")]
enum CodeState {
    Issued(CodeGrant),
    Minting { nonce: String },
    Redeemed,
    Replayed,
}

fn code_key(ctx: &Ctx<'_>, code: &str) -> String {
    crate::store::keys::code(&ctx.hasher.hash(code))
}

/// What a code's first use issued.
#[derive(Debug, Serialize, Deserialize)]
struct Redeemed {
    jti: String,
    exp: i64,
    family: Option<Uuid>,
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Stores a code for `grant`; returns the code.
pub async fn issue_code(ctx: &Ctx<'_>, grant: &CodeGrant) -> Result<String, OAuthError> {
    let code = random_token::<32>();
    let value = serde_json::to_vec(&CodeState::Issued(grant.clone())).map_err(OAuthError::server)?;
    ctx.store
        .put(
            &code_key(ctx, &code),
            &value,
            secs(ctx.config.tokens.authorization_code_secs),
        )
        .await?;
    Ok(code)
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the hash of the access token, with the
/// hash of the signing algorithm (SHA-512 for Ed25519).
pub fn at_hash(alg: Alg, access_token: &str) -> String {
    let digest = match alg {
        Alg::EdDSA => ring::digest::digest(&ring::digest::SHA512, access_token.as_bytes()),
        _ => ring::digest::digest(&ring::digest::SHA256, access_token.as_bytes()),
    };
    let bytes = digest.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

/// The access token lifetime for `client`.
fn access_secs(ctx: &Ctx<'_>, client: &client::Model) -> i64 {
    client
        .access_token_secs
        .unwrap_or_else(|| i64::try_from(ctx.config.tokens.access_token_secs).unwrap_or(600))
}

fn client_alg(value: &Option<String>, default: Alg) -> Alg {
    value.as_deref().and_then(|s| s.parse().ok()).unwrap_or(default)
}

/// The `aud` of an access token: the resources (RFC 8707), else the default resource,
/// else the client. A token for a resource server that also carries `openid` names the
/// UserInfo endpoint too, the only resource of this server it may be used at.
fn audience(ctx: &Ctx<'_>, client: &client::Model, scope: &Scopes, resources: &[String]) -> Audience {
    let aud = Audience::of(resources, ctx.config.tokens.default_resource.as_deref(), &client.id);
    if scope.contains("openid") && !aud.contains(&client.id) {
        aud.and(&userinfo_url(ctx))
    } else {
        aud
    }
}

/// The UserInfo endpoint's URL, an audience access tokens may name.
pub fn userinfo_url(ctx: &Ctx<'_>) -> String {
    format!("{}{}", ctx.config.issuer_id, super::discovery::paths::USERINFO)
}

/// Mints an access token; returns it with its jti and expiry.
fn access_token(
    ctx: &Ctx<'_>,
    client: &client::Model,
    sub: &str,
    scope: &Scopes,
    resources: &[String],
    auth_time: Option<i64>,
    sid: Option<String>,
) -> Result<(String, AccessClaims), OAuthError> {
    let now = Utc::now().timestamp();
    let claims = AccessClaims {
        iss: ctx.config.issuer_id.clone(),
        sub: sub.to_string(),
        aud: audience(ctx, client, scope, resources),
        exp: now + access_secs(ctx, client),
        iat: now,
        jti: random_token::<16>(),
        client_id: client.id.clone(),
        scope: scope::join(scope),
        auth_time,
        sid,
    };
    let alg = client_alg(&client.access_token_signed_alg, ctx.config.access_token_alg);
    Ok((ctx.keys.sign(alg, "at+jwt", &claims)?, claims))
}

struct UserGrant<'a> {
    user_id: Uuid,
    /// The scope of the tokens issued now.
    scope: &'a Scopes,
    /// The scope the refresh token keeps (RFC 6749 §6: narrowing applies to this
    /// response only).
    refresh_scope: &'a Scopes,
    nonce: Option<&'a str>,
    auth_time: i64,
    amr: &'a [String],
    sid: &'a str,
    /// The resources of the access token issued now.
    resources: &'a [String],
    /// The resources the refresh token keeps.
    refresh_resources: &'a [String],
}

/// Access token, ID token (when `openid` was granted) and, for clients allowed the
/// refresh grant, a refresh token in `family` (a new family when None).
async fn user_tokens(
    ctx: &Ctx<'_>,
    client: &client::Model,
    g: &UserGrant<'_>,
    family: Option<(Uuid, chrono::DateTime<Utc>)>,
    txn: &impl sea_orm::ConnectionTrait,
) -> Result<(TokenResponse, AccessClaims, Option<Uuid>), OAuthError> {
    let Some((user, profile)) = crate::accounts::repo::find_with_profile(txn, g.user_id).await? else {
        return Err(OAuthError::invalid_grant("the user no longer exists"));
    };
    if !crate::accounts::state::of(&user).is_usable() {
        return Err(OAuthError::invalid_grant("the user account is not active"));
    }
    let sub = user.id.to_string();
    let (access, at_claims) = access_token(
        ctx,
        client,
        &sub,
        g.scope,
        g.resources,
        Some(g.auth_time),
        Some(g.sid.to_string()),
    )?;
    let id_token = if g.scope.contains("openid") {
        let alg = client_alg(&client.id_token_signed_response_alg, Alg::RS256);
        let now = Utc::now().timestamp();
        let mut c = claims::user_claims(&user, profile.as_ref(), g.scope, &ctx.config.profile_fields);
        c.insert("iss".into(), ctx.config.issuer_id.clone().into());
        c.insert("aud".into(), client.id.clone().into());
        c.insert("azp".into(), client.id.clone().into());
        c.insert("iat".into(), now.into());
        c.insert(
            "exp".into(),
            (now + i64::try_from(ctx.config.tokens.id_token_secs).unwrap_or(3600)).into(),
        );
        c.insert("auth_time".into(), g.auth_time.into());
        c.insert("amr".into(), serde_json::json!(g.amr));
        c.insert("acr".into(), crate::auth::acr_of(g.amr).into());
        c.insert("sid".into(), g.sid.into());
        c.insert("at_hash".into(), at_hash(alg, &access).into());
        if let Some(n) = g.nonce {
            c.insert("nonce".into(), n.into());
        }
        Some(ctx.keys.sign(alg, "JWT", &c)?)
    } else {
        None
    };
    let allows_refresh = crate::clients::strings(&client.grant_types)
        .iter()
        .any(|g| g == "refresh_token");
    let (refresh_token, family_id) = if allows_refresh {
        let now = Utc::now();
        let t = &ctx.config.tokens;
        let idle = chrono::Duration::seconds(
            client
                .refresh_token_idle_secs
                .unwrap_or_else(|| i64::try_from(t.refresh_token_idle_secs).unwrap_or(0)),
        );
        let absolute = chrono::Duration::seconds(
            client
                .refresh_token_absolute_secs
                .unwrap_or_else(|| i64::try_from(t.refresh_token_absolute_secs).unwrap_or(0)),
        );
        let (family_id, family_expires_at) = family.unwrap_or((Uuid::now_v7(), now + absolute));
        let token = random_token::<32>();
        repo::insert_refresh(
            txn,
            entity::refresh_token::Model {
                id: Uuid::now_v7(),
                token_hash: ctx.hasher.hash(&token),
                family_id,
                client_id: client.id.clone(),
                user_id: Some(user.id),
                scope: scope::join(g.refresh_scope),
                sid: Some(g.sid.to_string()),
                auth_time: chrono::DateTime::from_timestamp(g.auth_time, 0),
                amr: serde_json::json!(g.amr),
                created_at: now,
                expires_at: (now + idle).min(family_expires_at),
                family_expires_at,
                consumed_at: None,
                revoked_at: None,
                resources: (!g.refresh_resources.is_empty()).then(|| serde_json::json!(g.refresh_resources)),
            },
        )
        .await?;
        (Some(token), Some(family_id))
    } else {
        (None, None)
    };
    Ok((
        TokenResponse {
            access_token: access,
            token_type: "Bearer".into(),
            expires_in: u64::try_from(access_secs(ctx, client)).unwrap_or(0),
            scope: scope::join(g.scope),
            id_token,
            refresh_token,
        },
        at_claims,
        family_id,
    ))
}

fn allowed_grant(client: &client::Model, grant: &str) -> Result<(), OAuthError> {
    if crate::clients::strings(&client.grant_types).iter().any(|g| g == grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            super::error::ErrorCode::UnauthorizedClient,
            format!("the client may not use the {grant} grant"),
        ))
    }
}

/// The stored row of a refresh token presented for introspection or revocation (None for
/// anything that is not one of ours).
pub async fn find_refresh(ctx: &Ctx<'_>, token: &str) -> Result<Option<entity::refresh_token::Model>, OAuthError> {
    if token.is_empty() || token.len() > 256 {
        return Ok(None);
    }
    Ok(repo::find_refresh(ctx.db, &ctx.hasher.hash(token)).await?)
}

/// Revokes a refresh token's whole family (RFC 7009 §2.1).
pub async fn revoke_refresh(ctx: &Ctx<'_>, row: &entity::refresh_token::Model) -> Result<(), OAuthError> {
    repo::revoke_family(ctx.db, row.family_id, Utc::now()).await?;
    Ok(())
}

/// The `authorization_code` grant (RFC 6749 §4.1.3, RFC 7636 §4.6).
pub async fn exchange_code(
    ctx: &Ctx<'_>,
    client: &client::Model,
    code: Option<&str>,
    redirect_uri: Option<&str>,
    verifier: Option<&str>,
    resource: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    allowed_grant(client, "authorization_code")?;
    let allowed_resources = super::authorize::client_resources(client);
    let code = code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    if code.len() > 256 {
        return Err(OAuthError::invalid_grant(
            "the code is invalid, expired or already used",
        ));
    }
    let key = code_key(ctx, code);
    let used_key = format!("used-{key}");
    // Kept past the code's life, so a late replay still finds what to revoke.
    let marker_ttl = secs(ctx.config.tokens.access_token_secs.max(600))
        .max(secs(u64::try_from(access_secs(ctx, client)).unwrap_or(0)));
    let encode = |s: &CodeState| serde_json::to_vec(s).map_err(OAuthError::server);
    let decode = |v: Option<Vec<u8>>| v.and_then(|v| serde_json::from_slice::<CodeState>(&v).ok());
    let used = || OAuthError::invalid_grant("the code is invalid, expired or already used");
    // Another client's code is refused without touching it, so it cannot be burned.
    if let Some(CodeState::Issued(g)) = decode(ctx.store.get(&key).await?)
        && g.client_id != client.id
    {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    let nonce = random_token::<16>();
    let minting = CodeState::Minting { nonce };
    let grant = match decode(ctx.store.swap(&key, &encode(&minting)?, marker_ttl).await?) {
        Some(CodeState::Issued(grant)) => grant,
        // Unknown or expired: nothing was written.
        None => return Err(used()),
        Some(_) => {
            // A replay: mark it, then revoke what the first use issued. A first use still
            // minting finds the mark and revokes its tokens itself.
            ctx.store.swap(&key, &encode(&CodeState::Replayed)?, marker_ttl).await?;
            if let Some(r) = ctx
                .store
                .get(&used_key)
                .await?
                .and_then(|v| serde_json::from_slice::<Redeemed>(&v).ok())
            {
                revoke_redeemed(ctx, &r).await?;
            }
            tracing::warn!(client_id = %client.id, "authorization code replayed; tokens it issued are revoked");
            return Err(used());
        }
    };
    if grant.client_id != client.id {
        return Err(OAuthError::invalid_grant("the code was issued to another client"));
    }
    if redirect_uri != Some(grant.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&grant.code_challenge, verifier) {
        (Some(challenge), Some(v)) if pkce::verify(v, challenge) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is missing")),
        // RFC 9700 §4.8.2: a verifier without a challenge is a downgrade attempt.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    let resources = super::resource::narrow(resource, &grant.resources, &allowed_resources)?;
    // One write (the refresh token), so no transaction: on SQLite a transaction that
    // reads first fails when another writer commits before its first write.
    let (response, at, family) = user_tokens(
        ctx,
        client,
        &UserGrant {
            user_id: grant.user_id,
            scope: &grant.scope,
            refresh_scope: &grant.scope,
            nonce: grant.nonce.as_deref(),
            auth_time: grant.auth_time,
            amr: &grant.amr,
            sid: &grant.sid,
            resources: &resources,
            refresh_resources: &grant.resources,
        },
        None,
        ctx.db,
    )
    .await?;
    let redeemed = Redeemed {
        jti: at.jti,
        exp: at.exp,
        family,
    };
    let record = serde_json::to_vec(&redeemed).map_err(OAuthError::server)?;
    ctx.store.put(&used_key, &record, marker_ttl).await?;
    let before = decode(ctx.store.swap(&key, &encode(&CodeState::Redeemed)?, marker_ttl).await?);
    if before.as_ref() != Some(&minting) {
        // Used again while these tokens were minted: they die before anyone sees them.
        revoke_redeemed(ctx, &redeemed).await?;
        tracing::warn!(client_id = %client.id, "authorization code replayed; tokens it issued are revoked");
        return Err(used());
    }
    Ok(response)
}

/// Revokes the tokens a code's first use issued.
async fn revoke_redeemed(ctx: &Ctx<'_>, r: &Redeemed) -> Result<(), OAuthError> {
    revoke_access(ctx, &r.jti, r.exp).await?;
    if let Some(f) = r.family {
        repo::revoke_family(ctx.db, f, Utc::now()).await?;
    }
    Ok(())
}

/// The `refresh_token` grant with rotation (RFC 6749 §6, RFC 9700 §4.14.2).
pub async fn refresh(
    ctx: &Ctx<'_>,
    client: &client::Model,
    token: Option<&str>,
    requested_scope: Option<&str>,
    resource: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    allowed_grant(client, "refresh_token")?;
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    if token.len() > 256 {
        return Err(invalid());
    }
    let now = Utc::now();
    let Some(row) = repo::find_refresh(ctx.db, &ctx.hasher.hash(token)).await? else {
        return Err(invalid());
    };
    if row.client_id != client.id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if row.revoked_at.is_some() {
        return Err(invalid());
    }
    let request = fingerprint(requested_scope, resource);
    if let Some(consumed) = row.consumed_at {
        return reused(ctx, client, &row, token, consumed, &request).await;
    }
    if row.expires_at <= now || row.family_expires_at <= now {
        return Err(invalid());
    }
    let mut granted = scope::parse(&row.scope)?;
    // The admin API's scope is never refreshed: it stands on a multi-factor sign-in, so a
    // refreshed token (and the refresh token after it) goes without it.
    granted.remove(crate::admin::ADMIN_SCOPE);
    let scope = match requested_scope {
        Some(s) => {
            let asked = scope::parse(s)?;
            if !asked.is_subset(&granted) {
                return Err(OAuthError::invalid_scope(
                    "the requested scope exceeds the scope originally granted",
                ));
            }
            asked
        }
        None => granted.clone(),
    };
    let granted_resources = row.resources.as_ref().map(crate::clients::strings).unwrap_or_default();
    let resources = super::resource::narrow(
        resource,
        &granted_resources,
        &super::authorize::client_resources(client),
    )?;
    let user_id = row.user_id.ok_or_else(invalid)?;
    let txn = crate::db::begin(ctx.db).await?;
    if !repo::consume_refresh(&txn, row.id, now).await? {
        txn.rollback().await?;
        // Consumed by a request racing this one: within the grace it gets that
        // request's successor; otherwise this is reuse.
        return reused(ctx, client, &row, token, now, &request).await;
    }
    let amr = crate::clients::strings(&row.amr);
    let sid = row.sid.clone().unwrap_or_default();
    let (response, _, _) = user_tokens(
        ctx,
        client,
        &UserGrant {
            user_id,
            scope: &scope,
            refresh_scope: &granted,
            nonce: None,
            auth_time: row.auth_time.map_or(0, |t| t.timestamp()),
            amr: &amr,
            sid: &sid,
            resources: &resources,
            refresh_resources: &granted_resources,
        },
        Some((row.family_id, row.family_expires_at)),
        &txn,
    )
    .await?;
    txn.commit().await?;
    if !grace_applies(ctx, client) {
        return Ok(response);
    }
    // What a second presentation within the grace gets: sealed under a key derived from
    // the presented token, so only its holder can open it.
    let kept = Kept { request, response };
    let plain = serde_json::to_vec(&kept).map_err(OAuthError::server)?;
    let sealed = ctx.hasher.sealer_for(token).seal(&plain, GRACE_CONTEXT);
    let ttl = secs(ctx.config.tokens.refresh_reuse_grace_secs);
    if let Err(e) = ctx.store.put(&grace_key(ctx, token), &sealed, ttl).await {
        tracing::warn!(error = %e, "refresh successor not kept for the reuse grace");
    }
    Ok(kept.response)
}

const GRACE_CONTEXT: &str = "refresh-grace";

/// A rotation's response, kept for the reuse grace with the request it answered.
#[derive(Serialize, Deserialize)]
struct Kept {
    request: String,
    response: TokenResponse,
}

/// What a refresh request asked for beyond the token: a second presentation gets the
/// first one's answer only if it asked for the same.
fn fingerprint(scope: Option<&str>, resource: Option<&str>) -> String {
    format!("{}\0{}", scope.unwrap_or_default(), resource.unwrap_or_default())
}

/// The grace is for confidential clients: a public client's `client_id` proves nothing,
/// so there any second presentation is reuse.
fn grace_applies(ctx: &Ctx<'_>, client: &client::Model) -> bool {
    ctx.config.tokens.refresh_reuse_grace_secs > 0 && !super::client_auth::is_public(client)
}

fn grace_key(ctx: &Ctx<'_>, token: &str) -> String {
    crate::store::keys::refresh_grace(&ctx.hasher.hash(token))
}

/// A consumed refresh token presented again. Within `tokens.refresh_reuse_grace_secs` of
/// its use, by the same client (checked before), the answer is the successor that use
/// got (waiting briefly for a use still minting it); after the grace, or when that
/// successor cannot be found, it is reuse (RFC 9700 §4.14.2) and the family is revoked.
async fn reused(
    ctx: &Ctx<'_>,
    client: &client::Model,
    row: &entity::refresh_token::Model,
    token: &str,
    consumed: chrono::DateTime<Utc>,
    request: &str,
) -> Result<TokenResponse, OAuthError> {
    let grace = ctx.config.tokens.refresh_reuse_grace_secs;
    let grace = chrono::Duration::seconds(i64::try_from(grace).unwrap_or(0));
    if grace_applies(ctx, client) && Utc::now() - consumed <= grace {
        let key = grace_key(ctx, token);
        // A racing use may still be minting: wait for it, at most two seconds.
        for _ in 0..40 {
            if let Some(sealed) = ctx.store.get(&key).await? {
                let plain = ctx.hasher.sealer_for(token).open(&sealed, GRACE_CONTEXT);
                let kept = plain.ok().and_then(|p| serde_json::from_slice::<Kept>(&p).ok());
                // The same request only: another scope or resource is no parallel refresh.
                if let Some(Kept { response: r, .. }) = kept.filter(|k| k.request == request) {
                    // Only while that successor is unused and alive: once the client has
                    // moved on (or the family was revoked), this is reuse.
                    let successor = match &r.refresh_token {
                        Some(t) => find_refresh(ctx, t).await?,
                        None => None,
                    };
                    if successor.is_some_and(|s| s.consumed_at.is_none() && s.revoked_at.is_none()) {
                        return Ok(r);
                    }
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let n = repo::revoke_family(ctx.db, row.family_id, Utc::now()).await?;
    tracing::warn!(client_id = %client.id, revoked = n, "refresh token reused; its family is revoked");
    Err(OAuthError::invalid_grant(
        "the refresh token is invalid, expired or revoked",
    ))
}

/// The `client_credentials` grant (RFC 6749 §4.4): an access token for the client itself.
pub async fn client_credentials(
    ctx: &Ctx<'_>,
    client: &client::Model,
    requested_scope: Option<&str>,
    resource: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    allowed_grant(client, "client_credentials")?;
    if super::client_auth::is_public(client) {
        return Err(OAuthError::new(
            super::error::ErrorCode::UnauthorizedClient,
            "public clients cannot use client_credentials",
        ));
    }
    let scope = scope::parse(requested_scope.unwrap_or_default())?;
    if scope.contains("openid") || scope.contains("offline_access") {
        return Err(OAuthError::invalid_scope("openid and offline_access need a user"));
    }
    scope::check_allowed(&scope, &crate::clients::strings(&client.allowed_scopes))?;
    let resources = super::resource::requested(resource, &super::authorize::client_resources(client))?;
    let (access, _) = access_token(ctx, client, &client.id, &scope, &resources, None, None)?;
    Ok(TokenResponse {
        access_token: access,
        token_type: "Bearer".into(),
        expires_in: u64::try_from(access_secs(ctx, client)).unwrap_or(0),
        scope: scope::join(&scope),
        id_token: None,
        refresh_token: None,
    })
}
