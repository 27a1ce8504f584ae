use std::path::Path;

use secrecy::ExposeSecret;

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn err(pairs: &[(&str, &str)]) -> String {
    Config::load_from(None, env(pairs))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn defaults_are_valid_and_documented_values() {
    let c = Config::load_from(None, env(&[])).expect("defaults load");
    assert_eq!(c.issuer.as_str(), "http://localhost:8080/");
    assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(c.database_url.expose_secret(), "sqlite://gatehouse.db?mode=rwc");
    assert!(c.redis_url.is_none());
    assert!(matches!(c.mail_transport, MailTransportConfig::Console));
    assert!(matches!(&c.secret_key, SecretKeySource::Generated(p) if p == Path::new("gatehouse.db.key")));
    assert_eq!(c.argon2.memory_kib, 19_456);
    assert_eq!(c.tokens.authorization_code_secs, 60);
    assert_eq!(c.log_format, LogFormat::Text);
}

#[test]
fn env_overrides_file_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(
        &path,
        "issuer = \"https://id.example.com\"\nbind = \"0.0.0.0:9000\"\nmail_file_dir = \"/tmp/mail\"\n[argon2]\nmemory_kib = 32768\niterations = 3\n",
    )
    .unwrap();
    let c = Config::load_from(
        Some(&path),
        env(&[
            ("GATEHOUSE_BIND", "127.0.0.1:9001"),
            ("GATEHOUSE_ARGON2__ITERATIONS", "4"),
        ]),
    )
    .expect("loads");
    assert_eq!(c.issuer_id, "https://id.example.com");
    assert_eq!(c.bind.to_string(), "127.0.0.1:9001");
    assert_eq!(c.argon2.memory_kib, 32768);
    assert_eq!(c.argon2.iterations, 4);
    assert_eq!(c.argon2.parallelism, 1);
}

#[test]
fn invalid_values_name_key_value_and_expectation() {
    assert_eq!(
        err(&[("GATEHOUSE_ISSUER", "htp:/x")]),
        "GATEHOUSE_ISSUER: \"htp:/x\" is not an absolute http(s) URL"
    );
    assert_eq!(
        err(&[("GATEHOUSE_ISSUER", "http://id.example.com")]),
        "GATEHOUSE_ISSUER: \"http://id.example.com\" must be https unless the host is a loopback address"
    );
    assert!(err(&[("GATEHOUSE_ISSUER", "https://id.example.com/?a=b")]).contains("must not have a query"));
    assert_eq!(
        err(&[("GATEHOUSE_BIND", "localhost")]),
        "GATEHOUSE_BIND: \"localhost\" is not an IP address and port, e.g. 127.0.0.1:8080"
    );
    assert_eq!(
        err(&[("GATEHOUSE_DATABASE_URL", "mysql://x")]),
        "GATEHOUSE_DATABASE_URL: \"mysql://x\" is not a sqlite:// or postgres:// URL"
    );
    assert_eq!(
        err(&[("GATEHOUSE_REDIS_URL", "http://r:pw@x")]),
        "GATEHOUSE_REDIS_URL: \"http://r:***@x/\" is not a redis:// or rediss:// URL"
    );
    assert!(
        err(&[("GATEHOUSE_SMTP_URL", "smtp://h?tls=bogus")]).starts_with("GATEHOUSE_SMTP_URL: \"smtp://h?tls=bogus\"")
    );
    assert!(err(&[("GATEHOUSE_SMTP_URL", "imap://h")]).starts_with("GATEHOUSE_SMTP_URL:"));
    assert_eq!(
        err(&[("GATEHOUSE_MAIL_FROM", "not a mailbox")]),
        "GATEHOUSE_MAIL_FROM: \"not a mailbox\" is not a mailbox such as \"Gatehouse <id@example.com>\""
    );
    assert_eq!(
        err(&[("GATEHOUSE_LOG_FORMAT", "xml")]),
        "GATEHOUSE_LOG_FORMAT: \"xml\" is not one of: text, json"
    );
    assert!(err(&[("GATEHOUSE_LOG_LEVEL", "=[")]).starts_with("GATEHOUSE_LOG_LEVEL:"));
    assert_eq!(
        err(&[("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8, nope")]),
        "GATEHOUSE_TRUSTED_PROXIES: \"nope\" is not an IP address or CIDR block such as 10.0.0.0/8"
    );
    assert!(
        err(&[("GATEHOUSE_ARGON2__MEMORY_KIB", "abc")])
            .starts_with("GATEHOUSE_ARGON2__MEMORY_KIB: string \"abc\" is not")
    );
    assert!(err(&[("GATEHOUSE_ARGON2__MEMORY_KIB", "1")]).starts_with("GATEHOUSE_ARGON2: \"memory_kib=1"));
    assert!(
        err(&[("GATEHOUSE_ARGON2__MAX_CONCURRENT", "0")])
            .starts_with("GATEHOUSE_ARGON2__MAX_CONCURRENT: \"0\" must be at least 1")
    );
    assert!(
        err(&[("GATEHOUSE_PASSWORD__MIN_LENGTH", "4")])
            .starts_with("GATEHOUSE_PASSWORD__MIN_LENGTH: \"4\" must be at least 8")
    );
    assert!(err(&[("GATEHOUSE_PASSWORD__MAX_LENGTH", "10")]).starts_with("GATEHOUSE_PASSWORD__MAX_LENGTH:"));
    assert!(err(&[("GATEHOUSE_PASSWORD__MIN_STRENGTH", "5")]).starts_with("GATEHOUSE_PASSWORD__MIN_STRENGTH:"));
    assert!(
        err(&[("GATEHOUSE_TOKENS__AUTHORIZATION_CODE_SECS", "3600")])
            .starts_with("GATEHOUSE_TOKENS__AUTHORIZATION_CODE_SECS: \"3600\"")
    );
    assert!(err(&[("GATEHOUSE_TOKENS__ACCESS_TOKEN_SECS", "0")]).contains("must be greater than 0"));
    assert!(
        err(&[("GATEHOUSE_TOKENS__REFRESH_TOKEN_ABSOLUTE_SECS", "1")])
            .contains("must not be less than tokens.refresh_token_idle_secs")
    );
    assert!(err(&[("GATEHOUSE_MAIL_MAX_ATTEMPTS", "0")]).contains("must be at least 1"));
    assert!(err(&[("GATEHOUSE_MAIL_RETRY_MAX_MS", "1")]).contains("must not be less than mail_retry_initial_ms"));
    assert!(err(&[("GATEHOUSE_MAIL_POLL_INTERVAL_MS", "0")]).contains("must be greater than 0"));
    assert!(err(&[("GATEHOUSE_BODY_LIMIT_BYTES", "10")]).contains("must be at least 1024"));
    assert!(err(&[("GATEHOUSE_DATABASE_MAX_CONNECTIONS", "0")]).contains("must be at least 1"));
    assert!(err(&[("GATEHOUSE_THEME_DIR", "/nonexistent/theme")]).contains("is not a directory"));
    assert_eq!(
        err(&[("GATEHOUSE_ACCESS_TOKEN_ALG", "HS256")]),
        "GATEHOUSE_ACCESS_TOKEN_ALG: \"HS256\" is not one of: RS256, ES256, EdDSA"
    );
    assert!(err(&[("GATEHOUSE_KEYS__ROTATION_DAYS", "0")]).contains("must be at least 1"));
    assert!(err(&[("GATEHOUSE_CAPTCHA__ENABLED", "true")]).starts_with("captcha.secret: \"\" must be set"));
    assert!(
        err(&[
            ("GATEHOUSE_CAPTCHA__ENABLED", "true"),
            ("GATEHOUSE_CAPTCHA__SECRET", "x")
        ])
        .starts_with("captcha.site_key")
    );
    assert!(
        err(&[
            ("GATEHOUSE_CAPTCHA__ENABLED", "true"),
            ("GATEHOUSE_CAPTCHA__SECRET", "x"),
            ("GATEHOUSE_CAPTCHA__SITE_KEY", "k"),
            ("GATEHOUSE_CAPTCHA__VERIFY_URL", "http://verify.example.com/"),
        ])
        .contains("is not an https URL")
    );
    assert!(err(&[("GATEHOUSE_TRUSTED_PROXIES", "0.0.0.0/0")]).contains("trusts every address"));
    assert!(err(&[("GATEHOUSE_FORWARDED_HEADER", "x-real-ip")]).contains("is not one of: x-forwarded-for, forwarded"));
    assert!(
        err(&[("GATEHOUSE_SMTP_URL", "smtp://u:pw@mail.example.com:587")]).contains("sends credentials without TLS"),
        "credentials over plain SMTP to a remote host"
    );
    assert!(
        err(&[(
            "GATEHOUSE_SMTP_URL",
            "smtp://u:pw@mail.example.com:587?tls=opportunistic"
        )])
        .contains("without TLS")
    );
    assert!(
        Config::load_from(
            None,
            env(&[("GATEHOUSE_SMTP_URL", "smtp://u:pw@mail.example.com:587?tls=required")])
        )
        .is_ok()
    );
    assert!(Config::load_from(None, env(&[("GATEHOUSE_SMTP_URL", "smtp://u:pw@127.0.0.1:25")])).is_ok());
    assert!(
        err(&[("GATEHOUSE_ISSUER", "https://id.example.com")]).contains("mail would only be written to the log"),
        "production issuers need real mail"
    );
}

#[test]
fn postgres_needs_an_explicit_master_key() {
    let e = err(&[("GATEHOUSE_DATABASE_URL", "postgres://u:pw@127.0.0.1/db")]);
    assert!(e.contains("a master key is required with PostgreSQL"), "{e}");
    let c = Config::load_from(
        None,
        env(&[
            ("GATEHOUSE_DATABASE_URL", "postgres://u:pw@127.0.0.1/db"),
            ("GATEHOUSE_SECRET_KEY", "k"),
        ]),
    )
    .unwrap();
    assert_eq!(c.database_kind(), DatabaseKind::Postgres);
    assert!(err(&[("GATEHOUSE_SECRET_KEY", "a"), ("GATEHOUSE_SECRET_KEY_FILE", "/x")]).contains("not both"));
}

#[test]
fn file_variants_of_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("smtp");
    std::fs::write(&f, "smtp://user:hunter2@mail.example.com:587?tls=required\n").unwrap();
    let c = Config::load_from(None, env(&[("GATEHOUSE_SMTP_URL_FILE", f.to_str().unwrap())])).unwrap();
    assert!(matches!(&c.mail_transport, MailTransportConfig::Smtp(u) if u.expose_secret().contains("hunter2")));
    assert!(!c.redacted_toml().contains("hunter2"));
    let db = dir.path().join("db");
    std::fs::write(&db, "postgres://u:pw@127.0.0.1/x").unwrap();
    let c = Config::load_from(
        None,
        env(&[
            ("GATEHOUSE_DATABASE_URL_FILE", db.to_str().unwrap()),
            ("GATEHOUSE_SECRET_KEY", "x"),
        ]),
    )
    .unwrap();
    assert_eq!(c.database_kind(), DatabaseKind::Postgres);
    let e = err(&[("GATEHOUSE_REDIS_URL_FILE", "/nonexistent/redis")]);
    assert!(
        e.starts_with("GATEHOUSE_REDIS_URL_FILE: \"/nonexistent/redis\" cannot be read"),
        "{e}"
    );
    let e = err(&[("GATEHOUSE_REDIS_URL", "redis://a"), ("GATEHOUSE_REDIS_URL_FILE", "/x")]);
    assert!(e.contains("not both"), "{e}");
}

#[test]
fn toml_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.toml");
    std::fs::write(&path, "isuer = \"https://x\"\n").unwrap();
    let e = Config::load_from(Some(&path), env(&[])).unwrap_err().to_string();
    assert!(e.starts_with("isuer (in "), "{e}");
    assert!(e.ends_with("unknown configuration key"), "{e}");
    std::fs::write(&path, "issuer = \"ftp://x\"\n").unwrap();
    let e = Config::load_from(Some(&path), env(&[])).unwrap_err().to_string();
    assert!(
        e.starts_with("issuer (in ") && e.contains("\"ftp://x\" is not an absolute http(s) URL"),
        "{e}"
    );
    std::fs::write(&path, "issuer = [\n").unwrap();
    let e = Config::load_from(Some(&path), env(&[])).unwrap_err().to_string();
    assert!(e.contains("not valid TOML"), "{e}");
    let e = Config::load_from(Some(&dir.path().join("missing.toml")), env(&[]))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("GATEHOUSE_CONFIG: cannot read"), "{e}");
}

#[test]
fn profile_fields_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.toml");
    let load = |toml: &str| {
        std::fs::write(&path, toml).unwrap();
        Config::load_from(Some(&path), env(&[]))
            .map(|c| c.profile_fields.len())
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        load("[[profile_fields]]\nkey = \"team\"\nlabel = \"Team\"\ntype = \"text\"\n"),
        Ok(1)
    );
    assert!(
        load("[[profile_fields]]\nkey = \"email\"\nlabel = \"E\"\ntype = \"text\"\n")
            .unwrap_err()
            .contains("must be a new, unique name")
    );
    assert!(
        load("[[profile_fields]]\nkey = \"x\"\nlabel = \"X\"\ntype = \"color\"\n")
            .unwrap_err()
            .contains("is not one of: text")
    );
    assert!(
        load("[[profile_fields]]\nkey = \"x\"\nlabel = \"X\"\ntype = \"select\"\n")
            .unwrap_err()
            .contains("needs at least one option")
    );
}

#[test]
fn trusted_proxies_accept_list_or_comma_string() {
    let c = Config::load_from(
        None,
        env(&[("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8,::1, 192.168.1.1")]),
    )
    .unwrap();
    assert_eq!(c.trusted_proxies.len(), 3);
    assert_eq!(c.trusted_proxies[2].to_string(), "192.168.1.1/32");
}

#[test]
fn unknown_env_vars_are_reported() {
    let unknown = unknown_env_vars(env(&[
        ("GATEHOUSE_ISSUER", "x"),
        ("GATEHOUSE_ISUER", "x"),
        ("GATEHOUSE_ARGON2__MEMORY_KIB", "1"),
        ("GATEHOUSE_CONFIG", "x"),
        ("OTHER", "x"),
    ]));
    assert_eq!(unknown, vec!["GATEHOUSE_ISUER".to_string()]);
}

#[test]
fn redaction_hides_every_secret() {
    let c = Config::load_from(
        None,
        env(&[
            ("GATEHOUSE_SECRET_KEY", "supersecretvalue"),
            ("GATEHOUSE_REDIS_URL", "redis://:redispw@127.0.0.1:6379"),
            ("GATEHOUSE_DATABASE_URL", "postgres://u:dbpw@127.0.0.1/db"),
        ]),
    )
    .unwrap();
    let out = c.redacted_toml();
    let debug = format!("{c:?}");
    for secret in ["supersecretvalue", "redispw", "dbpw"] {
        assert!(!out.contains(secret), "{secret} leaked in {out}");
        assert!(!debug.contains(secret), "{secret} leaked in Debug output");
    }
    assert_eq!(
        redact_url("postgres://h/db?user=u&password=pw"),
        "postgres://h/db?user=u&password=***"
    );
    assert!(out.contains("postgres://u:***@127.0.0.1/db"));
}

fn with_file(toml: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, toml).unwrap();
    Config::load_from(Some(&path), env(&[]))
}

fn upstream_err(toml: &str) -> String {
    with_file(toml).err().map(|e| e.to_string()).unwrap_or_default()
}

#[test]
fn upstream_providers_get_their_kinds_defaults() {
    let c = with_file(
        "[[upstream]]\nid = \"google\"\nkind = \"google\"\nclient_id = \"cid\"\nclient_secret = \"shh-google\"\n\
         [[upstream]]\nid = \"gh\"\nkind = \"github\"\nclient_id = \"cid\"\nclient_secret = \"shh-github\"\n",
    )
    .expect("valid providers");
    let [google, gh] = &c.upstream[..] else {
        panic!("two providers")
    };
    assert_eq!(google.name, "Google");
    assert_eq!(
        google.issuer.as_ref().map(|u| u.as_str()),
        Some("https://accounts.google.com/")
    );
    assert_eq!(google.scopes, ["openid", "email", "profile"]);
    assert_eq!(
        google.callback_url(&c.issuer_id),
        "http://localhost:8080/login/upstream/google/callback"
    );
    assert_eq!(gh.name, "GitHub");
    assert_eq!(gh.api_url.as_ref().map(|u| u.as_str()), Some("https://api.github.com/"));
    assert_eq!(
        gh.token_url.as_ref().map(|u| u.as_str()),
        Some("https://github.com/login/oauth/access_token")
    );
    let shown = c.redacted_toml();
    assert!(!shown.contains("shh-"), "secrets redacted:\n{shown}");
    assert!(shown.contains("id = \"gh\""), "{shown}");
}

#[test]
fn upstream_mistakes_name_the_key() {
    let base = "[[upstream]]\nid = \"corp\"\nclient_id = \"cid\"\nclient_secret = \"s\"\nname = \"Corp\"\n";
    let e = upstream_err(&format!("{base}kind = \"saml\"\n"));
    assert!(
        e.contains("upstream[0] (corp).kind")
            && e.contains("\"saml\" is not one of: google, github, discord, facebook, oidc"),
        "{e}"
    );
    let e = upstream_err("[[upstream]]\nid = \"gh\"\nkind = \"github\"\nclient_id = \"cid\"\n");
    assert!(
        e.contains("upstream[0] (gh).client_secret") && e.contains("must be given"),
        "{e}"
    );
    let e = upstream_err(&format!("{base}kind = \"oidc\"\nissuer = \"http://idp.example.com\"\n"));
    assert!(
        e.contains("upstream[0] (corp).issuer") && e.contains("http://idp.example.com"),
        "{e}"
    );
    let e = upstream_err(&format!("{base}kind = \"oidc\"\n"));
    assert!(e.contains("upstream[0] (corp).issuer"), "{e}");
    let e = upstream_err(&format!(
        "{base}kind = \"oidc\"\nissuer = \"https://idp.example.com\"\n{base}kind = \"oidc\"\nissuer = \"https://idp.example.com\"\n"
    ));
    assert!(
        e.contains("upstream[1] (corp).id") && e.contains("is used by another provider"),
        "{e}"
    );
    let e = upstream_err(&format!(
        "{base}kind = \"github\"\napi_url = \"http://api.example.com\"\n"
    ));
    assert!(e.contains("upstream[0] (corp).api_url"), "{e}");
    let e = upstream_err(&format!("{base}kind = \"github\"\nclient_secrte = \"typo\"\n"));
    assert!(e.contains("client_secrte"), "{e}");
    let e = upstream_err(&format!("{base}kind = \"github\"\nendpoint_hosts = [\"x.example\"]\n"));
    assert!(e.contains("upstream[0] (corp).endpoint_hosts"), "{e}");
    // Loopback is the one place plain http is fine (tests, a provider on the same host).
    assert!(with_file(&format!("{base}kind = \"oidc\"\nissuer = \"http://127.0.0.1:9000\"\n")).is_ok());
}

#[test]
fn discovery_may_name_only_the_issuers_host_or_listed_ones() {
    let c = with_file(
        "[[upstream]]\nid = \"google\"\nkind = \"google\"\nclient_id = \"cid\"\nclient_secret = \"s\"\n\
         [[upstream]]\nid = \"corp\"\nkind = \"oidc\"\nname = \"Corp\"\nissuer = \"https://sso.corp.example/realms/x\"\n\
         client_id = \"cid\"\nclient_secret = \"s\"\nendpoint_hosts = [\"Keys.Corp.Example\"]\n",
    )
    .expect("valid");
    let ok = |i: usize, u: &str| c.upstream[i].endpoint_allowed(&url::Url::parse(u).unwrap());
    assert!(ok(0, "https://oauth2.googleapis.com/token"));
    assert!(ok(0, "https://accounts.google.com/o/oauth2/v2/auth"));
    assert!(!ok(0, "https://evil.example/token"));
    assert!(!ok(0, "http://oauth2.googleapis.com/token"), "https only");
    assert!(ok(1, "https://sso.corp.example/realms/x/protocol/openid-connect/token"));
    assert!(ok(1, "https://keys.corp.example/jwks"), "listed hosts are lower-cased");
    assert!(!ok(1, "https://corp.example/token"));
    assert!(!ok(1, "http://127.0.0.1:8080/token"), "no loopback for a public issuer");
}
