//! Changing the email address: asked for with the current password, confirmed from a
//! link mailed to the new address.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::*;
use crate::accounts::Error;
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::PageForm;
use crate::web::extract::session::SignedIn;
use crate::web::pages::common::{mail_ctx, message, page};

fn email_page(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    current: &str,
    new: &str,
    errors: serde_json::Value,
) -> Response {
    page(
        state,
        jar,
        status,
        "templates/account_email.html",
        json!({ "current": current, "new": new, "errors": errors }),
    )
}

pub async fn email_show(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Result<Response, PageError> {
    Ok(
        match crate::accounts::with_profile(state.db(), me.session.user_id).await? {
            Some((u, _)) => email_page(&state, jar, StatusCode::OK, &u.email, "", json!({})),
            None => Redirect::to("/login").into_response(),
        },
    )
}

#[derive(Debug, Deserialize, Default)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

pub async fn email_submit(
    State(state): State<AppState>,
    crate::web::extract::ClientIp(ip): crate::web::extract::ClientIp,
    jar: CookieJar,
    me: SignedIn,
    PageForm(f): PageForm<EmailForm>,
) -> Result<Response, PageError> {
    let Some((user, _)) = crate::accounts::with_profile(state.db(), me.session.user_id).await? else {
        return Ok(Redirect::to("/login").into_response());
    };
    if crate::auth::has_second_factor(state.db(), user.id).await? && !me.fresh(&state).await? {
        return Ok(crate::web::extract::session::SignedIn::reauthenticate("/account/email"));
    }
    let current = user.email;
    let again = |jar, status, errors| email_page(&state, jar, status, &current, &f.email, errors);
    if crate::web::pages::common::over_mail_limit(&state, "email-change", ip, &f.email).await? {
        let errors = json!({ "email": "Too many requests. Try again in an hour." });
        return Ok(again(jar, StatusCode::TOO_MANY_REQUESTS, errors));
    }
    let new = match crate::accounts::Email::parse(&f.email) {
        Ok(e) => e,
        Err(e) => {
            return Ok(again(
                jar,
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "email": e.to_string() }),
            ));
        }
    };
    let counted = too_many_password_checks(&state, me.session.user_id).await?;
    let ttl = std::time::Duration::from_secs(state.config().accounts.activation_ttl_secs);
    let result = crate::accounts::email_change::request(
        state.db(),
        state.store(),
        state.token_hasher(),
        state.passwords(),
        &mail_ctx(&state),
        me.session.user_id,
        SecretString::from(f.password.clone()),
        &new,
        ttl,
    )
    .await;
    password_check_passed(&state, me.session.user_id, counted, &result).await;
    match result {
        Ok(()) => Ok(message(
            &state,
            jar,
            StatusCode::OK,
            "Check your new inbox",
            "We sent a confirmation link to the new address. Your account keeps its current address until you open it.",
            Some(("/account", "Back to your account")),
        )),
        Err(Error::WrongPassword) => {
            let errors = json!({ "password": "The password is not correct." });
            Ok(again(jar, StatusCode::UNPROCESSABLE_ENTITY, errors))
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct TokenQuery {
    token: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct TokenForm {
    token: Option<String>,
}

fn email_link_expired(state: &AppState, jar: CookieJar) -> Response {
    message(
        state,
        jar,
        StatusCode::GONE,
        "Link expired",
        "This link has expired or was already used.",
        Some(("/account/email", "Start again")),
    )
}

pub async fn email_confirm_show(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<TokenQuery>,
) -> Result<Response, PageError> {
    let token = q.token.unwrap_or_default();
    let peeked = crate::accounts::email_change::peek(state.db(), state.store(), state.token_hasher(), &token).await?;
    let Some(new) = peeked else {
        return Ok(email_link_expired(&state, jar));
    };
    Ok(page(
        &state,
        jar,
        StatusCode::OK,
        "templates/confirm_link.html",
        json!({
            "title": "Confirm your new email address",
            "message": format!("Use {new} for your account from now on?"),
            "action": "/account/email/confirm",
            "token": token,
            "button": "Confirm",
        }),
    ))
}

pub async fn email_confirm_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    PageForm(f): PageForm<TokenForm>,
) -> Result<Response, PageError> {
    let token = f.token.unwrap_or_default();
    let changed = crate::accounts::email_change::confirm(
        state.db(),
        state.store(),
        state.token_hasher(),
        &mail_ctx(&state),
        &token,
    )
    .await?;
    let Some(new) = changed else {
        return Ok(email_link_expired(&state, jar));
    };
    Ok(message(
        &state,
        jar,
        StatusCode::OK,
        "Email address changed",
        &format!("Your account now uses {new}."),
        Some(("/account", "Go to your account")),
    ))
}
