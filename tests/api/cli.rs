//! The operator CLI, run as the real binary.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use entity::prelude::*;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::helpers::smtp::SmtpSink;
use crate::helpers::{TestDb, random_key, temp_dir};

pub(crate) struct Cli {
    env: Vec<(String, String)>,
    dir: tempfile::TempDir,
    db: TestDb,
    key: String,
}

impl Cli {
    pub(crate) async fn new() -> Self {
        let db = TestDb::create().await;
        let key = random_key();
        let env = vec![
            ("GATEHOUSE_DATABASE_URL".to_string(), db.url.clone()),
            ("GATEHOUSE_SECRET_KEY".to_string(), key.clone()),
            ("GATEHOUSE_ARGON2__MEMORY_KIB".to_string(), "64".to_string()),
            ("GATEHOUSE_ARGON2__ITERATIONS".to_string(), "1".to_string()),
            ("GATEHOUSE_LOG_LEVEL".to_string(), "warn".to_string()),
        ];
        Self {
            env,
            dir: temp_dir(),
            db,
            key,
        }
    }

    fn with(mut self, k: &str, v: &str) -> Self {
        self.env.retain(|(key, _)| key != k);
        self.env.push((k.to_string(), v.to_string()));
        self
    }

    fn without(mut self, k: &str) -> Self {
        self.env.retain(|(key, _)| key != k);
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatehouse"));
        for (k, _) in std::env::vars() {
            if k.starts_with("GATEHOUSE_") || k == "RUST_LOG" {
                cmd.env_remove(k);
            }
        }
        cmd.args(args)
            .envs(self.env.iter().cloned())
            .current_dir(self.dir.path());
        cmd
    }

    pub(crate) fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn gatehouse");
        {
            let mut pipe = child.stdin.take().expect("stdin");
            if let Some(s) = stdin {
                pipe.write_all(s.as_bytes()).expect("write stdin");
            }
        }
        child.wait_with_output().expect("gatehouse output")
    }

    async fn conn(&self) -> sea_orm::DatabaseConnection {
        sea_orm::Database::connect(&self.db.url)
            .await
            .expect("connect to test db")
    }
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn config_check_prints_redacted_config_and_fails_on_bad_values() {
    let cli = Cli::new()
        .await
        .with("GATEHOUSE_SMTP_URL", "smtp://mailer:s3cr3tpw@127.0.0.1:2525");
    let o = cli.run(&["config", "check"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("issuer = \"http://localhost:8080\""), "{out}");
    assert!(out.contains("smtp_url = \"smtp://mailer:***@127.0.0.1:2525\""), "{out}");
    assert!(
        !out.contains("s3cr3tpw") && !out.contains(&cli.key),
        "secrets leaked:\n{out}"
    );
    assert!(out.contains("secret_key = \"[redacted]\""), "{out}");

    let o = cli.with("GATEHOUSE_ISSUER", "htp:/x").run(&["config", "check"], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: GATEHOUSE_ISSUER: \"htp:/x\" is not an absolute http(s) URL\n"
    );
    assert!(stdout(&o).is_empty());
}

#[tokio::test]
async fn config_check_reads_a_toml_file_and_names_its_bad_keys() {
    let cli = Cli::new().await;
    let dir = temp_dir();
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(
        &file,
        "issuer = \"https://id.example.com\"\nmail_file_dir = \"/tmp/gatehouse-mail\"\n[password]\nmin_length = 12\n",
    )
    .unwrap();
    let o = cli
        .with("GATEHOUSE_CONFIG", file.to_str().unwrap())
        .run(&["config", "check"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("issuer = \"https://id.example.com\""));
    assert!(stdout(&o).contains("min_length = 12"), "{}", stdout(&o));

    std::fs::write(&file, "log_format = \"xml\"\n").unwrap();
    let cli = Cli::new().await.with("GATEHOUSE_CONFIG", file.to_str().unwrap());
    let o = cli.run(&["config", "check"], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        format!(
            "error: log_format (in {}): \"xml\" is not one of: text, json\n",
            file.display()
        )
    );
}

#[tokio::test]
async fn config_check_lists_providers_with_their_callback_and_no_secret() {
    let dir = temp_dir();
    let file = dir.path().join("gatehouse.toml");
    std::fs::write(
        &file,
        "issuer = \"https://id.example.com\"\nmail_file_dir = \"/tmp/gatehouse-mail\"\n\
         [[upstream]]\nid = \"gh\"\nkind = \"github\"\nclient_id = \"Iv1.abc\"\nclient_secret = \"gh-very-secret\"\n",
    )
    .unwrap();
    let cli = Cli::new().await.with("GATEHOUSE_CONFIG", file.to_str().unwrap());
    let o = cli.run(&["config", "check"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("client_id = \"Iv1.abc\""), "{out}");
    assert!(!out.contains("gh-very-secret"), "secret leaked:\n{out}");
    assert!(
        out.contains("# upstream \"gh\": register the redirect URI https://id.example.com/login/upstream/gh/callback"),
        "{out}"
    );
}

#[tokio::test]
async fn usage_errors_exit_with_2() {
    let cli = Cli::new().await;
    for args in [
        &["bogus"][..],
        &["user", "create"][..],
        &["client", "create", "--redirect-uri", "https://x"][..],
    ] {
        let o = cli.run(args, None);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("error:"), "{args:?}");
    }
    let o = cli.run(&["--help"], None);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("serve") && stdout(&o).contains("migrate"));
}

#[tokio::test]
async fn migrate_applies_then_reports_up_to_date() {
    let cli = Cli::new().await;
    let o = cli.run(&["migrate"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("applied m20261127_000001_create_initial_schema"),
        "{}",
        stdout(&o)
    );
    let o = cli.run(&["migrate"], None);
    assert_eq!(stdout(&o), "database is up to date\n");

    let o = cli
        .with("GATEHOUSE_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .run(&["migrate"], None);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.starts_with("error: database:") && err.lines().count() == 1, "{err}");
}

#[tokio::test]
async fn user_create_validates_and_stores_a_hashed_password() {
    let cli = Cli::new().await;
    let o = cli.run(
        &[
            "user",
            "create",
            "--email",
            "Admin@Example.com",
            "--password-stdin",
            "--verified",
            "--superuser",
        ],
        Some("correct horse battery staple\n"),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("created user "), "{}", stdout(&o));
    assert!(stdout(&o).contains("<Admin@Example.com> (verified, superuser)"));

    let conn = cli.conn().await;
    let user = User::find()
        .filter(entity::user::Column::EmailCanonical.eq("admin@example.com"))
        .one(&conn)
        .await
        .unwrap()
        .expect("user stored");
    assert!(user.is_superuser && user.is_active && user.email_verified_at.is_some());
    let hash = user.password_hash.clone().unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains("correct horse"));
    let events = gatehouse::audit::list_recent(&conn, 10).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "user.created" && e.actor == "cli" && e.user_id == Some(user.id))
    );

    // The same address in another case is a duplicate.
    let o = cli.run(
        &["user", "create", "--email", "admin@EXAMPLE.com", "--password-stdin"],
        Some("another good passphrase 9\n"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: an account with the email address admin@EXAMPLE.com already exists\n"
    );

    let o = cli.run(
        &["user", "create", "--email", "weak@example.com", "--password-stdin"],
        Some("password123\n"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("error: the password is too easy to guess"),
        "{}",
        stderr(&o)
    );

    let o = cli.run(
        &["user", "create", "--email", "short@example.com", "--password-stdin"],
        Some("abc\n"),
    );
    assert_eq!(stderr(&o), "error: the password must be at least 8 characters long\n");

    let o = cli.run(
        &["user", "create", "--email", "not-an-email", "--password-stdin"],
        Some("correct horse battery\n"),
    );
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "error: \"not-an-email\" is not a valid email address\n");

    // Without a terminal and without --password-stdin there is nothing to prompt on.
    let o = cli.run(&["user", "create", "--email", "tty@example.com"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("pass --password-stdin"), "{}", stderr(&o));
    assert_eq!(
        User::find().all(&conn).await.unwrap().len(),
        1,
        "failed commands created nothing"
    );
}

#[tokio::test]
async fn client_create_prints_the_secret_once_and_stores_only_its_keyed_hash() {
    let cli = Cli::new().await;
    let o = cli.run(
        &[
            "client",
            "create",
            "--name",
            "Shop",
            "--redirect-uri",
            "https://shop.example.com/cb",
            "--redirect-uri",
            "http://127.0.0.1:9000/cb",
            "--post-logout-redirect-uri",
            "https://shop.example.com/",
            "--grant-types",
            "authorization_code,refresh_token,client_credentials",
            "--json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    let obj = v.as_object().unwrap();
    assert_eq!(obj.len(), 2, "exactly client_id and client_secret: {out}");
    let id = obj["client_id"].as_str().unwrap().to_string();
    let secret = obj["client_secret"].as_str().unwrap().to_string();
    assert!(out.starts_with("{\"client_id\": \""), "{out}");
    assert_eq!(secret.len(), 43, "256 bits, base64url");

    let conn = cli.conn().await;
    let row = Client::find_by_id(id.clone())
        .one(&conn)
        .await
        .unwrap()
        .expect("client stored");
    let stored = row.secret_hash.clone().unwrap();
    assert_ne!(stored, secret);
    let key = gatehouse::crypto::MasterKey::parse(&cli.key).unwrap();
    assert!(
        key.token_hasher().verify(&secret, &stored),
        "stored as a keyed hash of the secret"
    );
    assert_eq!(row.token_endpoint_auth_method, "client_secret_basic");
    assert_eq!(
        gatehouse::clients::strings(&row.grant_types),
        ["authorization_code", "refresh_token", "client_credentials"]
    );
    assert_eq!(
        gatehouse::clients::strings(&row.redirect_uris),
        ["https://shop.example.com/cb", "http://127.0.0.1:9000/cb"]
    );

    let o = cli.run(
        &[
            "client",
            "create",
            "--name",
            "SPA",
            "--redirect-uri",
            "https://spa.example.com/cb",
            "--public",
            "--json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["client_secret"].is_null());

    // The listing never shows a secret.
    let o = cli.run(&["client", "list"], None);
    assert_eq!(o.status.code(), Some(0));
    let list = stdout(&o);
    assert!(list.contains(&id) && list.contains("Shop") && list.contains("confidential") && list.contains("public"));
    assert!(!list.contains(&secret) && !list.contains(&stored));
    let o = cli.run(&["client", "list", "--json"], None);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(!stdout(&o).contains(&stored));
}

#[tokio::test]
async fn client_create_refuses_bad_input_with_one_line() {
    let cli = Cli::new().await;
    let cases: &[(&[&str], &str)] = &[
        (
            &["--name", "A", "--redirect-uri", "http://evil.example.com/cb"],
            "uses http, which is only allowed for loopback hosts",
        ),
        (
            &["--name", "A", "--redirect-uri", "https://a.example.com/cb#x"],
            "must not contain a fragment",
        ),
        (
            &["--name", "A", "--redirect-uri", "not-a-url"],
            "is not an absolute URI",
        ),
        (
            &["--name", "A", "--redirect-uri", "javascript:alert(1)"],
            "cannot be a redirect target",
        ),
        (&["--name", "A"], "needs at least one redirect URI"),
        (
            &[
                "--name",
                "A",
                "--redirect-uri",
                "https://a.example.com/cb",
                "--public",
                "--grant-types",
                "client_credentials",
            ],
            "a public client cannot use the client_credentials grant",
        ),
        (
            &[
                "--name",
                "A",
                "--redirect-uri",
                "https://a.example.com/cb",
                "--grant-types",
                "password",
            ],
            "grant type \"password\" is not one of",
        ),
        (
            &[
                "--name",
                "A",
                "--redirect-uri",
                "https://a.example.com/cb",
                "--post-logout-redirect-uri",
                "http://x.example/",
            ],
            "post-logout redirect URI",
        ),
        (
            &["--name", " ", "--redirect-uri", "https://a.example.com/cb"],
            "the client name must be",
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["client", "create"];
        full.extend_from_slice(args);
        let o = cli.run(&full, None);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}{}", stdout(&o), stderr(&o));
        let err = stderr(&o);
        assert!(
            err.starts_with("error: ") && err.contains(expected) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    let conn = cli.conn().await;
    assert!(Client::find().all(&conn).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_different_master_key_is_detected() {
    let cli = Cli::new().await;
    assert_eq!(cli.run(&["client", "list"], None).status.code(), Some(0));
    let o = cli
        .with("GATEHOUSE_SECRET_KEY", &random_key())
        .run(&["client", "list"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is not the one this database was set up with"),
        "{}",
        stderr(&o)
    );
    let o = Cli::new()
        .await
        .with("GATEHOUSE_SECRET_KEY", "too-short")
        .run(&["client", "list"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("must be 32 random bytes"), "{}", stderr(&o));
}

#[tokio::test]
async fn without_a_key_one_is_generated_next_to_the_sqlite_database() {
    let cli = Cli::new()
        .await
        .without("GATEHOUSE_SECRET_KEY")
        .with("GATEHOUSE_DATABASE_URL", "sqlite://gh.db?mode=rwc");
    let o = cli.run(&["client", "list"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("generated a new master key"), "{}", stderr(&o));
    let key_file = cli.dir.path().join("gh.db.key");
    let first = std::fs::read_to_string(&key_file).expect("key file next to the database");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let o = cli.run(&["client", "list"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stderr(&o).contains("generated"), "reused, not regenerated");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), first);

    // Losing the key file is detected, not silently replaced by garbage.
    std::fs::remove_file(&key_file).unwrap();
    let o = cli.run(&["client", "list"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("is not the one this database was set up with"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test]
async fn mail_test_sends_through_smtp() {
    let sink = SmtpSink::start().await;
    let cli = Cli::new().await.with("GATEHOUSE_SMTP_URL", &sink.url());
    let out = tokio::task::spawn_blocking(move || cli.run(&["mail", "test", "--to", "ops@example.com"], None))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "test mail sent to ops@example.com via smtp\n");
    let msgs = sink.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(msgs[0].header("Subject").as_deref(), Some("Gatehouse test mail"));
}

#[tokio::test]
async fn serve_is_the_default_command_and_stops_cleanly_on_sigterm() {
    let cli = Cli::new()
        .await
        .with("GATEHOUSE_BIND", "127.0.0.1:0")
        .with("GATEHOUSE_LOG_FORMAT", "json")
        .with("GATEHOUSE_LOG_LEVEL", "info");
    let mut child = cli
        .command(&[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr_pipe = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut addr = None;
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while addr.is_none() && std::time::Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                && v["message"] == "listening"
            {
                addr = v["addr"]
                    .as_str()
                    .map(|a| a.trim_start_matches("Some(").trim_end_matches(')').to_string());
            }
            lines.push(line);
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("no listening line in {lines:?}"));
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/readyz");
    crate::helpers::eventually(Duration::from_secs(20), "ready", || {
        let c = client.clone();
        let u = url.clone();
        async move { c.get(&u).send().await.ok().filter(|r| r.status() == 200).map(|_| ()) }
    })
    .await;
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let start = std::time::Instant::now();
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(exit.code(), Some(0));
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(rest.iter().any(|l| l.contains("shutting down")), "{rest:?}");
}

#[tokio::test]
async fn client_create_takes_per_client_settings() {
    let cli = Cli::new().await;
    let dir = temp_dir();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(&jwks, r#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"k1","use":"sig","alg":"ES256"}]}"#).unwrap();
    let o = cli.run(
        &[
            "client",
            "create",
            "--name",
            "Internal",
            "--redirect-uri",
            "https://in.example.com/cb",
            "--first-party",
            "--id-token-alg",
            "EdDSA",
            "--access-token-alg",
            "RS256",
            "--require-par",
            "--backchannel-logout-uri",
            "https://in.example.com/bcl",
            "--jwks-file",
            jwks.to_str().unwrap(),
            "--scopes",
            "openid,email",
            "--access-token-secs",
            "300",
            "--resource",
            "https://api.example.com",
            "--resource",
            "urn:example:reports",
            "--json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["client_secret"].is_null(), "private_key_jwt clients get no secret");
    let conn = cli.conn().await;
    let row = Client::find_by_id(v["client_id"].as_str().unwrap().to_string())
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    assert!(row.first_party && row.require_par);
    assert_eq!(row.token_endpoint_auth_method, "private_key_jwt");
    assert_eq!(row.id_token_signed_response_alg.as_deref(), Some("EdDSA"));
    assert_eq!(row.access_token_signed_alg.as_deref(), Some("RS256"));
    assert_eq!(
        row.backchannel_logout_uri.as_deref(),
        Some("https://in.example.com/bcl")
    );
    assert_eq!(row.access_token_secs, Some(300));
    assert_eq!(gatehouse::clients::strings(&row.allowed_scopes), ["openid", "email"]);
    assert_eq!(
        gatehouse::clients::strings(row.allowed_resources.as_ref().unwrap()),
        ["https://api.example.com", "urn:example:reports"]
    );
    let o = cli.run(
        &[
            "client",
            "create",
            "--name",
            "Poster",
            "--grant-types",
            "client_credentials",
            "--token-endpoint-auth-method",
            "client_secret_post",
            "--json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let row = Client::find_by_id(v["client_id"].as_str().unwrap().to_string())
        .one(&conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.token_endpoint_auth_method, "client_secret_post");
    // An existing client moves to the other method, keeping its secret.
    let id = v["client_id"].as_str().unwrap();
    let o = cli.run(&["client", "set-auth-method", id, "client_secret_basic"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let row = Client::find_by_id(id.to_string()).one(&conn).await.unwrap().unwrap();
    assert_eq!(row.token_endpoint_auth_method, "client_secret_basic");
    // Client ids are base64url: one that begins with '-' is an id, not an option.
    let o = cli.run(
        &["client", "set-auth-method", "-no-such-id", "client_secret_basic"],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no client"), "{}", stderr(&o));
    let o = cli.run(&["client", "set-auth-method", id, "none"], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not one of"), "{}", stderr(&o));

    for (args, expected) in [
        (vec!["--id-token-alg", "HS256"], "is not one of RS256, ES256, EdDSA"),
        (
            vec!["--access-token-secs", "0"],
            "access token lifetime must be between",
        ),
        (vec!["--scopes", "open\"id"], "malformed scope"),
        (vec!["--jwks-file", "/nonexistent.json"], "--jwks-file"),
        (
            vec!["--token-endpoint-auth-method", "client_secret_jwt"],
            "is not one of client_secret_basic, client_secret_post, private_key_jwt",
        ),
        (
            vec!["--resource", "https://api.example.com/#x"],
            "is not an absolute URI without a fragment",
        ),
    ] {
        let mut full = vec![
            "client",
            "create",
            "--name",
            "X",
            "--redirect-uri",
            "https://x.example.com/cb",
        ];
        full.extend(args.iter());
        let o = cli.run(&full, None);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}{}", stdout(&o), stderr(&o));
        assert!(stderr(&o).contains(expected), "{args:?}: {}", stderr(&o));
    }
}
