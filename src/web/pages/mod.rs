//! Hosted pages: the landing page, theme assets and the not-found page.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use super::AppState;
use super::error::PageError;

pub mod account;
mod admin;
pub mod common;
mod consent;
pub mod login;
mod magic_link;
pub mod reset;
mod restore;
pub mod second_factor;
pub mod signup;
mod upstream;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(landing))
        .route("/static/{*path}", get(asset))
        .route("/login", get(login::show).post(login::submit))
        .route("/login/passkey", post(login::passkey_submit))
        .route(
            "/login/upstream/new",
            get(upstream::new_show).post(upstream::new_submit),
        )
        .route("/login/upstream/existing", get(upstream::existing_show))
        .route(
            "/login/upstream/email",
            get(upstream::email_show).post(upstream::email_submit),
        )
        .route("/login/upstream/confirm", get(upstream::confirm))
        .route(
            "/login/upstream/{id}",
            get(upstream::start_get).post(upstream::start_post),
        )
        .route("/login/upstream/{id}/callback", get(upstream::callback))
        .route("/account/linked", get(account::linked_show))
        .route("/account/linked/link", post(account::linked_link))
        .route("/account/linked/confirm", post(account::linked_confirm))
        .route("/account/linked/cancel", post(account::linked_cancel))
        .route("/account/linked/unlink", post(account::linked_unlink))
        .route(
            "/login/magic-link",
            get(magic_link::request_show).post(magic_link::request_submit),
        )
        .route("/login/magic-link/code", post(magic_link::code_submit))
        .route(
            "/login/magic-link/confirm",
            get(magic_link::confirm_show).post(magic_link::confirm_submit),
        )
        .route(
            "/login/second-factor",
            get(second_factor::show).post(second_factor::submit),
        )
        .route("/login/second-factor/email", post(second_factor::email_submit))
        .route("/login/second-factor/passkey", post(second_factor::passkey_submit))
        .route(
            "/login/second-factor/setup",
            get(second_factor::setup_show).post(second_factor::setup_submit),
        )
        .route(
            "/login/second-factor/setup/passkey",
            post(second_factor::setup_passkey_submit),
        )
        .route("/login/step-up", get(second_factor::step_up))
        .route("/login/restore", get(restore::show).post(restore::submit))
        .route("/account/export", get(account::export))
        .route(
            "/account/delete",
            get(account::delete_show).post(account::delete_submit),
        )
        .route("/consent", get(consent::show).post(consent::submit))
        .route("/signup", get(signup::show).post(signup::submit))
        .route(
            "/signup/activate",
            get(signup::activate_show).post(signup::activate_submit),
        )
        .route("/signup/resend", get(signup::resend_show).post(signup::resend_submit))
        .route("/password/reset", get(reset::request_show).post(reset::request_submit))
        .route("/account", get(account::overview))
        .route("/account/edit", get(account::edit_show).post(account::edit_submit))
        .route(
            "/account/security",
            get(account::security_show).post(account::security_submit),
        )
        .route(
            "/account/password",
            get(account::password_show).post(account::password_submit),
        )
        .route("/account/email", get(account::email_show).post(account::email_submit))
        .route("/account/security/sessions", post(account::sessions_submit))
        .route("/account/security/magic-links", post(account::magic_links_submit))
        .route("/account/two-factor", get(account::two_factor_show))
        .route(
            "/account/passkeys",
            get(account::passkeys_show).post(account::passkeys_register),
        )
        .route("/account/passkeys/rename", post(account::passkeys_rename))
        .route("/account/passkeys/remove", post(account::passkeys_remove))
        .route(
            "/account/two-factor/totp",
            get(account::totp_show).post(account::totp_submit),
        )
        .route("/account/two-factor/totp/remove", post(account::totp_remove))
        .route("/account/two-factor/email", post(account::email_enable))
        .route("/account/two-factor/trusted/forget", post(account::trusted_forget))
        .route(
            "/account/two-factor/backup-codes",
            get(account::codes_show).post(account::codes_submit),
        )
        .route(
            "/account/images",
            get(account::images_show)
                .post(account::images_submit)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::accounts::images::MAX_BYTES + 64 * 1024,
                )),
        )
        .route("/images/{id}", get(account::image))
        .route("/account/security/apps", post(account::apps_submit))
        .route(
            "/account/email/confirm",
            get(account::email_confirm_show).post(account::email_confirm_submit),
        )
        .route("/logout", get(account::logout_show).post(account::logout_submit))
        .route(
            "/password/reset/confirm",
            get(reset::confirm_show).post(reset::confirm_submit),
        )
        .merge(admin::router())
}

async fn landing(State(state): State<AppState>) -> Response {
    let ctx = serde_json::json!({ "issuer": state.config().issuer.as_str().trim_end_matches('/') });
    match state.theme().render("templates/index.html", ctx) {
        Ok(body) => Html(body).into_response(),
        Err(e) => PageError::from(e).render(state.theme()),
    }
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("webp") => "image/webp",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

async fn asset(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    match state.theme().asset(&path) {
        Some(bytes) => {
            let mut res = (StatusCode::OK, bytes.into_owned()).into_response();
            let h = res.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&path)));
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
            res
        }
        None => PageError::NotFound.render(state.theme()),
    }
}

pub async fn not_found(State(state): State<AppState>) -> Response {
    PageError::NotFound.render(state.theme())
}
