//! Benchmarks of the hot paths (never timed tests): `cargo bench`.
//!
//! Pure pieces — minting and verifying each token kind, client authentication — and the
//! whole HTTP stack, middleware included, called in-process (no sockets) on a real
//! application over SQLite: discovery, JWKS, a no-op handler (`/healthz`), the token
//! endpoint with client_credentials, and introspection. Numbers are per call on one core.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, header};
use base64::Engine;
use gatehouse::crypto::signing::Alg;
use tower::ServiceExt;

fn main() {
    divan::main();
}

struct Fixture {
    rt: tokio::runtime::Runtime,
    state: gatehouse::web::AppState,
    router: axum::Router,
    client_id: String,
    basic: String,
    access_token: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        let env: Vec<(String, String)> = [
            ("GATEHOUSE_BIND", "127.0.0.1:0".to_string()),
            ("GATEHOUSE_ISSUER", "http://127.0.0.1:8080".to_string()),
            (
                "GATEHOUSE_DATABASE_URL",
                format!("sqlite://{}/bench.db?mode=rwc", dir.path().display()),
            ),
            ("GATEHOUSE_SECRET_KEY", key),
            ("GATEHOUSE_LOG_LEVEL", "warn".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let (state, client_id, basic, access_token) = rt.block_on(async {
            let config = gatehouse::Config::load_from(None, env).unwrap();
            let app = gatehouse::App::build(config).await.unwrap();
            let state = app.state();
            tokio::spawn(app.run(std::future::pending()));
            while state.startup().await != gatehouse::web::state::Startup::Done {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let created = gatehouse::clients::create(
                state.db(),
                state.token_hasher(),
                gatehouse::clients::NewClient::new(
                    "bench",
                    vec![],
                    false,
                    vec![gatehouse::clients::GrantType::ClientCredentials],
                ),
                "bench",
            )
            .await
            .unwrap();
            let basic = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(
                    "{}:{}",
                    created.client.id,
                    created.secret.unwrap()
                ))
            );
            (state, created.client.id, basic, String::new())
        });
        let router = gatehouse::web::router(state.clone());
        let mut f = Fixture {
            rt,
            state,
            router,
            client_id,
            basic,
            access_token,
            _dir: dir,
        };
        let res = call(&f, token_request(&f));
        let body = f.rt.block_on(axum::body::to_bytes(res.into_body(), 1 << 20)).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        f.access_token = v["access_token"].as_str().unwrap().to_string();
        f
    })
}

fn call(f: &Fixture, mut req: Request<Body>) -> axum::response::Response {
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    let res = f.rt.block_on(f.router.clone().oneshot(req)).unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    res
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn token_request(f: &Fixture) -> Request<Body> {
    Request::post("/oauth2/token")
        .header(header::AUTHORIZATION, &f.basic)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("grant_type=client_credentials"))
        .unwrap()
}

mod http {
    use super::*;

    #[divan::bench]
    fn noop_healthz(b: divan::Bencher) {
        let f = fixture();
        b.bench(|| call(f, get("/healthz")));
    }

    #[divan::bench]
    fn discovery(b: divan::Bencher) {
        let f = fixture();
        b.bench(|| call(f, get("/.well-known/openid-configuration")));
    }

    #[divan::bench]
    fn jwks(b: divan::Bencher) {
        let f = fixture();
        b.bench(|| call(f, get("/oauth2/jwks")));
    }

    #[divan::bench]
    fn token_client_credentials(b: divan::Bencher) {
        let f = fixture();
        b.bench(|| call(f, token_request(f)));
    }

    #[divan::bench]
    fn introspection(b: divan::Bencher) {
        let f = fixture();
        let body = format!("token={}", f.access_token);
        b.bench(|| {
            let req = Request::post("/oauth2/introspect")
                .header(header::AUTHORIZATION, &f.basic)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(body.clone()))
                .unwrap();
            call(f, req)
        });
    }
}

mod tokens {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Claims {
        iss: String,
        sub: String,
        aud: String,
        exp: i64,
        iat: i64,
        jti: String,
        scope: String,
    }

    fn claims() -> Claims {
        let now = chrono::Utc::now().timestamp();
        Claims {
            iss: "http://127.0.0.1:8080".into(),
            sub: "9c4f3f0e-2f8a-4d5e-9b1c-2a7d8e6f5a4b".into(),
            aud: "client".into(),
            exp: now + 600,
            iat: now,
            jti: "Jb7v3Qe9Zx1Lr5Tn8Wm2Kp".into(),
            scope: "openid profile email".into(),
        }
    }

    #[divan::bench(args = [Alg::ES256, Alg::RS256, Alg::EdDSA])]
    fn sign(b: divan::Bencher, alg: Alg) {
        let keys = fixture().state.keys();
        let c = claims();
        b.bench(|| keys.sign(alg, "at+jwt", &c).unwrap());
    }

    #[divan::bench(args = [Alg::ES256, Alg::RS256, Alg::EdDSA])]
    fn verify(b: divan::Bencher, alg: Alg) {
        let keys = fixture().state.keys();
        let token = keys.sign(alg, "at+jwt", &claims()).unwrap();
        b.bench(|| {
            let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            v.validate_aud = false;
            keys.verify::<Claims>(&token, v).unwrap()
        });
    }
}

mod clients {
    use super::*;

    /// The keyed-hash check of a client secret (no argon2 on this path).
    #[divan::bench]
    fn secret_check(b: divan::Bencher) {
        let h = fixture().state.token_hasher();
        let secret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-0000";
        let stored = h.hash(secret);
        b.bench(|| h.verify(secret, &stored));
    }

    /// A client read through the metadata cache (a hit).
    #[divan::bench]
    fn lookup_cached(b: divan::Bencher) {
        let f = fixture();
        b.bench(|| {
            f.rt.block_on(f.state.clients().find(f.state.db(), &f.client_id))
                .unwrap()
        });
    }
}
