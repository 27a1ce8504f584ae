//! The account pages, one file each: the overview (where sign-in lands by default) and
//! signing out here; the password, profile, security, email and images pages beside it.

mod delete;
mod email;
mod export;
mod images;
mod linked;
mod passkeys;
mod password;
mod profile;
mod security;
mod two_factor;

pub use delete::*;
pub use email::*;
pub use export::*;
pub use images::*;
pub use linked::*;
pub use passkeys::*;
pub use password::*;
pub use profile::*;
pub use security::*;
pub use two_factor::*;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde_json::json;

use super::common::page;
use crate::accounts::Error;
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::PageForm;
use crate::web::extract::session::SignedIn;

pub async fn overview(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Result<Response, PageError> {
    let Some((user, profile)) = crate::accounts::with_profile(state.db(), me.session.user_id).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    let name: Vec<String> = profile
        .as_ref()
        .map(|p| {
            [p.given_name.clone(), p.family_name.clone()]
                .into_iter()
                .flatten()
                .collect()
        })
        .unwrap_or_default();
    Ok(page(
        &state,
        jar,
        StatusCode::OK,
        "templates/account.html",
        json!({
            "email": user.email,
            "name": name.join(" "),
            "verified": user.email_verified_at.is_some(),
            "member_since": user.created_at.format("%Y-%m-%d").to_string(),
            "username": profile.as_ref().and_then(|p| p.preferred_username.clone()),
            "picture": profile.as_ref().and_then(|p| p.picture.as_ref()).map(|u| u.replace(&state.config().issuer_id, "")),
        }),
    ))
}

const PASSWORD_CHECK_WINDOW_MS: i64 = 900_000;

fn password_check_key(user_id: uuid::Uuid) -> String {
    crate::store::keys::password_check(user_id)
}

/// Current-password checks count like logins: a stolen session cannot guess the password
/// (or burn argon2) without limit. Each check is counted up front and refunded by
/// [`password_check_passed`] unless the password was wrong, so only failures count.
/// Returns when the check was counted (Unix ms), for the refund.
async fn too_many_password_checks(state: &AppState, user_id: uuid::Uuid) -> Result<i64, PageError> {
    let limit = state.config().accounts.login_account_limit;
    let window = std::time::Duration::from_millis(PASSWORD_CHECK_WINDOW_MS.unsigned_abs());
    let n = state.store().incr(&password_check_key(user_id), window).await?;
    if n > limit {
        return Err(PageError::TooMany(
            "Too many password attempts. Try again in 15 minutes.".into(),
        ));
    }
    Ok(chrono::Utc::now().timestamp_millis())
}

/// Refunds a current-password check that was not a wrong password.
async fn password_check_passed<T>(state: &AppState, user_id: uuid::Uuid, counted_ms: i64, result: &Result<T, Error>) {
    // Only the window the check was counted in ends this soon (1 s for clock skew).
    let ends_by = counted_ms + PASSWORD_CHECK_WINDOW_MS + 1000;
    if !matches!(result, Err(Error::WrongPassword))
        && let Err(e) = state.store().decr(&password_check_key(user_id), ends_by).await
    {
        tracing::warn!(error = %e, "password check not refunded");
    }
}

pub async fn logout_show(State(state): State<AppState>, jar: CookieJar) -> Response {
    page(&state, jar, StatusCode::OK, "templates/logout.html", json!({}))
}

pub async fn logout_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    _: PageForm<serde::de::IgnoredAny>,
) -> impl IntoResponse {
    if let Some(token) = cookies::session(state.config(), &jar) {
        crate::oidc::backchannel::end_browser_session(state.db(), state.store(), state.token_hasher(), &token).await;
    }
    let jar = cookies::clear_session(state.config(), jar);
    (jar, Redirect::to("/"))
}
