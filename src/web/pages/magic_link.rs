//! Sign-in links by mail (`auth::magic_links` decides): the request form (same answer for
//! every address, the mail prepared off the request path), the waiting page that takes
//! the mailed code, and the link's confirm page, whose GET spends nothing.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::common::{
    EmailForm, LocalPath, Trust, auth_ctx, begin_sign_in, mail_request, message, page, resume_url, safe_next,
    user_agent,
};
use crate::auth::{self, magic_links};
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::{ClientIp, PageForm};

#[derive(Debug, Deserialize, Default)]
pub struct RequestQuery {
    authreq: Option<String>,
    next: Option<String>,
}

fn request_page(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
    authreq: Option<&str>,
    next: Option<LocalPath<'_>>,
) -> Response {
    let ctx = json!({ "email": email, "error": error, "authreq": authreq, "next": next, "sent": false });
    page(state, jar, status, "templates/magic_link.html", ctx)
}

fn waiting_page(state: &AppState, jar: CookieJar, status: StatusCode, error: Option<&str>) -> Response {
    page(
        state,
        jar,
        status,
        "templates/magic_link.html",
        json!({ "sent": true, "error": error }),
    )
}

pub async fn request_show(State(state): State<AppState>, jar: CookieJar, Query(q): Query<RequestQuery>) -> Response {
    let next = q.next.as_deref().and_then(safe_next);
    request_page(&state, jar, StatusCode::OK, "", None, q.authreq.as_deref(), next)
}

#[derive(Debug, Deserialize, Default)]
pub struct RequestForm {
    authreq: Option<String>,
    next: Option<String>,
    #[serde(flatten)]
    email: EmailForm,
}

pub async fn request_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<RequestForm>,
) -> Response {
    let authreq = f.authreq.clone().filter(|a| !a.is_empty() && a.len() <= 128);
    let next = f.next.as_deref().and_then(safe_next).map(|n| n.to_string());
    // The form again, carrying what it carried.
    let again = {
        let (authreq, next) = (authreq.clone(), next.clone());
        move |state: &AppState, jar: CookieJar, status: StatusCode, email: &str, error: Option<&str>| {
            let next = next.as_deref().and_then(safe_next);
            request_page(state, jar, status, email, error, authreq.as_deref(), next)
        }
    };
    let email = match mail_request(&state, ip, &jar, f.email, "magic", &again).await {
        Ok(email) => email,
        Err(page) => return page,
    };
    let then = match (&authreq, &next) {
        (Some(id), _) => resume_url(id),
        (None, Some(n)) => n.clone(),
        (None, None) => "/account".to_string(),
    };
    // Every answer sets a binding cookie and shows the same page; the mail (if any) is
    // prepared off the request path, so the timing says nothing either.
    let binding = magic_links::new_binding();
    let jar = cookies::set_magic_link(state.config(), jar, binding.clone());
    let origin = auth::Origin::new(ip, user_agent(&headers), state.geoip().locate(ip), false);
    let worker = state.clone();
    tokio::spawn(async move {
        if let Err(e) = magic_links::request(&auth_ctx(&worker), &email, &origin, then, &binding).await {
            tracing::warn!(error = %e, "magic link could not be prepared");
        }
    });
    waiting_page(&state, jar, StatusCode::OK, None)
}

#[derive(Debug, Deserialize, Default)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

/// The waiting page's code: the mail was read elsewhere, the sign-in happens here.
pub async fn code_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<CodeForm>,
) -> Result<Response, PageError> {
    let binding = cookies::magic_link(state.config(), &jar).unwrap_or_default();
    let code: String = f.code.chars().take(32).collect();
    let used = magic_links::use_code_here(&auth_ctx(&state), &binding, &code, ip).await?;
    // Whatever went wrong, one answer: the waiting page is shown for every address, so
    // its refusals must not tell whether a link was mailed at all.
    if !matches!(used, magic_links::Used::SignedIn(..)) {
        let error =
            "That code is not right, or its link no longer works. Check the newest mail, or ask for a new link.";
        return Ok(waiting_page(&state, jar, StatusCode::UNPROCESSABLE_ENTITY, Some(error)));
    }
    let origin = auth::Origin::new(ip, user_agent(&headers), state.geoip().locate(ip), false);
    finish(&state, jar, origin, used, |state, jar, status, error| {
        waiting_page(state, jar, status, Some(error))
    })
    .await
}

#[derive(Debug, Deserialize, Default)]
pub struct ConfirmQuery {
    #[serde(default)]
    token: String,
}

fn expired(state: &AppState, jar: CookieJar) -> Response {
    message(
        state,
        jar,
        StatusCode::GONE,
        "This link has expired",
        "Sign-in links work once, for a short while, and only the newest one works. Ask for a new one.",
        Some(("/login/magic-link", "Email me a new link")),
    )
}

fn confirm_page(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    token: &str,
    here: bool,
    error: Option<&str>,
) -> Response {
    let ctx = json!({ "token": token, "here": here, "error": error });
    page(state, jar, status, "templates/magic_link_confirm.html", ctx)
}

/// The mailed link: a confirm page (GET and HEAD spend nothing).
pub async fn confirm_show(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<ConfirmQuery>,
) -> Result<Response, PageError> {
    let binding = cookies::magic_link(state.config(), &jar);
    match magic_links::peek(&auth_ctx(&state), &q.token, binding.as_deref()).await? {
        Some(seen) => Ok(confirm_page(
            &state,
            jar,
            StatusCode::OK,
            &q.token,
            seen == magic_links::Seen::Here,
            None,
        )),
        None => Ok(expired(&state, jar)),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct ConfirmForm {
    #[serde(default)]
    token: String,
    code: Option<String>,
}

pub async fn confirm_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let binding = cookies::magic_link(state.config(), &jar);
    let code: Option<String> = f.code.as_deref().map(|c| c.chars().take(32).collect());
    let ctx = auth_ctx(&state);
    let used = magic_links::use_link(&ctx, &f.token, code.as_deref(), binding.as_deref(), ip).await?;
    let token = f.token.clone();
    let origin = auth::Origin::new(ip, user_agent(&headers), state.geoip().locate(ip), false);
    finish(&state, jar, origin, used, move |state, jar, status, error| {
        confirm_page(state, jar, status, &token, false, Some(error))
    })
    .await
}

/// Where a use of a link leads: on through the sign-in pipeline, or `again` with why not.
async fn finish(
    state: &AppState,
    jar: CookieJar,
    origin: auth::Origin,
    used: magic_links::Used,
    again: impl Fn(&AppState, CookieJar, StatusCode, &str) -> Response,
) -> Result<Response, PageError> {
    use magic_links::Used;
    let bad = StatusCode::UNPROCESSABLE_ENTITY;
    match used {
        Used::SignedIn(first, then) => begin_sign_in(state, jar, first, origin, then, Trust::Honour).await,
        Used::NeedCode => Ok(again(state, jar, bad, "Enter the code from the mail to sign in here.")),
        Used::WrongCode => Ok(again(
            state,
            jar,
            bad,
            "That code is not right. Check the mail and try again.",
        )),
        Used::OtherNetwork => Ok(again(
            state,
            jar,
            StatusCode::FORBIDDEN,
            "This link works only from the network it was asked from.",
        )),
        Used::Expired => Ok(expired(state, jar)),
    }
}
