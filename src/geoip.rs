//! Approximate locations of IP addresses from a local MaxMind DB file (GeoLite2 / GeoIP2
//! City or Country, DB-IP Lite, or anything of the same shape). Lookups never leave the
//! process: no network call happens on the login path. The file is re-read when it
//! changes on disk (as `geoipupdate` replaces it), checked every [`RELOAD_EVERY`].

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use maxminddb::{Reader, geoip2};

/// How often the file's modification time is checked.
pub const RELOAD_EVERY: Duration = Duration::from_secs(300);

/// A GeoIP database that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("geoip_database {path}: {reason}")]
pub struct OpenError {
    pub path: String,
    pub reason: String,
}

struct Loaded {
    reader: Reader<Vec<u8>>,
    /// Modification time and size when read, to notice a replaced file.
    stamp: (Option<SystemTime>, u64),
}

/// Locations by IP address; without a database every address is unknown.
#[derive(Clone, Default)]
pub struct GeoIp {
    inner: Option<Arc<(PathBuf, RwLock<Arc<Loaded>>)>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            Some(i) => write!(f, "GeoIp({})", i.0.display()),
            None => f.write_str("GeoIp(none)"),
        }
    }
}

fn load(path: &Path) -> Result<Loaded, OpenError> {
    let err = |reason: String| OpenError {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    let stamp = (meta.modified().ok(), meta.len());
    let reader = Reader::open_readfile(path).map_err(|e| err(format!("not a readable MaxMind DB file: {e}")))?;
    // The whole file, not just its metadata: a truncated download is refused here.
    reader
        .verify()
        .map_err(|e| err(format!("not a valid MaxMind DB file: {e}")))?;
    // City and Country databases both answer this; anything else would always say "unknown".
    let kind = &reader.metadata().database_type;
    if !kind.contains("City") && !kind.contains("Country") {
        return Err(err(format!(
            "database type \"{kind}\" has no locations (use a City or Country database)"
        )));
    }
    Ok(Loaded { reader, stamp })
}

impl GeoIp {
    /// No database: every location is unknown.
    pub fn none() -> Self {
        Self::default()
    }

    /// Opens the database at `path`.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let loaded = load(path)?;
        Ok(Self {
            inner: Some(Arc::new((path.to_path_buf(), RwLock::new(Arc::new(loaded))))),
        })
    }

    /// "City, Country" (or what of it is known) in English, or `None`.
    pub fn locate(&self, ip: IpAddr) -> Option<String> {
        let inner = self.inner.as_ref()?;
        let loaded = inner.1.read().ok()?.clone();
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let found = loaded.reader.lookup(ip).ok()?;
        let rec: geoip2::City<'_> = found.decode().ok()??;
        let parts: Vec<&str> = [rec.city.names.english, rec.country.names.english]
            .into_iter()
            .flatten()
            .filter(|s| !s.is_empty())
            .collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    /// Re-reads the file if it changed since it was loaded; a file that is now broken
    /// leaves the previous data in place (and is reported).
    pub fn reload_if_changed(&self) {
        let Some(inner) = &self.inner else { return };
        let path = &inner.0;
        let Ok(meta) = std::fs::metadata(path) else { return };
        let stamp = (meta.modified().ok(), meta.len());
        if inner.1.read().is_ok_and(|l| l.stamp == stamp) {
            return;
        }
        match load(path) {
            Ok(l) => {
                if let Ok(mut slot) = inner.1.write() {
                    *slot = Arc::new(l);
                    tracing::info!(path = %path.display(), "GeoIP database reloaded");
                }
            }
            Err(e) => tracing::warn!(error = %e, "GeoIP database changed but cannot be read; keeping the previous one"),
        }
    }

    /// Checks for a new file every [`RELOAD_EVERY`] until `stop`.
    pub async fn maintain(self, stop: tokio_util::sync::CancellationToken) {
        if self.inner.is_none() {
            return;
        }
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RELOAD_EVERY) => {}
            }
            let g = self.clone();
            let _ = tokio::task::spawn_blocking(move || g.reload_if_changed()).await;
        }
    }
}
