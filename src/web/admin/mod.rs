//! The admin API (`/admin/api/v1`): JSON over the administration operations in
//! `crate::admin`, the same ones the CLI calls. Authenticated by Gatehouse's own access
//! tokens with the scope `gatehouse:admin` (a client allowed it, through
//! `client_credentials`, or a superuser's token from a multi-factor sign-in); errors are
//! RFC 9457 problem details; updates take `If-Match`.

mod api;
mod caller;
mod doc;
mod problem;

use axum::Router;
use axum::routing::{get, post};

pub use caller::Caller;
pub use problem::Problem;

use crate::web::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/api/openapi.json", get(doc::openapi))
        .route("/admin/api/v1/users", get(api::users))
        .route("/admin/api/v1/users/{id}", get(api::user))
        .route("/admin/api/v1/users/{id}/{action}", post(api::user_action))
        .route("/admin/api/v1/clients", get(api::clients).post(api::client_create))
        .route(
            "/admin/api/v1/clients/{id}",
            get(api::client).patch(api::client_update).delete(api::client_delete),
        )
        .route("/admin/api/v1/clients/{id}/rotate-secret", post(api::client_rotate))
        .route("/admin/api/v1/keys", get(api::keys))
        .route("/admin/api/v1/keys/rotate", post(api::keys_rotate))
        .route("/admin/api/v1/audit-events", get(api::audit_events))
        .route("/admin/api/v1/outbox", get(api::outbox))
        .route("/admin/api/v1/outbox/{id}/retry", post(api::outbox_retry))
        // Anything else under the API answers as the API does, not with a page.
        .route("/admin/api/{*rest}", axum::routing::any(api::no_such_route))
}
