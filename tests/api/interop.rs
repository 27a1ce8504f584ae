//! Interoperability: the `openidconnect` crate, a certified-style relying-party library,
//! used unmodified against the in-process server — discovery, authorization code + PKCE
//! (the login and consent forms driven over HTTP with a cookie jar), ID-token
//! validation, userinfo, refresh and logout; and an access token validated with nothing
//! but the published JWKS.

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

use crate::helpers::flow::{self, browser, location, query};
use crate::helpers::{Options, TestApp};

#[tokio::test]
async fn openidconnect_crate_as_relying_party() {
    let app = TestApp::spawn_with_real_issuer(Options::default()).await;
    let user_id = flow::user(&app, "rp-user@example.com").await;
    let c = flow::client(&app, false, &["authorization_code", "refresh_token"]).await;
    let http = openidconnect::reqwest::ClientBuilder::new()
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(app.base.clone()).unwrap(), &http)
        .await
        .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(c.id.clone()),
        Some(ClientSecret::new(c.secret.clone().unwrap())),
    )
    .set_redirect_uri(RedirectUrl::new(c.redirect_uri.clone()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let b = browser();
    let back = flow::authorize(&app, &b, auth_url.as_str(), "rp-user@example.com").await;
    let q = query(&back);
    assert_eq!(&q["state"], csrf.secret());
    let code = AuthorizationCode::new(q["code"].clone());

    let tokens = client
        .exchange_code(code)
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).expect("ID token validates");
    assert_eq!(claims.subject().as_str(), user_id.to_string());
    assert_eq!(claims.email().map(|e| e.as_str()), Some("rp-user@example.com"));
    // What the RP learns of the sign-in: a password, one factor (RFC 8176 `amr`, `acr`).
    let amr: Vec<&str> = claims
        .auth_method_refs()
        .map(|m| m.iter().map(|r| r.as_str()).collect())
        .unwrap_or_default();
    assert_eq!(amr, ["pwd"]);
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:gatehouse:acr:sfa")
    );
    let expected_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected_hash), "at_hash");

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), Some(claims.subject().clone()))
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.email().map(|e| e.as_str()), Some("rp-user@example.com"));

    let refresh = tokens.refresh_token().expect("a refresh token");
    let refreshed = client
        .exchange_refresh_token(refresh)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    assert_ne!(refreshed.refresh_token().unwrap().secret(), refresh.secret(), "rotated");
    // Once the successor is used, the old token is reuse (a second presentation while
    // the successor is unused would get that successor: the reuse grace).
    client
        .exchange_refresh_token(refreshed.refresh_token().unwrap())
        .unwrap()
        .request_async(&http)
        .await
        .expect("the successor refreshes");
    let again = client
        .exchange_refresh_token(refresh)
        .unwrap()
        .request_async(&http)
        .await;
    assert!(again.is_err(), "the used refresh token is refused");

    // Logout through the advertised end_session_endpoint.
    let meta: serde_json::Value = app.get("/.well-known/openid-configuration").await.json().await.unwrap();
    let end = meta["end_session_endpoint"].as_str().unwrap();
    let mut url = url::Url::parse(end).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token.to_string())
        .append_pair("post_logout_redirect_uri", "https://rp.example.com/bye")
        .append_pair("state", "s1");
    let r = b.get(url.as_str()).send().await.unwrap();
    assert_eq!(location(&r), "https://rp.example.com/bye?state=s1");
}
