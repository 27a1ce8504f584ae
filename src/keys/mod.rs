//! The signing key ring: keys live in the database with their private part sealed by the
//! master key; every instance keeps the published set in memory and reloads it
//! periodically, so a rotation done anywhere (`gatehouse keys rotate`, or the automatic
//! interval) reaches all instances without a restart.
//!
//! Lifecycle of a key: created and published in the JWKS at once; signs from
//! `activates_at` (after `keys.publish_secs` when it replaces another key); stops signing
//! at `retired_at` (when its successor activates); leaves the JWKS at `expires_at`, once
//! every token it signed has expired.

pub mod repo;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{DecodingKey, Header, Validation};
use sea_orm::{DatabaseConnection, DbErr};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Config;
use crate::crypto::MasterKey;
use crate::crypto::master_key::Sealer;
use crate::crypto::signing::{self, Alg, KeyMaterialError};

/// Errors of the key ring.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error(transparent)]
    Material(#[from] KeyMaterialError),
    #[error("signing key {0} cannot be opened with the master key")]
    Sealed(String),
    #[error("no active {0} signing key")]
    NoKey(Alg),
    #[error("token signing failed: {0}")]
    Sign(String),
}

/// Why a token did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed token")]
    Malformed,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("invalid token: {0}")]
    Invalid(String),
}

struct Signer {
    kid: String,
    key: signing::SigningKey,
}

#[derive(Default)]
struct Snapshot {
    signers: HashMap<Alg, Signer>,
    verifiers: HashMap<String, (Alg, DecodingKey)>,
    jwks: Arc<crate::cache::Prebuilt>,
}

/// Timing settings of the ring.
#[derive(Debug, Clone)]
pub struct RingConfig {
    pub rotation: chrono::Duration,
    pub publish: chrono::Duration,
    pub refresh: Duration,
    /// How long a retired key stays published: the longest token lifetime plus skew.
    pub retention: chrono::Duration,
}

impl RingConfig {
    pub fn from_config(c: &Config) -> Self {
        // Clients may have access tokens of up to a day (`--access-token-secs`).
        let longest = c.tokens.id_token_secs.max(c.tokens.access_token_secs).max(86_400);
        let secs = |s: u64| chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        Self {
            rotation: secs(c.keys.rotation_days.saturating_mul(86_400)),
            publish: secs(c.keys.publish_secs),
            refresh: Duration::from_secs(c.keys.refresh_secs),
            retention: secs(longest.saturating_add(300)),
        }
    }
}

/// The signing keys, as this instance knows them.
pub struct KeyRing {
    snapshot: RwLock<Arc<Snapshot>>,
    sealer: Sealer,
    cfg: RingConfig,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("cfg", &self.cfg).finish()
    }
}

fn context(kid: &str) -> String {
    format!("signing_key:{kid}")
}

impl KeyRing {
    /// An empty ring; [`KeyRing::ensure`] and [`KeyRing::reload`] fill it.
    pub fn new(master: &MasterKey, cfg: RingConfig) -> Self {
        Self {
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            sealer: master.sealer(),
            cfg,
        }
    }

    fn current(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    async fn create(
        &self,
        db: &impl sea_orm::ConnectionTrait,
        alg: Alg,
        activates_at: DateTime<Utc>,
    ) -> Result<String, Error> {
        let der = signing::generate(alg)?;
        let kid = crate::crypto::random_token::<12>();
        let enc = signing::encoding_key(alg, &der)?;
        let jwk = signing::public_jwk(alg, &kid, &enc)?;
        let now = Utc::now();
        repo::insert(
            db,
            entity::signing_key::Model {
                kid: kid.clone(),
                alg: alg.as_str().to_string(),
                private_key_sealed: self.sealer.seal(&der, &context(&kid)),
                public_jwk: serde_json::to_value(&jwk).map_err(|e| Error::Sign(e.to_string()))?,
                created_at: now,
                activates_at,
                retired_at: None,
                expires_at: None,
            },
        )
        .await?;
        Ok(kid)
    }

    /// Creates a key for every algorithm that has none, active at once (first start).
    pub async fn ensure(&self, db: &DatabaseConnection) -> Result<(), Error> {
        let now = Utc::now();
        let txn = crate::db::begin(db).await?;
        // Instances starting together create one set of keys, not one each.
        crate::db::advisory_lock(&txn, 0x6b65_7973).await?;
        let published = repo::published(&txn, now).await?;
        for alg in Alg::ALL {
            if !published
                .iter()
                .any(|k| k.alg == alg.as_str() && k.retired_at.is_none())
            {
                let kid = self.create(&txn, alg, now).await?;
                tracing::info!(%alg, %kid, "created signing key");
            }
        }
        txn.commit().await?;
        Ok(())
    }

    /// Publishes a new key for each algorithm (or only `only`) now; it starts signing after
    /// `keys.publish_secs`, when the current key retires. Returns the new key ids.
    pub async fn rotate(&self, db: &DatabaseConnection, only: Option<Alg>) -> Result<Vec<(Alg, String)>, Error> {
        let now = Utc::now();
        let activates = now + self.cfg.publish;
        let mut created = Vec::new();
        let txn = crate::db::begin(db).await?;
        for alg in Alg::ALL.into_iter().filter(|a| only.is_none_or(|o| o == *a)) {
            let kid = self.create(&txn, alg, activates).await?;
            repo::retire_others(&txn, alg.as_str(), &kid, activates, activates + self.cfg.retention).await?;
            created.push((alg, kid));
        }
        txn.commit().await?;
        for (alg, kid) in &created {
            tracing::info!(%alg, %kid, activates_at = %activates, "rotated signing key");
        }
        Ok(created)
    }

    /// Rotates the algorithms whose signing key is older than `keys.rotation_days` and has
    /// no successor yet.
    pub async fn rotate_due(&self, db: &DatabaseConnection) -> Result<(), Error> {
        let now = Utc::now();
        let txn = crate::db::begin(db).await?;
        // One instance rotates; the others find the successor once they get the lock.
        crate::db::advisory_lock(&txn, 0x6b65_7973).await?;
        let published = repo::published(&txn, now).await?;
        let activates = now + self.cfg.publish;
        for alg in Alg::ALL {
            let newest = published
                .iter()
                .filter(|k| k.alg == alg.as_str() && k.retired_at.is_none())
                .map(|k| k.created_at)
                .max();
            if newest.is_some_and(|t| now - t >= self.cfg.rotation) {
                let kid = self.create(&txn, alg, activates).await?;
                repo::retire_others(&txn, alg.as_str(), &kid, activates, activates + self.cfg.retention).await?;
                tracing::info!(%alg, %kid, activates_at = %activates, "rotated signing key (automatic)");
            }
        }
        txn.commit().await?;
        Ok(())
    }

    /// Reloads the published keys from the database.
    pub async fn reload(&self, db: &DatabaseConnection) -> Result<(), Error> {
        let now = Utc::now();
        let rows = repo::published(db, now).await?;
        let mut snap = Snapshot::default();
        let mut keys = Vec::new();
        let mut best: HashMap<Alg, DateTime<Utc>> = HashMap::new();
        for row in rows {
            let Ok(alg) = row.alg.parse::<Alg>() else { continue };
            let Ok(jwk) = serde_json::from_value::<Jwk>(row.public_jwk.clone()) else {
                continue;
            };
            snap.verifiers
                .insert(row.kid.clone(), (alg, signing::decoding_key(&jwk)?));
            keys.push(jwk);
            let signing_now = row.activates_at <= now && row.retired_at.is_none_or(|r| r > now);
            if signing_now && best.get(&alg).is_none_or(|t| *t < row.activates_at) {
                let der = self
                    .sealer
                    .open(&row.private_key_sealed, &context(&row.kid))
                    .map_err(|_| Error::Sealed(row.kid.clone()))?;
                best.insert(alg, row.activates_at);
                snap.signers.insert(
                    alg,
                    Signer {
                        kid: row.kid.clone(),
                        key: signing::SigningKey::from_pkcs8(alg, &der)?,
                    },
                );
            }
        }
        snap.jwks = Arc::new(crate::cache::Prebuilt::bytes(
            serde_json::to_vec(&JwkSet { keys }).map_err(|e| Error::Sign(e.to_string()))?,
        ));
        match self.snapshot.write() {
            Ok(mut g) => *g = Arc::new(snap),
            Err(p) => *p.into_inner() = Arc::new(snap),
        }
        Ok(())
    }

    /// The published JSON Web Key Set, serialized once per reload (served as is).
    pub fn jwks(&self) -> Arc<crate::cache::Prebuilt> {
        self.current().jwks.clone()
    }

    /// Signs `claims` as a JWT with the active key of `alg`; `typ` is the header type
    /// (`JWT`, `at+jwt`, `logout+jwt`).
    pub fn sign<T: Serialize>(&self, alg: Alg, typ: &str, claims: &T) -> Result<String, Error> {
        let snap = self.current();
        let signer = snap.signers.get(&alg).ok_or(Error::NoKey(alg))?;
        let mut header = Header::new(alg.jwt());
        header.kid = Some(signer.kid.clone());
        header.typ = Some(typ.to_string());
        signer.key.jwt(&header, claims).map_err(|e| Error::Sign(e.to_string()))
    }

    /// Verifies a JWT signed by one of the published keys. `validation` says which claims
    /// to check; its algorithm list is replaced by the key's algorithm.
    pub fn verify<T: DeserializeOwned>(&self, token: &str, mut validation: Validation) -> Result<T, VerifyError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        let kid = header.kid.ok_or(VerifyError::UnknownKey)?;
        let snap = self.current();
        let (alg, key) = snap.verifiers.get(&kid).ok_or(VerifyError::UnknownKey)?;
        if header.alg != alg.jwt() {
            return Err(VerifyError::Invalid("algorithm does not match the key".into()));
        }
        validation.algorithms = vec![alg.jwt()];
        jsonwebtoken::decode::<T>(token, key, &validation)
            .map(|d| d.claims)
            .map_err(|e| VerifyError::Invalid(e.to_string()))
    }

    /// Reloads periodically and rotates keys that are due, until `stop`.
    pub async fn maintain(self: Arc<Self>, db: DatabaseConnection, stop: tokio_util::sync::CancellationToken) {
        let mut ticks: u64 = 0;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.cfg.refresh) => {}
            }
            ticks += 1;
            // Rotation is checked about every 10 minutes; reloads happen every tick.
            if ticks % 20 == 1
                && let Err(e) = self.rotate_due(&db).await
            {
                tracing::warn!(error = %e, "automatic key rotation failed");
            }
            if let Err(e) = self.reload(&db).await {
                tracing::warn!(error = %e, "signing keys could not be reloaded");
            }
        }
    }
}
