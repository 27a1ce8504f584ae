//! Signing in with upstream providers, end to end against fake providers on loopback
//! (an OpenID Connect provider, and the GitHub, Discord and Facebook APIs) configured
//! with the keys an operator uses: first sign-in, known identities, the linking rules
//! (a verified address of an existing account needs that account proven first; an
//! unverified one never links), and hostile answers that sign nobody in.

use crate::accounts::{link_in, wait_subject};
use crate::helpers::fake_upstream::{FakeUpstream, Persona, Trick};
use crate::helpers::flow::{self, authorize_url, browser, input, location, query};
use crate::helpers::smtp::SmtpSink;
use crate::helpers::{Options, TestApp, temp_dir};
use crate::two_factor::{claims, element, signed_in};

/// The address the provider sends the browser back to (the tests' issuer).
const ISSUER: &str = "http://127.0.0.1:8080";

/// An application with every kind of provider configured against one fake, and mail.
pub(crate) struct Upstreams {
    pub app: TestApp,
    pub fake: FakeUpstream,
    pub sink: SmtpSink,
    _dir: tempfile::TempDir,
}

pub(crate) async fn with_providers(opts: Options) -> Upstreams {
    let fake = FakeUpstream::start().await;
    let sink = SmtpSink::start().await;
    let dir = temp_dir();
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(&file, fake.toml()).unwrap();
    let opts = Options {
        file: Some(file),
        ..opts.set("GATEHOUSE_SMTP_URL", sink.url())
    };
    let app = TestApp::spawn_with(opts).await;
    Upstreams {
        app,
        fake,
        sink,
        _dir: dir,
    }
}

/// Follows a redirect to the provider, which answers at once, and delivers its answer
/// to the app's callback in browser `b`; returns the callback's response.
pub(crate) async fn through_provider(
    app: &TestApp,
    b: &reqwest::Client,
    to_provider: reqwest::Response,
) -> reqwest::Response {
    assert_eq!(to_provider.status(), 303, "off to the provider");
    let at = location(&to_provider);
    assert!(
        at.starts_with("http://127.0.0.1:") && at.contains("/authorize?"),
        "{at}"
    );
    let back = location(&b.get(&at).send().await.unwrap());
    let path = back
        .strip_prefix(ISSUER)
        .unwrap_or_else(|| panic!("the provider answers at the registered callback: {back}"));
    b.get(app.url(path)).send().await.unwrap()
}

/// Starts signing in with provider `id` from the start link in `b`; returns the
/// callback's response.
pub(crate) async fn sign_in_with(app: &TestApp, b: &reqwest::Client, id: &str) -> reqwest::Response {
    through_provider(app, b, start(app, b, id).await).await
}

/// Presses "Continue with …" on the start page of provider `id` in `b`.
async fn start(app: &TestApp, b: &reqwest::Client, id: &str) -> reqwest::Response {
    let at = format!("/login/upstream/{id}");
    flow::submit(app, b, &at, &at, &[]).await
}

/// The provider's answer for `id`, captured without delivering it (for replay and
/// mix-up tests): its callback URL made relative to the app.
async fn answer_for(app: &TestApp, b: &reqwest::Client, id: &str) -> String {
    let r = start(app, b, id).await;
    let back = location(&b.get(location(&r)).send().await.unwrap());
    back.strip_prefix(ISSUER).unwrap().to_string()
}

/// Creates the account a new verified identity offers, in `b` (at `/login/upstream/new`).
pub(crate) async fn create_account(app: &TestApp, b: &reqwest::Client, picture: bool) -> reqwest::Response {
    let fields: &[(&str, &str)] = if picture { &[("picture", "yes")] } else { &[] };
    flow::submit(app, b, "/login/upstream/new", "/login/upstream/new", fields).await
}

/// A user made by a first sign-in with `id` as `persona`; returns the signed-in browser.
pub(crate) async fn upstream_user(u: &Upstreams, id: &str, persona: Persona) -> reqwest::Client {
    u.fake.set_persona(persona);
    let b = browser();
    let r = sign_in_with(&u.app, &b, id).await;
    assert_eq!(location(&r), "/login/upstream/new");
    let r = create_account(&u.app, &b, false).await;
    assert_eq!(location(&r), "/account");
    b
}

/// Follows the app's own redirects from `loc` (consenting when asked) until the
/// redirect back to the client; returns it.
async fn to_client(app: &TestApp, b: &reqwest::Client, mut loc: String) -> String {
    for _ in 0..10 {
        if !loc.starts_with('/') {
            return loc;
        }
        let r = if loc.starts_with("/consent") {
            flow::submit(app, b, &loc, "/consent", &[("decision", "allow")]).await
        } else {
            b.get(app.url(&loc)).send().await.unwrap()
        };
        assert!(
            r.status().is_redirection(),
            "{loc}: {} {}",
            r.status(),
            r.text().await.unwrap()
        );
        loc = location(&r);
    }
    panic!("too many redirects");
}

#[tokio::test]
async fn a_first_sign_in_creates_an_account_and_resumes_the_authorization_request() {
    let u = with_providers(Options::default()).await;
    let app = &u.app;
    let c = flow::client(app, false, &["authorization_code"]).await;
    let b = browser();
    let r = b.get(app.url(&authorize_url(&c, &[]))).send().await.unwrap();
    let login = location(&r);
    assert!(login.starts_with("/login?"), "{login}");

    // The sign-in form offers every provider; its "Continue with Corp" button posts the
    // form (with the pending authorization request) to the provider's start.
    let html = flow::text(app, &b, &login).await;
    for name in ["Corp", "Google", "GitHub", "Discord", "Facebook"] {
        assert!(
            html.contains(&format!("Continue with {name}")),
            "{name} on the sign-in page"
        );
    }
    assert!(html.contains("<form method=\"post\" action=\"/login/upstream/corp\">"));
    let form = [
        ("csrf", input(&html, "csrf").unwrap()),
        ("authreq", input(&html, "authreq").expect("the pending request")),
    ];
    let r = b
        .post(app.url("/login/upstream/corp"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let r = through_provider(app, &b, r).await;
    assert_eq!(
        location(&r),
        "/login/upstream/new",
        "a new identity is offered an account"
    );
    assert!(!signed_in(app, &b).await, "no session before the user agrees");

    let html = flow::text(app, &b, "/login/upstream/new").await;
    assert_eq!(element(&html, "new-email"), "ada@example.com");
    assert_eq!(element(&html, "new-name"), "Ada Lovelace");
    assert!(html.contains("name=\"picture\""), "the picture is offered");
    let r = create_account(app, &b, true).await;
    assert_eq!(r.status(), 303);
    let back = to_client(app, &b, location(&r)).await;
    assert!(back.starts_with(&c.redirect_uri), "back at the client: {back}");
    assert_eq!(query(&back)["state"], "st-123");

    let t = flow::redeem(app, &c, &back).await;
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], serde_json::json!(["fed"]), "{id}");
    let info = flow::userinfo(app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(info["email"], "ada@example.com");
    assert_eq!(info["email_verified"], true, "the provider verified it");
    assert_eq!(info["name"], "Ada Lovelace", "the profile was prefilled");
    let picture = info["picture"]
        .as_str()
        .expect("the provider's picture, re-encoded here");
    assert!(picture.starts_with(&format!("{ISSUER}/images/")), "{picture}");
    let img = app.get(picture.strip_prefix(ISSUER).unwrap()).await;
    assert_eq!(img.status(), 200);
    assert_eq!(img.headers()["content-type"], "image/png");

    // The account signs in with Corp from now on, and says so.
    let html = flow::text(app, &b, "/account/linked").await;
    assert!(html.contains("Corp · ada@example.com"), "{html}");
    let other = browser();
    let r = sign_in_with(app, &other, "corp").await;
    assert_eq!(location(&r), "/account", "a known identity signs in at once");
    assert!(signed_in(app, &other).await);
}

#[tokio::test]
async fn a_known_identity_signs_in_to_its_account_after_its_upstream_address_changed() {
    let u = with_providers(Options::default()).await;
    let app = &u.app;
    upstream_user(&u, "github", Persona::new("4242", "ada@example.com", true)).await;
    // GitHub's calls carry what GitHub requires.
    let h = u.fake.headers_at("/user");
    assert!(h[0]["user-agent"].to_str().unwrap().starts_with("Gatehouse/"));
    assert_eq!(h[0]["x-github-api-version"], "2022-11-28");
    assert_eq!(u.fake.headers_at("/user/emails").len(), 1);

    // Same subject, another address (even one an account here uses): same account.
    flow::user(app, "ada.new@example.com").await;
    u.fake.set_persona(Persona::new("4242", "ada.new@example.com", true));
    let b = browser();
    let r = sign_in_with(app, &b, "github").await;
    assert_eq!(location(&r), "/account");
    let html = flow::text(app, &b, "/account/linked").await;
    assert!(html.contains("GitHub"), "{html}");
    let c = flow::client(app, false, &["authorization_code"]).await;
    let back = to_client(app, &b, authorize_url(&c, &[])).await;
    let t = flow::redeem(app, &c, &back).await;
    let info = flow::userinfo(app, t["access_token"].as_str().unwrap()).await;
    assert_eq!(
        info["email"], "ada@example.com",
        "the identity, not the address, decides"
    );

    // Another subject with the first address is not that account.
    u.fake.set_persona(Persona::new("777", "ada@example.com", true));
    let b = browser();
    let r = sign_in_with(app, &b, "github").await;
    assert_eq!(location(&r), "/login/upstream/existing");
    assert!(!signed_in(app, &b).await);
}

#[tokio::test]
async fn a_verified_address_of_an_existing_account_links_only_once_that_account_is_proven() {
    let u = with_providers(Options::default()).await;
    let app = &u.app;
    flow::user(app, "owner@example.com").await;
    u.fake.set_persona(Persona::new("5001", "owner@example.com", true));
    let b = browser();
    let r = sign_in_with(app, &b, "google").await;
    assert_eq!(location(&r), "/login/upstream/existing");
    assert!(!signed_in(app, &b).await, "the provider's word is not enough");
    let html = flow::text(app, &b, "/login/upstream/existing").await;
    assert!(
        html.contains("An account here already uses owner@example.com"),
        "{html}"
    );
    // Nothing to confirm on that page's account page without signing in to it.
    let r = b.get(app.url("/account/linked")).send().await.unwrap();
    assert!(location(&r).starts_with("/login"));

    // The owner signs in with the password and confirms the link.
    let r = flow::login(
        app,
        &b,
        "/login?next=%2Faccount%2Flinked",
        "owner@example.com",
        flow::PASSWORD,
    )
    .await;
    assert_eq!(location(&r), "/account/linked");
    let html = flow::text(app, &b, "/account/linked").await;
    assert!(html.contains("id=\"linked-waiting\""), "{html}");
    let r = flow::submit(app, &b, "/account/linked", "/account/linked/confirm", &[]).await;
    assert_eq!(location(&r), "/account/linked?done=linked&provider=google");
    let html = flow::text(app, &b, "/account/linked?done=linked&provider=google").await;
    assert!(html.contains("Google is linked"), "{html}");
    let m = wait_subject(&u.sink, "A sign-in with Google was linked to your account").await;
    assert!(m.to.iter().any(|t| t.contains("owner@example.com")), "{:?}", m.to);

    let other = browser();
    let r = sign_in_with(app, &other, "google").await;
    assert_eq!(location(&r), "/account", "linked: it signs in now");
}

#[tokio::test]
async fn unverified_addresses_never_link_and_make_an_account_only_through_a_mailed_link() {
    let u = with_providers(Options::default()).await;
    let app = &u.app;
    flow::user(app, "victim@example.com").await;

    // Facebook says nothing about verification; GitHub's verified secondary address and
    // Discord's and the OIDC provider's unverified ones do not count either.
    for (id, verified) in [
        ("facebook", true),
        ("github", false),
        ("discord", false),
        ("corp", false),
    ] {
        u.fake.set_persona(Persona::new("9001", "victim@example.com", verified));
        let b = browser();
        let r = sign_in_with(app, &b, id).await;
        assert_eq!(location(&r), "/login/upstream/email", "{id}");
        assert!(!signed_in(app, &b).await, "{id}");
        assert!(
            flow::text(app, &b, "/login/upstream/existing")
                .await
                .contains("Start again"),
            "{id}: the address says nothing about the account"
        );
    }
    assert!(
        !u.fake.headers_at("/me").is_empty(),
        "Facebook's Graph API answered (appsecret_proof checked)"
    );

    // Asking to confirm the victim's address mails the victim a notice, no link.
    let b = browser();
    let r = sign_in_with(app, &b, "facebook").await;
    assert_eq!(location(&r), "/login/upstream/email");
    let r = flow::submit(
        app,
        &b,
        "/login/upstream/email",
        "/login/upstream/email",
        &[("email", "victim@example.com")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let sent = r.text().await.unwrap();
    let m = wait_subject(&u.sink, "Someone tried to sign up with your address through Facebook").await;
    assert!(m.to.iter().any(|t| t.contains("victim@example.com")), "{:?}", m.to);
    assert!(
        !m.decoded().contains("/login/upstream/confirm"),
        "no way in for the requester"
    );

    // A new address: the answer reads the same; the mailed link makes the account, in
    // the browser that asked only.
    let b = browser();
    u.fake.set_persona(Persona::new("9002", "newbie@example.com", false));
    assert_eq!(
        location(&sign_in_with(app, &b, "github").await),
        "/login/upstream/email"
    );
    let r = flow::submit(
        app,
        &b,
        "/login/upstream/email",
        "/login/upstream/email",
        &[("email", "newbie@example.com")],
    )
    .await;
    let same = r.text().await.unwrap();
    assert_eq!(
        element(&sent, "address-sent")
            .replace("victim", "")
            .replace("Facebook", ""),
        element(&same, "address-sent")
            .replace("newbie", "")
            .replace("GitHub", ""),
        "no hint whether an account uses the address"
    );
    let m = wait_subject(&u.sink, "Confirm your email address").await;
    let link = link_in(&m, "/login/upstream/confirm?token=");
    let elsewhere = browser();
    let r = elsewhere.get(app.url(&link)).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Open it in the right browser"));
    assert!(!signed_in(app, &elsewhere).await);
    let r = b.get(app.url(&link)).send().await.unwrap();
    assert_eq!(location(&r), "/account", "the asking browser is signed in");
    let r = b.get(app.url(&link)).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("Link expired"), "single use");
    let html = flow::text(app, &b, "/account/linked").await;
    assert!(html.contains("GitHub"), "{html}");
}

#[tokio::test]
async fn hostile_or_broken_answers_sign_nobody_in() {
    let u = with_providers(Options::default()).await;
    let app = &u.app;
    for (trick, status) in [
        (Trick::Deny, 403),
        (Trick::WrongNonce, 502),
        (Trick::WrongAudience, 502),
        (Trick::UnknownKey, 502),
        (Trick::Expired, 502),
        (Trick::WrongIss, 502),
        (Trick::TokenFails, 502),
        (Trick::NoIss, 502),
    ] {
        u.fake.set_trick(trick);
        let b = browser();
        let r = sign_in_with(app, &b, "corp").await;
        assert_eq!(r.status(), status, "{trick:?}");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("Corp could not sign you in just now") || html.contains("Signing in with Corp was cancelled"),
            "{trick:?}: {html}"
        );
        assert!(!signed_in(app, &b).await, "{trick:?}");
        let html = flow::text(app, &b, "/login/upstream/new").await;
        assert!(html.contains("Start again"), "{trick:?}: nothing waits either");
    }
    u.fake.set_trick(Trick::None);

    let expired = "That sign-in with Corp has expired or was started in another browser";
    // Forged, missing and replayed state; an answer in another browser; an answer
    // delivered to another provider's callback.
    let b = browser();
    let answer = answer_for(app, &b, "corp").await;
    let code = query(&answer)["code"].clone();
    for forged in [
        format!("/login/upstream/corp/callback?code={code}&state=forged"),
        format!("/login/upstream/corp/callback?code={code}"),
    ] {
        let r = b.get(app.url(&forged)).send().await.unwrap();
        assert_eq!(r.status(), 400, "{forged}");
        assert!(r.text().await.unwrap().contains(expired));
    }
    let r = browser().get(app.url(&answer)).send().await.unwrap();
    assert_eq!(r.status(), 400, "another browser's answer");
    let mixed = answer.replace("/login/upstream/corp/", "/login/upstream/google/");
    let r = b.get(app.url(&mixed)).send().await.unwrap();
    assert_eq!(r.status(), 400, "Corp's answer at Google's callback");
    assert!(!signed_in(app, &b).await);

    // The flow is single use: delivered once it works, replayed it does not.
    let b = browser();
    let answer = answer_for(app, &b, "corp").await;
    assert_eq!(
        location(&b.get(app.url(&answer)).send().await.unwrap()),
        "/login/upstream/new"
    );
    let r = b.get(app.url(&answer)).send().await.unwrap();
    assert_eq!(r.status(), 400, "replayed");

    assert_eq!(app.get("/login/upstream/nobody").await.status(), 404);
    // A link (or another site) starts nothing: only the page's own form does.
    let r = app.get("/login/upstream/corp").await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("id=\"upstream-start\""));
    let r = browser()
        .post(app.url("/login/upstream/corp"))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no CSRF token, no flow");
}

#[tokio::test]
async fn one_network_can_start_only_so_many_sign_ins() {
    let u = with_providers(Options::default()).await;
    let b = browser();
    for _ in 0..30 {
        assert_eq!(start(&u.app, &b, "github").await.status(), 303);
    }
    let r = start(&u.app, &b, "github").await;
    assert_eq!(r.status(), 429);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("Too many sign-ins were started from your network")
    );
}

#[tokio::test]
async fn a_strangers_identity_left_in_a_shared_browser_is_never_linked_to_someone_else() {
    let u = with_providers(Options::default()).await;
    let app = &u.app;
    flow::user(app, "stranger@example.com").await;
    flow::user(app, "victim@example.com").await;
    // The stranger comes with a provider whose address is their own account's, and
    // walks away at "sign in to link".
    u.fake.set_persona(Persona::new("4444", "stranger@example.com", true));
    let shared = browser();
    assert_eq!(
        location(&sign_in_with(app, &shared, "google").await),
        "/login/upstream/existing"
    );
    // The victim signs in on the same browser: nothing offers to link it.
    let r = flow::login(
        app,
        &shared,
        "/login?next=%2Faccount%2Flinked",
        "victim@example.com",
        flow::PASSWORD,
    )
    .await;
    assert_eq!(location(&r), "/account/linked");
    let html = flow::text(app, &shared, "/account/linked").await;
    assert!(!html.contains("id=\"linked-waiting\""), "{html}");
    let r = flow::submit(app, &shared, "/account/linked", "/account/linked/confirm", &[]).await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Nothing waits to be linked"));
    let other = browser();
    assert_eq!(
        location(&sign_in_with(app, &other, "google").await),
        "/login/upstream/existing",
        "the stranger's identity signs in to no account"
    );
}

#[tokio::test]
async fn a_signup_never_finished_cannot_squat_the_address() {
    let u = with_providers(Options::default()).await;
    let app = &u.app;
    // Someone signs up with the owner's address and a password of their own, and never
    // confirms it (they cannot: the mail goes to the owner).
    let b = browser();
    let r = crate::accounts::signup(
        app,
        &b,
        "owner@example.org",
        "squatter pass phrase 1",
        "squatter pass phrase 1",
    )
    .await;
    assert_eq!(r.status(), 200);
    // The owner arrives through a provider that verified the address: the account is theirs.
    u.fake.set_persona(Persona::new("5555", "owner@example.org", true));
    let owner = browser();
    assert_eq!(
        location(&sign_in_with(app, &owner, "google").await),
        "/login/upstream/new"
    );
    assert_eq!(location(&create_account(app, &owner, false).await), "/account");
    // The squatter's password opens nothing.
    let r = flow::login(app, &browser(), "/login", "owner@example.org", "squatter pass phrase 1").await;
    assert_ne!(location(&r), "/account");
    let html = flow::text(app, &owner, "/account/linked").await;
    assert!(html.contains("Google · owner@example.org"), "{html}");
}

#[tokio::test]
async fn signup_through_providers_can_be_turned_off() {
    let u = with_providers(Options::default().set("GATEHOUSE_ACCOUNTS__UPSTREAM_SIGNUP", "false")).await;
    let b = browser();
    let r = sign_in_with(&u.app, &b, "discord").await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("new accounts cannot be made with it"));
    assert!(!signed_in(&u.app, &b).await);
    let r = flow::submit(&u.app, &b, "/login", "/login/upstream/new", &[]).await;
    assert!(r.text().await.unwrap().contains("Start again"));
}

#[tokio::test]
async fn another_gatehouse_is_an_openid_connect_provider_like_any_other() {
    // The upstream: a real Gatehouse at its own address, with a user and a client
    // registered for the broker's callback.
    let idp = TestApp::spawn_with_real_issuer(Options::default()).await;
    flow::user(&idp, "remote@example.com").await;
    let rp = flow::client_with(&idp, false, &["authorization_code"], |c| {
        gatehouse::clients::NewClient {
            redirect_uris: vec![format!("{ISSUER}/login/upstream/partner/callback")],
            first_party: true,
            ..c
        }
    })
    .await;
    let dir = temp_dir();
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(
        &file,
        format!(
            "[[upstream]]\nid = \"partner\"\nkind = \"oidc\"\nname = \"Partner\"\nissuer = \"{}\"\nclient_id = \"{}\"\nclient_secret = \"{}\"\n",
            idp.base,
            rp.id,
            rp.secret.as_deref().unwrap()
        ),
    )
    .unwrap();
    let app = TestApp::spawn_with(Options {
        file: Some(file),
        ..Default::default()
    })
    .await;

    let b = browser();
    let r = start(&app, &b, "partner").await;
    let at = location(&r);
    assert!(at.starts_with(&format!("{}/oauth2/authorize?", idp.base)), "{at}");
    assert_eq!(query(&at)["code_challenge_method"], "S256");
    // The upstream signs its user in (its own pages) and answers with `iss` (RFC 9207).
    let back = flow::authorize(&idp, &b, &at, "remote@example.com").await;
    assert_eq!(query(&back)["iss"], idp.base);
    let r = b.get(app.url(back.strip_prefix(ISSUER).unwrap())).send().await.unwrap();
    assert_eq!(location(&r), "/login/upstream/new", "{}", r.text().await.unwrap());
    let html = flow::text(&app, &b, "/login/upstream/new").await;
    assert_eq!(element(&html, "new-email"), "remote@example.com");
    assert_eq!(location(&create_account(&app, &b, false).await), "/account");
    assert!(signed_in(&app, &b).await);
}

#[tokio::test]
async fn discovery_may_not_send_the_secret_to_another_host() {
    let u = with_providers(Options::default()).await;
    u.fake.set_trick(Trick::ForeignEndpoint);
    let b = browser();
    let r = start(&u.app, &b, "corp").await;
    assert_eq!(r.status(), 502, "nothing is sent anywhere");
    assert!(r.text().await.unwrap().contains("Corp cannot be reached just now"));
    assert!(u.fake.headers_at("/userinfo").is_empty());
}
