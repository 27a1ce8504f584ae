//! Mail transports: SMTP (`smtp_url`), `.eml` files (`mail_file_dir`), or the log
//! (the development default).

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use super::RenderedMail;
use crate::config::MailTransportConfig;

/// A failed delivery attempt.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// The server refused the mail for good (SMTP 5xx): retrying will not help.
    pub permanent: bool,
    pub message: String,
}

/// Where mail is delivered.
#[derive(Clone)]
pub enum Transport {
    Console,
    File(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Transport {
    /// Builds the configured transport.
    pub fn from_config(c: &MailTransportConfig) -> Result<Self, SendError> {
        Ok(match c {
            MailTransportConfig::Console => Self::Console,
            MailTransportConfig::File(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| SendError {
                    permanent: true,
                    message: format!("mail_file_dir {}: {e}", dir.display()),
                })?;
                Self::File(AsyncFileTransport::new(dir))
            }
            MailTransportConfig::Smtp(url) => {
                let t: AsyncSmtpTransport<Tokio1Executor> =
                    AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                        .map_err(|e| SendError {
                            permanent: true,
                            message: format!("smtp_url: {e}"),
                        })?
                        .timeout(Some(Duration::from_secs(20)))
                        .build();
                Self::Smtp(t)
            }
        })
    }

    /// A short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Console => "console",
            Self::File(_) => "file",
            Self::Smtp(_) => "smtp",
        }
    }

    /// Delivers one mail.
    pub async fn send(&self, from: &Mailbox, mail: &RenderedMail) -> Result<(), SendError> {
        let to: Mailbox = mail.to.parse().map_err(|e| SendError {
            permanent: true,
            message: format!("recipient {:?}: {e}", mail.to),
        })?;
        let message = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(mail.text.clone(), mail.html.clone()))
            .map_err(|e| SendError {
                permanent: true,
                message: format!("cannot build message: {e}"),
            })?;
        match self {
            Self::Console => {
                tracing::info!(
                    to = %mail.to,
                    subject = %mail.subject,
                    template = %mail.template,
                    "mail (console transport; configure smtp_url to deliver)\n{}",
                    mail.text
                );
                Ok(())
            }
            Self::File(t) => t.send(message).await.map(|_| ()).map_err(|e| SendError {
                permanent: false,
                message: format!("file transport: {e}"),
            }),
            Self::Smtp(t) => t.send(message).await.map(|_| ()).map_err(|e| SendError {
                permanent: e.is_permanent(),
                message: format!("smtp: {e}"),
            }),
        }
    }
}
