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

/// Appends an event.
pub async fn record(db: &impl ConnectionTrait, event: Event<'_>) -> Result<(), DbErr> {
    repo::insert(db, event).await
}

pub use repo::{list_for_user, list_recent};
