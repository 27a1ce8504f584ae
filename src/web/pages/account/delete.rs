//! Deleting the account: a fresh sign-in with the strongest factor first, an explanation
//! of what happens and when, then the soft delete (`accounts::lifecycle`): every session
//! ends (their relying parties are told), refresh tokens, consents and access tokens stop
//! working, and the owner is mailed how to restore it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::two_factor::me_user;
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::PageForm;
use crate::web::extract::session::SignedIn;
use crate::web::pages::common::{mail_ctx, message, page};

const HERE: &str = "/account/delete";

fn delete_page(state: &AppState, jar: CookieJar, status: StatusCode, error: Option<&str>) -> Response {
    let days = state.config().accounts.deletion_grace_days;
    page(
        state,
        jar,
        status,
        "templates/account_delete.html",
        json!({ "days": days, "error": error }),
    )
}

pub async fn delete_show(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Result<Response, PageError> {
    if !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate(HERE));
    }
    Ok(delete_page(&state, jar, StatusCode::OK, None))
}

#[derive(Debug, Deserialize, Default)]
pub struct DeleteForm {
    confirm: Option<String>,
}

pub async fn delete_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    crate::web::extract::ClientIp(ip): crate::web::extract::ClientIp,
    headers: axum::http::HeaderMap,
    PageForm(f): PageForm<DeleteForm>,
) -> Result<Response, PageError> {
    if !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate(HERE));
    }
    if f.confirm.is_none() {
        let error = "Tick the box to confirm that you want to delete the account.";
        return Ok(delete_page(&state, jar, StatusCode::UNPROCESSABLE_ENTITY, Some(error)));
    }
    let user = me_user(&state, &me).await?;
    let grace = state.config().accounts.deletion_grace_days;
    let actor = format!("user:{}", user.id);
    // Every session ends, this browser's too: by time first and before the deletion
    // commits (so a store failure leaves nothing half done), then one by one after it (to
    // tell their relying parties); access tokens stop counting.
    let ttl = std::time::Duration::from_secs(state.config().tokens.session_secs);
    crate::accounts::sessions::revoke_all_before_now(state.store(), user.id, ttl).await?;
    crate::oidc::tokens::revoke_user_tokens(&crate::web::oidc::ctx(&state), user.id).await?;
    let (ip, d) = (
        ip.to_string(),
        crate::accounts::notify::device(crate::web::pages::common::user_agent(&headers)),
    );
    let device = d.label();
    let by = crate::audit::By {
        actor: &actor,
        ip: Some(&ip),
        device: Some(&device),
    };
    let purge = crate::accounts::lifecycle::schedule(state.db(), &mail_ctx(&state), &user, grace, by).await?;
    match crate::accounts::sessions::destroy_all(state.store(), user.id).await {
        Ok(ended) => crate::oidc::backchannel::sessions_ended(state.db(), state.store(), &ended).await,
        Err(e) => tracing::warn!(error = %e, "sessions could not be ended after a deletion"),
    }
    let jar = cookies::clear_session(state.config(), jar);
    let date = purge.map_or_else(String::new, |p| p.format("%Y-%m-%d").to_string());
    let text = format!(
        "Your account is deleted and will be erased for good on {date}. Until then, signing in offers to restore it; we mailed you the same."
    );
    Ok(message(
        &state,
        jar,
        StatusCode::OK,
        "Your account is deleted",
        &text,
        Some(("/", "Done")),
    ))
}
