//! The admin pages (`/admin`): users, clients, signing keys, the audit log and the mail
//! outbox, for superusers signed in with a second factor ([`Admin`]); everyone else gets
//! the not-found page. Every change calls the same operation as the admin API and the
//! CLI (`crate::admin`), goes through a confirmation step when it destroys or takes
//! away, and is audited with the superuser as actor.

mod clients;
mod logs;
mod users;

use axum::Router;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use serde_json::{Value, json};

use crate::web::AppState;
use crate::web::extract::session::Admin;
use crate::web::pages::common::page;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/users", get(users::list))
        .route("/admin/users/{id}", get(users::show))
        .route("/admin/users/{id}/{action}", get(users::confirm).post(users::act))
        .route("/admin/clients", get(clients::list).post(clients::create))
        .route("/admin/clients/{id}", get(clients::show).post(clients::update))
        .route("/admin/clients/{id}/rotate-secret", post(clients::rotate))
        .route(
            "/admin/clients/{id}/delete",
            get(clients::delete_confirm).post(clients::delete),
        )
        .route("/admin/keys", get(logs::keys))
        .route("/admin/keys/rotate", post(logs::rotate))
        .route("/admin/audit", get(logs::audit))
        .route("/admin/outbox", get(logs::outbox))
        .route("/admin/outbox/{id}/retry", post(logs::retry))
}

/// An admin page: the template with `here` (the section) and the signed-in admin.
fn admin_page(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    template: &str,
    here: &str,
    me: &Admin,
    mut ctx: Value,
) -> Response {
    if let Value::Object(m) = &mut ctx {
        m.insert("here".into(), here.into());
        m.insert("admin_email".into(), me.user.email.clone().into());
    }
    page(state, jar, status, template, ctx)
}

async fn home(axum::extract::State(state): axum::extract::State<AppState>, jar: CookieJar, me: Admin) -> Response {
    admin_page(
        &state,
        jar,
        StatusCode::OK,
        "templates/admin_home.html",
        "home",
        &me,
        json!({}),
    )
}

/// A time as the admin pages show it.
fn when(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The problem of an admin operation as the page shows it: a status and a sentence.
fn refusal(e: crate::admin::Error) -> Result<(StatusCode, String), crate::web::error::PageError> {
    use crate::admin::Error as E;
    Ok(match e {
        E::NotFound(what) => (StatusCode::NOT_FOUND, format!("No such {what}.")),
        E::Conflict(m) => (StatusCode::CONFLICT, m),
        E::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
        E::Stale => (
            StatusCode::PRECONDITION_FAILED,
            "It changed since this page was shown; nothing was done. Look again and retry.".into(),
        ),
        E::Clients(c) => return clients::refusal(c),
        E::Accounts(crate::accounts::Error::Db(e)) | E::Db(e) => return Err(e.into()),
        E::Accounts(crate::accounts::Error::Store(e)) | E::Store(e) => return Err(e.into()),
        E::Accounts(a) => (StatusCode::UNPROCESSABLE_ENTITY, a.to_string()),
        E::Keys(k) => return Err(crate::web::error::PageError::Internal(k.to_string())),
    })
}
