//! A fake upstream provider on loopback, behind the same configuration keys an operator
//! uses: an OpenID Connect provider (discovery, keys, RS256 ID tokens, UserInfo) and the
//! GitHub, Discord and Facebook APIs, all answering for one persona the test sets. Its
//! authorization endpoint "signs the user in" at once and redirects back with a code;
//! `trick` makes it misbehave the way a hostile or broken provider would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use gatehouse::crypto::signing::{self, Alg};
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "gatehouse-at-fake";
pub const CLIENT_SECRET: &str = "fake-client-secret";

/// Who the provider says signs in.
#[derive(Debug, Clone)]
pub struct Persona {
    /// Numeric, so it serves as GitHub's id too.
    pub sub: String,
    pub email: Option<String>,
    pub verified: bool,
    pub name: Option<String>,
}

impl Persona {
    pub fn new(sub: &str, email: &str, verified: bool) -> Self {
        Self {
            sub: sub.into(),
            email: Some(email.into()),
            verified,
            name: Some("Ada Lovelace".into()),
        }
    }
}

/// How the provider misbehaves on the next flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trick {
    None,
    /// The user says no: `error=access_denied`.
    Deny,
    /// The ID token carries another nonce.
    WrongNonce,
    /// The ID token is for another client.
    WrongAudience,
    /// The ID token is signed by a key the JWKS does not hold.
    UnknownKey,
    /// The ID token expired.
    Expired,
    /// The answer names another issuer in `iss` (RFC 9207).
    WrongIss,
    /// The token endpoint fails.
    TokenFails,
    /// The answer carries no `iss`, although discovery promises it (RFC 9207).
    NoIss,
    /// Discovery names a token endpoint on another host (where the secret would go).
    ForeignEndpoint,
}

struct Grant {
    challenge: String,
    nonce: Option<String>,
    redirect_uri: String,
    persona: Persona,
}

struct Fake {
    base: String,
    kid: String,
    key: jsonwebtoken::EncodingKey,
    jwk: Value,
    rogue: jsonwebtoken::EncodingKey,
    persona: Mutex<Persona>,
    trick: Mutex<Trick>,
    codes: Mutex<HashMap<String, Grant>>,
    tokens: Mutex<HashMap<String, Persona>>,
    /// The headers of each API call, by path.
    seen: Mutex<Vec<(String, HeaderMap)>>,
}

/// A running fake provider.
pub struct FakeUpstream {
    pub base: String,
    fake: Arc<Fake>,
    _task: tokio::task::JoinHandle<()>,
}

impl FakeUpstream {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let base = format!("http://127.0.0.1:{}", addr.port());
        let pkcs8 = signing::generate(Alg::RS256).unwrap();
        let key = signing::encoding_key(Alg::RS256, &pkcs8).unwrap();
        let kid = "fake-key-1".to_string();
        let jwk = serde_json::to_value(signing::public_jwk(Alg::RS256, &kid, &key).unwrap()).unwrap();
        let rogue = signing::encoding_key(Alg::RS256, &signing::generate(Alg::RS256).unwrap()).unwrap();
        let fake = Arc::new(Fake {
            base: base.clone(),
            kid,
            key,
            jwk,
            rogue,
            persona: Mutex::new(Persona::new("1001", "ada@example.com", true)),
            trick: Mutex::new(Trick::None),
            codes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            seen: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/user", get(github_user))
            .route("/user/emails", get(github_emails))
            .route("/users/@me", get(discord_me))
            .route("/me", get(facebook_me))
            .route("/picture.png", get(picture))
            .with_state(fake.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base,
            fake,
            _task: task,
        }
    }

    pub fn set_persona(&self, p: Persona) {
        *self.fake.persona.lock().unwrap() = p;
    }

    pub fn set_trick(&self, t: Trick) {
        *self.fake.trick.lock().unwrap() = t;
    }

    /// The headers the API calls to `path` came with.
    pub fn headers_at(&self, path: &str) -> Vec<HeaderMap> {
        self.fake
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
            .collect()
    }

    /// `[[upstream]]` entries for each kind, all pointing here.
    pub fn toml(&self) -> String {
        let b = &self.base;
        let common = format!(
            "client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\npicture_hosts = [\"127.0.0.1\"]\n"
        );
        let social = format!("authorize_url = \"{b}/authorize\"\ntoken_url = \"{b}/token\"\napi_url = \"{b}\"\n");
        format!(
            "[[upstream]]\nid = \"corp\"\nkind = \"oidc\"\nname = \"Corp\"\nissuer = \"{b}\"\n{common}\n\
             [[upstream]]\nid = \"google\"\nkind = \"google\"\nissuer = \"{b}\"\n{common}\n\
             [[upstream]]\nid = \"github\"\nkind = \"github\"\n{social}{common}\n\
             [[upstream]]\nid = \"discord\"\nkind = \"discord\"\n{social}{common}\n\
             [[upstream]]\nid = \"facebook\"\nkind = \"facebook\"\n{social}{common}\n"
        )
    }
}

async fn discovery(State(f): State<Arc<Fake>>) -> Json<Value> {
    let b = &f.base;
    let token = if *f.trick.lock().unwrap() == Trick::ForeignEndpoint {
        b.replace("127.0.0.1", "localhost") + "/token"
    } else {
        format!("{b}/token")
    };
    Json(json!({
        "issuer": b,
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": token,
        "jwks_uri": format!("{b}/jwks"),
        "userinfo_endpoint": format!("{b}/userinfo"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
    }))
}

async fn jwks(State(f): State<Arc<Fake>>) -> Json<Value> {
    Json(json!({ "keys": [f.jwk] }))
}

async fn authorize(State(f): State<Arc<Fake>>, Query(q): Query<HashMap<String, String>>) -> Response {
    let (Some(redirect), Some(state)) = (q.get("redirect_uri"), q.get("state")) else {
        return (StatusCode::BAD_REQUEST, "redirect_uri and state required").into_response();
    };
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return (StatusCode::BAD_REQUEST, "unknown client or no PKCE").into_response();
    }
    let trick = *f.trick.lock().unwrap();
    let mut back = url::Url::parse(redirect).unwrap();
    back.query_pairs_mut().append_pair("state", state);
    let oidc = q.get("scope").is_some_and(|s| s.split(' ').any(|s| s == "openid"));
    if trick == Trick::Deny {
        back.query_pairs_mut().append_pair("error", "access_denied");
        if oidc {
            back.query_pairs_mut().append_pair("iss", &f.base);
        }
        return Redirect::to(back.as_str()).into_response();
    }
    let code = gatehouse::crypto::random_token::<16>();
    f.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            challenge: q.get("code_challenge").cloned().unwrap_or_default(),
            nonce: q.get("nonce").cloned(),
            redirect_uri: redirect.clone(),
            persona: f.persona.lock().unwrap().clone(),
        },
    );
    back.query_pairs_mut().append_pair("code", &code);
    if trick != Trick::NoIss && oidc {
        let iss = if trick == Trick::WrongIss {
            "https://evil.example"
        } else {
            &f.base
        };
        back.query_pairs_mut().append_pair("iss", iss);
    }
    Redirect::to(back.as_str()).into_response()
}

async fn token(State(f): State<Arc<Fake>>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .and_then(|v| String::from_utf8(v).ok());
    let creds_ok = match basic {
        Some(pair) => pair == format!("{CLIENT_ID}:{CLIENT_SECRET}"),
        None => {
            form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
                && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET)
        }
    };
    let invalid = |e: &str| (StatusCode::BAD_REQUEST, Json(json!({ "error": e }))).into_response();
    if !creds_ok {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "error": "invalid_client" }))).into_response();
    }
    if *f.trick.lock().unwrap() == Trick::TokenFails {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    let Some(grant) = form.get("code").and_then(|c| f.codes.lock().unwrap().remove(c)) else {
        return invalid("invalid_grant");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if gatehouse::oidc::pkce::s256(&verifier) != grant.challenge
        || form.get("redirect_uri") != Some(&grant.redirect_uri)
    {
        return invalid("invalid_grant");
    }
    let access = gatehouse::crypto::random_token::<16>();
    f.tokens.lock().unwrap().insert(access.clone(), grant.persona.clone());
    let mut body = json!({ "access_token": access, "token_type": "Bearer", "expires_in": 3600 });
    if let Some(nonce) = grant.nonce {
        body["id_token"] = id_token(&f, &grant.persona, &nonce).into();
    }
    Json(body).into_response()
}

fn id_token(f: &Fake, p: &Persona, nonce: &str) -> String {
    let trick = *f.trick.lock().unwrap();
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": f.base,
        "sub": p.sub,
        "aud": if trick == Trick::WrongAudience { "another-client" } else { CLIENT_ID },
        "iat": now,
        "exp": if trick == Trick::Expired { now - 600 } else { now + 300 },
        "nonce": if trick == Trick::WrongNonce { "not-the-nonce" } else { nonce },
        "picture": format!("{}/picture.png", f.base),
    });
    if let Some(e) = &p.email {
        claims["email"] = e.clone().into();
        claims["email_verified"] = p.verified.into();
    }
    if let Some(n) = &p.name {
        claims["name"] = n.clone().into();
    }
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    let key = if trick == Trick::UnknownKey {
        header.kid = Some("not-in-the-jwks".into());
        &f.rogue
    } else {
        header.kid = Some(f.kid.clone());
        &f.key
    };
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

fn bearer(f: &Fake, path: &str, headers: &HeaderMap) -> Option<Persona> {
    f.seen.lock().unwrap().push((path.to_string(), headers.clone()));
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?
        .to_string();
    f.tokens.lock().unwrap().get(&token).cloned()
}

async fn userinfo(State(f): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let Some(p) = bearer(&f, "/userinfo", &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    Json(json!({ "sub": p.sub, "email": p.email, "email_verified": p.verified })).into_response()
}

/// GitHub refuses calls without a User-Agent.
fn github_headers_ok(h: &HeaderMap) -> bool {
    h.contains_key("user-agent")
        && h.get("accept").is_some_and(|v| v == "application/vnd.github+json")
        && h.get("x-github-api-version").is_some_and(|v| v == "2022-11-28")
}

async fn github_user(State(f): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let Some(p) = bearer(&f, "/user", &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if !github_headers_ok(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    Json(json!({
        "id": p.sub.parse::<u64>().unwrap(),
        "login": "ada",
        "name": p.name,
        "email": p.email,
        "avatar_url": format!("{}/picture.png", f.base),
    }))
    .into_response()
}

async fn github_emails(State(f): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let Some(p) = bearer(&f, "/user/emails", &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    if !github_headers_ok(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    // A verified secondary address never counts: only the primary one.
    let mut list =
        vec![json!({ "email": "secondary@example.org", "primary": false, "verified": true, "visibility": null })];
    if let Some(e) = p.email {
        list.push(json!({ "email": e, "primary": true, "verified": p.verified, "visibility": "private" }));
    }
    Json(list).into_response()
}

async fn discord_me(State(f): State<Arc<Fake>>, headers: HeaderMap) -> Response {
    let Some(p) = bearer(&f, "/users/@me", &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    Json(json!({
        "id": p.sub, "username": "ada", "global_name": p.name, "email": p.email, "verified": p.verified, "avatar": null,
    }))
    .into_response()
}

async fn facebook_me(
    State(f): State<Arc<Fake>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(p) = bearer(&f, "/me", &headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let token = headers["authorization"]
        .to_str()
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_string();
    let proof = gatehouse::upstream::appsecret_proof(CLIENT_SECRET, &token);
    if q.get("appsecret_proof") != Some(&proof) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": { "message": "invalid appsecret_proof" } })),
        )
            .into_response();
    }
    Json(json!({
        "id": p.sub, "name": p.name, "email": p.email,
        "picture": { "data": { "url": format!("{}/picture.png", f.base), "is_silhouette": false } },
    }))
    .into_response()
}

async fn picture() -> Response {
    let img = image::RgbImage::from_fn(64, 64, |x, y| image::Rgb([(x * 4) as u8, (y * 4) as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    ([("content-type", "image/png")], out.into_inner()).into_response()
}
