//! Passkeys in the account: register (named), list, rename, remove. Registering and
//! removing need a fresh sign-in with the strongest factor the user has; each change is
//! mailed and audited by `auth`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::two_factor::{codes_page, factor_json, first_backup_codes, me_user};
use crate::auth::{self, passkeys};
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::PageForm;
use crate::web::extract::session::SignedIn;
use crate::web::pages::common::{auth_ctx, mail_ctx, page};

const HERE: &str = "/account/passkeys";

/// The passkeys page, with a fresh registration ceremony when the sign-in may add one.
async fn passkeys_page(
    state: &AppState,
    jar: CookieJar,
    me: &SignedIn,
    status: StatusCode,
    saved: Option<&str>,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let ctx = auth_ctx(state);
    let user = me_user(state, me).await?;
    let list: Vec<_> = auth::factors(state.db(), user.id)
        .await?
        .iter()
        .filter(|f| f.kind == passkeys::KIND)
        .map(factor_json)
        .collect();
    let fresh = me.fresh(state).await?;
    let (register, full) = if fresh {
        match passkeys::start_registration(&ctx, &user).await? {
            passkeys::Start::Ready(c) => (Some(json!({ "options": c.options, "state": c.state })), false),
            passkeys::Start::TooMany => (None, true),
            passkeys::Start::Unavailable => (None, false),
        }
    } else {
        (None, false)
    };
    Ok(page(
        state,
        jar,
        status,
        "templates/account_passkeys.html",
        json!({
            "passkeys": list, "register": register, "fresh": fresh, "full": full,
            "available": state.webauthn().is_some(), "max": passkeys::MAX_PER_USER,
            "saved": saved, "error": error, "name_max": passkeys::NAME_MAX,
        }),
    ))
}

pub async fn passkeys_show(State(state): State<AppState>, jar: CookieJar, me: SignedIn) -> Result<Response, PageError> {
    passkeys_page(&state, jar, &me, StatusCode::OK, None, None).await
}

#[derive(Debug, Deserialize, Default)]
pub struct RegisterForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    credential: String,
}

/// Registers the passkey the browser made; the first factor of a user brings backup codes.
pub async fn passkeys_register(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    PageForm(f): PageForm<RegisterForm>,
) -> Result<Response, PageError> {
    if !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate(HERE));
    }
    let user = me_user(&state, &me).await?;
    let mfa = auth::is_multi_factor(&me.session.amr);
    let registered =
        passkeys::finish_registration(&auth_ctx(&state), &user, &f.state, &f.credential, &f.name, mfa).await?;
    if let passkeys::Registered::Added(_, name) = &registered {
        let codes = first_backup_codes(&state, user.id).await?;
        if !codes.is_empty() {
            return Ok(codes_page(&state, jar, &codes, HERE));
        }
        let saved = format!("The passkey “{name}” was added.");
        return passkeys_page(&state, jar, &me, StatusCode::OK, Some(&saved), None).await;
    }
    let status = if matches!(registered, passkeys::Registered::Duplicate) {
        StatusCode::CONFLICT
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    passkeys_page(&state, jar, &me, status, None, registration_problem(&registered)).await
}

/// What the page says of a registration that added nothing (None when it added one).
pub fn registration_problem(r: &passkeys::Registered) -> Option<&'static str> {
    match r {
        passkeys::Registered::Added(..) => None,
        passkeys::Registered::Duplicate => Some("This passkey is registered already."),
        passkeys::Registered::Refused => {
            Some("The passkey was not accepted (it must verify you, by PIN or biometrics). Try again.")
        }
        passkeys::Registered::Expired => Some("That took too long. Try again."),
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct RenameForm {
    id: Option<String>,
    #[serde(default)]
    name: String,
}

pub async fn passkeys_rename(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    PageForm(f): PageForm<RenameForm>,
) -> Result<Response, PageError> {
    let id = f.id.as_deref().and_then(|i| i.parse::<uuid::Uuid>().ok());
    let renamed = match id {
        Some(id) => passkeys::rename(&auth_ctx(&state), me.session.user_id, id, &f.name).await?,
        None => false,
    };
    if renamed {
        passkeys_page(&state, jar, &me, StatusCode::OK, Some("The passkey was renamed."), None).await
    } else {
        let error = "Give the passkey a name.";
        passkeys_page(&state, jar, &me, StatusCode::UNPROCESSABLE_ENTITY, None, Some(error)).await
    }
}

#[derive(Debug, Deserialize, Default)]
pub struct RemoveForm {
    id: Option<String>,
}

pub async fn passkeys_remove(
    State(state): State<AppState>,
    jar: CookieJar,
    me: SignedIn,
    PageForm(f): PageForm<RemoveForm>,
) -> Result<Response, PageError> {
    if !me.fresh(&state).await? {
        return Ok(SignedIn::reauthenticate(HERE));
    }
    let user = me_user(&state, &me).await?;
    let id = f.id.as_deref().and_then(|i| i.parse::<uuid::Uuid>().ok());
    let passkey = match id {
        Some(id) => auth::factors(state.db(), user.id)
            .await?
            .into_iter()
            .find(|f| f.id == id && f.kind == passkeys::KIND),
        None => None,
    };
    let removed = match passkey {
        Some(p) => auth::remove_factor(state.db(), &mail_ctx(&state), &user, p.id).await?,
        None => None,
    };
    let saved = removed.map(|name| format!("The passkey “{name}” was removed."));
    passkeys_page(&state, jar, &me, StatusCode::OK, saved.as_deref(), None).await
}
