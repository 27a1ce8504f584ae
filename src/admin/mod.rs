//! Administration: the operations behind the admin pages (`/admin`), the admin API
//! (`/admin/api/v1`) and the operator CLI. Each rule lives here once; the three surfaces
//! parse their input, call these functions and present the result. Every change is
//! written to the audit log with its actor, in the transaction of the change.

pub mod keys;
pub mod logs;
mod repo;
pub mod users;

use uuid::Uuid;

use crate::accounts;
use crate::store::StoreError;

/// The scope of the admin API. A client gets it through `client_credentials` only when
/// the operator allowed it (`gatehouse client create --admin-api`); a user's token
/// carries it only when the user is a superuser who signed in with a second factor.
pub const ADMIN_SCOPE: &str = "gatehouse:admin";

/// The most rows one page of a listing returns (the bound of `limit`).
pub const MAX_PAGE: u64 = 100;
/// Rows per page when the caller does not say.
pub const DEFAULT_PAGE: u64 = 25;

/// The page size asked for, within 1..=[`MAX_PAGE`].
pub fn page_size(asked: Option<u64>) -> u64 {
    asked.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

/// Who does an administrative change: recorded as the audit event's actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The operator at the command line.
    Cli,
    /// A superuser (admin pages, or the API with the user's token).
    User(Uuid),
    /// A client allowed the admin API, with its own token.
    Client(String),
}

impl Actor {
    /// The actor as the audit log spells it: `cli`, `user:<id>`, `client:<id>`.
    pub fn audit(&self) -> String {
        match self {
            Self::Cli => "cli".to_string(),
            Self::User(id) => format!("user:{id}"),
            Self::Client(id) => format!("client:{id}"),
        }
    }

    /// The actor's `via` for an event's detail: where the change was made.
    fn via(&self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::User(_) | Self::Client(_) => "admin",
        }
    }
}

/// Where an administrative change comes from, for the audit log: the caller's IP and
/// device when it called over HTTP (none from the CLI).
#[derive(Debug, Clone, Default)]
pub struct Source {
    pub ip: Option<String>,
    pub device: Option<String>,
}

impl Source {
    /// A caller at `ip` whose User-Agent is `user_agent` (recorded as "Browser on OS").
    pub fn http(ip: std::net::IpAddr, user_agent: &str) -> Self {
        let d = crate::accounts::notify::device(user_agent);
        Self {
            ip: Some(ip.to_string()),
            device: Some(d.label()),
        }
    }

    /// The audit log's "who" of a change by `actor` (spelled as [`Actor::audit`]) from here.
    pub fn by<'a>(&'a self, actor: &'a str) -> crate::audit::By<'a> {
        crate::audit::By {
            actor,
            ip: self.ip.as_deref(),
            device: self.device.as_deref(),
        }
    }
}

/// Everything an administrative operation may need.
pub struct Ops<'a> {
    pub auth: crate::auth::Ctx<'a>,
    pub tokens: crate::oidc::tokens::Ctx<'a>,
    pub clients: &'a crate::clients::Directory,
}

/// Why an administrative operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such user, client, key, event or mail.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The operation conflicts with the current state (the last superuser, a purge of an
    /// account not scheduled for deletion…); the message says which.
    #[error("{0}")]
    Conflict(String),
    /// The input is not acceptable; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// `If-Match` named another version than the current one.
    #[error("the resource changed since it was read (its ETag no longer matches)")]
    Stale,
    #[error("{0}")]
    Accounts(#[from] accounts::Error),
    #[error("{0}")]
    Clients(#[from] crate::clients::Error),
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    #[error("signing keys: {0}")]
    Keys(#[from] crate::keys::Error),
}

/// A strong entity tag from a row's last change: the version `If-Match` must name.
pub fn etag(updated_at: chrono::DateTime<chrono::Utc>) -> String {
    format!("\"{:x}\"", updated_at.timestamp_micros())
}

/// Checks an `If-Match` value against the current version (`*` matches any).
pub fn check_match(if_match: Option<&str>, current: &str) -> Result<(), Error> {
    match if_match {
        None => Ok(()),
        Some(v) if v.split(',').map(str::trim).any(|t| t == "*" || t == current) => Ok(()),
        Some(_) => Err(Error::Stale),
    }
}

/// A time given as RFC 3339 (`2026-12-01T00:00:00Z`), as filters take it.
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// One page of a listing, and the cursor of the next (None on the last page).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// The scope granted for a user's code: [`ADMIN_SCOPE`] only for a superuser whose
/// session is multi-factor; it is silently left out otherwise (RFC 6749 §3.3 lets the
/// server grant less than asked).
pub async fn user_scope(
    db: &sea_orm::DatabaseConnection,
    mut scope: crate::oidc::scope::Scopes,
    user: Uuid,
    amr: &[String],
) -> Result<crate::oidc::scope::Scopes, sea_orm::DbErr> {
    if scope.contains(ADMIN_SCOPE) {
        let allowed = crate::auth::is_multi_factor(amr)
            && accounts::find(db, user)
                .await?
                .is_some_and(|u| u.is_superuser && accounts::state::of(&u).is_usable());
        if !allowed {
            scope.remove(ADMIN_SCOPE);
        }
    }
    Ok(scope)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_rules() {
        let now = chrono::Utc::now();
        let tag = etag(now);
        assert!(check_match(None, &tag).is_ok());
        assert!(check_match(Some("*"), &tag).is_ok());
        assert!(check_match(Some(&format!("\"x\", {tag}")), &tag).is_ok());
        assert!(matches!(check_match(Some("\"0\""), &tag), Err(Error::Stale)));
        assert_eq!(page_size(Some(0)), 1);
        assert_eq!(page_size(Some(10_000)), MAX_PAGE);
        assert_eq!(page_size(None), DEFAULT_PAGE);
    }
}
