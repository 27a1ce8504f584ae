//! The account pages: the profile overview (where login lands by default), password
//! change, and signing out.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use secrecy::SecretString;
use serde::Deserialize;
use serde_json::json;

use super::signup::{mail_ctx, message, page};
use crate::accounts::{Error, sessions};
use crate::web::AppState;
use crate::web::cookies;
use crate::web::error::PageError;
use crate::web::extract::PageForm;
use crate::web::extract::session::SignedIn;

pub async fn overview(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Response {
    let (user, profile) = match crate::accounts::repo::find_with_profile(state.db(), me.session.user_id).await {
        Ok(Some(v)) => v,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
    };
    let name: Vec<String> = profile
        .as_ref()
        .map(|p| {
            [p.given_name.clone(), p.family_name.clone()]
                .into_iter()
                .flatten()
                .collect()
        })
        .unwrap_or_default();
    page(
        &state,
        jar,
        StatusCode::OK,
        "templates/account.html",
        json!({
            "email": user.email,
            "name": name.join(" "),
            "verified": user.email_verified_at.is_some(),
            "member_since": user.created_at.format("%Y-%m-%d").to_string(),
            "username": profile.as_ref().and_then(|p| p.preferred_username.clone()),
            "picture": profile.as_ref().and_then(|p| p.picture.as_ref()).map(|u| u.replace(&state.config().issuer_id, "")),
        }),
    )
}

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
) -> Response {
    let again = |jar, errors: serde_json::Value| {
        page(
            &state,
            jar,
            StatusCode::UNPROCESSABLE_ENTITY,
            "templates/change_password.html",
            json!({ "errors": errors }),
        )
    };
    if f.password != f.password_confirm {
        return again(jar, json!({ "password_confirm": "The passwords do not match." }));
    }
    let counted = match too_many_password_checks(&state, me.session.user_id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
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
                if let Err(e) = crate::accounts::repo::revoke_all_refresh_tokens(state.db(), me.session.user_id).await {
                    return PageError::Internal(e.to_string()).render(state.theme());
                }
                return match sign_out_others(&state, jar, &me).await {
                    Ok(jar) => message(
                        &state,
                        jar,
                        StatusCode::OK,
                        "Password changed",
                        "Your password was changed and your other sessions were signed out.",
                        Some(("/account", "Back to your account")),
                    ),
                    Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
                };
            }
            message(
                &state,
                jar,
                StatusCode::OK,
                "Password changed",
                "Your password was changed.",
                Some(("/account", "Back to your account")),
            )
        }
        Err(Error::WrongPassword) => again(jar, json!({ "current": "The current password is not correct." })),
        Err(Error::Password(e)) => again(jar, json!({ "password": e.to_string() })),
        Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
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
    let ttl = state.config().session_ttl(me.session.remember);
    let token = sessions::create(state.store(), state.token_hasher(), &me.session, ttl).await?;
    Ok(cookies::set_session(state.config(), jar, token, me.session.remember))
}

const PASSWORD_CHECK_WINDOW_MS: i64 = 900_000;

fn password_check_key(user_id: uuid::Uuid) -> String {
    format!("password-check:{user_id}")
}

/// Current-password checks count like logins: a stolen session cannot guess the password
/// (or burn argon2) without limit. Each check is counted up front and refunded by
/// [`password_check_passed`] unless the password was wrong, so only failures count.
/// Returns when the check was counted (Unix ms), for the refund.
async fn too_many_password_checks(state: &AppState, user_id: uuid::Uuid) -> Result<i64, Response> {
    let limit = state.config().accounts.login_account_limit;
    match state
        .store()
        .incr(
            &password_check_key(user_id),
            std::time::Duration::from_millis(PASSWORD_CHECK_WINDOW_MS.unsigned_abs()),
        )
        .await
    {
        Ok(n) if n > limit => Err(message(
            state,
            CookieJar::new(),
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Too many password attempts. Try again in 15 minutes.",
            Some(("/account", "Back to your account")),
        )),
        Ok(_) => Ok(chrono::Utc::now().timestamp_millis()),
        Err(e) => Err(PageError::Internal(e.to_string()).render(state.theme())),
    }
}

/// Refunds a current-password check that was not a wrong password.
async fn password_check_passed<T>(state: &AppState, user_id: uuid::Uuid, counted_ms: i64, result: &Result<T, Error>) {
    // Only the window the check was counted in ends this soon (1 s for clock skew).
    let ends_by = counted_ms + PASSWORD_CHECK_WINDOW_MS + 1000;
    if !matches!(result, Err(Error::WrongPassword))
        && let Err(e) = state.store().decr(&password_check_key(user_id), ends_by).await
    {
        tracing::warn!(error = %e, "password check not refunded");
    }
}

pub async fn logout_show(State(state): State<AppState>, jar: CookieJar) -> Response {
    page(&state, jar, StatusCode::OK, "templates/logout.html", json!({}))
}

pub async fn logout_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    _: PageForm<serde::de::IgnoredAny>,
) -> Response {
    if let Some(token) = cookies::session(state.config(), &jar) {
        crate::oidc::backchannel::end_browser_session(state.db(), state.store(), state.token_hasher(), &token).await;
    }
    let jar = cookies::clear_session(state.config(), jar);
    (jar, Redirect::to("/")).into_response()
}

const PROFILE_FIELDS: &[(&str, &str, &str)] = &[
    ("given_name", "Given name", "given-name"),
    ("family_name", "Family name", "family-name"),
    ("nickname", "Nickname", "nickname"),
    ("preferred_username", "Username", "username"),
    ("locale", "Language (e.g. en-GB)", "language"),
    ("zoneinfo", "Time zone (e.g. Europe/Paris)", "off"),
    ("birthdate", "Birth date (YYYY-MM-DD)", "bday"),
    ("website", "Website", "url"),
];

fn profile_page(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    values: &std::collections::BTreeMap<String, String>,
    errors: &std::collections::BTreeMap<String, String>,
) -> Response {
    let fields: Vec<_> = PROFILE_FIELDS
        .iter()
        .map(|(name, label, auto)| {
            json!({
                "name": name,
                "label": label,
                "autocomplete": auto,
                "type": "text",
                "value": values.get(*name).cloned().unwrap_or_default(),
                "error": errors.get(*name),
            })
        })
        .chain(state.config().profile_fields.iter().map(|f| {
            json!({
                "name": f.key,
                "label": f.label,
                "autocomplete": "off",
                "type": f.kind,
                "options": f.options,
                "required": f.required,
                "value": values.get(&f.key).cloned().unwrap_or_default(),
                "error": errors.get(&f.key),
            })
        }))
        .collect();
    page(
        state,
        jar,
        status,
        "templates/account_edit.html",
        json!({ "fields": fields }),
    )
}

pub async fn edit_show(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Response {
    let profile = match crate::accounts::repo::find_with_profile(state.db(), me.session.user_id).await {
        Ok(Some((_, p))) => p,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
    };
    let mut values = std::collections::BTreeMap::new();
    if let Some(p) = profile {
        for (k, v) in [
            ("given_name", p.given_name),
            ("family_name", p.family_name),
            ("nickname", p.nickname),
            ("preferred_username", p.preferred_username),
            ("locale", p.locale),
            ("zoneinfo", p.zoneinfo),
            ("birthdate", p.birthdate),
            ("website", p.website),
        ] {
            if let Some(v) = v {
                values.insert(k.to_string(), v);
            }
        }
        if let Some(extra) = p.extra.as_ref().and_then(|e| e.as_object()) {
            for (k, v) in extra {
                let shown = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Bool(true) => "on".into(),
                    serde_json::Value::Bool(false) => String::new(),
                    other => other.to_string(),
                };
                values.insert(k.clone(), shown);
            }
        }
    }
    profile_page(&state, jar, StatusCode::OK, &values, &Default::default())
}

pub async fn edit_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    PageForm(raw): PageForm<std::collections::BTreeMap<String, String>>,
) -> Response {
    let input = match crate::accounts::profile::parse_with(&state.config().profile_fields, &raw) {
        Ok(p) => p,
        Err(errors) => return profile_page(&state, jar, StatusCode::UNPROCESSABLE_ENTITY, &raw, &errors),
    };
    match crate::accounts::profile::save(state.db(), me.session.user_id, &input).await {
        Ok(()) => Redirect::to("/account").into_response(),
        Err(crate::accounts::profile::SaveError::Fields(errors)) => {
            profile_page(&state, jar, StatusCode::UNPROCESSABLE_ENTITY, &raw, &errors)
        }
        Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
    }
}

fn utc(ms: i64, format: &str) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format(format).to_string())
}

async fn security_page(state: &AppState, jar: CookieJar, me: &SignedIn, saved: Option<&str>) -> Response {
    let user = me.session.user_id;
    let on = match crate::accounts::repo::preferences(state.db(), user).await {
        Ok(p) => p.is_none_or(|p| p.login_notifications),
        Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
    };
    let sessions = match sessions::list(state.store(), user).await {
        Ok(list) => list,
        Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
    };
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
    let apps = match crate::oidc::repo::applications_of(state.db(), user).await {
        Ok(a) => a,
        Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
    };
    let apps: Vec<_> = apps
        .iter()
        .map(|(c, scopes)| json!({ "client_id": c.id, "name": c.name, "scopes": scopes.join(" ") }))
        .collect();
    page(
        state,
        jar,
        StatusCode::OK,
        "templates/account_security.html",
        json!({ "login_notifications": on, "saved": saved, "sessions": sessions, "apps": apps }),
    )
}

pub async fn security_show(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Response {
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
) -> Response {
    let on = f.login_notifications.is_some();
    if let Err(e) = crate::accounts::repo::set_login_notifications(state.db(), me.session.user_id, on).await {
        return PageError::Internal(e.to_string()).render(state.theme());
    }
    security_page(&state, jar, &me, Some("Your settings are saved.")).await
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
) -> Response {
    let user = me.session.user_id;
    if f.others.is_some() {
        // By the session index, to which every login adds its session with one atomic upsert (no read-modify-write). No new session is
        // made here: a stolen cookie must not be able to renew itself without a password.
        let longest = std::time::Duration::from_secs(state.config().tokens.session_secs);
        let ended = match sessions::destroy_others(state.store(), user, &me.session.sid, longest).await {
            Ok(ended) => ended,
            Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
        };
        crate::oidc::backchannel::sessions_ended(state.db(), state.store(), &ended).await;
        return security_page(&state, jar, &me, Some("Signed out.")).await;
    }
    let ended = match f.sid.as_deref() {
        Some(sid) => match sessions::destroy_by_sid(state.store(), user, sid).await {
            Ok(ended) => ended,
            Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
        },
        None => None,
    };
    crate::oidc::backchannel::sessions_ended(state.db(), state.store(), ended.as_slice()).await;
    if ended.is_some_and(|s| s.sid == me.session.sid) {
        let jar = cookies::clear_session(state.config(), jar);
        return (jar, Redirect::to("/login")).into_response();
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
    PageForm(f): PageForm<AppForm>,
) -> Response {
    if let Some(client) = f.client_id.as_deref().filter(|c| c.len() <= 256)
        && let Err(e) =
            crate::oidc::repo::revoke_consent(state.db(), me.session.user_id, client, chrono::Utc::now()).await
    {
        return PageError::Internal(e.to_string()).render(state.theme());
    }
    security_page(&state, jar, &me, Some("Access withdrawn.")).await
}

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

pub async fn email_show(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Response {
    match crate::accounts::repo::find_with_profile(state.db(), me.session.user_id).await {
        Ok(Some((u, _))) => email_page(&state, jar, StatusCode::OK, &u.email, "", json!({})),
        Ok(None) => Redirect::to("/login").into_response(),
        Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
    }
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
) -> Response {
    let current = match crate::accounts::repo::find_with_profile(state.db(), me.session.user_id).await {
        Ok(Some((u, _))) => u.email,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
    };
    match super::signup::over_mail_limit(&state, "email-change", ip, &f.email).await {
        Ok(true) => {
            return email_page(
                &state,
                jar,
                StatusCode::TOO_MANY_REQUESTS,
                &current,
                &f.email,
                json!({ "email": "Too many requests. Try again in an hour." }),
            );
        }
        Ok(false) => {}
        Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
    }
    let new = match crate::accounts::Email::parse(&f.email) {
        Ok(e) => e,
        Err(e) => {
            return email_page(
                &state,
                jar,
                StatusCode::UNPROCESSABLE_ENTITY,
                &current,
                &f.email,
                json!({ "email": e.to_string() }),
            );
        }
    };
    let counted = match too_many_password_checks(&state, me.session.user_id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
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
        Ok(()) => message(
            &state,
            jar,
            StatusCode::OK,
            "Check your new inbox",
            "We sent a confirmation link to the new address. Your account keeps its current address until you open it.",
            Some(("/account", "Back to your account")),
        ),
        Err(Error::WrongPassword) => email_page(
            &state,
            jar,
            StatusCode::UNPROCESSABLE_ENTITY,
            &current,
            &f.email,
            json!({ "password": "The password is not correct." }),
        ),
        Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
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
) -> Response {
    let token = q.token.unwrap_or_default();
    match crate::accounts::email_change::peek(state.db(), state.store(), state.token_hasher(), &token).await {
        Ok(Some(new)) => page(
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
        ),
        Ok(None) => email_link_expired(&state, jar),
        Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
    }
}

pub async fn email_confirm_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    PageForm(f): PageForm<TokenForm>,
) -> Response {
    match crate::accounts::email_change::confirm(
        state.db(),
        state.store(),
        state.token_hasher(),
        &mail_ctx(&state),
        &f.token.unwrap_or_default(),
    )
    .await
    {
        Ok(Some(new)) => message(
            &state,
            jar,
            StatusCode::OK,
            "Email address changed",
            &format!("Your account now uses {new}."),
            Some(("/account", "Go to your account")),
        ),
        Ok(None) => email_link_expired(&state, jar),
        Err(e) => PageError::Internal(e.to_string()).render(state.theme()),
    }
}

async fn images_page(
    state: &AppState,
    jar: CookieJar,
    me: &SignedIn,
    status: StatusCode,
    error: Option<(&str, String)>,
) -> Response {
    let images = match crate::accounts::repo::images_of(state.db(), me.session.user_id).await {
        Ok(i) => i,
        Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
    };
    let url = |kind: &str| {
        images
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, id)| format!("/images/{id}"))
    };
    let (error_kind, error_text) = error.map_or((None, None), |(k, t)| (Some(k.to_string()), Some(t)));
    page(
        state,
        jar,
        status,
        "templates/account_images.html",
        json!({ "avatar": url("avatar"), "cover": url("cover"), "error_kind": error_kind, "error": error_text }),
    )
}

pub async fn images_show(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Response {
    images_page(&state, jar, &me, StatusCode::OK, None).await
}

/// Receives an avatar or cover upload (multipart: `csrf`, `kind`, `image`).
pub async fn images_submit(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    multipart: Result<axum::extract::Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let Ok(mut multipart) = multipart else {
        return PageError::BadRequest("The upload was malformed.".into()).render(state.theme());
    };
    let (mut csrf, mut kind, mut data, mut too_large) = (None, None, Vec::new(), false);
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_string();
                match field.bytes().await {
                    Ok(bytes) => match name.as_str() {
                        "csrf" => csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
                        "kind" => kind = Some(String::from_utf8_lossy(&bytes).into_owned()),
                        "image" => data = bytes.to_vec(),
                        _ => {}
                    },
                    Err(_) => {
                        too_large = true;
                        break;
                    }
                }
            }
            Ok(None) => break,
            Err(_) => {
                too_large = true;
                break;
            }
        }
    }
    if too_large {
        return images_page(
            &state,
            jar,
            &me,
            StatusCode::PAYLOAD_TOO_LARGE,
            Some(("avatar", crate::accounts::images::ImageError::TooLarge.to_string())),
        )
        .await;
    }
    if !cookies::csrf_ok(state.config(), &jar, csrf.as_deref()) {
        return PageError::Csrf.render(state.theme());
    }
    let Some(kind) = kind.as_deref().and_then(crate::accounts::images::Kind::parse) else {
        return PageError::BadRequest("Unknown image kind.".into()).render(state.theme());
    };
    let processed = match state.images().process(data, kind).await {
        Ok(p) => p,
        Err(e) => {
            let status = match e {
                crate::accounts::images::ImageError::Busy => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            return images_page(&state, jar, &me, status, Some((kind.as_str(), e.to_string()))).await;
        }
    };
    let id = match crate::accounts::repo::store_image(state.db(), me.session.user_id, kind, processed).await {
        Ok(id) => id,
        Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
    };
    if kind == crate::accounts::images::Kind::Avatar {
        let url = format!("{}/images/{id}", state.config().issuer_id);
        if let Err(e) = crate::accounts::repo::set_picture(state.db(), me.session.user_id, &url).await {
            return PageError::Internal(e.to_string()).render(state.theme());
        }
    }
    Redirect::to("/account/images").into_response()
}

/// Serves a profile image, with an ETag so browsers and relying parties can revalidate.
pub async fn image(
    State(state): State<AppState>,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let Ok(id) = id.parse::<uuid::Uuid>() else {
        return PageError::NotFound.render(state.theme());
    };
    let img = match crate::accounts::repo::find_image(state.db(), id).await {
        Ok(Some(i)) => i,
        Ok(None) => return PageError::NotFound.render(state.theme()),
        Err(e) => return PageError::Internal(e.to_string()).render(state.theme()),
    };
    // Relying parties show the avatar (the `picture` claim) on their own pages.
    let cache = [
        (axum::http::header::ETAG, img.etag.clone()),
        (axum::http::header::CACHE_CONTROL, "public, max-age=86400".to_string()),
        (
            axum::http::header::HeaderName::from_static("cross-origin-resource-policy"),
            "cross-origin".to_string(),
        ),
    ];
    if headers
        .get(axum::http::header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        == Some(img.etag.as_str())
    {
        return (StatusCode::NOT_MODIFIED, cache).into_response();
    }
    (
        StatusCode::OK,
        cache,
        [(axum::http::header::CONTENT_TYPE, img.content_type.clone())],
        img.data,
    )
        .into_response()
}
