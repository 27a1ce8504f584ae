//! The persisted outbox and its worker. Rows are claimed with a lease
//! (`locked_until`) in one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)
//! RETURNING`, so several instances never send the same row at once (SQLite, which has
//! one writer, needs no row locks). A failed attempt is retried with exponential backoff
//! and jitter up to `mail_max_attempts`; a permanent refusal ends it at once. Bodies
//! are sealed at rest and cleared once a mail is delivered, so links in them do not
//! linger in the database; a mail that failed for good keeps them (sealed) until an
//! administrator retries it ([`retry`]).

use std::time::Duration;

use entity::mail_outbox::{self as outbox, Column};
use lettre::message::Mailbox;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, Set,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{RenderedMail, Transport};

/// How long a claimed row stays reserved for the instance that claimed it.
const LEASE: Duration = Duration::from_secs(300);
/// Rows claimed per round.
const BATCH: u64 = 16;

/// Worker settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub from: Mailbox,
    pub max_attempts: u32,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub poll_interval: Duration,
    /// Opens the bodies sealed by [`insert`].
    pub sealer: crate::crypto::Sealer,
}

/// Marks a sealed body (rows queued before sealing carry plain text).
const SEALED: &str = "sealed:v1:";

fn seal_body(sealer: &crate::crypto::Sealer, body: &str, context: &str) -> String {
    use base64::Engine as _;
    let sealed = sealer.seal(body.as_bytes(), context);
    format!(
        "{SEALED}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sealed)
    )
}

/// The body as queued: opened when sealed; None when it does not open (another master
/// key).
fn open_body(sealer: &crate::crypto::Sealer, stored: &str, context: &str) -> Option<String> {
    use base64::Engine as _;
    let Some(rest) = stored.strip_prefix(SEALED) else {
        return Some(stored.to_string());
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(rest).ok()?;
    String::from_utf8(sealer.open(&raw, context).ok()?).ok()
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Inserts a mail, due now. Its bodies are sealed (they carry links and codes), bound to
/// the row, and cleared once it is sent or given up on.
pub async fn insert(
    db: &impl ConnectionTrait,
    sealer: &crate::crypto::Sealer,
    mail: &RenderedMail,
) -> Result<Uuid, DbErr> {
    let id = Uuid::now_v7();
    outbox::ActiveModel {
        id: Set(id),
        recipient: Set(mail.to.clone()),
        template: Set(mail.template.clone()),
        subject: Set(mail.subject.clone()),
        body_text: Set(seal_body(sealer, &mail.text, &format!("mail-text:{id}"))),
        body_html: Set(seal_body(sealer, &mail.html, &format!("mail-html:{id}"))),
        created_at: Set(chrono::Utc::now()),
        attempts: Set(0),
        next_attempt_at: Set(now_ms()),
        locked_until: Set(None),
        last_error: Set(None),
        sent_at: Set(None),
        failed_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// Mails not yet delivered nor given up on.
pub async fn pending_count(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    outbox::Entity::find()
        .filter(Column::SentAt.is_null())
        .filter(Column::FailedAt.is_null())
        .count(db)
        .await
}

/// Which mails a listing shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Not delivered yet, still being tried.
    Pending,
    /// Given up on.
    Failed,
}

/// Mails of one kind, newest first, before the id `before`; at most `limit`.
pub async fn list(
    db: &impl ConnectionTrait,
    which: Which,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<outbox::Model>, DbErr> {
    use sea_orm::{QueryOrder, QuerySelect};
    let mut q = outbox::Entity::find().filter(Column::SentAt.is_null());
    q = match which {
        Which::Pending => q.filter(Column::FailedAt.is_null()),
        Which::Failed => q.filter(Column::FailedAt.is_not_null()),
    };
    if let Some(b) = before {
        q = q.filter(Column::Id.lt(b));
    }
    q.order_by_desc(Column::Id).limit(limit).all(db).await
}

/// The mail `id`.
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<outbox::Model>, DbErr> {
    outbox::Entity::find_by_id(id).one(db).await
}

/// Queues a mail that failed for good again, due now with a fresh attempt count; false
/// when it is not a failed mail with its body.
pub async fn retry(db: &impl ConnectionTrait, id: Uuid) -> Result<bool, DbErr> {
    let res = outbox::Entity::update_many()
        .col_expr(
            Column::FailedAt,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::NextAttemptAt, Expr::value(now_ms()))
        .col_expr(Column::LockedUntil, Expr::value(Option::<i64>::None))
        .filter(Column::Id.eq(id))
        .filter(Column::FailedAt.is_not_null())
        .filter(Column::SentAt.is_null())
        .filter(Column::BodyText.ne(""))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}

/// One outbox row as the worker sees it.
pub type OutboxRow = outbox::Model;

/// Claims up to [`BATCH`] due rows for this worker.
pub async fn claim(db: &DatabaseConnection) -> Result<Vec<OutboxRow>, DbErr> {
    let now = now_ms();
    let lease_end = now + i64::try_from(LEASE.as_millis()).unwrap_or(300_000);
    crate::db::repo::claim_due(db, outbox::Entity, now, lease_end, BATCH).await
}

/// The delay before attempt `attempts + 1`: initial × 2^(attempts−1), capped, ±20 % jitter.
pub fn backoff(attempts: i32, initial: Duration, max: Duration) -> Duration {
    let exp = Ord::min(u32::try_from(attempts.saturating_sub(1)).unwrap_or(0), 30);
    let base = Ord::min(initial.saturating_mul(2u32.saturating_pow(exp)), max);
    let jitter = f64::from(crate::crypto::random_bytes::<1>()[0]) / 255.0 * 0.4 + 0.8;
    Ord::min(base.mul_f64(jitter), max)
}

/// Renews this worker's lease on a row just before sending it; false when the lease was
/// lost (it expired and another instance claimed the row), in which case the row must
/// not be sent from here.
async fn renew_lease(db: &DatabaseConnection, row: &OutboxRow) -> Result<Option<i64>, DbErr> {
    let Some(held) = row.locked_until else { return Ok(None) };
    let renewed = now_ms() + i64::try_from(LEASE.as_millis()).unwrap_or(300_000);
    let res = outbox::Entity::update_many()
        .col_expr(Column::LockedUntil, Expr::value(renewed))
        .filter(Column::Id.eq(row.id))
        .filter(Column::LockedUntil.eq(held))
        .exec(db)
        .await?;
    Ok((res.rows_affected == 1).then_some(renewed))
}

/// Applies `changes` to the row only while this worker still holds its lease.
async fn update_leased(
    db: &DatabaseConnection,
    id: Uuid,
    lease: i64,
    changes: outbox::ActiveModel,
) -> Result<(), DbErr> {
    let res = outbox::Entity::update_many()
        .set(changes)
        .filter(Column::Id.eq(id))
        .filter(Column::LockedUntil.eq(lease))
        .exec(db)
        .await?;
    if res.rows_affected == 0 {
        tracing::warn!(mail_id = %id, "outbox lease lost before the result was recorded");
    }
    Ok(())
}

async fn mark_sent(db: &DatabaseConnection, id: Uuid, lease: i64) -> Result<(), DbErr> {
    let changes = outbox::ActiveModel {
        sent_at: Set(Some(chrono::Utc::now())),
        locked_until: Set(None),
        last_error: Set(None),
        body_text: Set(String::new()),
        body_html: Set(String::new()),
        ..Default::default()
    };
    update_leased(db, id, lease, changes).await
}

async fn mark_failed_attempt(
    db: &DatabaseConnection,
    row: &OutboxRow,
    lease: i64,
    error: &str,
    give_up: bool,
    cfg: &WorkerConfig,
) -> Result<(), DbErr> {
    let mut m = outbox::ActiveModel {
        locked_until: Set(None),
        last_error: Set(Some(error.chars().take(1000).collect())),
        ..Default::default()
    };
    if give_up {
        // The sealed bodies stay so an administrator can retry the mail; they go when it
        // is delivered.
        m.failed_at = Set(Some(chrono::Utc::now()));
    } else {
        let delay = backoff(row.attempts, cfg.retry_initial, cfg.retry_max);
        m.next_attempt_at = Set(now_ms() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 4));
    }
    update_leased(db, row.id, lease, m).await
}

/// Claims and delivers one batch; returns how many mails were delivered.
pub async fn run_once(db: &DatabaseConnection, transport: &Transport, cfg: &WorkerConfig) -> Result<usize, DbErr> {
    let rows = claim(db).await?;
    let mut delivered = 0;
    for row in rows {
        let Some(lease) = renew_lease(db, &row).await? else {
            tracing::warn!(mail_id = %row.id, "outbox lease expired before sending; left to its new owner");
            continue;
        };
        let text = open_body(&cfg.sealer, &row.body_text, &format!("mail-text:{}", row.id));
        let html = open_body(&cfg.sealer, &row.body_html, &format!("mail-html:{}", row.id));
        let (Some(text), Some(html)) = (text, html) else {
            tracing::error!(mail_id = %row.id, "a queued mail does not open under this master key; given up");
            mark_failed_attempt(
                db,
                &row,
                lease,
                "the mail does not open under this master key",
                true,
                cfg,
            )
            .await?;
            continue;
        };
        let mail = RenderedMail {
            to: row.recipient.clone(),
            template: row.template.clone(),
            subject: row.subject.clone(),
            text,
            html,
        };
        match transport.send(&cfg.from, &mail).await {
            Ok(()) => {
                mark_sent(db, row.id, lease).await?;
                delivered += 1;
                tracing::info!(mail_id = %row.id, template = %row.template, attempts = row.attempts, "mail delivered");
            }
            Err(e) => {
                let give_up = e.permanent || u32::try_from(row.attempts).unwrap_or(u32::MAX) >= cfg.max_attempts;
                if give_up {
                    tracing::error!(mail_id = %row.id, template = %row.template, attempts = row.attempts, error = %e, "mail delivery failed for good");
                } else {
                    tracing::warn!(mail_id = %row.id, template = %row.template, attempts = row.attempts, error = %e, "mail delivery failed; will retry");
                }
                mark_failed_attempt(db, &row, lease, &e.message, give_up, cfg).await?;
            }
        }
    }
    Ok(delivered)
}

/// Runs the worker until `stop` is cancelled.
pub async fn run_worker(db: DatabaseConnection, transport: Transport, cfg: WorkerConfig, stop: CancellationToken) {
    loop {
        match run_once(&db, &transport, &cfg).await {
            // A full batch may mean more is due: go again at once.
            Ok(n) if n as u64 >= BATCH => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "mail outbox unavailable; retrying"),
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(cfg.poll_interval) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{open_body, seal_body};

    #[test]
    fn bodies_are_sealed_to_their_row_and_old_plain_ones_still_open() {
        let key = crate::crypto::MasterKey::generate();
        let sealer = crate::mail::body_sealer(&key.token_hasher());
        let sealed = seal_body(&sealer, "your code is 123456", "mail-text:a");
        assert!(!sealed.contains("123456"));
        assert_eq!(
            open_body(&sealer, &sealed, "mail-text:a").as_deref(),
            Some("your code is 123456")
        );
        assert_eq!(open_body(&sealer, &sealed, "mail-text:b"), None, "bound to its row");
        let other = crate::mail::body_sealer(&crate::crypto::MasterKey::generate().token_hasher());
        assert_eq!(open_body(&other, &sealed, "mail-text:a"), None, "and to the master key");
        assert_eq!(
            open_body(&sealer, "queued before sealing", "x").as_deref(),
            Some("queued before sealing")
        );
    }
}
