//! Two-step verification in the account: authenticator apps (add with a code, remove)
//! and backup codes. Every change needs a recent sign-in and is mailed to the user.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{self, backup_codes, totp};
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::PageForm;
use crate::web::extract::session::SignedIn;
use crate::web::pages::common::{auth_ctx, mail_ctx, page};
use crate::web::pages::second_factor::{SetupForm, SetupPage, issuer_label, new_setup};

/// A factor as the account pages list it: name, added and last used.
pub(super) fn factor_json(f: &entity::second_factor::Model) -> serde_json::Value {
    let (created, created_iso) = utc(&f.created_at);
    let used = f.last_used_at.as_ref().map(utc);
    json!({
        "id": f.id, "name": f.name, "created": created, "created_iso": created_iso,
        "last_used": used.as_ref().map(|u| u.0.clone()), "last_used_iso": used.map(|u| u.1),
    })
}

pub(super) fn utc(t: &chrono::DateTime<chrono::Utc>) -> (String, String) {
    (
        t.format("%Y-%m-%d %H:%M UTC").to_string(),
        t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}

pub(super) async fn me_user(state: &AppState, me: &SignedIn) -> Result<entity::user::Model, PageError> {
    crate::accounts::find(state.db(), me.session.user_id)
        .await?
        .ok_or(PageError::NotFound)
}

pub async fn two_factor_page(
    state: &AppState,
    jar: CookieJar,
    me: &SignedIn,
    saved: Option<&str>,
) -> Result<Response, PageError> {
    let factors = auth::factors(state.db(), me.session.user_id).await?;
    let email_on = factors.iter().any(|f| f.kind == auth::email_code::KIND);
    let has_app = factors.iter().any(|f| f.kind == "totp");
    let (left, _) = backup_codes::counts(state.db(), me.session.user_id).await?;
    let user = me_user(state, me).await?;
    let trusted: Vec<_> = auth::trusted::list(&auth_ctx(state), &user)
        .await?
        .iter()
        .map(|t| {
            let at = |ms| chrono::DateTime::from_timestamp_millis(ms).map(|d| utc(&d));
            json!({ "id": t.handle, "device": t.device, "since": at(t.created_ms), "until": at(t.expires_ms) })
        })
        .collect();
    let passkeys = factors.iter().filter(|f| f.kind == auth::passkeys::KIND).count();
    let factors: Vec<_> = factors
        .iter()
        .filter(|f| f.kind != auth::passkeys::KIND)
        .map(factor_json)
        .collect();
    Ok(page(
        state,
        jar,
        StatusCode::OK,
        "templates/account_two_factor.html",
        json!({
            "factors": factors, "codes_left": left, "saved": saved, "trusted": trusted,
            "email_on": email_on, "has_app": has_app, "passkeys": passkeys,
        }),
    ))
}

#[derive(Debug, serde::Deserialize, Default)]
pub struct TwoFactorQuery {
    /// `admin`: sent here by the admin area, which needs a second factor.
    #[serde(rename = "for")]
    for_: Option<String>,
}

pub async fn two_factor_show(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    axum::extract::Query(q): axum::extract::Query<TwoFactorQuery>,
) -> Result<Response, PageError> {
    let why = (q.for_.as_deref() == Some("admin"))
        .then_some("The admin area needs two-step verification: add a second factor, then sign in with it.");
    two_factor_page(&state, jar, &me, why).await
}

/// The authenticator setup form, in the account or during a sign-in.
pub fn totp_page(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    setup: &totp::Setup,
    place: SetupPage,
    name: &str,
    error: Option<&str>,
) -> Response {
    let (action, account, passkey) = match place {
        SetupPage::Account => ("/account/two-factor/totp", true, None),
        SetupPage::SignIn(passkey) => ("/login/second-factor/setup", false, passkey),
    };
    let setup =
        json!({ "id": setup.id, "secret": setup.secret, "url": setup.url, "qr_png_base64": setup.qr_png_base64 });
    page(
        state,
        jar,
        status,
        "templates/totp_setup.html",
        json!({
            "setup": setup, "action": action, "account": account, "required": !account, "name": name, "error": error,
            "passkey": passkey,
        }),
    )
}

/// Shows a new set of backup codes, once.
pub fn codes_page(state: &AppState, jar: CookieJar, codes: &[String], then: &str) -> Response {
    let shown: Vec<String> = codes.iter().map(|c| backup_codes::display(c)).collect();
    let download = format!("Gatehouse backup codes\n\n{}\n", shown.join("\n"));
    page(
        state,
        jar,
        StatusCode::OK,
        "templates/backup_codes.html",
        json!({ "codes": shown, "download": download, "continue": then }),
    )
}

/// The first set of backup codes of a user who just enrolled a factor and has none
/// (empty when they have some).
pub async fn first_backup_codes(state: &AppState, user_id: uuid::Uuid) -> Result<Vec<String>, PageError> {
    let (_, total) = backup_codes::counts(state.db(), user_id).await?;
    if total > 0 {
        return Ok(Vec::new());
    }
    let n = usize::try_from(state.config().mfa.backup_codes).unwrap_or(10);
    Ok(backup_codes::regenerate(state.db(), state.token_hasher(), user_id, n).await?)
}

/// What confirming an authenticator did.
pub enum Enrolled {
    /// Enrolled; the first set of backup codes when the user had none.
    Yes(Vec<String>),
    /// The code was wrong: the same setup, with the message.
    No(totp::Setup, &'static str),
    Expired,
}

/// Enrols the authenticator of a setup form for `user` (mailing them), with a first set
/// of backup codes when they have none.
pub async fn enrol(state: &AppState, user: &entity::user::Model, f: &SetupForm) -> Result<Enrolled, PageError> {
    let confirmed = totp::confirm_setup(
        state.db(),
        state.store(),
        state.token_hasher(),
        user.id,
        &f.setup,
        &f.name,
        &f.code,
    )
    .await?;
    match confirmed {
        totp::Confirmed::Enrolled(factor, name) => {
            auth::record_change(state.db(), user.id, "mfa.factor_added", json!({ "factor": factor })).await?;
            mail_ctx(state)
                .queue(state.db(), &user.email, "factor_added", json!({ "name": name }))
                .await?;
            Ok(Enrolled::Yes(first_backup_codes(state, user.id).await?))
        }
        totp::Confirmed::WrongCode => {
            let setup = totp::resume_setup(
                state.store(),
                state.token_hasher(),
                user.id,
                &f.setup,
                &user.email,
                &issuer_label(state),
            )
            .await?;
            Ok(match setup {
                Some(s) => Enrolled::No(
                    s,
                    "That code does not match. Check the time on your phone and enter the newest code.",
                ),
                None => Enrolled::Expired,
            })
        }
        totp::Confirmed::Expired => Ok(Enrolled::Expired),
    }
}

pub async fn totp_show(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Result<Response, PageError> {
    if !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate("/account/two-factor/totp"));
    }
    let user = me_user(&state, &me).await?;
    let setup = new_setup(&state, &user).await?;
    Ok(totp_page(
        &state,
        jar,
        StatusCode::OK,
        &setup,
        SetupPage::Account,
        "",
        None,
    ))
}

pub async fn totp_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    PageForm(f): PageForm<SetupForm>,
) -> Result<Response, PageError> {
    if !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate("/account/two-factor/totp"));
    }
    let user = me_user(&state, &me).await?;
    Ok(match enrol(&state, &user, &f).await? {
        Enrolled::Yes(codes) if !codes.is_empty() => codes_page(&state, jar, &codes, "/account/two-factor"),
        Enrolled::Yes(_) => Redirect::to("/account/two-factor").into_response(),
        Enrolled::No(setup, error) => totp_page(
            &state,
            jar,
            StatusCode::UNPROCESSABLE_ENTITY,
            &setup,
            SetupPage::Account,
            &f.name,
            Some(error),
        ),
        Enrolled::Expired => Redirect::to("/account/two-factor/totp").into_response(),
    })
}

#[derive(Debug, Deserialize, Default)]
pub struct RemoveForm {
    id: Option<String>,
}

pub async fn totp_remove(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    PageForm(f): PageForm<RemoveForm>,
) -> Result<Response, PageError> {
    if !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate("/account/two-factor"));
    }
    let user = me_user(&state, &me).await?;
    let id = f.id.as_deref().and_then(|i| i.parse::<uuid::Uuid>().ok());
    let removed = match id {
        Some(id) => auth::remove_factor(state.db(), &mail_ctx(&state), &user, id).await?,
        None => None,
    };
    let saved = removed.map(|_| "The authenticator app was removed.");
    two_factor_page(&state, jar, &me, saved).await
}

pub async fn codes_show(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Result<Response, PageError> {
    let (left, total) = backup_codes::counts(state.db(), me.session.user_id).await?;
    Ok(page(
        &state,
        jar,
        StatusCode::OK,
        "templates/backup_codes.html",
        json!({ "left": left, "total": total }),
    ))
}

pub async fn codes_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    _: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    if !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate("/account/two-factor/backup-codes"));
    }
    let user = me_user(&state, &me).await?;
    if !auth::has_second_factor(state.db(), user.id).await? {
        return Err(PageError::BadRequest(
            "Add an authenticator app first; backup codes come with it.".into(),
        ));
    }
    let n = usize::try_from(state.config().mfa.backup_codes).unwrap_or(10);
    let codes = backup_codes::regenerate(state.db(), state.token_hasher(), user.id, n).await?;
    mail_ctx(&state)
        .queue(state.db(), &user.email, "backup_codes_regenerated", json!({}))
        .await?;
    auth::record_change(
        state.db(),
        user.id,
        "mfa.backup_codes_regenerated",
        json!({ "count": n }),
    )
    .await?;
    Ok(codes_page(&state, jar, &codes, "/account/two-factor"))
}

#[derive(Debug, Deserialize, Default)]
pub struct ForgetForm {
    id: Option<String>,
}

/// Forgets a trusted browser: its next sign-in asks for the second factor again.
pub async fn trusted_forget(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    PageForm(f): PageForm<ForgetForm>,
) -> Result<Response, PageError> {
    let id = f.id.unwrap_or_default();
    let forgot = auth::trusted::forget(&auth_ctx(&state), me.session.user_id, &id).await?;
    let saved = forgot.then_some("That browser is no longer trusted.");
    two_factor_page(&state, jar, &me, saved).await
}

/// Turns codes by email on (a second factor the user chooses; never a silent fallback).
pub async fn email_enable(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    _: PageForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    if !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate("/account/two-factor"));
    }
    let user = me_user(&state, &me).await?;
    let on = auth::email_code::enable(&auth_ctx(&state), &user).await?;
    let saved = on.then_some("Codes by email are on: signing in can use a code we mail you.");
    two_factor_page(&state, jar, &me, saved).await
}
