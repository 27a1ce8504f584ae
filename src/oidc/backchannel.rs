//! OpenID Connect Back-Channel Logout 1.0: when a session ends, every relying party that
//! received tokens in it and registered a back-channel logout URI is sent a signed
//! `logout_token` (typ `logout+jwt`) by a direct POST. Tokens go through a persisted
//! queue and are retried with backoff, so an RP that is down is told later, not never.

use std::time::Duration;

use chrono::Utc;
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::backchannel_repo as repo;
use super::error::OAuthError;
use crate::accounts::sessions::Session;
use crate::crypto::random_token;
use crate::crypto::signing::Alg;
use crate::keys::KeyRing;
use crate::store::Store;

const LEASE_MS: i64 = 60_000;
/// Small enough that a batch (5 s per delivery at most) ends well within the lease.
const BATCH: u64 = 8;
const MAX_ATTEMPTS: i32 = 10;
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

fn sid_key(sid: &str) -> String {
    crate::store::keys::session_clients(sid)
}

/// Remembers that `client_id` received tokens in session `sid`.
pub async fn remember_client(store: &Store, sid: &str, client_id: &str, ttl: Duration) -> Result<(), OAuthError> {
    store.add_member(&sid_key(sid), client_id, ttl).await?;
    Ok(())
}

/// What a queued logout says; the token is signed from it at each attempt.
#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    sub: String,
    sid: String,
    alg: Alg,
}

/// What follows the end of browser sessions, in one place: their refresh tokens end
/// (except `offline_access` ones) and every RP of theirs with a back-channel URI is told.
/// The sessions are gone already, so a failure here is logged, not returned.
pub async fn sessions_ended(db: &DatabaseConnection, store: &Store, ended: &[Session]) {
    for s in ended {
        if let Err(e) = session_ended(db, store, s).await {
            tracing::warn!(error = %e.description, "back-channel logout could not be queued");
        }
    }
}

/// Ends the browser session of the cookie value `token`, if it is live, with
/// [`sessions_ended`]; returns it.
pub async fn end_browser_session(
    db: &DatabaseConnection,
    store: &Store,
    hasher: &crate::crypto::TokenHasher,
    token: &str,
) -> Option<Session> {
    use crate::accounts::sessions;
    let session = match sessions::load(store, hasher, token).await {
        Ok(Some(s)) => s,
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "session could not be loaded to end it");
            return None;
        }
    };
    if let Err(e) = sessions::destroy(store, hasher, token).await {
        tracing::warn!(error = %e, "session could not be ended");
    }
    sessions_ended(db, store, std::slice::from_ref(&session)).await;
    Some(session)
}

/// Queues a logout for every RP of `session` that registered a back-channel URI.
pub async fn session_ended(db: &DatabaseConnection, store: &Store, session: &Session) -> Result<usize, OAuthError> {
    let mut clients = store.take_members(&sid_key(&session.sid)).await?;
    clients.sort();
    clients.dedup();
    // Tokens of this session that were not asked to outlive it end with it (§2.7).
    super::repo::revoke_session_families(db, &session.sid, Utc::now()).await?;
    let mut queued = 0;
    for id in clients {
        let Some(client) = crate::clients::repo::find(db, &id).await? else {
            continue;
        };
        let Some(uri) = client.backchannel_logout_uri.clone() else {
            continue;
        };
        let alg = client
            .id_token_signed_response_alg
            .as_deref()
            .and_then(|a| a.parse().ok())
            .unwrap_or(Alg::RS256);
        let payload = Payload {
            sub: session.user_id.to_string(),
            sid: session.sid.clone(),
            alg,
        };
        let payload = serde_json::to_string(&payload).map_err(OAuthError::server)?;
        repo::insert(db, &client.id, &uri, &payload, Utc::now().timestamp_millis()).await?;
        queued += 1;
    }
    Ok(queued)
}

/// Signs a fresh logout token for a queued logout.
fn logout_token(keys: &KeyRing, issuer: &str, client_id: &str, payload: &str) -> Result<String, String> {
    let p: Payload = serde_json::from_str(payload).map_err(|e| format!("bad queued payload: {e}"))?;
    let now = Utc::now().timestamp();
    let claims = json!({
        "iss": issuer,
        "aud": client_id,
        "iat": now,
        "exp": now + 120,
        "jti": random_token::<16>(),
        "sub": p.sub,
        "sid": p.sid,
        "events": { EVENT: {} },
    });
    keys.sign(p.alg, "logout+jwt", &claims).map_err(|e| e.to_string())
}

async fn deliver(http: &reqwest::Client, uri: &str, token: &str) -> Result<(), String> {
    let body = format!(
        "logout_token={}",
        url::form_urlencoded::byte_serialize(token.as_bytes()).collect::<String>()
    );
    let r = http
        .post(uri)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("cannot reach the relying party: {e}"))?;
    if r.status().is_success() {
        Ok(())
    } else {
        Err(format!("the relying party answered {}", r.status()))
    }
}

/// Delivers due logouts until `stop`.
pub async fn run_worker(
    db: DatabaseConnection,
    keys: std::sync::Arc<KeyRing>,
    issuer: String,
    poll: Duration,
    retry_initial: Duration,
    stop: CancellationToken,
) {
    // Built when the first logout is due: an idle instance never loads TLS roots.
    let mut client: Option<reqwest::Client> = None;
    loop {
        let now = Utc::now().timestamp_millis();
        match repo::claim(&db, now, now + LEASE_MS, BATCH).await {
            Ok(rows) => {
                if !rows.is_empty() && client.is_none() {
                    match reqwest::Client::builder()
                        .timeout(Duration::from_secs(5))
                        .redirect(reqwest::redirect::Policy::none())
                        .build()
                    {
                        Ok(c) => client = Some(c),
                        Err(e) => {
                            tracing::error!(error = %e, "back-channel logout client could not be built");
                            return;
                        }
                    }
                }
                for row in rows {
                    let Some(http) = &client else { break };
                    let lease = row.locked_until.unwrap_or_default();
                    let sent = match logout_token(&keys, &issuer, &row.client_id, &row.payload) {
                        Ok(token) => deliver(http, &row.uri, &token).await,
                        Err(e) => Err(e),
                    };
                    let outcome = match sent {
                        Ok(()) => Ok(()),
                        Err(e) if row.attempts >= MAX_ATTEMPTS => {
                            tracing::warn!(client_id = %row.client_id, error = %e, "back-channel logout failed for good");
                            Err((e, None))
                        }
                        Err(e) => {
                            let delay =
                                crate::mail::outbox::backoff(row.attempts, retry_initial, Duration::from_secs(3600));
                            tracing::info!(client_id = %row.client_id, error = %e, "back-channel logout will be retried");
                            Err((
                                e,
                                Some(Utc::now().timestamp_millis() + i64::try_from(delay.as_millis()).unwrap_or(0)),
                            ))
                        }
                    };
                    if let Err(e) = repo::finish(&db, row.id, lease, outcome).await {
                        tracing::warn!(error = %e, "back-channel logout outcome not recorded");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "back-channel logout queue unavailable"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(poll) => {}
        }
    }
}
