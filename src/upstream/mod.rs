//! Signing in through upstream identity providers: Google and any OpenID Connect provider
//! (`oidc.rs`), GitHub, Discord and Facebook (`social.rs`), as first factors of the
//! sign-in pipeline (`auth`). Nothing here knows HTTP servers.
//!
//! A flow: [`start`] keeps state, nonce and PKCE verifier in the ephemeral store under the
//! keyed hash of a random `state`, bound to the browser's binding cookie, for
//! [`FLOW_TTL`]; [`callback`] takes it (once), checks that it is this provider's callback
//! and this browser, and only then talks to the provider. Each provider has its own
//! callback URL, so one provider's response is never taken for another's (mix-up), and
//! an RFC 9207 `iss` is checked where the provider sends one. What the identity may do
//! (sign in, create an account, be linked) is decided in `linking.rs`, keyed by
//! (provider id, subject), never by email.

mod http;
pub mod linking;
mod oidc;
mod repo;

/// The upstream identities linked to a user, oldest first.
pub use repo::of_user as linked_identities;
mod social;

use std::time::Duration;

use openidconnect::PkceCodeChallenge;
use serde::{Deserialize, Serialize};
use url::Url;
use uuid::Uuid;

use crate::config::Upstream;
use crate::crypto::TokenHasher;
use crate::store::{Store, StoreError};

pub use http::MAX_PICTURE_BYTES;
pub use social::appsecret_proof;

/// The `amr` of a sign-in through an upstream provider ("federated"; RFC 8176 lists no
/// value for it, and its registry allows others).
pub const AMR: &str = "fed";

/// How long a started flow waits for its callback.
pub const FLOW_TTL: Duration = Duration::from_secs(600);
/// How long an identity waits for this browser's answer (create the account, sign in to
/// link it, type an address).
pub const PENDING_TTL: Duration = Duration::from_secs(900);

/// The longest subject, address, name Gatehouse keeps from a provider.
const MAX_SUBJECT: usize = 255;
const MAX_NAME_CHARS: usize = 100;

/// Who the provider says the user is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    /// The provider's configured id.
    pub provider: String,
    /// The provider's stable identifier of the user.
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider asserts that it verified `email`.
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// A login or user name (GitHub's `login`, Discord's `username`).
    pub username: Option<String>,
    pub picture: Option<Url>,
}

/// Why a callback signs nobody in.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The user (or the provider) said no: `access_denied` and the like.
    #[error("the provider answered {0}")]
    Denied(String),
    /// No flow for this `state` in this browser: forged, replayed, expired, another
    /// browser's, or another provider's.
    #[error("no sign-in under way for this answer")]
    Expired,
    /// The provider could not be reached or answered something unusable (logged; the
    /// user sees a general message).
    #[error("{0}")]
    Provider(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One configured provider, with its cached discovery document.
#[derive(Debug)]
pub struct Provider {
    pub cfg: Upstream,
    discovery: oidc::Discovery,
}

/// The configured providers, in the order the pages show them.
#[derive(Debug, Default)]
pub struct Providers {
    list: Vec<Provider>,
}

impl Providers {
    pub fn new(cfg: &[Upstream]) -> Self {
        Self {
            list: cfg
                .iter()
                .map(|c| Provider {
                    cfg: c.clone(),
                    discovery: oidc::Discovery::default(),
                })
                .collect(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.list.iter().find(|p| p.cfg.id == id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.list.iter()
    }

    /// `{id, name}` of each provider, for the pages.
    pub fn buttons(&self) -> Vec<serde_json::Value> {
        self.list
            .iter()
            .map(|p| serde_json::json!({ "id": p.cfg.id, "name": p.cfg.name, "kind": p.cfg.kind }))
            .collect()
    }

    /// The name shown for a provider id (the id itself once it is no longer configured).
    pub fn name_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.get(id).map_or(id, |p| p.cfg.name.as_str())
    }
}

/// What a flow is for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Intent {
    /// Sign in (or sign up) with the identity.
    SignIn,
    /// Link the identity to this signed-in user; only the browser session `sid` that
    /// started it may finish it.
    Link { user_id: Uuid, sid: String },
}

/// A flow under way, as its callback finds it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Flow {
    provider: String,
    /// The keyed hash of the browser's binding cookie.
    binding: String,
    nonce: String,
    verifier: String,
    pub intent: Intent,
    /// Where to continue once signed in (a local path).
    pub then: String,
    /// "Keep me signed in".
    pub remember: bool,
}

/// What the flows use of the app.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub hasher: &'a TokenHasher,
    pub http: &'a reqwest::Client,
    pub issuer_id: &'a str,
}

/// The keyed hash of a binding cookie's value.
pub fn binding_hash(hasher: &TokenHasher, binding: &str) -> String {
    hasher.hash(&format!("upstream-binding:{binding}"))
}

/// Starts a flow for the browser holding `binding`: the provider's authorization URL.
pub async fn start(
    ctx: &Ctx<'_>,
    p: &Provider,
    binding: &str,
    intent: Intent,
    then: String,
    remember: bool,
) -> Result<Url, Failure> {
    let state = crate::crypto::random_token::<32>();
    let nonce = crate::crypto::random_token::<32>();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let redirect = p.cfg.callback_url(ctx.issuer_id);
    let url = if p.cfg.kind.is_oidc() {
        oidc::authorize_url(&p.discovery, ctx.http, &p.cfg, &redirect, &state, &nonce, challenge).await?
    } else {
        social::authorize_url(&p.cfg, &redirect, &state, challenge)?
    };
    let flow = Flow {
        provider: p.cfg.id.clone(),
        binding: binding_hash(ctx.hasher, binding),
        nonce,
        verifier: verifier.secret().clone(),
        intent,
        then,
        remember,
    };
    let value = serde_json::to_vec(&flow).map_err(|e| Failure::Provider(format!("flow: {e}")))?;
    let key = crate::store::keys::upstream_flow(&ctx.hasher.hash(&state));
    ctx.store.put(&key, &value, FLOW_TTL).await?;
    Ok(url)
}

/// The query of a callback.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Params {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Takes the flow an answer at provider `p`'s callback belongs to, in the browser holding
/// `binding`: once, and only this provider's and this browser's.
pub async fn take_flow(ctx: &Ctx<'_>, p: &Provider, binding: Option<&str>, q: &Params) -> Result<Flow, Failure> {
    let state = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 256)
        .ok_or(Failure::Expired)?;
    // Taken, not read: every answer spends its state, whatever follows.
    let key = crate::store::keys::upstream_flow(&ctx.hasher.hash(state));
    let flow: Flow = match ctx.store.take(&key).await? {
        Some(raw) => serde_json::from_slice(&raw).map_err(|_| Failure::Expired)?,
        None => return Err(Failure::Expired),
    };
    let same_browser = binding.is_some_and(|b| {
        crate::crypto::constant_time_eq(binding_hash(ctx.hasher, b).as_bytes(), flow.binding.as_bytes())
    });
    if flow.provider != p.cfg.id || !same_browser {
        tracing::warn!(provider = %p.cfg.id, started_at = %flow.provider, same_browser, "upstream answer refused: not this provider's or this browser's flow");
        return Err(Failure::Expired);
    }
    Ok(flow)
}

/// The identity the provider's answer names: its `iss` checked (RFC 9207), then its
/// error, or the code exchanged and the identity validated.
pub async fn identity(ctx: &Ctx<'_>, p: &Provider, flow: &Flow, q: &Params) -> Result<Identity, Failure> {
    if p.cfg.kind.is_oidc() {
        match q.iss.as_deref() {
            Some(iss) if Some(iss) != p.cfg.issuer_str() => {
                return Err(Failure::Provider(format!("iss {iss:?} is not the provider's issuer")));
            }
            None if oidc::promises_iss(&p.discovery, ctx.http, &p.cfg).await? => {
                return Err(Failure::Provider(
                    "no iss, although the provider promises one (RFC 9207)".into(),
                ));
            }
            _ => {}
        }
    }
    // After `iss` (RFC 9207 §2.4): error answers are checked for mix-up too.
    if let Some(e) = q.error.as_deref() {
        let e: String = e.chars().filter(|c| c.is_ascii_graphic()).take(64).collect();
        return Err(Failure::Denied(e));
    }
    let code = q
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or_else(|| Failure::Provider("the answer has no code".into()))?;
    let redirect = p.cfg.callback_url(ctx.issuer_id);
    let identity = if p.cfg.kind.is_oidc() {
        oidc::identity(
            &p.discovery,
            ctx.http,
            &p.cfg,
            &redirect,
            code,
            &flow.verifier,
            &flow.nonce,
        )
        .await?
    } else {
        social::identity(ctx.http, &p.cfg, &redirect, code, &flow.verifier).await?
    };
    tidy(identity)
}

/// Bounds what a provider's answer can make Gatehouse keep.
fn tidy(mut i: Identity) -> Result<Identity, Failure> {
    if i.subject.is_empty() || i.subject.len() > MAX_SUBJECT {
        return Err(Failure::Provider("the provider named no usable subject".into()));
    }
    let cut = |s: Option<String>| {
        s.map(|s| {
            s.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(MAX_NAME_CHARS)
                .collect::<String>()
        })
        .filter(|s| !s.is_empty())
    };
    i.name = cut(i.name);
    i.given_name = cut(i.given_name);
    i.family_name = cut(i.family_name);
    i.username = cut(i.username);
    // An address that is not one is no address.
    i.email = i
        .email
        .and_then(|e| crate::accounts::Email::parse(&e).ok())
        .map(|e| e.as_str().to_string());
    i.email_verified &= i.email.is_some();
    i.picture = i.picture.filter(|u| u.as_str().len() <= 2048);
    Ok(i)
}

/// The profile picture of `identity`, when its URL is on the provider's picture hosts:
/// at most [`MAX_PICTURE_BYTES`], an image by its content type. None on any failure (a
/// picture is a courtesy).
pub async fn fetch_picture(http_client: &reqwest::Client, p: &Provider, identity: &Identity) -> Option<Vec<u8>> {
    let url = identity.picture.as_ref().filter(|u| p.cfg.picture_allowed(u))?;
    match http::get(http_client, url, &[("Accept", "image/*")], MAX_PICTURE_BYTES).await {
        Ok(r)
            if r.status().is_success()
                && r.headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.starts_with("image/")) =>
        {
            Some(r.into_body())
        }
        Ok(r) => {
            tracing::info!(provider = %p.cfg.id, status = %r.status(), "upstream picture not taken");
            None
        }
        Err(e) => {
            tracing::info!(provider = %p.cfg.id, error = %e, "upstream picture not fetched");
            None
        }
    }
}

/// Whether this identity can be shown as "picture available".
pub fn has_picture(p: &Provider, identity: &Identity) -> bool {
    identity.picture.as_ref().is_some_and(|u| p.cfg.picture_allowed(u))
}
