//! The admin API's OpenAPI 3.1 document (`/admin/api/openapi.json`), generated from the
//! handlers' `#[utoipa::path]` and the types they answer with.

use axum::Json;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use super::api;
use crate::admin::{keys::KeyInfo, logs, users};
use crate::clients::manage::ClientView;

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub items: Vec<users::Summary>,
    /// Pass back as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// Every client (one page).
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientList {
    pub items: Vec<ClientView>,
    pub next_cursor: Option<String>,
}

/// Every published signing key (one page).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub items: Vec<KeyInfo>,
    pub next_cursor: Option<String>,
}

/// A page of audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventList {
    pub items: Vec<logs::EventInfo>,
    pub next_cursor: Option<String>,
}

/// A page of queued or failed mails.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailList {
    pub items: Vec<logs::MailInfo>,
    pub next_cursor: Option<String>,
}

/// A client just registered, and its secret (in this answer only; null for a public
/// client or one with keys).
#[derive(Debug, Serialize, ToSchema)]
pub struct NewClient {
    pub client: ClientView,
    pub client_secret: Option<String>,
}

/// A client's new secret: in this answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewSecret {
    pub client_id: String,
    pub client_secret: String,
}

/// A key just published.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewKey {
    pub alg: String,
    pub kid: String,
}

/// The keys a rotation published.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewKeys {
    pub items: Vec<NewKey>,
}

/// An RFC 9457 problem (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDoc {
    /// Always `about:blank`: `title` is the status's reason phrase.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    /// What went wrong, in a sentence safe to show.
    pub detail: String,
}

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "An access token of this Gatehouse with the scope gatehouse:admin (client_credentials \
                 for a client allowed it, or a multi-factor superuser's code-flow token).",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Gatehouse admin API", description = "Users, clients, signing keys, the audit log and the mail outbox. See docs/admin-api.md."),
    paths(
        api::users, api::user, api::user_action,
        api::clients, api::client_create, api::client, api::client_update, api::client_delete, api::client_rotate,
        api::keys, api::keys_rotate, api::audit_events, api::outbox, api::outbox_retry,
    ),
    components(schemas(ProblemDoc)),
    modifiers(&Bearer),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

/// `GET /admin/api/openapi.json`: public, like any API description (it holds no data).
pub async fn openapi() -> axum::response::Response {
    static DOC: std::sync::LazyLock<utoipa::openapi::OpenApi> = std::sync::LazyLock::new(<ApiDoc as OpenApi>::openapi);
    Json(&*DOC).into_response()
}
