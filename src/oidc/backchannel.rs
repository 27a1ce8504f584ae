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
use crate::config::Config;
use crate::crypto::random_token;
use crate::crypto::signing::Alg;
use crate::keys::KeyRing;
use crate::store::Store;

const LEASE_MS: i64 = 60_000;
const BATCH: u64 = 16;
const MAX_ATTEMPTS: i32 = 10;
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

fn sid_key(sid: &str) -> String {
    format!("sid-clients:{sid}")
}

/// Remembers that `client_id` received tokens in session `sid`.
pub async fn remember_client(store: &Store, sid: &str, client_id: &str, ttl: Duration) -> Result<(), OAuthError> {
    let mut clients: Vec<String> = store
        .get(&sid_key(sid))
        .await?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default();
    if !clients.iter().any(|c| c == client_id) {
        clients.push(client_id.to_string());
        let value = serde_json::to_vec(&clients).map_err(OAuthError::server)?;
        store.put(&sid_key(sid), &value, ttl).await?;
    }
    Ok(())
}

/// Queues logout tokens for every RP of `session` that registered a back-channel URI.
pub async fn session_ended(
    config: &Config,
    db: &DatabaseConnection,
    store: &Store,
    keys: &KeyRing,
    session: &Session,
) -> Result<usize, OAuthError> {
    let clients: Vec<String> = store
        .take(&sid_key(&session.sid))
        .await?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default();
    let mut queued = 0;
    for id in clients {
        let Some(client) = crate::clients::repo::find(db, &id).await? else {
            continue;
        };
        let Some(uri) = client.backchannel_logout_uri.clone() else {
            continue;
        };
        let now = Utc::now().timestamp();
        let claims = json!({
            "iss": config.issuer_id,
            "aud": client.id,
            "iat": now,
            "exp": now + 120,
            "jti": random_token::<16>(),
            "sub": session.user_id.to_string(),
            "sid": session.sid,
            "events": { EVENT: {} },
        });
        let alg = client
            .id_token_signed_response_alg
            .as_deref()
            .and_then(|a| a.parse().ok())
            .unwrap_or(Alg::RS256);
        let token = keys.sign(alg, "logout+jwt", &claims)?;
        repo::insert(db, &client.id, &uri, &token, Utc::now().timestamp_millis()).await?;
        queued += 1;
    }
    Ok(queued)
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

/// Delivers due logout tokens until `stop`.
pub async fn run_worker(db: DatabaseConnection, poll: Duration, retry_initial: Duration, stop: CancellationToken) {
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "back-channel logout client could not be built");
            return;
        }
    };
    loop {
        let now = Utc::now().timestamp_millis();
        match repo::claim(&db, now, now + LEASE_MS, BATCH).await {
            Ok(rows) => {
                for row in rows {
                    let lease = row.locked_until.unwrap_or_default();
                    let outcome = match deliver(&http, &row.uri, &row.logout_token).await {
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
