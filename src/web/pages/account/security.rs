//! The security page: login notifications, the browsers signed in (sign out one or
//! every other), and the connected applications (remove access).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use crate::accounts::sessions;
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::PageForm;
use crate::web::extract::session::SignedIn;
use crate::web::pages::common::page;

fn utc(ms: i64, format: &str) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format(format).to_string())
}

async fn security_page(
    state: &AppState,
    jar: CookieJar,
    me: &SignedIn,
    saved: Option<&str>,
) -> Result<Response, PageError> {
    let user = me.session.user_id;
    let on = crate::accounts::login_notifications(state.db(), user).await?;
    let magic = crate::accounts::magic_links(state.db(), user).await?;
    let sessions = sessions::list(state.store(), user).await?;
    let sessions: Vec<_> = sessions
        .iter()
        .map(|s| {
            json!({
                "sid": s.sid,
                "device": s.device.clone().unwrap_or_else(|| "unknown device".into()),
                "ip": s.ip.clone().unwrap_or_else(|| "unknown".into()),
                "location": s.location,
                "since": utc(s.created_ms, "%Y-%m-%d %H:%M UTC"),
                "since_iso": utc(s.created_ms, "%Y-%m-%dT%H:%M:%SZ"),
                "last_seen": utc(s.last_seen_ms, "%Y-%m-%d %H:%M UTC"),
                "last_seen_iso": utc(s.last_seen_ms, "%Y-%m-%dT%H:%M:%SZ"),
                "current": s.sid == me.session.sid,
            })
        })
        .collect();
    let apps = crate::oidc::consent::applications_of(state.db(), user).await?;
    let two_factor = crate::auth::has_second_factor(state.db(), user).await?;
    let (codes_left, _) = crate::auth::backup_codes::counts(state.db(), user).await?;
    let apps: Vec<_> = apps
        .iter()
        .map(|(c, scopes)| json!({ "client_id": c.id, "name": c.name, "scopes": scopes.join(" ") }))
        .collect();
    Ok(page(
        state,
        jar,
        StatusCode::OK,
        "templates/account_security.html",
        json!({
            "login_notifications": on, "saved": saved, "sessions": sessions, "apps": apps,
            "two_factor": two_factor, "codes_left": codes_left, "magic_links": magic,
        }),
    ))
}

pub async fn security_show(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Result<Response, PageError> {
    security_page(&state, jar, &me, None).await
}

#[derive(Debug, Deserialize, Default)]
pub struct SecurityForm {
    login_notifications: Option<String>,
}

pub async fn security_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    PageForm(f): PageForm<SecurityForm>,
) -> Result<Response, PageError> {
    let on = f.login_notifications.is_some();
    crate::accounts::set_login_notifications(state.db(), me.session.user_id, on).await?;
    security_page(&state, jar, &me, Some("Your settings are saved.")).await
}

#[derive(Debug, Deserialize, Default)]
pub struct MagicLinksForm {
    magic_links: Option<String>,
}

/// Sign-in links by mail on or off; off ends the link outstanding.
pub async fn magic_links_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    PageForm(f): PageForm<MagicLinksForm>,
) -> Result<Response, PageError> {
    let on = f.magic_links.is_some();
    // A new way in: only a fresh sign-in with the strongest factor turns it on.
    if on && !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate("/account/security"));
    }
    let user = me.session.user_id;
    crate::accounts::set_magic_links(state.db(), user, on).await?;
    let saved = if on {
        "Sign-in links are on: the sign-in page can mail you a link that signs you in without your password (your second factor is still asked)."
    } else {
        crate::auth::magic_links::end_outstanding(&crate::web::pages::common::auth_ctx(&state), user).await?;
        "Sign-in links are off; a link already mailed no longer works."
    };
    security_page(&state, jar, &me, Some(saved)).await
}

#[derive(Debug, Deserialize, Default)]
pub struct SessionForm {
    sid: Option<String>,
    others: Option<String>,
}

/// Signs out one session, or every session but this one.
pub async fn sessions_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    PageForm(f): PageForm<SessionForm>,
) -> Result<Response, PageError> {
    let user = me.session.user_id;
    if f.others.is_some() {
        // By the session index, to which every login adds its session with one atomic upsert (no read-modify-write). No new session is
        // made here: a stolen cookie must not be able to renew itself without a password.
        let ended = sessions::destroy_others(state.store(), user, &me.session.sid).await?;
        crate::oidc::backchannel::sessions_ended(state.db(), state.store(), &ended).await;
        return security_page(&state, jar, &me, Some("Signed out.")).await;
    }
    let ended = match f.sid.as_deref() {
        Some(sid) => sessions::destroy_by_sid(state.store(), user, sid).await?,
        None => None,
    };
    crate::oidc::backchannel::sessions_ended(state.db(), state.store(), ended.as_slice()).await;
    if ended.is_some_and(|s| s.sid == me.session.sid) {
        let jar = cookies::clear_session(state.config(), jar);
        return Ok((jar, Redirect::to("/login")).into_response());
    }
    security_page(&state, jar, &me, Some("Signed out.")).await
}

#[derive(Debug, Deserialize, Default)]
pub struct AppForm {
    client_id: Option<String>,
}

/// Withdraws the consent given to an application and revokes its refresh tokens.
pub async fn apps_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    crate::web::extract::ClientIp(ip): crate::web::extract::ClientIp,
    PageForm(f): PageForm<AppForm>,
) -> Result<Response, PageError> {
    if let Some(client) = f.client_id.as_deref().filter(|c| c.len() <= 256)
        && let Err(e) =
            crate::oidc::consent::withdraw(state.db(), me.session.user_id, client, Some(ip.to_string())).await
    {
        return Err(e.into());
    }
    security_page(&state, jar, &me, Some("Access withdrawn.")).await
}
