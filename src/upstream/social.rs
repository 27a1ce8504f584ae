//! OAuth 2.0 providers that are not OpenID Connect: GitHub, Discord and Facebook. The
//! code exchange (with PKCE) by the oauth2 crate, then each provider's profile API:
//! GitHub `/user` and `/user/emails` (only a `primary` and `verified` address counts),
//! Discord `/users/@me` (`verified`), Facebook's Graph API `/me` with
//! `appsecret_proof` (Facebook says nothing about verification: never verified).

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use super::{Failure, Identity, http};
use crate::config::{Upstream, UpstreamKind};

fn urls(cfg: &Upstream) -> Result<(&Url, &Url, &Url), Failure> {
    match (&cfg.authorize_url, &cfg.token_url, &cfg.api_url) {
        (Some(a), Some(t), Some(p)) => Ok((a, t, p)),
        _ => Err(Failure::Provider("endpoints not configured".into())),
    }
}

type Client = BasicClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
>;

fn client(cfg: &Upstream, redirect: &str) -> Result<Client, Failure> {
    let (a, t, _) = urls(cfg)?;
    let redirect =
        RedirectUrl::new(redirect.to_string()).map_err(|e| Failure::Provider(format!("redirect URI: {e}")))?;
    Ok(BasicClient::new(ClientId::new(cfg.client_id.clone()))
        .set_client_secret(ClientSecret::new(cfg.client_secret.expose_secret().to_string()))
        .set_auth_uri(AuthUrl::from_url(a.clone()))
        .set_token_uri(TokenUrl::from_url(t.clone()))
        .set_redirect_uri(redirect)
        // All three take the credentials in the form body.
        .set_auth_type(AuthType::RequestBody))
}

/// The authorization URL for this flow.
pub fn authorize_url(
    cfg: &Upstream,
    redirect: &str,
    state: &str,
    challenge: PkceCodeChallenge,
) -> Result<Url, Failure> {
    let c = client(cfg, redirect)?;
    let state = state.to_string();
    let mut req = c
        .authorize_url(move || CsrfToken::new(state))
        .set_pkce_challenge(challenge);
    for s in &cfg.scopes {
        req = req.add_scope(Scope::new(s.clone()));
    }
    Ok(req.url().0)
}

/// Exchanges the code and reads the profile.
pub async fn identity(
    http_client: &reqwest::Client,
    cfg: &Upstream,
    redirect: &str,
    code: &str,
    verifier: &str,
) -> Result<Identity, Failure> {
    let c = client(cfg, redirect)?;
    let send = http::Client(http_client);
    let token = c
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
        .request_async(&send)
        .await
        .map_err(|e| Failure::Provider(format!("code exchange: {e}")))?;
    let access = token.access_token().secret();
    let (_, _, api) = urls(cfg)?;
    match cfg.kind {
        UpstreamKind::Github => github(http_client, cfg, api, access).await,
        UpstreamKind::Discord => discord(http_client, cfg, api, access).await,
        UpstreamKind::Facebook => facebook(http_client, cfg, api, access).await,
        UpstreamKind::Google | UpstreamKind::Oidc => Err(Failure::Provider("not an OAuth-only provider".into())),
    }
}

/// `api` joined with `path` (the base may carry a path: `/api/v10`).
fn at(api: &Url, path: &str) -> Result<Url, Failure> {
    let base = api.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}{path}")).map_err(|e| Failure::Provider(format!("API URL: {e}")))
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http_client: &reqwest::Client,
    url: &Url,
    headers: &[(&str, &str)],
) -> Result<T, Failure> {
    let resp = http::get(http_client, url, headers, http::MAX_BODY_BYTES)
        .await
        .map_err(|e| Failure::Provider(format!("{}: {e}", url.path())))?;
    if !resp.status().is_success() {
        return Err(Failure::Provider(format!("{}: status {}", url.path(), resp.status())));
    }
    serde_json::from_slice(resp.body()).map_err(|e| Failure::Provider(format!("{}: {e}", url.path())))
}

fn some(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

async fn github(http_client: &reqwest::Client, cfg: &Upstream, api: &Url, access: &str) -> Result<Identity, Failure> {
    #[derive(Deserialize)]
    struct User {
        id: u64,
        login: Option<String>,
        name: Option<String>,
        avatar_url: Option<String>,
    }
    #[derive(Deserialize)]
    struct Address {
        email: String,
        #[serde(default)]
        primary: bool,
        #[serde(default)]
        verified: bool,
    }
    let bearer = format!("Bearer {access}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Accept", "application/vnd.github+json"),
        ("X-GitHub-Api-Version", "2022-11-28"),
    ];
    let user: User = get_json(http_client, &at(api, "/user")?, &headers).await?;
    let emails: Vec<Address> = get_json(http_client, &at(api, "/user/emails")?, &headers).await?;
    // Only the primary address, and only when GitHub verified it.
    let primary = emails.into_iter().find(|e| e.primary);
    Ok(Identity {
        provider: cfg.id.clone(),
        subject: user.id.to_string(),
        email_verified: primary.as_ref().is_some_and(|p| p.verified),
        email: primary.map(|p| p.email),
        name: some(user.name),
        given_name: None,
        family_name: None,
        username: some(user.login),
        picture: user.avatar_url.and_then(|u| Url::parse(&u).ok()),
    })
}

async fn discord(http_client: &reqwest::Client, cfg: &Upstream, api: &Url, access: &str) -> Result<Identity, Failure> {
    #[derive(Deserialize)]
    struct Me {
        id: String,
        username: Option<String>,
        global_name: Option<String>,
        email: Option<String>,
        #[serde(default)]
        verified: bool,
        avatar: Option<String>,
    }
    let bearer = format!("Bearer {access}");
    let me: Me = get_json(
        http_client,
        &at(api, "/users/@me")?,
        &[("Authorization", bearer.as_str())],
    )
    .await?;
    let avatar = me
        .avatar
        .as_deref()
        .filter(|a| a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .and_then(|a| {
            Url::parse(&format!(
                "https://cdn.discordapp.com/avatars/{}/{a}.png?size=512",
                me.id
            ))
            .ok()
        });
    let email = some(me.email);
    Ok(Identity {
        provider: cfg.id.clone(),
        subject: me.id,
        email_verified: email.is_some() && me.verified,
        email,
        name: some(me.global_name),
        given_name: None,
        family_name: None,
        username: some(me.username),
        picture: avatar,
    })
}

/// Facebook's proof that a call comes from the app: HMAC-SHA256 of the access token
/// under the app secret, in hex.
pub fn appsecret_proof(secret: &str, access: &str) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    hex::encode(ring::hmac::sign(&key, access.as_bytes()).as_ref())
}

async fn facebook(http_client: &reqwest::Client, cfg: &Upstream, api: &Url, access: &str) -> Result<Identity, Failure> {
    #[derive(Deserialize)]
    struct PictureData {
        url: Option<String>,
        #[serde(default)]
        is_silhouette: bool,
    }
    #[derive(Deserialize)]
    struct Picture {
        data: Option<PictureData>,
    }
    #[derive(Deserialize)]
    struct Me {
        id: String,
        name: Option<String>,
        email: Option<String>,
        picture: Option<Picture>,
    }
    let mut url = at(api, "/me")?;
    url.query_pairs_mut()
        .append_pair("fields", "id,name,email,picture.type(large)")
        .append_pair(
            "appsecret_proof",
            &appsecret_proof(cfg.client_secret.expose_secret(), access),
        );
    let bearer = format!("Bearer {access}");
    let me: Me = get_json(http_client, &url, &[("Authorization", bearer.as_str())]).await?;
    let picture = me
        .picture
        .and_then(|p| p.data)
        .filter(|d| !d.is_silhouette)
        .and_then(|d| d.url)
        .and_then(|u| Url::parse(&u).ok());
    Ok(Identity {
        provider: cfg.id.clone(),
        subject: me.id,
        // Facebook does not say whether it verified the address.
        email_verified: false,
        email: some(me.email),
        name: some(me.name),
        given_name: None,
        family_name: None,
        username: None,
        picture,
    })
}
