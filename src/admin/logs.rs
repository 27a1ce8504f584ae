//! The audit log and the mail outbox as administrators read them.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Actor, Error, Ops, Page};
use crate::audit;
use crate::mail::outbox::{self, Which};

fn cursor(c: Option<&str>) -> Result<Option<Uuid>, Error> {
    match c.filter(|c| !c.is_empty()) {
        Some(c) => c
            .parse::<Uuid>()
            .map(Some)
            .map_err(|_| Error::Invalid("the cursor is not valid".into())),
        None => Ok(None),
    }
}

fn page<T>(mut items: Vec<T>, limit: u64, id: impl Fn(&T) -> Uuid) -> Page<T> {
    let more = items.len() as u64 > limit;
    items.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next = if more {
        items.last().map(|i| id(i).to_string())
    } else {
        None
    };
    Page { items, next }
}

/// One audit event: who, what, when, from where.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EventInfo {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub user_id: Option<Uuid>,
    pub kind: String,
    pub ip: Option<String>,
    /// The browser or client, when the event recorded one.
    pub device: Option<String>,
    pub detail: Option<serde_json::Value>,
}

/// Audit events matching `filter`, newest first.
pub async fn events(
    ops: &Ops<'_>,
    filter: &audit::Filter,
    cursor_: Option<&str>,
    limit: u64,
) -> Result<Page<EventInfo>, Error> {
    if filter.kind.as_ref().is_some_and(|k| k.len() > 100) || filter.actor.as_ref().is_some_and(|a| a.len() > 200) {
        return Err(Error::Invalid("a filter value is too long".into()));
    }
    let rows = audit::query(ops.auth.db, filter, cursor(cursor_)?, limit + 1).await?;
    let items = rows
        .into_iter()
        .map(|e| EventInfo {
            device: e
                .detail
                .as_ref()
                .and_then(|d| d.get("device").or_else(|| d.get("user_agent")))
                .and_then(|v| v.as_str())
                .map(str::to_string),
            id: e.id,
            at: e.created_at,
            actor: e.actor,
            user_id: e.user_id,
            kind: e.kind,
            ip: e.ip,
            detail: e.detail,
        })
        .collect();
    Ok(page(items, limit, |e: &EventInfo| e.id))
}

/// A queued mail: never its body (it may hold links and codes).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MailInfo {
    pub id: Uuid,
    pub recipient: String,
    pub template: String,
    pub created_at: DateTime<Utc>,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub failed_at: Option<DateTime<Utc>>,
    /// Whether an administrator can queue it again.
    pub retryable: bool,
}

/// Mails waiting (`failed` false) or given up on (`failed` true), newest first.
pub async fn mails(ops: &Ops<'_>, failed: bool, cursor_: Option<&str>, limit: u64) -> Result<Page<MailInfo>, Error> {
    let which = if failed { Which::Failed } else { Which::Pending };
    let rows = outbox::list(ops.auth.db, which, cursor(cursor_)?, limit + 1).await?;
    let items = rows
        .into_iter()
        .map(|m| MailInfo {
            retryable: m.failed_at.is_some() && !m.body_text.is_empty(),
            id: m.id,
            recipient: m.recipient,
            template: m.template,
            created_at: m.created_at,
            attempts: m.attempts,
            last_error: m.last_error,
            failed_at: m.failed_at,
        })
        .collect();
    Ok(page(items, limit, |m: &MailInfo| m.id))
}

/// Queues a failed mail again (audited).
pub async fn retry_mail(ops: &Ops<'_>, actor: &Actor, id: Uuid, from: &super::Source) -> Result<MailInfo, Error> {
    let db = ops.auth.db;
    let Some(m) = outbox::find(db, id).await? else {
        return Err(Error::NotFound("mail"));
    };
    let txn = crate::db::begin(db).await?;
    if !outbox::retry(&txn, id).await? {
        return Err(Error::Conflict(
            "only a mail that failed for good, with its body, can be retried".into(),
        ));
    }
    let who = actor.audit();
    let detail = serde_json::json!({ "mail_id": id, "template": m.template, "via": actor.via() });
    audit::record(&txn, from.by(&who).event(None, "mail.retried", detail)).await?;
    txn.commit().await?;
    Ok(MailInfo {
        id: m.id,
        recipient: m.recipient,
        template: m.template,
        created_at: m.created_at,
        attempts: 0,
        last_error: m.last_error,
        failed_at: None,
        retryable: false,
    })
}
