//! Clients in the admin pages: list, register (the options of `gatehouse client
//! create`), edit under the registration rules, rotate the secret (shown once), delete
//! after a confirmation.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{admin_page, when};
use crate::clients::{self, GrantType, NewClient, manage};
use crate::web::AppState;
use crate::web::error::PageError;
use crate::web::extract::session::Admin;
use crate::web::extract::{ClientIp, PageForm};

/// The problem of a client operation as the page shows it.
pub(super) fn refusal(e: clients::Error) -> Result<(StatusCode, String), PageError> {
    Ok(match e {
        clients::Error::Invalid(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
        clients::Error::NotFound(m) => (StatusCode::NOT_FOUND, m),
        clients::Error::Stale => (
            StatusCode::PRECONDITION_FAILED,
            "The client changed since this page was shown; nothing was saved. Look again and retry.".into(),
        ),
        clients::Error::Db(e) => return Err(e.into()),
    })
}

/// One URI per line; blank lines dropped.
fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn strings(v: &Value) -> String {
    clients::strings(v).join("\n")
}

async fn list_page(
    state: &AppState,
    jar: CookieJar,
    me: &Admin,
    status: StatusCode,
    ctx: Value,
) -> Result<Response, PageError> {
    let all = clients::list(state.db()).await.map_err(|e| match refusal(e) {
        Ok((_, m)) => PageError::BadRequest(m),
        Err(e) => e,
    })?;
    let rows: Vec<_> = all
        .iter()
        .map(|c| {
            json!({
                "id": c.id, "name": c.name, "public": c.token_endpoint_auth_method == "none",
                "grants": clients::strings(&c.grant_types).join(", "), "admin_api": manage::admin_api(c),
                "created": when(&c.created_at),
            })
        })
        .collect();
    let mut ctx = ctx;
    if let Value::Object(m) = &mut ctx {
        m.insert("clients".into(), rows.into());
    }
    Ok(admin_page(
        state,
        jar,
        status,
        "templates/admin_clients.html",
        "clients",
        me,
        ctx,
    ))
}

pub async fn list(State(state): State<AppState>, jar: CookieJar, me: Admin) -> Result<Response, PageError> {
    list_page(&state, jar, &me, StatusCode::OK, json!({})).await
}

#[derive(Debug, Deserialize, Default)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    public: Option<String>,
    authorization_code: Option<String>,
    refresh_token: Option<String>,
    client_credentials: Option<String>,
    first_party: Option<String>,
    require_par: Option<String>,
    require_mfa: Option<String>,
    admin_api: Option<String>,
    #[serde(default)]
    backchannel_logout_uri: String,
    // Registration only (as `gatehouse client create`):
    #[serde(default)]
    scopes: String,
    #[serde(default)]
    resources: String,
    #[serde(default)]
    token_endpoint_auth_method: String,
    #[serde(default)]
    id_token_alg: String,
    #[serde(default)]
    access_token_alg: String,
    #[serde(default)]
    jwks: String,
    #[serde(default)]
    access_token_secs: String,
    #[serde(default)]
    refresh_token_idle_secs: String,
    #[serde(default)]
    refresh_token_absolute_secs: String,
}

/// A number of seconds typed in (blank: the server's default).
fn secs(name: &str, v: &str) -> Result<Option<i64>, String> {
    match v.trim() {
        "" => Ok(None),
        n => n
            .parse::<i64>()
            .map(Some)
            .map_err(|_| format!("{name} must be a whole number of seconds.")),
    }
}

fn alg(name: &str, v: &str) -> Result<Option<crate::crypto::signing::Alg>, String> {
    match v.trim() {
        "" => Ok(None),
        a => a.parse().map(Some).map_err(|e| format!("{name}: {e}")),
    }
}

impl CreateForm {
    /// The registration-only settings, or what is wrong with them.
    fn extras(&self, new: &mut NewClient) -> Result<(), String> {
        new.scopes = self
            .scopes
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        if self.admin_api.is_some() {
            new.scopes = manage::with_admin_scope(std::mem::take(&mut new.scopes));
        }
        new.resources = lines(&self.resources);
        new.auth_method = Some(self.token_endpoint_auth_method.trim().to_string()).filter(|m| !m.is_empty());
        new.id_token_alg = alg("ID token algorithm", &self.id_token_alg)?;
        new.access_token_alg = alg("Access token algorithm", &self.access_token_alg)?;
        new.jwks = match self.jwks.trim() {
            "" => None,
            j if j.len() > 64 * 1024 => return Err("The JWK Set is larger than 64 KiB.".into()),
            j => Some(serde_json::from_str(j).map_err(|e| format!("The JWK Set is not JSON: {e}"))?),
        };
        new.lifetimes = clients::Lifetimes {
            access_token_secs: secs("Access token lifetime", &self.access_token_secs)?,
            refresh_token_idle_secs: secs("Refresh token idle lifetime", &self.refresh_token_idle_secs)?,
            refresh_token_absolute_secs: secs("Refresh token absolute lifetime", &self.refresh_token_absolute_secs)?,
        };
        Ok(())
    }

    fn grants(&self) -> Vec<GrantType> {
        [
            (&self.authorization_code, GrantType::AuthorizationCode),
            (&self.refresh_token, GrantType::RefreshToken),
            (&self.client_credentials, GrantType::ClientCredentials),
        ]
        .into_iter()
        .filter(|(on, _)| on.is_some())
        .map(|(_, g)| g)
        .collect()
    }
}

pub async fn create(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    PageForm(f): PageForm<CreateForm>,
) -> Result<Response, PageError> {
    let mut new = NewClient::new(f.name.trim(), lines(&f.redirect_uris), f.public.is_some(), f.grants());
    new.post_logout_redirect_uris = lines(&f.post_logout_redirect_uris);
    new.first_party = f.first_party.is_some();
    new.require_par = f.require_par.is_some();
    new.require_mfa = f.require_mfa.is_some();
    new.backchannel_logout_uri = Some(f.backchannel_logout_uri.trim().to_string()).filter(|u| !u.is_empty());
    let actor = crate::admin::Actor::User(me.user.id).audit();
    let created = match f.extras(&mut new) {
        Ok(()) => clients::create(state.db(), state.token_hasher(), new, &actor).await,
        Err(msg) => Err(clients::Error::Invalid(msg)),
    };
    match created {
        Ok(created) => {
            state.clients().invalidate();
            let ctx = json!({
                "created": { "id": created.client.id, "name": created.client.name, "secret": created.secret },
            });
            list_page(&state, jar, &me, StatusCode::OK, ctx).await
        }
        Err(e) => {
            let (status, msg) = refusal(e)?;
            let form = json!({
                "name": f.name, "redirect_uris": f.redirect_uris, "post_logout_redirect_uris": f.post_logout_redirect_uris,
                "backchannel_logout_uri": f.backchannel_logout_uri, "scopes": f.scopes, "resources": f.resources,
                "token_endpoint_auth_method": f.token_endpoint_auth_method, "id_token_alg": f.id_token_alg,
                "access_token_alg": f.access_token_alg, "jwks": f.jwks, "access_token_secs": f.access_token_secs,
                "refresh_token_idle_secs": f.refresh_token_idle_secs, "refresh_token_absolute_secs": f.refresh_token_absolute_secs,
            });
            list_page(&state, jar, &me, status, json!({ "error": msg, "form": form })).await
        }
    }
}

async fn client_page(
    state: &AppState,
    jar: CookieJar,
    me: &Admin,
    id: &str,
    status: StatusCode,
    extra: Value,
) -> Result<Response, PageError> {
    let c = match manage::find(state.db(), id).await {
        Ok(c) => c,
        Err(clients::Error::NotFound(_)) => return Err(PageError::NotFound),
        Err(e) => return Err(refusal(e).map_or_else(|e| e, |(_, m)| PageError::BadRequest(m))),
    };
    let grants = clients::strings(&c.grant_types);
    let mut ctx = json!({
        "c": {
            "id": c.id, "name": c.name, "public": c.token_endpoint_auth_method == "none",
            "auth_method": c.token_endpoint_auth_method, "has_secret": c.secret_hash.is_some(),
            "redirect_uris": strings(&c.redirect_uris), "post_logout_redirect_uris": strings(&c.post_logout_redirect_uris),
            "authorization_code": grants.iter().any(|g| g == "authorization_code"),
            "refresh_token": grants.iter().any(|g| g == "refresh_token"),
            "client_credentials": grants.iter().any(|g| g == "client_credentials"),
            "first_party": c.first_party, "require_par": c.require_par, "require_mfa": c.require_mfa,
            "admin_api": manage::admin_api(&c), "backchannel_logout_uri": c.backchannel_logout_uri,
            "created": when(&c.created_at), "updated": when(&c.updated_at),
        },
        "etag": manage::etag(&c),
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut ctx, extra) {
        m.extend(e);
    }
    Ok(admin_page(
        state,
        jar,
        status,
        "templates/admin_client.html",
        "clients",
        me,
        ctx,
    ))
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    client_page(&state, jar, &me, &id, StatusCode::OK, json!({})).await
}

#[derive(Debug, Deserialize, Default)]
pub struct UpdateForm {
    #[serde(default)]
    etag: String,
    #[serde(flatten)]
    settings: CreateForm,
}

pub async fn update(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    PageForm(f): PageForm<UpdateForm>,
) -> Result<Response, PageError> {
    let s = &f.settings;
    let change = manage::Update {
        name: Some(s.name.trim().to_string()),
        redirect_uris: Some(lines(&s.redirect_uris)),
        post_logout_redirect_uris: Some(lines(&s.post_logout_redirect_uris)),
        grant_types: Some(s.grants()),
        first_party: Some(s.first_party.is_some()),
        require_par: Some(s.require_par.is_some()),
        require_mfa: Some(s.require_mfa.is_some()),
        backchannel_logout_uri: Some(Some(s.backchannel_logout_uri.trim().to_string()).filter(|u| !u.is_empty())),
        admin_api: Some(s.admin_api.is_some()),
        ..manage::Update::default()
    };
    let tag = Some(f.etag.as_str()).filter(|t| !t.is_empty());
    let actor = crate::admin::Actor::User(me.user.id).audit();
    let from = crate::admin::Source::http(ip, crate::web::pages::common::user_agent(&headers));
    match manage::update(state.db(), &id, change, tag, from.by(&actor)).await {
        Ok(_) => {
            state.clients().invalidate();
            client_page(&state, jar, &me, &id, StatusCode::OK, json!({ "notice": "Saved." })).await
        }
        Err(e) => {
            let (status, msg) = refusal(e)?;
            client_page(&state, jar, &me, &id, status, json!({ "error": msg })).await
        }
    }
}

pub async fn rotate(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    PageForm(_): PageForm<std::collections::HashMap<String, String>>,
) -> Result<Response, PageError> {
    let actor = crate::admin::Actor::User(me.user.id).audit();
    let from = crate::admin::Source::http(ip, crate::web::pages::common::user_agent(&headers));
    match manage::rotate_secret(state.db(), state.token_hasher(), &id, from.by(&actor)).await {
        Ok(secret) => {
            state.clients().invalidate();
            client_page(&state, jar, &me, &id, StatusCode::OK, json!({ "secret": secret })).await
        }
        Err(e) => {
            let (status, msg) = refusal(e)?;
            client_page(&state, jar, &me, &id, status, json!({ "error": msg })).await
        }
    }
}

pub async fn delete_confirm(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let c = manage::find(state.db(), &id).await.map_err(|_| PageError::NotFound)?;
    Ok(admin_page(
        &state,
        jar,
        StatusCode::OK,
        "templates/admin_confirm.html",
        "clients",
        &me,
        json!({
            "title": format!("Delete {}?", c.name),
            "text": "The client is removed with its consents and refresh tokens: its users' applications stop working until it is registered again.",
            "action": format!("/admin/clients/{}/delete", c.id),
            "back": format!("/admin/clients/{}", c.id),
            "button": "Delete the client",
            "typed": Value::Null,
            "etag": manage::etag(&c),
        }),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    jar: CookieJar,
    me: Admin,
    ClientIp(ip): ClientIp,
    headers: axum::http::HeaderMap,
    Path(id): Path<String>,
    PageForm(_): PageForm<std::collections::HashMap<String, String>>,
) -> Result<Response, PageError> {
    let actor = crate::admin::Actor::User(me.user.id).audit();
    let from = crate::admin::Source::http(ip, crate::web::pages::common::user_agent(&headers));
    match manage::delete(state.db(), &id, from.by(&actor)).await {
        Ok(()) => {
            state.clients().invalidate();
            list_page(
                &state,
                jar,
                &me,
                StatusCode::OK,
                json!({ "notice": format!("Client {id} deleted.") }),
            )
            .await
        }
        Err(e) => {
            let (status, msg) = refusal(e)?;
            list_page(&state, jar, &me, status, json!({ "error": msg })).await
        }
    }
}
