//! The audit log: an append-only record of security-relevant events, written in the same
//! transaction as the change it records.

mod repo;

use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

/// One event to record.
#[derive(Debug)]
pub struct Event<'a> {
    /// Who did it: `"cli"`, `"user:<id>"`, `"client:<id>"`, `"system"`.
    pub actor: &'a str,
    /// The account concerned, if any.
    pub user_id: Option<Uuid>,
    /// What happened, dotted: `"user.created"`, `"client.created"`.
    pub kind: &'a str,
    /// The client IP, as resolved through trusted proxies.
    pub ip: Option<String>,
    /// Further details; never secrets.
    pub detail: Option<serde_json::Value>,
}

/// Who makes a change, and from where when a person or a program calls over HTTP: the
/// actor, its IP and its device ("Browser on OS", or an API caller's User-Agent).
#[derive(Debug, Clone, Copy)]
pub struct By<'a> {
    pub actor: &'a str,
    pub ip: Option<&'a str>,
    pub device: Option<&'a str>,
}

impl<'a> By<'a> {
    /// An actor with no address (the CLI, the scheduler).
    pub fn actor(actor: &'a str) -> Self {
        Self {
            actor,
            ip: None,
            device: None,
        }
    }

    /// The event `kind` about `user`, with `detail` and the device added to it.
    pub fn event(&self, user: Option<Uuid>, kind: &'a str, mut detail: serde_json::Value) -> Event<'a> {
        if let (Some(d), serde_json::Value::Object(m)) = (self.device, &mut detail) {
            m.insert("device".into(), d.into());
        }
        Event {
            actor: self.actor,
            user_id: user,
            kind,
            ip: self.ip.map(str::to_string),
            detail: Some(detail),
        }
    }
}

/// Appends an event.
pub async fn record(db: &impl ConnectionTrait, event: Event<'_>) -> Result<(), DbErr> {
    repo::insert(db, event).await
}

pub use repo::{list_for_user, list_recent};

/// Which events a query returns; every part is optional.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub user: Option<Uuid>,
    /// Exactly this actor (`cli`, `user:<id>`, `client:<id>`, `system`).
    pub actor: Option<String>,
    /// One kind (`user.disabled`), or a family ending in a dot (`mfa.`).
    pub kind: Option<String>,
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    pub until: Option<chrono::DateTime<chrono::Utc>>,
}

/// Events matching `filter`, newest first, before the event `before`; at most `limit`.
pub async fn query(
    db: &impl ConnectionTrait,
    filter: &Filter,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<entity::audit_event::Model>, DbErr> {
    repo::query(db, filter, before, limit).await
}

/// Deletes the events older than `days` days (the retention, `audit.retention_days`):
/// how many went.
pub async fn purge_older_than(db: &impl ConnectionTrait, days: u64) -> Result<u64, DbErr> {
    let days = i64::try_from(days.min(36_500)).unwrap_or(36_500);
    repo::delete_before(db, chrono::Utc::now() - chrono::Duration::days(days)).await
}
