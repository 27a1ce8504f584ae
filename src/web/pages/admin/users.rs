//! Users in the admin pages: search, one account's page with the actions that fit it,
//! and a confirmation step before each.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{admin_page, refusal, when};
use crate::admin::{self, Actor, users::Action};
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::session::Admin;
use crate::web::extract::{ClientIp, PageForm};

/// The button of an action.
fn label(a: Action) -> &'static str {
    match a {
        Action::Disable => "Disable",
        Action::Enable => "Enable",
        Action::VerifyEmail => "Mark the address verified",
        Action::SendPasswordReset => "Send a password-reset mail",
        Action::ResetFactors => "Reset second factors",
        Action::EndSessions => "End all sessions",
        Action::ScheduleDeletion => "Schedule deletion",
        Action::Restore => "Restore",
        Action::Purge => "Purge now",
        Action::GrantSuperuser => "Make superuser",
        Action::RevokeSuperuser => "Revoke superuser",
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    cursor: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let text = q.q.trim().chars().take(200).collect::<String>();
    let ops = state.admin_ops();
    let cursor = q.cursor.filter(|c| c.len() <= 100);
    let (status, found, error) = match admin::users::list(
        &ops,
        Some(&text).filter(|t| !t.is_empty()).map(String::as_str),
        cursor.as_deref(),
        admin::DEFAULT_PAGE,
    )
    .await
    {
        Ok(p) => (StatusCode::OK, Some(p), None),
        Err(e) => {
            let (status, msg) = refusal(e)?;
            (status, None, Some(msg))
        }
    };
    let (rows, next) = match found {
        Some(p) => (p.items, p.next),
        None => (Vec::new(), None),
    };
    let rows: Vec<_> = rows
        .iter()
        .map(|u| {
            json!({
                "id": u.id.to_string(), "email": u.email, "name": u.name, "status": u.status,
                "superuser": u.superuser, "created": when(&u.created_at),
                "last_login": u.last_login_at.as_ref().map(when),
            })
        })
        .collect();
    Ok(admin_page(
        &state,
        jar,
        status,
        "templates/admin_users.html",
        "users",
        &me,
        json!({ "users": rows, "q": text, "next": next, "error": error }),
    ))
}

fn parse_id(id: &str) -> Result<Uuid, PageError> {
    id.parse().map_err(|_| PageError::NotFound)
}

/// One account's page, with a notice or an error from the last action.
async fn user_page(
    state: &AppState,
    jar: CookieJar,
    me: &Admin,
    id: Uuid,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let ops = state.admin_ops();
    let d = match admin::users::detail(&ops, id).await {
        Ok(d) => d,
        Err(admin::Error::NotFound(_)) => return Err(PageError::NotFound),
        Err(e) => {
            return Err(match refusal(e) {
                Ok((_, m)) => PageError::BadRequest(m),
                Err(e) => e,
            });
        }
    };
    let actions: Vec<_> = Action::ALL
        .into_iter()
        .filter(|a| a.applies(&d))
        .map(|a| json!({ "name": a.as_str(), "label": label(a), "danger": matches!(a, Action::Purge | Action::ScheduleDeletion | Action::Disable | Action::ResetFactors | Action::RevokeSuperuser) }))
        .collect();
    let s = &d.summary;
    let u = json!({
        "id": s.id.to_string(), "email": s.email, "name": s.name, "status": s.status,
        "superuser": s.superuser, "created": when(&s.created_at),
        "last_login": s.last_login_at.as_ref().map(when),
        "purge_on": s.purge_on.map(|p| p.format("%Y-%m-%d").to_string()),
        "verified": d.email_verified, "has_password": d.has_password,
        "factors": d.factors.iter().map(|f| json!({ "kind": f.kind, "name": f.name, "added": when(&f.created_at), "last_used": f.last_used_at.as_ref().map(when) })).collect::<Vec<_>>(),
        "backup_codes_left": d.backup_codes_left,
        "linked": d.linked.iter().map(|l| json!({ "provider": l.provider, "email": l.email, "linked": when(&l.created_at) })).collect::<Vec<_>>(),
        "sessions": d.sessions.iter().map(|x| json!({ "device": x.device, "ip": x.ip, "location": x.location, "at": x.signed_in_at.as_ref().map(when) })).collect::<Vec<_>>(),
        "applications": d.applications.iter().map(|a| json!({ "name": a.name, "client_id": a.client_id, "scopes": a.scopes })).collect::<Vec<_>>(),
    });
    Ok(admin_page(
        state,
        jar,
        status,
        "templates/admin_user.html",
        "users",
        me,
        json!({ "u": u, "etag": s.etag, "actions": actions, "notice": notice, "error": error }),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    user_page(&state, jar, &me, parse_id(&id)?, StatusCode::OK, None, None).await
}

/// The confirmation step of an action on an account.
pub async fn confirm(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    Path((id, action)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let action = Action::parse(&action).ok_or(PageError::NotFound)?;
    let id = parse_id(&id)?;
    let ops = state.admin_ops();
    let d = match admin::users::detail(&ops, id).await {
        Ok(d) => d,
        Err(admin::Error::NotFound(_)) => return Err(PageError::NotFound),
        Err(e) => return Err(refusal(e).map_or_else(|e| e, |(_, m)| PageError::BadRequest(m))),
    };
    Ok(admin_page(
        &state,
        jar,
        StatusCode::OK,
        "templates/admin_confirm.html",
        "users",
        &me,
        json!({
            "title": format!("{} {}?", label(action), d.summary.email),
            "text": action.describe(),
            "action": format!("/admin/users/{id}/{}", action.as_str()),
            "back": format!("/admin/users/{id}"),
            "button": label(action),
            "typed": action.needs_typed_confirmation().then_some(&d.summary.email),
            "etag": d.summary.etag,
        }),
    ))
}

#[derive(Debug, Deserialize, Default)]
pub struct ActForm {
    /// The version of the account the confirmation page showed.
    #[serde(default)]
    etag: String,
    /// For an action that cannot be undone: the address, typed in.
    #[serde(default)]
    typed: String,
}

pub async fn act(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    Path((id, action)): Path<(String, String)>,
    PageForm(f): PageForm<ActForm>,
) -> Result<Response, PageError> {
    let action = Action::parse(&action).ok_or(PageError::NotFound)?;
    let id = parse_id(&id)?;
    let ops = state.admin_ops();
    if action.needs_typed_confirmation() {
        let u = match admin::users::find(&ops, id).await {
            Ok(u) => u,
            Err(_) => return Err(PageError::NotFound),
        };
        if !f.typed.trim().eq_ignore_ascii_case(&u.email) {
            let msg = format!("Nothing was erased: type {} to confirm.", u.email);
            return user_page(&state, jar, &me, id, StatusCode::UNPROCESSABLE_ENTITY, None, Some(&msg)).await;
        }
    }
    let tag = Some(f.etag.as_str()).filter(|t| !t.is_empty());
    let actor = Actor::User(me.user.id);
    let from = admin::Source::http(ip, crate::web::pages::common::user_agent(&headers));
    match admin::users::apply(&ops, &actor, id, action, tag, &from).await {
        Ok(outcome) if action == Action::Purge => {
            let text = format!("{}.", outcome.message);
            Ok(crate::web::pages::common::message(
                &state,
                jar,
                StatusCode::OK,
                "Account erased",
                &text,
                Some(("/admin/users", "Back to the users")),
            ))
        }
        Ok(outcome) => user_page(&state, jar, &me, id, StatusCode::OK, Some(&outcome.message), None).await,
        Err(e) => {
            let (status, msg) = refusal(e)?;
            user_page(&state, jar, &me, id, status, None, Some(&msg)).await
        }
    }
}
