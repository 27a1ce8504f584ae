//! Mail: every mail is rendered from the theme (subject, plain text and HTML) and written
//! to the outbox in the caller's transaction, so it exists exactly when the change that
//! caused it was committed. The [`outbox`] worker delivers it through a [`Transport`]
//! with retries and exponential backoff.

pub mod outbox;
mod transport;

use sea_orm::ConnectionTrait;
use serde::Serialize;
use uuid::Uuid;

pub use transport::{SendError, Transport};

use crate::theme::{Theme, ThemeError};

/// Errors of composing or enqueueing a mail.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Template(#[from] ThemeError),
    #[error("invalid recipient address {0:?}")]
    Recipient(String),
    #[error("cannot store mail in the outbox: {0}")]
    Db(#[from] sea_orm::DbErr),
    #[error("cannot build the message: {0}")]
    Build(String),
}

/// A mail rendered from the theme's `mail/<template>.*` files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedMail {
    pub to: String,
    pub template: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders `mail/<template>.subject.txt`, `.txt` and `.html` with `ctx`, to which the
/// theme-wide values `issuer` and `product` are added.
pub fn render(
    theme: &Theme,
    issuer: &url::Url,
    to: &str,
    template: &str,
    ctx: impl Serialize,
) -> Result<RenderedMail, MailError> {
    if to.parse::<lettre::Address>().is_err() {
        return Err(MailError::Recipient(to.to_string()));
    }
    let mut value = serde_json::to_value(ctx).map_err(|e| MailError::Build(e.to_string()))?;
    if let serde_json::Value::Object(map) = &mut value {
        map.entry("issuer")
            .or_insert_with(|| issuer.as_str().trim_end_matches('/').into());
        map.entry("product").or_insert_with(|| "Gatehouse".into());
    }
    let subject = theme.render(&format!("mail/{template}.subject.txt"), &value)?;
    Ok(RenderedMail {
        to: to.to_string(),
        template: template.to_string(),
        // A header must be one line.
        subject: subject.split_whitespace().collect::<Vec<_>>().join(" "),
        text: theme.render(&format!("mail/{template}.txt"), &value)?,
        html: theme.render(&format!("mail/{template}.html"), &value)?,
    })
}

/// Writes a rendered mail to the outbox using `db`, which should be the transaction
/// of the change that causes the mail.
pub async fn enqueue(
    db: &impl ConnectionTrait,
    sealer: &crate::crypto::Sealer,
    mail: &RenderedMail,
) -> Result<Uuid, MailError> {
    Ok(outbox::insert(db, sealer, mail).await?)
}

/// The sealer of queued mail bodies (they hold one-time links and codes), derived from
/// the master key.
pub fn body_sealer(hasher: &crate::crypto::TokenHasher) -> crate::crypto::Sealer {
    hasher.sealer_for("mail bodies v1")
}
