//! Driving the hosted login and consent pages over HTTP like a browser would: a cookie
//! jar, no automatic redirects, forms parsed from the returned HTML.

use std::collections::HashMap;

use super::TestApp;

pub const PASSWORD: &str = "correct horse battery staple";

/// A registered client as a relying party holds it.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
    pub redirect_uri: String,
}

/// A browser: cookies kept, redirects not followed.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("browser client")
}

/// Creates a verified user with [`PASSWORD`].
pub async fn user(app: &TestApp, email: &str) -> uuid::Uuid {
    user_hashed_by(app, email, app.state.passwords()).await.id
}

/// Creates a verified user with [`PASSWORD`], hashed by `hasher`.
pub async fn user_hashed_by(
    app: &TestApp,
    email: &str,
    hasher: &gatehouse::accounts::PasswordHasher,
) -> entity::user::Model {
    let s = &app.state;
    gatehouse::accounts::create_user(
        s.db(),
        hasher,
        &s.config().password,
        gatehouse::accounts::NewUser {
            email: gatehouse::accounts::Email::parse(email).unwrap(),
            password: Some(secrecy::SecretString::from(PASSWORD)),
            verified: true,
            superuser: false,
        },
        "test",
    )
    .await
    .expect("create user")
}

/// A hasher with argon2 parameters other than the test server's (m=64, t=1): the hashes
/// an earlier configuration left behind.
pub fn older_hasher(memory_kib: u32, iterations: u32) -> gatehouse::accounts::PasswordHasher {
    gatehouse::accounts::PasswordHasher::new(&gatehouse::config::Argon2Config {
        memory_kib,
        iterations,
        parallelism: 1,
        max_concurrent: 1,
        max_waiting: 64,
    })
    .unwrap()
}

/// Registers a client.
pub async fn client(app: &TestApp, public: bool, grants: &[&str]) -> TestClient {
    client_with(app, public, grants, |c| c).await
}

/// Registers a client with settings changed by `f`.
pub async fn client_with(
    app: &TestApp,
    public: bool,
    grants: &[&str],
    f: impl FnOnce(gatehouse::clients::NewClient) -> gatehouse::clients::NewClient,
) -> TestClient {
    let s = &app.state;
    let redirect_uri = "https://rp.example.com/callback".to_string();
    let created = gatehouse::clients::create(
        s.db(),
        s.token_hasher(),
        f(gatehouse::clients::NewClient {
            post_logout_redirect_uris: vec!["https://rp.example.com/bye".into()],
            ..gatehouse::clients::NewClient::new(
                "Example RP",
                vec![redirect_uri.clone(), "http://127.0.0.1/cb".into()],
                public,
                grants
                    .iter()
                    .map(|g| gatehouse::clients::GrantType::parse(g).unwrap())
                    .collect(),
            )
        }),
        "test",
    )
    .await
    .expect("create client");
    TestClient {
        id: created.client.id,
        secret: created.secret,
        redirect_uri,
    }
}

/// The value of `<input name="NAME" value="...">` in a page.
pub fn input(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&amp;", "&")
            .replace("&#x2f;", "/")
            .replace("&quot;", "\""),
    )
}

/// The `Location` of a redirect response.
pub fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

/// The query parameters of a URL.
pub fn query(url: &str) -> HashMap<String, String> {
    let u = url::Url::parse(url).unwrap_or_else(|_| url::Url::parse(&format!("http://x{url}")).unwrap());
    u.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// An absolute URL for a path of the app (absolute URLs pass unchanged).
pub fn absolute(app: &TestApp, loc: &str) -> String {
    if loc.starts_with('/') {
        app.url(loc)
    } else {
        loc.to_string()
    }
}

/// Submits the login form shown at `login_url`; returns the response to the POST.
pub async fn login(
    app: &TestApp,
    b: &reqwest::Client,
    login_url: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    let page = b.get(absolute(app, login_url)).send().await.unwrap();
    assert_eq!(page.status(), 200, "login page");
    let html = page.text().await.unwrap();
    let mut form = vec![
        ("email".to_string(), email.to_string()),
        ("password".to_string(), password.to_string()),
        ("csrf".to_string(), input(&html, "csrf").expect("csrf field")),
    ];
    for carried in ["authreq", "next"] {
        if let Some(v) = input(&html, carried) {
            form.push((carried.into(), v));
        }
    }
    b.post(app.url("/login")).form(&form).send().await.unwrap()
}

/// Follows an authorization request through login and consent until the redirect back to
/// the client; returns that redirect's URL.
pub async fn authorize(app: &TestApp, b: &reqwest::Client, authorize_url: &str, email: &str) -> String {
    let mut r = b.get(absolute(app, authorize_url)).send().await.unwrap();
    for _ in 0..10 {
        assert!(
            r.status().is_redirection(),
            "expected a redirect, got {} {}",
            r.status(),
            r.text().await.unwrap()
        );
        let loc = location(&r);
        if loc == "/login" || loc.starts_with("/login?") {
            r = login(app, b, &loc, email, PASSWORD).await;
            assert_eq!(r.status(), 303, "login succeeds");
        } else if loc.starts_with("/consent") {
            r = submit(app, b, &loc, "/consent", &[("decision", "allow")]).await;
        } else if loc.starts_with('/') {
            r = b.get(app.url(&loc)).send().await.unwrap();
        } else {
            return loc;
        }
    }
    panic!("too many redirects");
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    let verifier = gatehouse::crypto::random_token::<32>();
    let challenge = gatehouse::oidc::pkce::s256(&verifier);
    (verifier, challenge)
}

/// An authorization URL for `c`; `extra` adds parameters or replaces the defaults.
pub fn authorize_url(c: &TestClient, extra: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("client_id", &c.id),
        ("redirect_uri", &c.redirect_uri),
        ("response_type", "code"),
        ("scope", "openid profile email"),
        ("state", "st-123"),
        ("nonce", "n-456"),
    ];
    pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    pairs.extend_from_slice(extra);
    format!(
        "/oauth2/authorize?{}",
        serde_urlencoded::to_string(&pairs).unwrap_or_default()
    )
}

/// Calls the token endpoint with HTTP Basic client authentication.
pub async fn token(app: &TestApp, c: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
    let req = app.client.post(app.url("/oauth2/token")).form(form);
    let req = match &c.secret {
        Some(s) => req.basic_auth(&c.id, Some(s)),
        None => req,
    };
    req.send().await.unwrap()
}

/// Runs the authorization code flow for `c` in browser `b` (signing in as `email` when
/// needed) and redeems the code; returns the token response.
pub async fn code_tokens(
    app: &TestApp,
    b: &reqwest::Client,
    c: &TestClient,
    extra: &[(&str, &str)],
    email: &str,
) -> serde_json::Value {
    let back = authorize(app, b, &authorize_url(c, extra), email).await;
    redeem(app, c, &back).await
}

/// Redeems the code in `back` (the redirect to the client) at the token endpoint, as
/// the client would; returns the token response.
pub async fn redeem(app: &TestApp, c: &TestClient, back: &str) -> serde_json::Value {
    let code = query(back)
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code in {back}"));
    token(
        app,
        c,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &c.redirect_uri),
        ],
    )
    .await
    .json()
    .await
    .unwrap()
}

/// The UserInfo response for an access token.
pub async fn userinfo(app: &TestApp, access_token: &str) -> serde_json::Value {
    app.client
        .get(app.url("/oauth2/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The introspection response for `token`, asked by client `c` (HTTP Basic).
pub async fn introspect(app: &TestApp, c: &TestClient, token: &str) -> serde_json::Value {
    app.client
        .post(app.url("/oauth2/introspect"))
        .basic_auth(&c.id, c.secret.as_ref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The token endpoint's answer to the refresh grant with `refresh_token`.
pub async fn refresh(app: &TestApp, c: &TestClient, refresh_token: &str) -> serde_json::Value {
    token(
        app,
        c,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)],
    )
    .await
    .json()
    .await
    .unwrap()
}

/// The body of the page at `path`, fetched in browser `b`.
pub async fn text(app: &TestApp, b: &reqwest::Client, path: &str) -> String {
    b.get(app.url(path)).send().await.unwrap().text().await.unwrap()
}

/// Opens the page at `page` in browser `b` and posts its form to `action`: `fields` with
/// the page's CSRF token (and its `authreq`, when it carries one), as the browser would.
pub async fn submit(
    app: &TestApp,
    b: &reqwest::Client,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let html = text(app, b, page).await;
    let mut form: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    form.push(("csrf".into(), input(&html, "csrf").expect("the page has a CSRF field")));
    if let Some(a) = input(&html, "authreq").filter(|_| !fields.iter().any(|(k, _)| *k == "authreq")) {
        form.push(("authreq".into(), a));
    }
    b.post(app.url(action)).form(&form).send().await.unwrap()
}
