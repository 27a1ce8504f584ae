//! Pages live under the issuer's host name: asked for under another, they redirect
//! there (cookies and passkeys are bound to it); the protocol endpoints answer under any.

use crate::helpers::flow::location;
use crate::helpers::{Options, TestApp};
use crate::passkeys::app_on_localhost;

#[tokio::test]
async fn pages_move_to_the_issuers_host_name_and_protocol_endpoints_do_not() {
    let (app, _sink) = app_on_localhost().await;
    let by_ip = app.base.replace("localhost", "127.0.0.1");
    let r = app
        .client
        .get(format!("{by_ip}/login?next=%2Faccount"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 307);
    assert_eq!(location(&r), format!("{}/login?next=%2Faccount", app.base));
    let r = app
        .client
        .get(format!("{by_ip}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "discovery answers under any name");
    let r = app.client.get(app.url("/login")).send().await.unwrap();
    assert_eq!(r.status(), 200, "the issuer's own name");
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_host_decides() {
    let (app, _sink) = app_on_localhost().await;
    let app_proxy =
        TestApp::spawn_on_localhost(Options::default().set("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32")).await;
    let public = app_proxy.base.trim_start_matches("http://").to_string();
    let get = async |xfh: Option<&str>| {
        let mut r = app_proxy.client.get(app_proxy.url("/login"));
        if let Some(h) = xfh {
            r = r.header("x-forwarded-host", h);
        }
        r.send().await.unwrap()
    };
    assert_eq!(get(Some(&public)).await.status(), 200, "the public name");
    let r = get(Some("127.0.0.1")).await;
    assert_eq!(r.status(), 307, "another name");
    assert_eq!(location(&r), format!("{}/login", app_proxy.base));
    assert_eq!(
        get(None).await.status(),
        200,
        "no name given: no redirect, never a loop"
    );
    // Without trusted proxies, the header is nobody's word.
    let r = app
        .client
        .get(app.url("/login"))
        .header("x-forwarded-host", "127.0.0.1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
