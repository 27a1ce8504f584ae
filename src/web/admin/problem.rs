//! RFC 9457 problem details: how every admin API error is answered.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::admin::Error;

/// An admin API error: `application/problem+json` with `type`, `title`, `status` and a
/// `detail` safe to show (the cause of an internal error is logged, never sent).
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub detail: String,
    /// `WWW-Authenticate` for 401 and 403 answers about the bearer token (RFC 6750 §3).
    pub challenge: Option<String>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            challenge: None,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    /// The request's token is missing or not a live Gatehouse access token.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let challenge = format!(
            "Bearer realm=\"gatehouse\", error=\"invalid_token\", error_description=\"{}\"",
            detail.replace(['"', '\\'], "'")
        );
        Self {
            status: StatusCode::UNAUTHORIZED,
            detail,
            challenge: Some(challenge),
        }
    }

    /// A live token that is no key to the admin API.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            detail: detail.into(),
            challenge: Some(format!(
                "Bearer realm=\"gatehouse\", error=\"insufficient_scope\", scope=\"{}\"",
                crate::admin::ADMIN_SCOPE
            )),
        }
    }

    fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "admin API request failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server cannot answer right now; try again in a moment",
        )
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(what) => Self::not_found(format!("no such {what}")),
            Error::Conflict(m) => Self::new(StatusCode::CONFLICT, m),
            Error::Invalid(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            Error::Stale => Self::new(StatusCode::PRECONDITION_FAILED, e.to_string()),
            Error::Clients(c) => c.into(),
            Error::Accounts(a) => match a {
                crate::accounts::Error::Db(_)
                | crate::accounts::Error::Store(_)
                | crate::accounts::Error::Hashing(_)
                | crate::accounts::Error::Mail(_) => Self::internal(&a),
                crate::accounts::Error::Conflict => Self::new(StatusCode::CONFLICT, a.to_string()),
                other => Self::new(StatusCode::UNPROCESSABLE_ENTITY, other.to_string()),
            },
            Error::Db(_) | Error::Store(_) | Error::Keys(_) => Self::internal(&e),
        }
    }
}

impl From<crate::clients::Error> for Problem {
    fn from(e: crate::clients::Error) -> Self {
        use crate::clients::Error as C;
        match e {
            C::Invalid(m) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, m),
            C::NotFound(m) => Self::not_found(m),
            C::Stale => Self::new(StatusCode::PRECONDITION_FAILED, e.to_string()),
            C::Db(_) => Self::internal(&e),
        }
    }
}

impl From<sea_orm::DbErr> for Problem {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::internal(&e)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        let mut res = (self.status, body.to_string()).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(c) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert(header::WWW_AUTHENTICATE, c);
        }
        res
    }
}
