//! Linked accounts: the upstream identities that sign in to this account (when linked,
//! last used), linking another one (after a fresh sign-in), confirming a link the user
//! came here to make (their provider's address belongs to this account), and unlinking,
//! refused for the last way to sign in.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::two_factor::me_user;
use crate::upstream::Intent;
use crate::upstream::linking::{self, Linked, Stage, Unlinked};
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::session::SignedIn;
use crate::web::extract::{ClientIp, PageForm};
use crate::web::pages::common::{auth_ctx, page};

const HERE: &str = "/account/linked";

#[derive(Debug, Deserialize, Default)]
pub struct LinkedQuery {
    done: Option<String>,
    provider: Option<String>,
}

fn date(d: chrono::DateTime<chrono::Utc>) -> String {
    d.format("%Y-%m-%d").to_string()
}

async fn linked_page(
    state: &AppState,
    jar: CookieJar,
    me: &SignedIn,
    status: StatusCode,
    saved: Option<&str>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let ctx = auth_ctx(state);
    let rows = linking::linked(&ctx, me.session.user_id).await?;
    let providers = state.upstream();
    let list: Vec<_> = rows
        .iter()
        .map(|r| {
            json!({
                "id": r.id.to_string(),
                "provider": providers.name_of(&r.provider),
                "email": r.email,
                "name": r.name,
                "created": date(r.created_at),
                "last_used": r.last_used_at.map(date),
            })
        })
        .collect();
    let available: Vec<_> = providers
        .iter()
        .filter(|p| !rows.iter().any(|r| r.provider == p.cfg.id))
        .map(|p| json!({ "id": p.cfg.id, "name": p.cfg.name }))
        .collect();
    let binding = cookies::upstream(state.config(), &jar);
    let waiting = linking::pending(&ctx, binding.as_deref())
        .await?
        .filter(|p| p.stage == Stage::ProveAccount && p.for_user == Some(me.session.user_id))
        .map(|p| json!({ "provider": providers.name_of(&p.identity.provider), "email": p.identity.email }));
    Ok(page(
        state,
        jar,
        status,
        "templates/account_linked.html",
        json!({
            "linked": list, "available": available, "waiting": waiting,
            "fresh": me.fresh(state).await?, "saved": saved, "error": error,
        }),
    ))
}

pub async fn linked_show(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    Query(q): Query<LinkedQuery>,
) -> Result<Response, PageError> {
    // Fixed texts only; the provider named by its configured name, never by the query.
    let name = q
        .provider
        .as_deref()
        .and_then(|id| state.upstream().get(id))
        .map_or("The account", |p| p.cfg.name.as_str());
    let (saved, error) = match q.done.as_deref() {
        Some("linked") => (Some(format!("{name} is linked: you can sign in with it.")), None),
        Some("already") => (Some(format!("{name} was linked to this account already.")), None),
        Some("unlinked") => (Some(format!("{name} is unlinked.")), None),
        Some("other") => (
            None,
            Some(format!(
                "That {name} account is linked to another account here. Unlink it there first."
            )),
        ),
        _ => (None, None),
    };
    linked_page(&state, jar, &me, StatusCode::OK, saved.as_deref(), error.as_deref()).await
}

#[derive(Debug, Deserialize, Default)]
pub struct LinkForm {
    #[serde(default)]
    provider: String,
}

/// Starts linking a provider: after a fresh sign-in, bound to this session.
pub async fn linked_link(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    me: SignedIn,
    PageForm(f): PageForm<LinkForm>,
) -> Result<Response, PageError> {
    if !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate(HERE));
    }
    let Some(p) = state.upstream().get(&f.provider) else {
        return linked_page(
            &state,
            jar,
            &me,
            StatusCode::BAD_REQUEST,
            None,
            Some("Choose one of the providers listed."),
        )
        .await;
    };
    let intent = Intent::Link {
        user_id: me.session.user_id,
        sid: me.session.sid.clone(),
    };
    crate::web::pages::upstream::start(&state, jar, ip, p, intent, HERE.to_string(), false).await
}

/// Makes the link this browser came to make: the provider's address belongs to this
/// account, and the user has just signed in to it.
pub async fn linked_confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    me: SignedIn,
    PageForm(_f): PageForm<LinkForm>,
) -> Result<Response, PageError> {
    if !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate(HERE));
    }
    // Only the account whose address matched: a stranger's identity left waiting in a
    // shared browser is never linked to whoever signs in there next.
    let mine = |p: &linking::Pending| p.stage == Stage::ProveAccount && p.for_user == Some(me.session.user_id);
    let Some((pending, p)) = crate::web::pages::upstream::take_waiting(&state, &jar, mine).await? else {
        return linked_page(
            &state,
            jar,
            &me,
            StatusCode::BAD_REQUEST,
            None,
            Some("Nothing waits to be linked any more. Start again from the sign-in page."),
        )
        .await;
    };
    let linked = crate::web::pages::upstream::link_identity(&state, &me, p, &pending.identity, ip).await?;
    // A link made on the way to an application continues there.
    let goes_on = pending.then != "/account" && pending.then != HERE;
    if goes_on && matches!(linked, Some(Linked::Linked | Linked::AlreadyYours)) {
        return Ok(Redirect::to(&pending.then).into_response());
    }
    Ok(crate::web::pages::upstream::linked_page_for(linked, p))
}

/// Forgets the link this browser came to make.
pub async fn linked_cancel(
    State(state): State<AppState>,
    jar: CookieJar,
    _me: SignedIn,
    PageForm(_f): PageForm<LinkForm>,
) -> Result<Response, PageError> {
    let binding = cookies::upstream(state.config(), &jar);
    linking::take_pending(&auth_ctx(&state), binding.as_deref()).await?;
    Ok(Redirect::to(HERE).into_response())
}

#[derive(Debug, Deserialize, Default)]
pub struct UnlinkForm {
    #[serde(default)]
    id: String,
}

pub async fn linked_unlink(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    me: SignedIn,
    PageForm(f): PageForm<UnlinkForm>,
) -> Result<Response, PageError> {
    if !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate(HERE));
    }
    let Ok(id) = uuid::Uuid::parse_str(&f.id) else {
        return linked_page(
            &state,
            jar,
            &me,
            StatusCode::BAD_REQUEST,
            None,
            Some("That link is not on this account."),
        )
        .await;
    };
    let user = me_user(&state, &me).await?;
    let providers = state.upstream();
    match linking::unlink(
        &auth_ctx(&state),
        &user,
        id,
        |p| providers.name_of(p).to_string(),
        |p| providers.get(p).is_some(),
        Some(ip.to_string()),
    )
    .await?
    {
        Unlinked::Done(provider) => {
            Ok(Redirect::to(&format!("{HERE}?done=unlinked&provider={provider}")).into_response())
        }
        Unlinked::LastWay => {
            let text = "This is the only way to sign in to this account: set a password (through \"Forgot your password?\" on the sign-in page) or add a passkey before unlinking it.";
            linked_page(&state, jar, &me, StatusCode::CONFLICT, None, Some(text)).await
        }
        Unlinked::NotFound => {
            linked_page(
                &state,
                jar,
                &me,
                StatusCode::NOT_FOUND,
                None,
                Some("That link is not on this account."),
            )
            .await
        }
    }
}
