//! "Your account is scheduled for deletion on …: restore it?", the last step of a sign-in
//! to a deleted account within its grace period (after every factor it needs). Only this
//! restores an account.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde_json::json;

use super::common::{auth_ctx, continue_sign_in, page};
use crate::auth;
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::PageForm;

fn to_login(state: &AppState, jar: CookieJar) -> Response {
    let jar = cookies::clear_pending_sign_in(state.config(), jar);
    (jar, Redirect::to("/login")).into_response()
}

pub async fn show(State(state): State<AppState>, jar: CookieJar) -> Result<Response, PageError> {
    let token = cookies::pending_sign_in(state.config(), &jar).unwrap_or_default();
    let ctx = auth_ctx(&state);
    let Some((user, purge)) = auth::restore_offer(&ctx, &token).await? else {
        // A sign-in not yet at this step (its second factor waits) goes on there.
        if auth::pending(&ctx, &token).await?.is_some() {
            return Ok(Redirect::to("/login/second-factor").into_response());
        }
        return Ok(to_login(&state, jar));
    };
    Ok(page(
        &state,
        jar,
        StatusCode::OK,
        "templates/restore.html",
        json!({ "email": user.email, "date": purge.format("%Y-%m-%d").to_string() }),
    ))
}

pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    _: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let token = cookies::pending_sign_in(state.config(), &jar).unwrap_or_default();
    let current = cookies::session(state.config(), &jar);
    match auth::restore(&auth_ctx(&state), &token, current.as_deref()).await? {
        Some(next) => Ok(continue_sign_in(&state, jar, next)),
        None => Ok(to_login(&state, jar)),
    }
}
