//! The password page: change the password (the current one first), optionally signing
//! out every other session.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::*;
use crate::accounts::{Error, sessions};
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::PageForm;
use crate::web::extract::session::SignedIn;
use crate::web::pages::common::{mail_ctx, message, page};

pub async fn password_show(State(state): State<AppState>, jar: CookieJar, _me: SignedIn) -> Response {
    page(
        &state,
        jar,
        StatusCode::OK,
        "templates/change_password.html",
        json!({ "errors": {} }),
    )
}

#[derive(Debug, Deserialize, Default)]
pub struct ChangeForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    sign_out_others: Option<String>,
}

pub async fn password_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    PageForm(f): PageForm<ChangeForm>,
) -> Result<Response, PageError> {
    let again = |jar, errors: serde_json::Value| {
        page(
            &state,
            jar,
            StatusCode::UNPROCESSABLE_ENTITY,
            "templates/change_password.html",
            json!({ "errors": errors }),
        )
    };
    // With a second factor, the password alone is not the strongest proof: a recent
    // sign-in (with that factor) is asked for too.
    if crate::auth::has_second_factor(state.db(), me.session.user_id).await? && !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate("/account/password"));
    }
    if f.password != f.password_confirm {
        return Ok(again(jar, json!({ "password_confirm": "The passwords do not match." })));
    }
    let counted = too_many_password_checks(&state, me.session.user_id).await?;
    let result = crate::accounts::change_password(
        state.db(),
        state.store(),
        state.passwords(),
        &state.config().password,
        &mail_ctx(&state),
        me.session.user_id,
        SecretString::from(f.current.clone()),
        SecretString::from(f.password.clone()),
    )
    .await;
    password_check_passed(&state, me.session.user_id, counted, &result).await;
    match result {
        Ok(()) => {
            if f.sign_out_others.is_some() {
                crate::accounts::revoke_refresh_tokens(state.db(), me.session.user_id).await?;
                let jar = sign_out_others(&state, jar, &me).await?;
                return Ok(message(
                    &state,
                    jar,
                    StatusCode::OK,
                    "Password changed",
                    "Your password was changed and your other sessions were signed out.",
                    Some(("/account", "Back to your account")),
                ));
            }
            Ok(message(
                &state,
                jar,
                StatusCode::OK,
                "Password changed",
                "Your password was changed.",
                Some(("/account", "Back to your account")),
            ))
        }
        Err(Error::WrongPassword) => Ok(again(jar, json!({ "current": "The current password is not correct." }))),
        Err(Error::Password(e)) => Ok(again(jar, json!({ "password": e.to_string() }))),
        Err(e) => Err(e.into()),
    }
}

/// After a password change: ends every other session of the signed-in user at once (by a
/// revocation time, so none survives whatever the session index holds), queues
/// back-channel logouts for them, and gives this browser a fresh session that keeps the
/// expiry of the old one; returns the jar with its cookie.
async fn sign_out_others(
    state: &AppState,
    jar: CookieJar,
    me: &SignedIn,
) -> Result<CookieJar, crate::store::StoreError> {
    let user = me.session.user_id;
    let longest = std::time::Duration::from_secs(state.config().tokens.session_secs);
    sessions::revoke_all_before_now(state.store(), user, longest).await?;
    let mut ended = sessions::destroy_all(state.store(), user).await?;
    ended.retain(|s| s.sid != me.session.sid);
    crate::oidc::backchannel::sessions_ended(state.db(), state.store(), &ended).await;
    let token = crate::auth::reissue(&crate::web::pages::common::auth_ctx(state), &me.session).await?;
    Ok(cookies::set_session(state.config(), jar, token, me.session.remember))
}
