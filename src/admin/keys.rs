//! Signing keys as administrators see them: listed with their state, rotated on demand.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Actor, Error, Ops};
use crate::audit;
use crate::crypto::signing::Alg;

/// A published signing key (its public half; the private key never leaves the ring).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    pub kid: String,
    pub alg: String,
    /// `pending` (published, not signing yet), `active` (signing), `retired` (still
    /// published so tokens it signed verify, until `expires_at`).
    pub state: &'static str,
    pub created_at: DateTime<Utc>,
    pub activates_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The state of a key at `now`.
fn state_of(k: &entity::signing_key::Model, now: DateTime<Utc>) -> &'static str {
    match (k.retired_at, k.activates_at <= now) {
        (Some(r), _) if r <= now => "retired",
        (_, true) => "active",
        (_, false) => "pending",
    }
}

/// Every published key, oldest first.
pub async fn list(db: &sea_orm::DatabaseConnection) -> Result<Vec<KeyInfo>, Error> {
    let now = Utc::now();
    Ok(crate::keys::repo::published(db, now)
        .await?
        .into_iter()
        .map(|k| KeyInfo {
            state: state_of(&k, now),
            kid: k.kid,
            alg: k.alg,
            created_at: k.created_at,
            activates_at: k.activates_at,
            retired_at: k.retired_at,
            expires_at: k.expires_at,
        })
        .collect())
}

/// Publishes a new key for every algorithm (or `only`); it signs after
/// `keys.publish_secs`. This instance's JWKS shows it at once, the others' at their next
/// reload (`keys.refresh_secs`). The new key ids.
pub async fn rotate(
    ops: &Ops<'_>,
    actor: &Actor,
    only: Option<Alg>,
    from: &super::Source,
) -> Result<Vec<(Alg, String)>, Error> {
    let db = ops.auth.db;
    let created = ops.tokens.keys.rotate(db, only).await?;
    let txn = crate::db::begin(db).await?;
    let who = actor.audit();
    for (alg, kid) in &created {
        let detail = serde_json::json!({ "alg": alg.as_str(), "kid": kid, "via": actor.via() });
        audit::record(&txn, from.by(&who).event(None, "key.rotated", detail)).await?;
    }
    txn.commit().await?;
    ops.tokens.keys.reload(db).await?;
    Ok(created)
}
