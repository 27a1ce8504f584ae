//! The admin API's handlers: parse, call `crate::admin` (or `crate::clients::manage`),
//! answer JSON. No rule lives here.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::doc::{
    ClientList, EventList, KeyList, MailList, NewClient, NewKey, NewKeys, NewSecret, ProblemDoc, UserList,
};
use super::{Caller, Problem};
use crate::admin::{self, Ops, logs, users::Action};
use crate::clients::manage::ClientView;
use crate::web::AppState;

type Answer = Result<Response, Problem>;

fn ops(state: &AppState) -> Ops<'_> {
    state.admin_ops()
}

/// A JSON answer, never cached, with the resource's version when it has one.
fn reply(status: StatusCode, body: Value, etag: Option<&str>) -> Response {
    let mut res = (status, Json(body)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(t).ok()) {
        h.insert(header::ETAG, tag);
    }
    res
}

fn ok(body: Value) -> Answer {
    Ok(reply(StatusCode::OK, body, None))
}

fn ok_json<T: serde::Serialize>(body: &T) -> Answer {
    ok(json!(body))
}

fn if_match(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    match headers.get(header::IF_MATCH).map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(v)) if v.len() <= 200 => Ok(Some(v.to_string())),
        Some(_) => Err(Problem::bad_request("If-Match is not a list of entity tags")),
    }
}

/// A JSON body (an empty one counts as `{}`).
fn body<T: serde::de::DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, Problem> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| Problem::bad_request(format!("the body is not the JSON expected: {e}")))
}

/// The query string, or a problem saying what is wrong with it.
fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, Problem> {
    q.map(|Query(q)| q)
        .map_err(|e| Problem::bad_request(format!("the query string is not valid: {}", e.body_text())))
}

fn user_id(id: &str) -> Result<Uuid, Problem> {
    id.parse().map_err(|_| Problem::not_found("no such user"))
}

pub(super) async fn no_such_route(_: Caller) -> Problem {
    Problem::not_found("no such admin API route")
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// Part of the address or name.
    q: Option<String>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// 1–100 (default 25).
    limit: Option<u64>,
}

/// Accounts whose address or name contains `q`, oldest first.
#[utoipa::path(get, path = "/admin/api/v1/users", tag = "users", params(ListQuery),
    responses((status = 200, body = UserList), (status = 400, body = ProblemDoc), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn users(
    State(state): State<AppState>,
    _: Caller,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    if q.q.as_ref().is_some_and(|s| s.len() > 200) || q.cursor.as_ref().is_some_and(|c| c.len() > 100) {
        return Err(Problem::bad_request("q or cursor is too long"));
    }
    let found = admin::users::list(
        &ops(&state),
        q.q.as_deref(),
        q.cursor.as_deref(),
        admin::page_size(q.limit),
    )
    .await?;
    ok_json(&UserList {
        items: found.items,
        next_cursor: found.next,
    })
}

/// One account, with its version in `ETag`.
#[utoipa::path(get, path = "/admin/api/v1/users/{id}", tag = "users", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = admin::users::Detail, headers(("ETag" = String))), (status = 404, body = ProblemDoc), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn user(State(state): State<AppState>, _: Caller, Path(id): Path<String>) -> Answer {
    let detail = admin::users::detail(&ops(&state), user_id(&id)?).await?;
    let etag = detail.summary.etag.clone();
    Ok(reply(StatusCode::OK, json!(detail), Some(&etag)))
}

#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ActionBody {
    /// For an action that cannot be undone: the account's address, typed in.
    confirm: Option<String>,
}

/// Applies an action: disable, enable, verify-email, send-password-reset, reset-factors,
/// end-sessions, delete, restore, purge (with `confirm`), grant-superuser, revoke-superuser.
#[utoipa::path(post, path = "/admin/api/v1/users/{id}/{action}", tag = "users",
    params(("id" = uuid::Uuid, Path), ("action" = String, Path), ("If-Match" = Option<String>, Header, description = "The ETag the change is meant for")),
    request_body(content = Option<ActionBody>, content_type = "application/json"),
    responses((status = 200, body = admin::users::Outcome, headers(("ETag" = String))), (status = 400, body = ProblemDoc), (status = 404, body = ProblemDoc), (status = 409, body = ProblemDoc), (status = 412, body = ProblemDoc), (status = 422, body = ProblemDoc), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn user_action(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let Some(action) = Action::parse(&action) else {
        return Err(Problem::not_found(format!(
            "no such action; the actions are: {}",
            Action::ALL.map(Action::as_str).join(", ")
        )));
    };
    let id = user_id(&id)?;
    let b: ActionBody = body(&bytes)?;
    let ops = ops(&state);
    if action.needs_typed_confirmation() {
        let u = admin::users::find(&ops, id).await?;
        if !b
            .confirm
            .as_deref()
            .is_some_and(|c| c.trim().eq_ignore_ascii_case(&u.email))
        {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "{} cannot be undone: send {{\"confirm\": \"<the account's address>\"}}",
                    action.as_str()
                ),
            ));
        }
    }
    let outcome = admin::users::apply(
        &ops,
        &caller.actor,
        id,
        action,
        if_match(&headers)?.as_deref(),
        &caller.source,
    )
    .await?;
    // The account's new version, when it still exists.
    let etag = match admin::users::find(&ops, id).await {
        Ok(u) => Some(admin::etag(u.updated_at)),
        Err(_) => None,
    };
    Ok(reply(StatusCode::OK, json!(outcome), etag.as_deref()))
}

/// Every client's settings.
#[utoipa::path(get, path = "/admin/api/v1/clients", tag = "clients",
    responses((status = 200, body = ClientList), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn clients(State(state): State<AppState>, _: Caller) -> Answer {
    let list = crate::clients::list(state.db()).await?;
    ok_json(&ClientList {
        items: list.iter().map(crate::clients::manage::view).collect(),
        next_cursor: None,
    })
}

/// What registering a client takes: the options of `gatehouse client create`.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ClientCreate {
    name: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    /// No secret; PKCE required.
    #[serde(default)]
    public: bool,
    /// authorization_code (the default), refresh_token, client_credentials.
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    first_party: bool,
    #[serde(default)]
    require_par: bool,
    #[serde(default)]
    require_mfa: bool,
    /// May ask for `gatehouse:admin` (added to the scopes).
    #[serde(default)]
    admin_api: bool,
    /// The scopes it may request (the defaults when empty).
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    resources: Vec<String>,
    token_endpoint_auth_method: Option<String>,
    id_token_alg: Option<String>,
    access_token_alg: Option<String>,
    /// Public keys (a JWK Set): the client then authenticates with private_key_jwt.
    #[schema(value_type = Option<Object>)]
    jwks: Option<Value>,
    backchannel_logout_uri: Option<String>,
    access_token_secs: Option<i64>,
    refresh_token_idle_secs: Option<i64>,
    refresh_token_absolute_secs: Option<i64>,
}

/// Registers a client under the registration rules.
#[utoipa::path(post, path = "/admin/api/v1/clients", tag = "clients",
    request_body(content = ClientCreate, content_type = "application/json"),
    responses((status = 201, body = NewClient), (status = 400, body = ProblemDoc), (status = 422, body = ProblemDoc), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn client_create(State(state): State<AppState>, caller: Caller, bytes: Bytes) -> Answer {
    let b: ClientCreate = serde_json::from_slice(&bytes)
        .map_err(|e| Problem::bad_request(format!("the body is not the JSON expected: {e}")))?;
    let grants = b
        .grant_types
        .iter()
        .map(|g| crate::clients::GrantType::parse(g))
        .collect::<Result<Vec<_>, _>>()?;
    let alg = |name: &str, a: &Option<String>| {
        a.as_deref()
            .map(|a| a.parse::<crate::crypto::signing::Alg>())
            .transpose()
            .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{name}: {e}")))
    };
    let mut new = crate::clients::NewClient::new(b.name.trim(), b.redirect_uris, b.public, grants);
    new.post_logout_redirect_uris = b.post_logout_redirect_uris;
    new.first_party = b.first_party;
    new.require_par = b.require_par;
    new.require_mfa = b.require_mfa;
    new.resources = b.resources;
    new.auth_method = b.token_endpoint_auth_method;
    new.id_token_alg = alg("id_token_alg", &b.id_token_alg)?;
    new.access_token_alg = alg("access_token_alg", &b.access_token_alg)?;
    new.jwks = b.jwks;
    new.backchannel_logout_uri = b.backchannel_logout_uri;
    new.lifetimes = crate::clients::Lifetimes {
        access_token_secs: b.access_token_secs,
        refresh_token_idle_secs: b.refresh_token_idle_secs,
        refresh_token_absolute_secs: b.refresh_token_absolute_secs,
    };
    new.scopes = b.scopes;
    if b.admin_api {
        new.scopes = crate::clients::manage::with_admin_scope(std::mem::take(&mut new.scopes));
    }
    let created = crate::clients::create(state.db(), state.token_hasher(), new, &caller.actor.audit()).await?;
    state.clients().invalidate();
    let etag = crate::clients::manage::etag(&created.client);
    let body = NewClient {
        client: crate::clients::manage::view(&created.client),
        client_secret: created.secret,
    };
    Ok(reply(StatusCode::CREATED, json!(body), Some(&etag)))
}

/// One client, with its version in `ETag`.
#[utoipa::path(get, path = "/admin/api/v1/clients/{id}", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = ClientView, headers(("ETag" = String))), (status = 404, body = ProblemDoc), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn client(State(state): State<AppState>, _: Caller, Path(id): Path<String>) -> Answer {
    let c = crate::clients::manage::find(state.db(), &id).await?;
    let etag = crate::clients::manage::etag(&c);
    Ok(reply(
        StatusCode::OK,
        json!(crate::clients::manage::view(&c)),
        Some(&etag),
    ))
}

/// The settings a `PATCH` may change; a missing member stays as it is, `null` removes an
/// optional one.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ClientPatch {
    name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    post_logout_redirect_uris: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    first_party: Option<bool>,
    require_par: Option<bool>,
    require_mfa: Option<bool>,
    scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    backchannel_logout_uri: Option<Option<String>>,
    resources: Option<Vec<String>>,
    admin_api: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    access_token_secs: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    refresh_token_idle_secs: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    refresh_token_absolute_secs: Option<Option<i64>>,
}

/// A member that is present (`Some`, perhaps `Some(None)` for `null`) or missing (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Changes a client's settings under the registration rules.
#[utoipa::path(patch, path = "/admin/api/v1/clients/{id}", tag = "clients",
    params(("id" = String, Path), ("If-Match" = Option<String>, Header, description = "The ETag the change is meant for")),
    request_body(content = ClientPatch, content_type = "application/json"),
    responses((status = 200, body = ClientView, headers(("ETag" = String))), (status = 400, body = ProblemDoc), (status = 404, body = ProblemDoc), (status = 412, body = ProblemDoc), (status = 422, body = ProblemDoc), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn client_update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Answer {
    let p: ClientPatch = body(&bytes)?;
    let grant_types = match p.grant_types {
        Some(g) => Some(
            g.iter()
                .map(|g| crate::clients::GrantType::parse(g))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        None => None,
    };
    let change = crate::clients::manage::Update {
        name: p.name,
        redirect_uris: p.redirect_uris,
        post_logout_redirect_uris: p.post_logout_redirect_uris,
        grant_types,
        first_party: p.first_party,
        require_par: p.require_par,
        require_mfa: p.require_mfa,
        scopes: p.scopes,
        backchannel_logout_uri: p.backchannel_logout_uri,
        resources: p.resources,
        admin_api: p.admin_api,
        access_token_secs: p.access_token_secs,
        refresh_token_idle_secs: p.refresh_token_idle_secs,
        refresh_token_absolute_secs: p.refresh_token_absolute_secs,
    };
    let tag = if_match(&headers)?;
    let who = caller.actor.audit();
    let c = crate::clients::manage::update(state.db(), &id, change, tag.as_deref(), caller.source.by(&who)).await?;
    state.clients().invalidate();
    let etag = crate::clients::manage::etag(&c);
    Ok(reply(
        StatusCode::OK,
        json!(crate::clients::manage::view(&c)),
        Some(&etag),
    ))
}

/// A new secret for a confidential client (shown here only); the old one stops at once.
#[utoipa::path(post, path = "/admin/api/v1/clients/{id}/rotate-secret", tag = "clients", params(("id" = String, Path)),
    responses((status = 200, body = NewSecret), (status = 404, body = ProblemDoc), (status = 422, body = ProblemDoc), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn client_rotate(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Answer {
    let who = caller.actor.audit();
    let secret =
        crate::clients::manage::rotate_secret(state.db(), state.token_hasher(), &id, caller.source.by(&who)).await?;
    state.clients().invalidate();
    ok_json(&NewSecret {
        client_id: id,
        client_secret: secret,
    })
}

/// Deletes a client with its consents and refresh tokens.
#[utoipa::path(delete, path = "/admin/api/v1/clients/{id}", tag = "clients", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ProblemDoc), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn client_delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Answer {
    let who = caller.actor.audit();
    crate::clients::manage::delete(state.db(), &id, caller.source.by(&who)).await?;
    state.clients().invalidate();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The published signing keys.
#[utoipa::path(get, path = "/admin/api/v1/keys", tag = "keys",
    responses((status = 200, body = KeyList), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn keys(State(state): State<AppState>, _: Caller) -> Answer {
    ok_json(&KeyList {
        items: admin::keys::list(state.db()).await?,
        next_cursor: None,
    })
}

#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateBody {
    /// Only this algorithm (RS256, ES256, EdDSA); every one without it.
    alg: Option<String>,
}

/// Publishes new keys; they sign after `keys.publish_secs`.
#[utoipa::path(post, path = "/admin/api/v1/keys/rotate", tag = "keys",
    request_body(content = Option<RotateBody>, content_type = "application/json"),
    responses((status = 201, body = NewKeys), (status = 400, body = ProblemDoc), (status = 422, body = ProblemDoc), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn keys_rotate(State(state): State<AppState>, caller: Caller, bytes: Bytes) -> Answer {
    let b: RotateBody = body(&bytes)?;
    let only = match b.alg {
        Some(a) => Some(
            a.parse::<crate::crypto::signing::Alg>()
                .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, e))?,
        ),
        None => None,
    };
    let created = admin::keys::rotate(&ops(&state), &caller.actor, only, &caller.source).await?;
    let items = created
        .iter()
        .map(|(alg, kid)| NewKey {
            alg: alg.to_string(),
            kid: kid.clone(),
        })
        .collect();
    Ok(reply(StatusCode::CREATED, json!(NewKeys { items }), None))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// A user's id or address.
    user: Option<String>,
    /// `cli`, `user:<id>`, `client:<id>`, `system`…
    actor: Option<String>,
    /// One kind (`user.disabled`) or a family ending in a dot (`mfa.`).
    kind: Option<String>,
    /// RFC 3339.
    since: Option<String>,
    /// RFC 3339.
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<u64>,
}

fn time(name: &str, v: Option<&str>) -> Result<Option<chrono::DateTime<chrono::Utc>>, Problem> {
    v.filter(|s| !s.is_empty())
        .map(|s| admin::parse_time(s).ok_or_else(|| Problem::bad_request(format!("{name} is not an RFC 3339 time"))))
        .transpose()
}

/// Audit events, newest first.
#[utoipa::path(get, path = "/admin/api/v1/audit-events", tag = "audit", params(AuditQuery),
    responses((status = 200, body = EventList), (status = 400, body = ProblemDoc), (status = 404, body = ProblemDoc), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn audit_events(
    State(state): State<AppState>,
    _: Caller,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    let ops = ops(&state);
    // A user by id or by address.
    let user = match q.user.as_deref().filter(|u| !u.is_empty()) {
        None => None,
        Some(u) => match u.parse::<Uuid>() {
            Ok(id) => Some(id),
            Err(_) => Some(admin::users::find_by_email(&ops, u).await?.id),
        },
    };
    let filter = crate::audit::Filter {
        user,
        actor: q.actor.filter(|a| !a.is_empty()),
        kind: q.kind.filter(|k| !k.is_empty()),
        since: time("since", q.since.as_deref())?,
        until: time("until", q.until.as_deref())?,
    };
    let p = admin::logs::events(&ops, &filter, q.cursor.as_deref(), admin::page_size(q.limit)).await?;
    ok_json(&EventList {
        items: p.items,
        next_cursor: p.next,
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct OutboxQuery {
    /// `failed` for the mails given up on; the waiting ones without it.
    state: Option<String>,
    cursor: Option<String>,
    limit: Option<u64>,
}

/// Mails waiting or given up on, newest first (never their bodies).
#[utoipa::path(get, path = "/admin/api/v1/outbox", tag = "outbox", params(OutboxQuery),
    responses((status = 200, body = MailList), (status = 400, body = ProblemDoc), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn outbox(
    State(state): State<AppState>,
    _: Caller,
    q: Result<Query<OutboxQuery>, QueryRejection>,
) -> Answer {
    let q = query(q)?;
    let failed = match q.state.as_deref() {
        None | Some("pending") => false,
        Some("failed") => true,
        Some(_) => return Err(Problem::bad_request("state is pending or failed")),
    };
    let p = admin::logs::mails(&ops(&state), failed, q.cursor.as_deref(), admin::page_size(q.limit)).await?;
    ok_json(&MailList {
        items: p.items,
        next_cursor: p.next,
    })
}

/// Queues a failed mail again.
#[utoipa::path(post, path = "/admin/api/v1/outbox/{id}/retry", tag = "outbox", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = logs::MailInfo), (status = 404, body = ProblemDoc), (status = 409, body = ProblemDoc), (status = 401, body = ProblemDoc), (status = 403, body = ProblemDoc)))]
pub(super) async fn outbox_retry(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Answer {
    let id: Uuid = id.parse().map_err(|_| Problem::not_found("no such mail"))?;
    let mail = admin::logs::retry_mail(&ops(&state), &caller.actor, id, &caller.source).await?;
    ok(json!(mail))
}
