//! Password reset pages: request (same answer and timing for every address), and the
//! mailed link's set-new-password form (only its POST consumes the link).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::common::{EmailForm, mail_ctx, mail_request, message, page};
use crate::accounts::signup::LinkCtx;
use crate::accounts::{Error, reset};
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::ClientIp;
use crate::web::extract::PageForm;

fn link_ctx(state: &AppState) -> LinkCtx<'_> {
    LinkCtx {
        store: state.store(),
        hasher: state.token_hasher(),
        ttl: std::time::Duration::from_secs(state.config().accounts.reset_ttl_secs),
        carry: String::new(),
    }
}

fn request_form(state: &AppState, jar: CookieJar, status: StatusCode, email: &str, error: Option<&str>) -> Response {
    page(
        state,
        jar,
        status,
        "templates/email_form.html",
        json!({
            "title": "Reset your password",
            "message": "Enter your account's email address and we will mail you a link to choose a new password.",
            "action": "/password/reset",
            "button": "Send the link",
            "email": email,
            "error": error,
        }),
    )
}

pub async fn request_show(State(state): State<AppState>, jar: CookieJar) -> Response {
    request_form(&state, jar, StatusCode::OK, "", None)
}

pub async fn request_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    PageForm(f): PageForm<EmailForm>,
) -> Response {
    let email = match mail_request(&state, ip, &jar, f, "reset", &request_form).await {
        Ok(email) => email,
        Err(page) => return page,
    };
    // Off the request path, so the answer takes the same time whether or not the
    // address has an account.
    let worker = state.clone();
    tokio::spawn(async move {
        if let Err(e) = reset::request(worker.db(), &mail_ctx(&worker), &link_ctx(&worker), &email).await {
            tracing::warn!(error = %e, "password reset mail could not be prepared");
        }
    });
    message(
        &state,
        jar,
        StatusCode::OK,
        "Check your inbox",
        "If an account uses this address, we sent it a link to choose a new password.",
        None,
    )
}

#[derive(Debug, Deserialize, Default)]
pub struct TokenQuery {
    token: Option<String>,
}

fn password_form(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    token: &str,
    errors: serde_json::Value,
) -> Response {
    page(
        state,
        jar,
        status,
        "templates/password_form.html",
        json!({ "token": token, "errors": errors }),
    )
}

fn expired(state: &AppState, jar: CookieJar) -> Response {
    message(
        state,
        jar,
        StatusCode::GONE,
        "Link expired",
        "This link has expired or was already used.",
        Some(("/password/reset", "Ask for a new link")),
    )
}

pub async fn confirm_show(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let token = q.token.unwrap_or_default();
    Ok(match reset::peek(state.db(), &link_ctx(&state), &token).await? {
        Some(_) => password_form(&state, jar, StatusCode::OK, &token, json!({})),
        None => expired(&state, jar),
    })
}

#[derive(Debug, Deserialize, Default)]
pub struct PasswordForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

pub async fn confirm_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    PageForm(f): PageForm<PasswordForm>,
) -> Result<Response, PageError> {
    let refused = |jar, errors| {
        Ok(password_form(
            &state,
            jar,
            StatusCode::UNPROCESSABLE_ENTITY,
            &f.token,
            errors,
        ))
    };
    if f.password != f.password_confirm {
        return refused(jar, json!({ "password_confirm": "The passwords do not match." }));
    }
    let result = reset::confirm(
        state.db(),
        state.passwords(),
        &state.config().password,
        &mail_ctx(&state),
        &link_ctx(&state),
        &f.token,
        SecretString::from(f.password.clone()),
    )
    .await;
    match result {
        Ok(Some(user_id)) => {
            // Every session of the user ends, this browser's too: by time first (certain),
            // then one by one (to tell their relying parties).
            let ttl = std::time::Duration::from_secs(state.config().tokens.session_secs);
            crate::accounts::sessions::revoke_all_before_now(state.store(), user_id, ttl).await?;
            match crate::accounts::sessions::destroy_all(state.store(), user_id).await {
                Ok(ended) => crate::oidc::backchannel::sessions_ended(state.db(), state.store(), &ended).await,
                Err(e) => tracing::warn!(error = %e, "sessions could not be ended after a password reset"),
            }
            let jar = cookies::clear_session(state.config(), jar);
            Ok((jar, Redirect::to("/login?reset=1")).into_response())
        }
        Ok(None) => Ok(expired(&state, jar)),
        Err(Error::Password(e)) => refused(jar, json!({ "password": e.to_string() })),
        Err(e) => Err(e.into()),
    }
}
