//! The HTTP skeleton: health, metrics, security headers, request ids, compression.

use crate::helpers::{Options, TestApp};

#[tokio::test]
async fn healthz_and_readyz_answer_when_everything_is_up() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["status"], "ok");

    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"]["status"], "up");
    assert_eq!(body["checks"]["store"]["status"], "up");
    let expected_store = if crate::helpers::backend::redis_url().is_some() {
        "redis"
    } else {
        "sql"
    };
    assert_eq!(body["checks"]["store"]["kind"], expected_store);
}

#[tokio::test]
async fn every_response_carries_strict_security_headers() {
    let app = TestApp::spawn().await;
    for path in ["/", "/healthz", "/no-such-page", "/static/app.css"] {
        let r = app.get(path).await;
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let expected_cache = if path.starts_with("/static/") {
            "public, max-age=3600"
        } else {
            "no-store"
        };
        assert_eq!(h["cache-control"], expected_cache, "{path}");
        // The issuer is http on loopback: no HSTS.
        assert!(h.get("strict-transport-security").is_none(), "{path}");
        // No CORS on pages.
        assert!(h.get("access-control-allow-origin").is_none(), "{path}");
    }
}

#[tokio::test]
async fn hsts_is_sent_when_the_issuer_is_https() {
    let dir = crate::helpers::temp_dir();
    let app = TestApp::spawn_with(
        Options::default()
            .set("GATEHOUSE_ISSUER", "https://id.example.test")
            .set("GATEHOUSE_MAIL_FILE_DIR", dir.path().to_str().unwrap()),
    )
    .await;
    let r = app.get("/").await;
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
}

#[tokio::test]
async fn request_ids_are_generated_or_propagated() {
    let app = TestApp::spawn().await;
    let r = app.get("/healthz").await;
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let next = app.get("/healthz").await.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    for id in [&generated, &next] {
        assert!(
            id.len() >= 14 && id.bytes().all(|c| c.is_ascii_alphanumeric() || b"-_".contains(&c)),
            "a short token of safe characters: {id}"
        );
    }
    assert_ne!(generated, next, "every request gets its own id");
    let other = TestApp::spawn().await;
    let theirs = other.get("/healthz").await.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    assert_ne!(
        generated.rsplit_once('-').map(|(p, _)| p.to_string()),
        theirs.rsplit_once('-').map(|(p, _)| p.to_string()),
        "another instance draws another prefix"
    );
    let r = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn responses_are_compressed_when_asked() {
    let app = TestApp::spawn().await;
    let r = app
        .client
        .get(app.url("/static/app.css"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(r.headers()["content-type"], "text/css; charset=utf-8");
    // Pages carry a CSRF token beside reflected input: never compressed (BREACH).
    for path in ["/login?next=/account", "/signup", "/password/reset"] {
        let r = app
            .client
            .get(app.url(path))
            .header("accept-encoding", "gzip, br")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers().get("content-encoding").is_none(), "{path} was compressed");
        assert!(r.text().await.unwrap().contains("name=\"csrf\""), "{path}");
    }
}

#[tokio::test]
async fn metrics_report_requests_by_route_and_status_pool_and_outbox() {
    let app = TestApp::spawn().await;
    for _ in 0..3 {
        app.get("/healthz").await;
    }
    app.get("/no/such/thing").await;
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = r.text().await.unwrap();
    let line = |needle: &str| text.lines().find(|l| l.starts_with(needle)).map(str::to_string);
    let healthz = line("gatehouse_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}")
        .unwrap_or_else(|| panic!("no healthz counter in\n{text}"));
    assert!(healthz.ends_with(" 3"), "{healthz}");
    assert!(
        line("gatehouse_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}").is_some(),
        "{text}"
    );
    let buckets = text
        .lines()
        .filter(|l| {
            l.starts_with("gatehouse_http_request_duration_seconds_bucket{") && l.contains("route=\"/healthz\"")
        })
        .count();
    assert!(buckets > 5, "latency histogram by route: {text}");
    assert!(line("gatehouse_mail_outbox_pending 0").is_some(), "{text}");
    assert!(
        line("gatehouse_db_pool_connections{state=\"idle\"}").is_some(),
        "{text}"
    );
    assert!(line("gatehouse_db_pool_max_connections 10").is_some(), "{text}");
    // Paths never appear raw: scanners cannot blow up the label space.
    assert!(!text.contains("/no/such/thing"));
}

#[tokio::test]
async fn graceful_shutdown_finishes_a_request_already_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::spawn().await;
    let mut sock = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // Half a request is in flight when the shutdown starts ...
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let addr = app.addr;
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // ... and is still answered.
    sock.write_all(b"\r\n").await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), sock.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf);
    assert!(text.starts_with("HTTP/1.1 200"), "got {text:?}");
    stopping.await.unwrap().expect("clean stop");
    // New connections are refused once it has stopped.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
