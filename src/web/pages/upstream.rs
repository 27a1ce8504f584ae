//! Signing in with an upstream provider (`upstream` runs the flow, `upstream::linking`
//! decides what an identity may do): the start (`/login/upstream/{id}`), the provider's
//! callback, and the pages a new identity may need: "create an account?", "sign in to the
//! account that uses this address first", "confirm an address by mail".

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::common::{Trust, auth_ctx, begin_sign_in, message, over_mail_limit, page, safe_next, user_agent};
use super::login::{then_of, with_error};
use crate::accounts::Email;
use crate::auth;
use crate::upstream::linking::{self, Decision, Linked, Pending, Stage};
use crate::upstream::{self, Failure, Intent, Provider};
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::session::SignedIn;
use crate::web::extract::{ClientIp, PageForm};

#[derive(Debug, Deserialize, Default)]
pub struct StartQuery {
    authreq: Option<String>,
    next: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
pub struct StartForm {
    authreq: Option<String>,
    next: Option<String>,
    /// "Keep me signed in", from the sign-in form the button sits in.
    remember: Option<String>,
}

fn provider<'a>(state: &'a AppState, id: &str) -> Result<&'a Provider, PageError> {
    state.upstream().get(id).ok_or(PageError::NotFound)
}

/// `/login/upstream/{id}` as a link: a page with the button that starts the flow. A GET
/// starts nothing (no CSRF token), so no other site can start sign-ins in a browser.
pub async fn start_get(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Query(q): Query<StartQuery>,
) -> Result<Response, PageError> {
    let p = provider(&state, &id)?;
    let ctx = json!({
        "provider": p.cfg.name,
        "id": p.cfg.id,
        "authreq": q.authreq.as_deref().filter(|a| !a.is_empty() && a.len() <= 128),
        "next": q.next.as_deref().and_then(safe_next),
    });
    Ok(page(&state, jar, StatusCode::OK, "templates/upstream_start.html", ctx))
}

/// `/login/upstream/{id}` posted (the sign-in and signup pages' buttons): starts the flow.
pub async fn start_post(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    Path(id): Path<String>,
    PageForm(f): PageForm<StartForm>,
) -> Result<Response, PageError> {
    let then = then_of(
        f.authreq.as_deref().filter(|a| !a.is_empty()),
        f.next.as_deref().and_then(safe_next),
    );
    let remember = f.remember.as_deref().is_some_and(|r| !r.is_empty());
    start(&state, jar, ip, provider(&state, &id)?, Intent::SignIn, then, remember).await
}

/// Sign-ins one network may start per [`upstream::FLOW_TTL`]: each keeps a flow in the
/// store for that long, so this bounds what one network can make the store hold.
const STARTS_PER_NETWORK: u64 = 30;

/// Sends the browser to the provider, with its binding cookie set.
pub(super) async fn start(
    state: &AppState,
    jar: CookieJar,
    ip: std::net::IpAddr,
    p: &Provider,
    intent: Intent,
    then: String,
    remember: bool,
) -> Result<Response, PageError> {
    let key = crate::store::keys::upstream_starts(&crate::accounts::throttle::ip_key(ip));
    if state.store().incr(&key, upstream::FLOW_TTL).await? > STARTS_PER_NETWORK {
        let text = "Too many sign-ins were started from your network. Try again in a few minutes.";
        return Ok(with_error(state, jar, StatusCode::TOO_MANY_REQUESTS, text, Some(&then)).await);
    }
    let (jar, binding) = cookies::ensure_upstream(state.config(), jar);
    match upstream::start(&state.upstream_ctx(), p, &binding, intent, then.clone(), remember).await {
        Ok(url) => Ok((jar, Redirect::to(url.as_str())).into_response()),
        Err(Failure::Store(e)) => Err(e.into()),
        Err(e) => {
            tracing::warn!(provider = %p.cfg.id, error = %e, "upstream sign-in not started");
            let text = format!(
                "{} cannot be reached just now. Try again later, or sign in another way.",
                p.cfg.name
            );
            Ok(with_error(state, jar, StatusCode::BAD_GATEWAY, &text, Some(&then)).await)
        }
    }
}

/// The sign-in page after an answer that signs nobody in.
async fn failed(
    state: &AppState,
    jar: CookieJar,
    p: &Provider,
    f: Failure,
    then: Option<&str>,
) -> Result<Response, PageError> {
    let name = &p.cfg.name;
    let (status, text) = match f {
        Failure::Store(e) => return Err(e.into()),
        Failure::Denied(code) => {
            tracing::info!(provider = %p.cfg.id, %code, "upstream sign-in refused by the provider");
            (
                StatusCode::FORBIDDEN,
                format!("Signing in with {name} was cancelled or refused. Try again, or sign in another way."),
            )
        }
        Failure::Expired => (
            StatusCode::BAD_REQUEST,
            format!("That sign-in with {name} has expired or was started in another browser. Start again."),
        ),
        Failure::Provider(detail) => {
            tracing::warn!(provider = %p.cfg.id, %detail, "upstream sign-in failed");
            (
                StatusCode::BAD_GATEWAY,
                format!("{name} could not sign you in just now. Try again later, or sign in another way."),
            )
        }
    };
    Ok(with_error(state, jar, status, &text, then).await)
}

/// `/login/upstream/{id}/callback`: the provider's answer.
pub async fn callback(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    Query(q): Query<upstream::Params>,
) -> Result<Response, PageError> {
    let p = provider(&state, &id)?;
    let ctx = state.upstream_ctx();
    let binding = cookies::upstream(state.config(), &jar);
    let flow = match upstream::take_flow(&ctx, p, binding.as_deref(), &q).await {
        Ok(f) => f,
        Err(f) => return failed(&state, jar, p, f, None).await,
    };
    let identity = match upstream::identity(&ctx, p, &flow, &q).await {
        Ok(i) => i,
        Err(f) => return failed(&state, jar, p, f, Some(&flow.then)).await,
    };
    // The binding exists: the flow was bound to it.
    let binding = binding.unwrap_or_default();
    match flow.intent {
        Intent::Link { user_id, sid } => {
            let me = SignedIn::of(&state, &jar).await?;
            let Some(me) = me.filter(|m| m.session.sid == sid && m.session.user_id == user_id) else {
                return Ok(message(
                    &state,
                    jar,
                    StatusCode::BAD_REQUEST,
                    "Not linked",
                    "The link was started from a session that has ended. Sign in and start again.",
                    Some(("/account/linked", "Linked accounts")),
                ));
            };
            Ok(linked_page_for(link_identity(&state, &me, p, &identity, ip).await?, p))
        }
        Intent::SignIn => {
            let ctx = auth_ctx(&state);
            let pending = |stage, for_user| Pending {
                stage,
                for_user,
                identity: identity.clone(),
                then: flow.then.clone(),
                remember: flow.remember,
            };
            let to = match linking::decide(&ctx, &identity).await? {
                Decision::SignIn(user) => {
                    let grace = state.config().accounts.deletion_grace_days;
                    if !crate::accounts::lifecycle::may_begin(&user, grace) {
                        let text = "This account cannot sign in. If you deleted it, it can no longer be restored.";
                        return Ok(with_error(&state, jar, StatusCode::FORBIDDEN, text, None).await);
                    }
                    let origin = auth::Origin::new(ip, user_agent(&headers), state.geoip().locate(ip), flow.remember);
                    let first = auth::FirstFactor {
                        user: *user,
                        amr: vec![upstream::AMR.to_string()],
                    };
                    return begin_sign_in(&state, jar, first, origin, flow.then, Trust::Honour).await;
                }
                Decision::Create => (Stage::Create, None, "/login/upstream/new"),
                Decision::ProveAccount(owner) => (Stage::ProveAccount, Some(owner), "/login/upstream/existing"),
                Decision::ConfirmAddress => (Stage::ConfirmAddress, None, "/login/upstream/email"),
                Decision::SignupClosed => {
                    let text = format!(
                        "No account here is linked to this {} account, and new accounts cannot be made with it. Sign in another way; you can link {} from your account afterwards.",
                        p.cfg.name, p.cfg.name
                    );
                    return Ok(with_error(&state, jar, StatusCode::FORBIDDEN, &text, Some(&flow.then)).await);
                }
            };
            linking::keep_pending(&ctx, &binding, &pending(to.0, to.1)).await?;
            Ok(Redirect::to(to.2).into_response())
        }
    }
}

/// Links `identity` to the signed-in user (who proved the account).
pub(super) async fn link_identity(
    state: &AppState,
    me: &SignedIn,
    p: &Provider,
    identity: &upstream::Identity,
    ip: std::net::IpAddr,
) -> Result<Option<Linked>, PageError> {
    let ctx = auth_ctx(state);
    let Some(user) = crate::accounts::find(state.db(), me.session.user_id).await? else {
        return Ok(None);
    };
    Ok(Some(
        linking::link(&ctx, &user, identity, &p.cfg.name, Some(ip.to_string())).await?,
    ))
}

/// The Linked accounts page telling what linking did.
pub(super) fn linked_page_for(linked: Option<Linked>, p: &Provider) -> Response {
    let done = match linked {
        None => return Redirect::to("/login").into_response(),
        Some(Linked::Linked) => "linked",
        Some(Linked::AlreadyYours) => "already",
        Some(Linked::OtherAccount) => "other",
    };
    Redirect::to(&format!("/account/linked?done={done}&provider={}", p.cfg.id)).into_response()
}

/// This browser's waiting identity at `stage`, with its provider.
async fn waiting<'a>(
    state: &'a AppState,
    jar: &CookieJar,
    stage: Stage,
) -> Result<Option<(Pending, &'a Provider)>, PageError> {
    let binding = cookies::upstream(state.config(), jar);
    let p = linking::pending(&auth_ctx(state), binding.as_deref()).await?;
    Ok(p.filter(|p| p.stage == stage).and_then(|p| with_provider(state, p)))
}

/// Takes this browser's waiting identity (once), if `keep` accepts it, with its provider.
pub(super) async fn take_waiting<'a>(
    state: &'a AppState,
    jar: &CookieJar,
    keep: impl FnOnce(&Pending) -> bool,
) -> Result<Option<(Pending, &'a Provider)>, PageError> {
    let binding = cookies::upstream(state.config(), jar);
    let p = linking::take_pending(&auth_ctx(state), binding.as_deref()).await?;
    Ok(p.filter(keep).and_then(|p| with_provider(state, p)))
}

fn with_provider(state: &AppState, p: Pending) -> Option<(Pending, &Provider)> {
    let provider = state.upstream().get(&p.identity.provider)?;
    Some((p, provider))
}

fn expired(state: &AppState, jar: CookieJar) -> Response {
    message(
        state,
        jar,
        StatusCode::BAD_REQUEST,
        "Start again",
        "This step of signing in has expired or belongs to another browser. Start again from the sign-in page.",
        Some(("/login", "Sign in")),
    )
}

fn new_page(state: &AppState, jar: CookieJar, status: StatusCode, pending: &Pending, p: &Provider) -> Response {
    let i = &pending.identity;
    let ctx = json!({
        "provider": p.cfg.name,
        "email": i.email,
        "name": i.name.clone().or_else(|| match (&i.given_name, &i.family_name) {
            (None, None) => None,
            (g, f) => Some(format!("{} {}", g.as_deref().unwrap_or_default(), f.as_deref().unwrap_or_default()).trim().to_string()),
        }),
        "picture": upstream::has_picture(p, i),
    });
    page(state, jar, status, "templates/upstream_new.html", ctx)
}

/// "Create an account with this address?"
pub async fn new_show(State(state): State<AppState>, jar: CookieJar) -> Result<Response, PageError> {
    match waiting(&state, &jar, Stage::Create).await? {
        Some((pending, p)) => Ok(new_page(&state, jar, StatusCode::OK, &pending, p)),
        None => Ok(expired(&state, jar)),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct NewForm {
    /// Use the provider's picture.
    picture: Option<String>,
}

pub async fn new_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<NewForm>,
) -> Result<Response, PageError> {
    let ctx = auth_ctx(&state);
    let binding = cookies::upstream(state.config(), &jar);
    let taken = take_waiting(&state, &jar, |p| p.stage == Stage::Create && p.identity.email_verified).await?;
    let Some((pending, p)) = taken else {
        return Ok(expired(&state, jar));
    };
    let Some(email) = pending.identity.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
        return Ok(expired(&state, jar));
    };
    let user = match linking::create_account(&ctx, &pending.identity, &email, Some(ip.to_string())).await {
        Ok(u) => u,
        // An account took the address meanwhile: prove it, then link.
        Err(crate::accounts::Error::DuplicateEmail(_)) => {
            let owner = crate::accounts::find_by_email(state.db(), &email).await?.map(|u| u.id);
            let again = Pending {
                stage: Stage::ProveAccount,
                for_user: owner,
                ..pending
            };
            linking::keep_pending(&ctx, binding.as_deref().unwrap_or_default(), &again).await?;
            return Ok(Redirect::to("/login/upstream/existing").into_response());
        }
        Err(e) => return Err(e.into()),
    };
    if f.picture.is_some() {
        save_picture(&state, p, &pending.identity, user.id).await;
    }
    let origin = auth::Origin::new(ip, user_agent(&headers), state.geoip().locate(ip), pending.remember);
    let first = auth::FirstFactor {
        user,
        amr: vec![upstream::AMR.to_string()],
    };
    begin_sign_in(&state, jar, first, origin, pending.then, Trust::Ignore).await
}

/// The provider's picture as the new account's avatar: fetched from the provider's
/// picture hosts only, decoded and re-encoded by the image pipeline (its bounds); a
/// failure leaves the account without one.
async fn save_picture(state: &AppState, p: &Provider, identity: &upstream::Identity, user: uuid::Uuid) {
    use crate::accounts::images;
    let Some(bytes) = upstream::fetch_picture(state.http(), p, identity).await else {
        return;
    };
    match state.images().process(bytes, images::Kind::Avatar).await {
        Ok(processed) => {
            if let Err(e) = images::save(
                state.db(),
                &state.config().issuer_id,
                user,
                images::Kind::Avatar,
                processed,
            )
            .await
            {
                tracing::warn!(error = %e, "upstream picture not saved");
            }
        }
        Err(e) => tracing::info!(provider = %p.cfg.id, error = %e, "upstream picture refused"),
    }
}

/// "An account uses this address: sign in to it first."
pub async fn existing_show(State(state): State<AppState>, jar: CookieJar) -> Result<Response, PageError> {
    let Some((pending, p)) = waiting(&state, &jar, Stage::ProveAccount).await? else {
        return Ok(expired(&state, jar));
    };
    let ctx = json!({ "provider": p.cfg.name, "email": pending.identity.email });
    Ok(page(
        &state,
        jar,
        StatusCode::OK,
        "templates/upstream_existing.html",
        ctx,
    ))
}

fn email_page(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    p: &Provider,
    email: &str,
    error: Option<&str>,
) -> Response {
    let ctx = json!({ "provider": p.cfg.name, "email": email, "error": error, "sent": false });
    page(state, jar, status, "templates/upstream_email.html", ctx)
}

/// "Which address should the account have?" (the provider's was unverified or missing).
pub async fn email_show(State(state): State<AppState>, jar: CookieJar) -> Result<Response, PageError> {
    let Some((pending, p)) = waiting(&state, &jar, Stage::ConfirmAddress).await? else {
        return Ok(expired(&state, jar));
    };
    let email = pending.identity.email.clone().unwrap_or_default();
    Ok(email_page(&state, jar, StatusCode::OK, p, &email, None))
}

#[derive(Debug, Deserialize, Default)]
pub struct AddressForm {
    #[serde(default)]
    email: String,
}

pub async fn email_submit(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    PageForm(f): PageForm<AddressForm>,
) -> Result<Response, PageError> {
    let Some((pending, p)) = waiting(&state, &jar, Stage::ConfirmAddress).await? else {
        return Ok(expired(&state, jar));
    };
    let Ok(email) = Email::parse(&f.email) else {
        let text = "Enter a valid email address.";
        return Ok(email_page(
            &state,
            jar,
            StatusCode::UNPROCESSABLE_ENTITY,
            p,
            &f.email,
            Some(text),
        ));
    };
    if over_mail_limit(&state, "upstream-confirm", ip, email.as_str()).await? {
        let text = "Too many mails were asked for. Try again in an hour.";
        return Ok(email_page(
            &state,
            jar,
            StatusCode::TOO_MANY_REQUESTS,
            p,
            email.as_str(),
            Some(text),
        ));
    }
    // Taken now: one mailed link per identity waiting (a second address asked for
    // starts again from the provider).
    let same = |t: &Pending| t.stage == Stage::ConfirmAddress && t.identity.subject == pending.identity.subject;
    let Some((pending, _)) = take_waiting(&state, &jar, same).await? else {
        return Ok(expired(&state, jar));
    };
    let binding = cookies::upstream(state.config(), &jar).unwrap_or_default();
    linking::request_confirmation(&auth_ctx(&state), &binding, pending, &email, &p.cfg.name).await?;
    let ctx = json!({ "provider": p.cfg.name, "email": email.as_str(), "sent": true });
    Ok(page(&state, jar, StatusCode::OK, "templates/upstream_email.html", ctx))
}

#[derive(Debug, Deserialize, Default)]
pub struct ConfirmQuery {
    #[serde(default)]
    token: String,
}

/// The mailed confirmation link: in the browser that asked, it makes the account and
/// signs in; anywhere else it spends nothing.
pub async fn confirm(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    Query(q): Query<ConfirmQuery>,
) -> Result<Response, PageError> {
    let ctx = auth_ctx(&state);
    let binding = cookies::upstream(state.config(), &jar);
    let c = match linking::confirm(&ctx, &q.token, binding.as_deref()).await? {
        linking::Confirmed::Yes(c) => c,
        linking::Confirmed::OtherBrowser => {
            return Ok(message(
                &state,
                jar,
                StatusCode::BAD_REQUEST,
                "Open it in the right browser",
                "Open this link in the browser where you started signing in. If you did not ask for it, ignore the mail: nothing happens without that browser.",
                None,
            ));
        }
        linking::Confirmed::Gone => {
            return Ok(message(
                &state,
                jar,
                StatusCode::BAD_REQUEST,
                "Link expired",
                "This link has expired or was used already. Start again from the sign-in page.",
                Some(("/login", "Sign in")),
            ));
        }
    };
    let Ok(email) = Email::parse(&c.email) else {
        return Ok(expired(&state, jar));
    };
    let pending = c.pending;
    let user = match linking::create_account(&ctx, &pending.identity, &email, Some(ip.to_string())).await {
        Ok(u) => u,
        Err(crate::accounts::Error::DuplicateEmail(_)) => {
            let name = state.upstream().name_of(&pending.identity.provider).to_string();
            let text =
                format!("An account uses this address. Sign in to it, then link {name} from the Linked accounts page.");
            return Ok(message(
                &state,
                jar,
                StatusCode::CONFLICT,
                "Account exists",
                &text,
                Some(("/login?next=%2Faccount%2Flinked", "Sign in")),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let origin = auth::Origin::new(ip, user_agent(&headers), state.geoip().locate(ip), pending.remember);
    let first = auth::FirstFactor {
        user,
        amr: vec![upstream::AMR.to_string()],
    };
    begin_sign_in(&state, jar, first, origin, pending.then, Trust::Ignore).await
}
