//! Mapping of errors to responses, in one place. Causes are logged here once; clients get
//! a safe message.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::theme::Theme;

/// An error shown as an HTML page.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("not found")]
    NotFound,
    #[error("internal error: {0}")]
    Internal(String),
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn public_message(&self) -> &'static str {
        match self {
            Self::NotFound => "The page you asked for does not exist.",
            Self::Internal(_) => "Something went wrong on our side. Please try again in a moment.",
        }
    }

    /// Renders the theme's error page.
    pub fn render(self, theme: &Theme) -> Response {
        let status = self.status();
        if let Self::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let ctx = serde_json::json!({
            "status": status.as_u16(),
            "title": status.canonical_reason().unwrap_or("Error"),
            "message": self.public_message(),
        });
        match theme.render("templates/error.html", ctx) {
            Ok(body) => (status, Html(body)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "cannot render the error page");
                (status, self.public_message()).into_response()
            }
        }
    }
}
