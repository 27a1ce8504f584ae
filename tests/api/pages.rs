//! The landing page, theme assets, the not-found page and theme overrides.

use crate::helpers::{Options, TestApp, temp_dir};

#[tokio::test]
async fn landing_page_links_to_sign_in_and_account_without_inline_script() {
    let app = TestApp::spawn().await;
    let r = app.get("/").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let html = r.text().await.unwrap();
    assert!(html.contains("href=\"/login\""), "{html}");
    assert!(html.contains("href=\"/account\""), "{html}");
    assert!(html.contains("<link rel=\"stylesheet\" href=\"/static/app.css\">"));
    assert!(html.contains("127.0.0.1:8080"), "the issuer is shown");
    assert!(!html.contains("<script"), "no script at all on the landing page");
    assert!(!html.contains("style=\""), "no inline styles (CSP forbids them)");
}

#[tokio::test]
async fn stylesheet_is_the_committed_tailwind_build() {
    let app = TestApp::spawn().await;
    let r = app.get("/static/app.css").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "public, max-age=3600");
    let css = r.text().await.unwrap();
    assert!(css.contains("tailwindcss"), "built by the Tailwind CLI");
    // Classes used by the templates are compiled in.
    assert!(css.contains(".bg-indigo-600"));
}

#[tokio::test]
async fn unknown_paths_get_the_themed_404_page() {
    let app = TestApp::spawn().await;
    for path in [
        "/nope",
        "/static/nope.css",
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 404, "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains("Error 404"), "{path}: {html}");
        assert!(!html.contains("[workspace]"), "{path} escaped the theme");
    }
}

#[tokio::test]
async fn a_theme_directory_overrides_templates_and_assets_by_name() {
    let dir = temp_dir();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::create_dir_all(dir.path().join("static")).unwrap();
    std::fs::write(
        dir.path().join("templates/index.html"),
        "{% extends \"templates/base.html\" %}{% block content %}<h1>Welcome to ACME</h1>{% endblock %}",
    )
    .unwrap();
    std::fs::write(dir.path().join("static/app.css"), "body{color:red}").unwrap();
    let app = TestApp::spawn_with(Options::default().set("GATEHOUSE_THEME_DIR", dir.path().to_str().unwrap())).await;
    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("<h1>Welcome to ACME</h1>"), "{html}");
    // The base layout still comes from the default theme.
    assert!(html.contains("Skip to content"));
    assert_eq!(
        app.get("/static/app.css").await.text().await.unwrap(),
        "body{color:red}"
    );
    // Templates not overridden fall back to the default theme.
    assert!(app.get("/nope").await.text().await.unwrap().contains("Error 404"));
}

#[tokio::test]
async fn an_error_a_page_answers_with_is_the_themed_error_page() {
    let app = TestApp::spawn().await;
    for (path, status, text) in [
        ("/consent", 400, "The request is missing."),
        (
            "/consent?authreq=unknown",
            400,
            "This sign-in request has expired or was started in another browser.",
        ),
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), status, "{path}");
        assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8", "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains(text), "{path}: {html}");
        assert!(html.contains("/static/app.css"), "{path}: rendered with the theme");
    }
}
