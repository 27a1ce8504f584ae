//! A login storm against a running Gatehouse: `--users` browsers each run whole
//! authorization-code flows back to back (authorize → login page → login form with its
//! CSRF token → consent if asked → code → token), every flow in a fresh browser (no
//! cookies carried over), while an open-loop client-credentials load runs beside them at
//! `--cc-rate` requests per second. Prints flows per second and the client-credentials
//! latency percentiles. Used by `scripts/load.sh storm`; loopback only.
//!
//! cargo run --release --example login_storm -- --base http://127.0.0.1:8080 \
//!   --client-id ID --client-secret S --redirect-uri https://rp.example/cb \
//!   --users 8 --email 'storm{}@example.com' --password PW --cc-id ID --cc-secret S

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Parser;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

#[derive(Parser, Debug, Clone)]
struct Args {
    #[arg(long)]
    base: String,
    #[arg(long)]
    client_id: String,
    #[arg(long)]
    client_secret: String,
    #[arg(long)]
    redirect_uri: String,
    /// Concurrent browsers, each signing in as its own user (`--email` with `{}` → 1..=N).
    #[arg(long, default_value_t = 8)]
    users: usize,
    #[arg(long)]
    email: String,
    #[arg(long)]
    password: String,
    #[arg(long, default_value_t = 20)]
    secs: u64,
    /// A client_credentials client for the load beside the storm.
    #[arg(long)]
    cc_id: Option<String>,
    #[arg(long)]
    cc_secret: Option<String>,
    /// Client-credentials requests per second (open loop: sent on schedule, whatever
    /// the latency, so slow answers cannot hide behind fewer requests).
    #[arg(long, default_value_t = 50)]
    cc_rate: u64,
    /// Only measure argon2id hashes per second with the crate Gatehouse uses (one thread
    /// per core, Gatehouse's default parameters) for this many seconds, then exit.
    #[arg(long)]
    argon2_ceiling: Option<u64>,
}

/// argon2id verifications per second, one thread per core, for `secs`.
fn argon2_ceiling(secs: u64) -> f64 {
    use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
    let params = Params::new(19_456, 2, 1, None).expect("parameters");
    let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let hash = a
        .hash_password(b"storm horse battery staple")
        .expect("hash")
        .to_string();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let until = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let n: u64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while Instant::now() < until {
                        let _ = a.verify_password(b"storm horse battery staple", hash.as_str());
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap_or(0)).sum()
    });
    n as f64 / start.elapsed().as_secs_f64()
}

/// One browser's cookies, by name (paths and domains are all the same server here).
#[derive(Default)]
struct Jar(HashMap<String, String>);

impl Jar {
    fn take(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all(SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or_default();
            if let Some((k, val)) = pair.split_once('=') {
                if val.is_empty() || v.to_ascii_lowercase().contains("max-age=0") {
                    self.0.remove(k.trim());
                } else {
                    self.0.insert(k.trim().to_string(), val.to_string());
                }
            }
        }
    }
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn input(html: &str, name: &str) -> Option<String> {
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

fn random_b64(n: usize) -> String {
    use ring::rand::SecureRandom;
    let mut bytes = vec![0u8; n];
    ring::rand::SystemRandom::new().fill(&mut bytes).expect("random bytes");
    URL_SAFE_NO_PAD.encode(bytes)
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()))
}

async fn flow(http: &reqwest::Client, a: &Args, email: &str) -> Result<(), String> {
    let mut jar = Jar::default();
    let verifier = random_b64(32);
    let state = random_b64(12);
    let url = format!(
        "{}/oauth2/authorize?{}",
        a.base,
        serde_urlencoded::to_string([
            ("client_id", a.client_id.as_str()),
            ("redirect_uri", &a.redirect_uri),
            ("response_type", "code"),
            ("scope", "openid email"),
            ("state", &state),
            ("nonce", &random_b64(12)),
            ("code_challenge", &s256(&verifier)),
            ("code_challenge_method", "S256"),
        ])
        .map_err(|e| e.to_string())?
    );
    let get = |jar: &Jar, url: String| http.get(url).header(COOKIE, jar.header()).send();
    let mut r = get(&jar, url).await.map_err(|e| e.to_string())?;
    for _ in 0..10 {
        jar.take(&r);
        if !r.status().is_redirection() {
            return Err(format!("expected a redirect, got {}", r.status()));
        }
        let loc = r
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        if loc.starts_with(&a.redirect_uri) {
            let u = url::Url::parse(&loc).map_err(|e| e.to_string())?;
            let code = u
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
                .ok_or("no code")?;
            let t = http
                .post(format!("{}/oauth2/token", a.base))
                .basic_auth(&a.client_id, Some(&a.client_secret))
                .form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &a.redirect_uri),
                    ("code_verifier", &verifier),
                ])
                .send()
                .await
                .map_err(|e| e.to_string())?;
            if t.status() != 200 {
                return Err(format!("token: {}", t.status()));
            }
            let body: serde_json::Value = t.json().await.map_err(|e| e.to_string())?;
            return body["id_token"]
                .as_str()
                .map(|_| ())
                .ok_or_else(|| "no id_token".into());
        }
        let abs = format!("{}{loc}", a.base);
        if loc.starts_with("/login") || loc.starts_with("/consent") {
            let page = get(&jar, abs).await.map_err(|e| e.to_string())?;
            jar.take(&page);
            if page.status() != 200 {
                return Err(format!("{loc}: {}", page.status()));
            }
            let html = page.text().await.map_err(|e| e.to_string())?;
            let csrf = input(&html, "csrf").ok_or("no csrf field")?;
            let (action, mut form) = if loc.starts_with("/login") {
                let f = vec![
                    ("email".to_string(), email.to_string()),
                    ("password".to_string(), a.password.clone()),
                ];
                ("/login", f)
            } else {
                ("/consent", vec![("decision".to_string(), "allow".to_string())])
            };
            form.push(("csrf".into(), csrf));
            for carried in ["authreq", "next"] {
                if let Some(v) = input(&html, carried) {
                    form.push((carried.into(), v));
                }
            }
            r = http
                .post(format!("{}{action}", a.base))
                .header(COOKIE, jar.header())
                .form(&form)
                .send()
                .await
                .map_err(|e| e.to_string())?;
        } else if loc.starts_with('/') {
            r = get(&jar, abs).await.map_err(|e| e.to_string())?;
        } else {
            return Err(format!("unexpected redirect to {loc}"));
        }
    }
    Err("too many redirects".into())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    if let Some(secs) = a.argon2_ceiling {
        println!(
            "argon2id ceiling (the argon2 crate, one thread per core, m=19456 t=2 p=1): {:.1} hashes/s",
            argon2_ceiling(secs)
        );
        return;
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .expect("http client");
    let deadline = Instant::now() + Duration::from_secs(a.secs);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut users = Vec::new();
    for n in 1..=a.users {
        let (http, a, ok, failed) = (http.clone(), a.clone(), ok.clone(), failed.clone());
        users.push(tokio::spawn(async move {
            let email = a.email.replace("{}", &n.to_string());
            let mut first_error = None;
            while Instant::now() < deadline {
                match flow(&http, &a, &email).await {
                    Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        first_error.get_or_insert(e);
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
            first_error
        }));
    }
    let cc = match (a.cc_id.clone(), a.cc_secret.clone()) {
        (Some(id), Some(secret)) => {
            let (http, base, rate) = (http.clone(), a.base.clone(), a.cc_rate.max(1));
            Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut sent = Vec::new();
                while Instant::now() < deadline {
                    tick.tick().await;
                    let (http, base, id, secret) = (http.clone(), base.clone(), id.clone(), secret.clone());
                    sent.push(tokio::spawn(async move {
                        let t0 = Instant::now();
                        let r = http
                            .post(format!("{base}/oauth2/token"))
                            .basic_auth(id, Some(secret))
                            .form(&[("grant_type", "client_credentials")])
                            .send()
                            .await;
                        let good = match r {
                            Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
                            Err(_) => false,
                        };
                        (t0.elapsed(), good)
                    }));
                }
                let mut lat = Vec::new();
                let mut bad = 0;
                for s in sent {
                    if let Ok((d, good)) = s.await {
                        lat.push(d);
                        if !good {
                            bad += 1;
                        }
                    }
                }
                lat.sort();
                (lat, bad)
            }))
        }
        _ => None,
    };
    let mut errors = Vec::new();
    for u in users {
        if let Ok(Some(e)) = u.await {
            errors.push(e);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!(
        "flows: {ok} ok, {failed} failed in {secs:.1} s = {:.1} flows/s ({} browsers)",
        ok as f64 / secs,
        a.users
    );
    if let Some(e) = errors.first() {
        println!("first flow error: {e}");
    }
    if let Some(cc) = cc
        && let Ok((lat, bad)) = cc.await
    {
        println!(
            "client_credentials beside it: {} requests ({bad} failed) at {}/s: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            lat.len(),
            a.cc_rate,
            percentile(&lat, 0.50).as_secs_f64() * 1e3,
            percentile(&lat, 0.99).as_secs_f64() * 1e3,
            lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
        );
    }
}
