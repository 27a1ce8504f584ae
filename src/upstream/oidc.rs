//! OpenID Connect providers (Google, any other): discovery (cached), the authorization
//! URL with nonce and PKCE, the code exchange, and full ID-token validation by the
//! openidconnect crate: signature against the provider's keys, `iss`, `aud`, `azp`,
//! `exp`, `nonce`, and only asymmetric algorithms the provider lists.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthenticationFlow, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreGenderClaim, CoreGrantType, CoreIdTokenClaims, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use secrecy::ExposeSecret;
use url::Url;

use super::{Failure, Identity, http};
use crate::config::{Upstream, UpstreamKind};

/// How long a discovery document (and its keys) is used before it is read again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// A key the cached set does not hold makes Gatehouse read the keys again, at most this
/// often: a provider that rotated its keys is followed, a flood of unknown keys is not.
const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(60);

/// Google's ID tokens name their issuer with or without the scheme.
const GOOGLE_ISSUERS: [&str; 2] = ["https://accounts.google.com", "accounts.google.com"];

/// Discovery fields the crate does not model: RFC 9207's promise to send `iss` with
/// every authorization response.
#[derive(Debug, Clone, Default, serde::Deserialize, serde::Serialize)]
pub struct Extra {
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

impl openidconnect::AdditionalProviderMetadata for Extra {}

/// A provider's discovery document.
type Metadata = openidconnect::ProviderMetadata<
    Extra,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The cached discovery document of one provider.
#[derive(Debug, Default)]
pub struct Discovery {
    cached: tokio::sync::Mutex<Cached>,
}

#[derive(Debug, Default)]
struct Cached {
    doc: Option<(Instant, Arc<Metadata>)>,
    /// When reading the document last failed: for [`RETRY_AFTER_FAILURE`] no request
    /// waits for a provider that is down.
    failed: Option<Instant>,
}

/// After a failed read, requests fail fast (or use the document they had) this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(15);

fn issuer_url(cfg: &Upstream) -> Result<IssuerUrl, Failure> {
    let s = cfg
        .issuer_str()
        .ok_or_else(|| Failure::Provider("no issuer configured".into()))?;
    IssuerUrl::new(s.to_string()).map_err(|e| Failure::Provider(format!("issuer: {e}")))
}

impl Discovery {
    /// The provider's metadata: cached, or read again when older than the TTL or when
    /// `refresh` asks for newer keys (rate limited). One read at a time per provider.
    async fn metadata(
        &self,
        http_client: &reqwest::Client,
        cfg: &Upstream,
        refresh: bool,
    ) -> Result<Arc<Metadata>, Failure> {
        let mut cached = self.cached.lock().await;
        if let Some((at, m)) = cached.doc.as_ref() {
            let fresh = at.elapsed() < DISCOVERY_TTL;
            if fresh && (!refresh || at.elapsed() < REFRESH_AT_MOST_EVERY) {
                return Ok(m.clone());
            }
        }
        if cached.failed.is_some_and(|f| f.elapsed() < RETRY_AFTER_FAILURE) {
            return match &cached.doc {
                Some((_, m)) => Ok(m.clone()),
                None => Err(Failure::Provider(
                    "discovery failed moments ago; not tried again yet".into(),
                )),
            };
        }
        match read(http_client, cfg).await {
            Ok(m) => {
                let m = Arc::new(m);
                *cached = Cached {
                    doc: Some((Instant::now(), m.clone())),
                    failed: None,
                };
                Ok(m)
            }
            Err(e) => {
                cached.failed = Some(Instant::now());
                match &cached.doc {
                    // A provider briefly unreachable: the document it served still works.
                    Some((_, m)) => {
                        tracing::warn!(provider = %cfg.id, error = %e, "discovery not refreshed; using the last document");
                        Ok(m.clone())
                    }
                    None => Err(e),
                }
            }
        }
    }
}

/// Reads the discovery document and then the keys, both over the bounded client: every
/// endpoint named is checked (https, the issuer's host or a listed one) before anything
/// is fetched from it, keys included.
async fn read(http_client: &reqwest::Client, cfg: &Upstream) -> Result<Metadata, Failure> {
    let issuer = issuer_url(cfg)?;
    let at = Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.as_str().trim_end_matches('/')
    ))
    .map_err(|e| Failure::Provider(format!("discovery URL: {e}")))?;
    let m: Metadata = serde_json::from_slice(&fetch_json(http_client, &at).await?)
        .map_err(|e| Failure::Provider(format!("discovery: {e}")))?;
    if m.issuer() != &issuer {
        return Err(Failure::Provider(format!(
            "discovery names the issuer {:?}, not the configured one",
            m.issuer().as_str()
        )));
    }
    let endpoints = [
        Some(m.authorization_endpoint().url()),
        m.token_endpoint().map(|t| t.url()),
        Some(m.jwks_uri().url()),
        m.userinfo_endpoint().map(|u| u.url()),
    ];
    if let Some(bad) = endpoints.iter().flatten().find(|u| !cfg.endpoint_allowed(u)) {
        return Err(Failure::Provider(format!(
            "discovery names an endpoint on {:?}: not https on the issuer's host or endpoint_hosts",
            bad.host_str().unwrap_or_default()
        )));
    }
    if m.token_endpoint().is_none() {
        return Err(Failure::Provider("discovery: no token endpoint".into()));
    }
    let jwks: openidconnect::core::CoreJsonWebKeySet =
        serde_json::from_slice(&fetch_json(http_client, m.jwks_uri().url()).await?)
            .map_err(|e| Failure::Provider(format!("keys: {e}")))?;
    Ok(m.set_jwks(jwks))
}

/// A JSON document by GET, bounded like every upstream answer.
async fn fetch_json(http_client: &reqwest::Client, url: &Url) -> Result<Vec<u8>, Failure> {
    let r = http::get(
        http_client,
        url,
        &[("Accept", "application/json")],
        http::MAX_BODY_BYTES,
    )
    .await
    .map_err(|e| Failure::Provider(format!("{}: {e}", url.path())))?;
    if !r.status().is_success() {
        return Err(Failure::Provider(format!("{}: status {}", url.path(), r.status())));
    }
    Ok(r.into_body())
}

/// Whether the provider promised `iss` in its authorization responses (RFC 9207 §3):
/// then an answer without one is refused, as the RFC requires (a mix-up defence).
pub async fn promises_iss(d: &Discovery, http_client: &reqwest::Client, cfg: &Upstream) -> Result<bool, Failure> {
    let m = d.metadata(http_client, cfg, false).await?;
    Ok(m.additional_metadata().authorization_response_iss_parameter_supported)
}

fn client(m: &Metadata, cfg: &Upstream, redirect: &str) -> Result<OidcClient, Failure> {
    let redirect =
        RedirectUrl::new(redirect.to_string()).map_err(|e| Failure::Provider(format!("redirect URI: {e}")))?;
    let mut c = CoreClient::from_provider_metadata(
        m.clone(),
        ClientId::new(cfg.client_id.clone()),
        Some(ClientSecret::new(cfg.client_secret.expose_secret().to_string())),
    )
    .set_redirect_uri(redirect);
    // client_secret_basic is the default; a provider that lists only _post gets that.
    if let Some(methods) = m.token_endpoint_auth_methods_supported() {
        use openidconnect::core::CoreClientAuthMethod as M;
        if !methods.contains(&M::ClientSecretBasic) && methods.contains(&M::ClientSecretPost) {
            c = c.set_auth_type(openidconnect::AuthType::RequestBody);
        }
    }
    Ok(c)
}

type OidcClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The authorization URL for this flow.
pub async fn authorize_url(
    d: &Discovery,
    http_client: &reqwest::Client,
    cfg: &Upstream,
    redirect: &str,
    state: &str,
    nonce: &str,
    challenge: PkceCodeChallenge,
) -> Result<Url, Failure> {
    let m = d.metadata(http_client, cfg, false).await?;
    let c = client(&m, cfg, redirect)?;
    let (state, nonce) = (state.to_string(), nonce.to_string());
    let mut req = c
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            move || CsrfToken::new(state),
            move || Nonce::new(nonce),
        )
        .set_pkce_challenge(challenge);
    // `openid` is added by the crate.
    for s in cfg.scopes.iter().filter(|s| *s != "openid") {
        req = req.add_scope(Scope::new(s.clone()));
    }
    let (url, _, _) = req.url();
    Ok(url)
}

/// Signing algorithms accepted for ID tokens: the asymmetric ones the provider lists
/// (a shared-secret signature would prove only that someone knows the client secret).
fn accepted_algs(m: &Metadata) -> Vec<CoreJwsSigningAlgorithm> {
    use CoreJwsSigningAlgorithm as A;
    m.id_token_signing_alg_values_supported()
        .iter()
        .filter(|a| {
            matches!(
                a,
                A::RsaSsaPkcs1V15Sha256
                    | A::RsaSsaPkcs1V15Sha384
                    | A::RsaSsaPkcs1V15Sha512
                    | A::EcdsaP256Sha256
                    | A::EcdsaP384Sha384
                    | A::RsaSsaPssSha256
                    | A::RsaSsaPssSha384
                    | A::RsaSsaPssSha512
                    | A::EdDsa
            )
        })
        .cloned()
        .collect()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Exchanges the code and validates the ID token; the identity it names.
pub async fn identity(
    d: &Discovery,
    http_client: &reqwest::Client,
    cfg: &Upstream,
    redirect: &str,
    code: &str,
    verifier: &str,
    nonce: &str,
) -> Result<Identity, Failure> {
    let m = d.metadata(http_client, cfg, false).await?;
    let c = client(&m, cfg, redirect)?;
    let send = http::Client(http_client);
    let token = c
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| Failure::Provider(format!("token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
        .request_async(&send)
        .await
        .map_err(|e| Failure::Provider(format!("code exchange: {}", error_chain(&e))))?;
    let id_token = token
        .id_token()
        .ok_or_else(|| Failure::Provider("the token response has no ID token".into()))?;
    let nonce = Nonce::new(nonce.to_string());
    let verify = |m: &Metadata| -> Result<CoreIdTokenClaims, openidconnect::ClaimsVerificationError> {
        let c = CoreClient::from_provider_metadata(
            m.clone(),
            ClientId::new(cfg.client_id.clone()),
            Some(ClientSecret::new(cfg.client_secret.expose_secret().to_string())),
        );
        let mut v = c.id_token_verifier().set_allowed_algs(accepted_algs(m));
        if cfg.kind == UpstreamKind::Google {
            // Checked below: Google's two spellings, or the configured issuer.
            v = v.require_issuer_match(false);
        }
        id_token.claims(&v, &nonce).cloned()
    };
    let claims = match verify(&m) {
        Ok(c) => c,
        // The provider may have rotated its keys: read them again (rate limited), once.
        Err(openidconnect::ClaimsVerificationError::SignatureVerification(
            openidconnect::SignatureVerificationError::NoMatchingKey,
        )) => {
            let newer = d.metadata(http_client, cfg, true).await?;
            verify(&newer).map_err(|e| Failure::Provider(format!("ID token: {e}")))?
        }
        Err(e) => return Err(Failure::Provider(format!("ID token: {e}"))),
    };
    if cfg.kind == UpstreamKind::Google {
        let iss = claims.issuer().as_str();
        let configured = issuer_url(cfg)?;
        if !GOOGLE_ISSUERS.contains(&iss) && iss != configured.as_str() {
            return Err(Failure::Provider("ID token: not issued by Google".into()));
        }
    }
    let mut identity = from_claims(&cfg.id, &claims);
    // Some providers state the address only at UserInfo.
    if identity.email.is_none()
        && m.userinfo_endpoint().is_some()
        && let Ok(req) = c.user_info(token.access_token().clone(), Some(claims.subject().clone()))
    {
        let info: Result<openidconnect::UserInfoClaims<openidconnect::EmptyAdditionalClaims, CoreGenderClaim>, _> =
            req.request_async(&send).await;
        match info {
            Ok(info) => {
                identity.email = info.email().map(|e| e.as_str().to_string());
                identity.email_verified = identity.email.is_some() && info.email_verified() == Some(true);
            }
            Err(e) => tracing::info!(provider = %cfg.id, error = %error_chain(&e), "userinfo not read"),
        }
    }
    Ok(identity)
}

fn from_claims(provider: &str, c: &CoreIdTokenClaims) -> Identity {
    let text = |v: Option<&openidconnect::LocalizedClaim<openidconnect::EndUserName>>| {
        v.and_then(|n| n.get(None)).map(|n| n.as_str().to_string())
    };
    let email = c.email().map(|e| e.as_str().to_string());
    Identity {
        provider: provider.to_string(),
        subject: c.subject().as_str().to_string(),
        email_verified: email.is_some() && c.email_verified() == Some(true),
        email,
        name: text(c.name()),
        given_name: c.given_name().and_then(|n| n.get(None)).map(|n| n.as_str().to_string()),
        family_name: c
            .family_name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_string()),
        username: c.preferred_username().map(|u| u.as_str().to_string()),
        picture: c
            .picture()
            .and_then(|p| p.get(None))
            .and_then(|p| Url::parse(p.as_str()).ok()),
    }
}
