//! Mapping of errors to responses, in one place. Causes are logged here once; clients get
//! a safe message.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::theme::Theme;

/// An error shown as an HTML page. Domain errors convert into it (`?` or `from`); the
/// cause of an internal one is logged once, where it is rendered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PageError {
    #[error("not found")]
    NotFound,
    /// A request that cannot be honoured; the message is shown to the user.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The form's CSRF token did not match.
    #[error("CSRF token mismatch")]
    Csrf,
    /// Too many attempts; the message says when to try again.
    #[error("too many requests: {0}")]
    TooMany(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn public_message(&self) -> String {
        match self {
            Self::NotFound => "The page you asked for does not exist.".into(),
            Self::BadRequest(m) | Self::TooMany(m) => m.clone(),
            Self::Csrf => {
                "This form has expired or was not sent from this site. Go back, reload the page and try again.".into()
            }
            Self::Internal(_) => "Something went wrong on our side. Please try again in a moment.".into(),
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

impl From<sea_orm::DbErr> for PageError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Internal(format!("database: {e}"))
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<crate::theme::ThemeError> for PageError {
    fn from(e: crate::theme::ThemeError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<crate::oidc::OAuthError> for PageError {
    fn from(e: crate::oidc::OAuthError) -> Self {
        use crate::oidc::ErrorCode as C;
        match e.code {
            C::ServerError | C::TemporarilyUnavailable => Self::Internal(e.description),
            _ => Self::BadRequest(e.description),
        }
    }
}

/// The one mapping of account errors to pages. Exhaustive: a new variant must be given
/// its page here. Handlers that show an error beside a field match it themselves first.
impl From<crate::accounts::Error> for PageError {
    fn from(e: crate::accounts::Error) -> Self {
        use crate::accounts::Error as E;
        match e {
            E::DuplicateEmail(_) => Self::BadRequest("An account with this email address exists already.".into()),
            E::Email(e) => Self::BadRequest(format!("The email address is not valid: {e}.")),
            E::Password(e) => Self::BadRequest(format!("The password was refused: {e}.")),
            E::WrongPassword => Self::BadRequest("The password is not correct.".into()),
            E::Hashing(cause) => Self::Internal(format!("password hashing: {cause}")),
            E::Db(e) => Self::Internal(format!("database: {e}")),
            E::Store(e) => Self::Internal(e.to_string()),
            E::Mail(cause) => Self::Internal(format!("mail: {cause}")),
            E::Conflict => Self::BadRequest("This was done meanwhile in another window. Start again.".into()),
        }
    }
}

/// A handler may answer `Err(PageError)`: the response carries the error, and
/// [`render_page_errors`] (which has the theme) turns it into the error page.
impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut res = self.status().into_response();
        res.extensions_mut().insert(self);
        res
    }
}

/// Middleware: renders the [`PageError`] a handler answered with (see `IntoResponse`).
pub async fn render_page_errors(
    axum::extract::State(state): axum::extract::State<crate::web::AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut res = next.run(req).await;
    match res.extensions_mut().remove::<PageError>() {
        Some(e) => e.render(state.theme()),
        None => res,
    }
}

impl IntoResponse for crate::oidc::OAuthError {
    /// RFC 6749 §5.2 JSON: 400, or 401 with `WWW-Authenticate` for `invalid_client`;
    /// RFC 6750 §3.1 for bearer-token errors; never cached.
    fn into_response(self) -> Response {
        use crate::oidc::ErrorCode as C;
        let (status, challenge) = match self.code {
            C::InvalidClient => (StatusCode::UNAUTHORIZED, Some("Basic realm=\"gatehouse\"".to_string())),
            C::InvalidToken => (
                StatusCode::UNAUTHORIZED,
                Some(format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    self.description.replace(['"', '\\'], "'")
                )),
            ),
            C::InsufficientScope => (
                StatusCode::FORBIDDEN,
                Some("Bearer error=\"insufficient_scope\"".to_string()),
            ),
            C::ServerError | C::TemporarilyUnavailable => (StatusCode::SERVICE_UNAVAILABLE, None),
            C::InvalidRequest
            | C::InvalidGrant
            | C::UnauthorizedClient
            | C::UnsupportedGrantType
            | C::InvalidScope
            | C::UnsupportedResponseType
            | C::AccessDenied
            | C::LoginRequired
            | C::ConsentRequired
            | C::InteractionRequired
            | C::RequestNotSupported
            | C::RequestUriNotSupported
            | C::UnsupportedTokenType
            | C::InvalidTarget => (StatusCode::BAD_REQUEST, None),
        };
        let body = serde_json::json!({ "error": self.code.as_str(), "error_description": self.description });
        let mut res = (status, axum::Json(body)).into_response();
        let h = res.headers_mut();
        h.insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        h.insert(
            axum::http::header::PRAGMA,
            axum::http::HeaderValue::from_static("no-cache"),
        );
        if let Some(c) = challenge.and_then(|c| axum::http::HeaderValue::from_str(&c).ok()) {
            h.insert(axum::http::header::WWW_AUTHENTICATE, c);
        }
        res
    }
}
