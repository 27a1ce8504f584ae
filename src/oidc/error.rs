//! OAuth 2.0 errors in their wire form (RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1,
//! RFC 9126 §2.3). `web/error.rs` turns them into responses.

/// An error code and its human-readable description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

/// The registered error codes Gatehouse returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// RFC 6749 §5.2: malformed or missing parameter.
    InvalidRequest,
    /// RFC 6749 §5.2: client authentication failed (401).
    InvalidClient,
    /// RFC 6749 §5.2: the code, refresh token or PKCE verifier is invalid, expired or used.
    InvalidGrant,
    /// RFC 6749 §5.2: the client may not use this grant type.
    UnauthorizedClient,
    /// RFC 6749 §5.2: the grant type is not supported.
    UnsupportedGrantType,
    /// RFC 6749 §5.2: the scope is unknown or not allowed for the client.
    InvalidScope,
    /// RFC 6749 §4.1.2.1: only `code` is offered.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1: the user (or the server) denied the request.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: unexpected condition.
    ServerError,
    /// RFC 6749 §4.1.2.1: temporarily unable.
    TemporarilyUnavailable,
    /// OIDC Core §3.1.2.6: `prompt=none` but the user is not logged in.
    LoginRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but consent is needed.
    ConsentRequired,
    /// OIDC Core §3.1.2.6: `prompt=none` but the user must interact.
    InteractionRequired,
    /// OIDC Core §3.1.2.6: request objects are not supported.
    RequestNotSupported,
    /// OIDC Core §3.1.2.6: `request_uri` is not supported or not valid.
    RequestUriNotSupported,
    /// RFC 6750 §3.1: the access token is invalid, expired or revoked (401).
    InvalidToken,
    /// RFC 6750 §3.1: the token lacks the needed scope (403).
    InsufficientScope,
    /// RFC 7009 §2.2.1: the token type cannot be revoked.
    UnsupportedTokenType,
    /// RFC 8707 §2: the resource is malformed or not allowed for the client.
    InvalidTarget,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::AccessDenied => "access_denied",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidTarget => "invalid_target",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }

    pub fn invalid_token(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidToken, d)
    }

    /// A server-side failure; the cause is logged, the client gets a generic message.
    pub fn server(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "request failed");
        Self::new(ErrorCode::ServerError, "the server could not complete the request")
    }
}

impl From<sea_orm::DbErr> for OAuthError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::server(e)
    }
}

impl From<crate::store::StoreError> for OAuthError {
    fn from(e: crate::store::StoreError) -> Self {
        Self::server(e)
    }
}

impl From<crate::keys::Error> for OAuthError {
    fn from(e: crate::keys::Error) -> Self {
        Self::server(e)
    }
}
