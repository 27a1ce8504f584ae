//! The second-factor steps of sign-in (`auth` decides; these pages ask): the code after
//! the password, the enrolment an operator's policy requires before a first sign-in
//! completes, and the step-up a relying party asks for.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::common::{auth_ctx, continue_sign_in, page, signed_in};
use crate::auth::{self, Checked};
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::session::SignedIn;
use crate::web::extract::{ClientIp, PageForm};

fn to_login(state: &AppState, jar: CookieJar) -> Response {
    let jar = cookies::clear_pending_sign_in(state.config(), jar);
    (jar, Redirect::to("/login")).into_response()
}

/// The code form of the pending sign-in `p` (offering a mailed code to users who
/// turned email codes on).
async fn code_page(
    state: &AppState,
    jar: CookieJar,
    token: &str,
    p: &auth::Pending,
    status: StatusCode,
    error: Option<&str>,
    notice: Option<&str>,
) -> Result<Response, PageError> {
    let days = state.config().mfa.trusted_browser_days;
    let ctx = auth_ctx(state);
    let email = auth::email_code::allowed_after(&p.amr) && auth::email_code::enabled(&ctx, p.user_id).await?;
    let passkey = auth::passkeys::start_second_factor(&ctx, p.user_id, token)
        .await?
        .map(|c| json!({ "options": c.options, "state": c.state }));
    let app = auth::factors(state.db(), p.user_id)
        .await?
        .iter()
        .any(|f| f.kind == "totp");
    let ctx = json!({
        "error": error, "notice": notice, "trust_days": days, "email": email, "passkey": passkey, "app": app,
    });
    Ok(page(state, jar, status, "templates/login_second_factor.html", ctx))
}

pub async fn show(State(state): State<AppState>, jar: CookieJar) -> Result<Response, PageError> {
    let token = cookies::pending_sign_in(state.config(), &jar).unwrap_or_default();
    match auth::pending(&auth_ctx(&state), &token).await? {
        Some(p) if p.factors_done => Ok(Redirect::to("/login/restore").into_response()),
        Some(p) if !p.enrol => code_page(&state, jar, &token, &p, StatusCode::OK, None, None).await,
        Some(_) => Ok(Redirect::to("/login/second-factor/setup").into_response()),
        None => Ok(to_login(&state, jar)),
    }
}

/// Mails a code for the pending sign-in, to a user who turned email codes on.
pub async fn email_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    _: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let ctx = auth_ctx(&state);
    let token = cookies::pending_sign_in(state.config(), &jar).unwrap_or_default();
    let Some(p) = auth::pending(&ctx, &token).await?.filter(|p| !p.enrol) else {
        return Ok(to_login(&state, jar));
    };
    let Some(user) = crate::accounts::find(state.db(), p.user_id).await? else {
        return Ok(to_login(&state, jar));
    };
    if !auth::email_code::allowed_after(&p.amr) {
        return code_page(&state, jar, &token, &p, StatusCode::OK, None, None).await;
    }
    match auth::email_code::send(&ctx, &token, &user).await? {
        auth::email_code::Sent::Sent => {
            let notice = "We mailed you a code. It works once, for this sign-in.";
            code_page(&state, jar, &token, &p, StatusCode::OK, None, Some(notice)).await
        }
        auth::email_code::Sent::TooMany => {
            let error = "We sent several codes already. Use the newest one, or wait ten minutes.";
            code_page(
                &state,
                jar,
                &token,
                &p,
                StatusCode::TOO_MANY_REQUESTS,
                Some(error),
                None,
            )
            .await
        }
        auth::email_code::Sent::NotEnabled => code_page(&state, jar, &token, &p, StatusCode::OK, None, None).await,
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    /// "Trust this browser": later sign-ins here need the password only.
    trust: Option<String>,
}

pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    PageForm(f): PageForm<CodeForm>,
) -> Result<Response, PageError> {
    let token = cookies::pending_sign_in(state.config(), &jar).unwrap_or_default();
    let current = cookies::session(state.config(), &jar);
    let code: String = f.code.chars().take(32).collect();
    let ctx = auth_ctx(&state);
    let done = match auth::second_factor(&ctx, &token, &code, current.as_deref()).await? {
        Checked::Finished(done) => done,
        Checked::Wrong(left) => {
            let tries = if left == 1 { "try" } else { "tries" };
            let error = format!("That code is not right. {left} more {tries} before sign-in is paused.");
            let Some(p) = auth::pending(&ctx, &token).await? else {
                return Ok(to_login(&state, jar));
            };
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return code_page(&state, jar, &token, &p, status, Some(&error), None).await;
        }
        Checked::LockedOut => {
            let minutes = state.config().mfa.lockout_secs.div_ceil(60);
            let jar = cookies::clear_pending_sign_in(state.config(), jar);
            let msg = format!(
                "Too many wrong codes. Two-step sign-in is paused for {minutes} minutes; we mailed the account's owner."
            );
            let back = Some(("/login", "Back to sign in"));
            let status = StatusCode::TOO_MANY_REQUESTS;
            return Ok(super::common::message(
                &state,
                jar,
                status,
                "Sign-in paused",
                &msg,
                back,
            ));
        }
        Checked::Restore(token) => return Ok(continue_sign_in(&state, jar, auth::Next::Restore(token))),
        Checked::Expired | Checked::Refused => return Ok(to_login(&state, jar)),
    };
    let mut jar = jar;
    if f.trust.is_some() {
        let device = done.session.device.clone().unwrap_or_default();
        if let Some(id) = auth::trusted::trust(&ctx, &done.user, &device).await? {
            let days = state.config().mfa.trusted_browser_days;
            let ip = done.session.ip.clone().unwrap_or_default();
            let mail = json!({ "device": device, "ip": ip, "days": days });
            if let Err(e) = ctx
                .mail
                .queue(state.db(), &done.user.email, "trusted_browser_added", mail)
                .await
            {
                tracing::warn!(error = %e, "trusted-browser notice not queued");
            }
            let suffix = crate::accounts::throttle::device_cookie_suffix(state.token_hasher(), done.user.id);
            jar = cookies::set_trusted(state.config(), jar, &suffix, id, days);
        }
    }
    Ok(signed_in(&state, jar, &done))
}

#[derive(Debug, Deserialize, Default)]
pub struct PasskeyForm {
    #[serde(default)]
    state: String,
    #[serde(default)]
    credential: String,
}

/// A passkey as the second factor of the pending sign-in.
pub async fn passkey_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    PageForm(f): PageForm<PasskeyForm>,
) -> Result<Response, PageError> {
    let token = cookies::pending_sign_in(state.config(), &jar).unwrap_or_default();
    let current = cookies::session(state.config(), &jar);
    let ctx = auth_ctx(&state);
    match auth::second_factor_passkey(&ctx, &token, &f.state, &f.credential, current.as_deref()).await? {
        Checked::Finished(done) => Ok(signed_in(&state, jar, &done)),
        Checked::Restore(token) => Ok(continue_sign_in(&state, jar, auth::Next::Restore(token))),
        Checked::Refused => {
            let Some(p) = auth::pending(&ctx, &token).await? else {
                return Ok(to_login(&state, jar));
            };
            let error = "That passkey was not accepted. Try again, or enter a code.";
            code_page(
                &state,
                jar,
                &token,
                &p,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(error),
                None,
            )
            .await
        }
        Checked::Wrong(_) | Checked::LockedOut | Checked::Expired => Ok(to_login(&state, jar)),
    }
}

/// The pending-sign-in cookie of a sign-in that must enrol first, and its user.
async fn enrolling(state: &AppState, jar: &CookieJar) -> Result<Option<(String, entity::user::Model)>, PageError> {
    let token = cookies::pending_sign_in(state.config(), jar).unwrap_or_default();
    let Some(p) = auth::pending(&auth_ctx(state), &token).await?.filter(|p| p.enrol) else {
        return Ok(None);
    };
    Ok(crate::accounts::find(state.db(), p.user_id).await?.map(|u| (token, u)))
}

/// The enrolment a policy requires before the sign-in can finish.
pub async fn setup_show(State(state): State<AppState>, jar: CookieJar) -> Result<Response, PageError> {
    let Some((_, user)) = enrolling(&state, &jar).await? else {
        return Ok(to_login(&state, jar));
    };
    enrol_page(&state, jar, &user, StatusCode::OK, "", None).await
}

/// The enrolment page of a sign-in: a new authenticator setup, and a passkey ceremony
/// where the issuer can have passkeys.
async fn enrol_page(
    state: &AppState,
    jar: CookieJar,
    user: &entity::user::Model,
    status: StatusCode,
    name: &str,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let setup = new_setup(state, user).await?;
    enrol_page_with(state, jar, user, &setup, status, name, error).await
}

async fn enrol_page_with(
    state: &AppState,
    jar: CookieJar,
    user: &entity::user::Model,
    setup: &auth::totp::Setup,
    status: StatusCode,
    name: &str,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let passkey = match auth::passkeys::start_registration(&auth_ctx(state), user).await? {
        auth::passkeys::Start::Ready(c) => Some(json!({ "options": c.options, "state": c.state })),
        auth::passkeys::Start::TooMany | auth::passkeys::Start::Unavailable => None,
    };
    Ok(super::account::totp_page(
        state,
        jar,
        status,
        setup,
        SetupPage::SignIn(passkey),
        name,
        error,
    ))
}

#[derive(Debug, Deserialize, Default)]
pub struct EnrolPasskeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    credential: String,
}

/// A passkey as the factor a policy requires: enrolled, then the sign-in finishes.
pub async fn setup_passkey_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    PageForm(f): PageForm<EnrolPasskeyForm>,
) -> Result<Response, PageError> {
    let ctx = auth_ctx(&state);
    let Some((token, user)) = enrolling(&state, &jar).await? else {
        return Ok(to_login(&state, jar));
    };
    let registered = auth::passkeys::finish_registration(&ctx, &user, &f.state, &f.credential, &f.name, false).await?;
    if let Some(error) = super::account::registration_problem(&registered) {
        return enrol_page(
            &state,
            jar,
            &user,
            StatusCode::UNPROCESSABLE_ENTITY,
            &f.name,
            Some(error),
        )
        .await;
    }
    let codes = super::account::first_backup_codes(&state, user.id).await?;
    enrolled(&state, jar, &token, &codes).await
}

/// The sign-in that waited for an enrolment, finished: signed in, shown its first backup
/// codes, then on to where it was headed.
async fn enrolled(state: &AppState, jar: CookieJar, token: &str, codes: &[String]) -> Result<Response, PageError> {
    let current = cookies::session(state.config(), &jar);
    let Some(done) = auth::finish_enrolment(&auth_ctx(state), token, current.as_deref()).await? else {
        return Ok(to_login(state, jar));
    };
    let jar = cookies::set_session(state.config(), jar, done.token.clone(), done.session.remember);
    let jar = cookies::clear_pending_sign_in(state.config(), jar);
    Ok(super::account::codes_page(state, jar, codes, &done.then))
}

pub(super) async fn new_setup(state: &AppState, user: &entity::user::Model) -> Result<auth::totp::Setup, PageError> {
    auth::totp::start_setup(
        state.store(),
        state.token_hasher(),
        user.id,
        &user.email,
        &issuer_label(state),
    )
    .await?
    .ok_or_else(|| PageError::TooMany("Too many new authenticator setups. Try again in 15 minutes.".into()))
}

/// The issuer shown in authenticator apps: the issuer's host.
pub(super) fn issuer_label(state: &AppState) -> String {
    state.config().issuer.host_str().unwrap_or("Gatehouse").to_string()
}

/// Where the setup form is shown.
#[derive(Debug, Clone, PartialEq)]
pub enum SetupPage {
    /// In the account pages.
    Account,
    /// During a sign-in that requires enrolment, with a passkey ceremony offered beside
    /// (its options and sealed state) where the issuer can have passkeys.
    SignIn(Option<serde_json::Value>),
}

#[derive(Debug, Deserialize, Default)]
pub struct SetupForm {
    #[serde(default)]
    pub setup: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub code: String,
}

pub async fn setup_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    PageForm(f): PageForm<SetupForm>,
) -> Result<Response, PageError> {
    let Some((token, user)) = enrolling(&state, &jar).await? else {
        return Ok(to_login(&state, jar));
    };
    match super::account::enrol(&state, &user, &f).await? {
        super::account::Enrolled::Yes(codes) => enrolled(&state, jar, &token, &codes).await,
        super::account::Enrolled::No(setup, error) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            enrol_page_with(&state, jar, &user, &setup, status, &f.name, Some(error)).await
        }
        super::account::Enrolled::Expired => Ok(to_login(&state, jar)),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct StepUpQuery {
    authreq: Option<String>,
}

/// A relying party asked for more than this session has: the second factor, keeping the
/// SSO session. A user without one gets the request back (the `acr` claim says what was
/// done) unless the client requires it.
pub async fn step_up(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    me: SignedIn,
    Query(q): Query<StepUpQuery>,
) -> Result<Response, PageError> {
    let expired = || {
        PageError::BadRequest("This sign-in request has expired. Go back to the application and start again.".into())
    };
    let id = q.authreq.ok_or_else(expired)?;
    let mut req = crate::web::oidc::pending_for_browser(&state, &jar, &id)
        .await
        .ok_or_else(expired)?;
    let then = super::common::resume_url(&id);
    let ua = super::common::user_agent(&headers);
    let require_mfa = state
        .clients()
        .find(state.db(), &req.client_id)
        .await?
        .is_some_and(|c| c.require_mfa);
    if !crate::oidc::interaction::step_up_needed(&req, &me.session, require_mfa) {
        return Ok(Redirect::to(&then).into_response());
    }
    let origin = auth::Origin::new(ip, ua, state.geoip().locate(ip), me.session.remember);
    if let Some(token) = auth::step_up(&auth_ctx(&state), &me.session, origin, then.clone()).await? {
        return Ok(continue_sign_in(&state, jar, auth::Next::SecondFactor(token)));
    }
    if require_mfa {
        return Ok(super::common::message(
            &state,
            jar,
            StatusCode::FORBIDDEN,
            "Two-step verification needed",
            "This application needs two-step verification. Add an authenticator app to your account, then sign in to the application again.",
            Some(("/account/two-factor", "Set up two-step verification")),
        ));
    }
    req.mfa_waived_for = Some(me.session.user_id.to_string());
    crate::web::oidc::update_pending(&state, &id, &req).await?;
    Ok(Redirect::to(&then).into_response())
}
