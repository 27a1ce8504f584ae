//! The CLI's administrative commands, run as the real binary: `user list|show|disable|
//! enable|delete|restore` and `audit list`, on the operations the admin API uses (actor
//! `cli` in the audit log).

use crate::cli::{Cli, stderr, stdout};

fn user(cli: &Cli, email: &str, superuser: bool) {
    let mut args = vec!["user", "create", "--email", email, "--password-stdin", "--verified"];
    if superuser {
        args.push("--superuser");
    }
    let o = cli.run(&args, Some("correct horse battery staple\n"));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[tokio::test]
async fn operators_list_show_disable_enable_delete_and_restore_accounts() {
    let cli = Cli::new().await;
    user(&cli, "root@example.com", true);
    user(&cli, "ann@example.com", false);

    let o = cli.run(&["user", "list", "--q", "ann"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(" ann@example.com active created "), "{out}");
    let o = cli.run(&["user", "list", "--limit", "1", "--json"], None);
    let page: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let next = page["next_cursor"].as_str().expect("a second page").to_string();
    let o = cli.run(&["user", "list", "--limit", "1", "--cursor", &next], None);
    assert!(stdout(&o).contains("ann@example.com"), "{}", stdout(&o));

    let o = cli.run(&["user", "disable", "--email", "ann@example.com"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "ann@example.com is disabled; its sessions and tokens ended\n"
    );
    let o = cli.run(&["user", "disable", "--email", "ann@example.com"], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "error: the account is disabled, not active\n");
    let o = cli.run(&["user", "show", "--email", "ann@example.com"], None);
    assert!(stdout(&o).contains("status: disabled"), "{}", stdout(&o));
    let o = cli.run(&["user", "enable", "--email", "ann@example.com"], None);
    assert_eq!(stdout(&o), "ann@example.com is enabled\n");

    let o = cli.run(&["user", "delete", "--email", "ann@example.com"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).starts_with("ann@example.com is deleted; it is erased on "),
        "{}",
        stdout(&o)
    );
    let o = cli.run(&["user", "show", "--email", "ann@example.com", "--json"], None);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(shown["status"], "deleted");
    assert!(shown["purge_on"].is_string());
    let o = cli.run(&["user", "restore", "--email", "ann@example.com"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = cli.run(&["user", "show", "--email", "ann@example.com"], None);
    assert!(stdout(&o).contains("status: active"), "{}", stdout(&o));

    // The last superuser stays one.
    let o = cli.run(&["user", "disable", "--email", "root@example.com"], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: this is the last active superuser: make another one first\n"
    );
    let o = cli.run(&["user", "show", "--email", "nobody@example.com"], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "error: no such user\n");

    // Every change is in the audit log, by the CLI.
    let o = cli.run(&["audit", "list", "--user", "ann@example.com", "--json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let events: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "cli")
        .filter_map(|e| e["kind"].as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "user.restored",
            "user.deleted",
            "user.enabled",
            "user.disabled",
            "user.created"
        ],
        "newest first: {events}"
    );
    let o = cli.run(&["audit", "list", "--kind", "user.disabled"], None);
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains(" user.disabled cli "), "{out}");
    let o = cli.run(&["audit", "list", "--since", "2999-01-01T00:00:00Z"], None);
    assert_eq!(stdout(&o), "no events\n");
    let o = cli.run(&["audit", "list", "--since", "yesterday"], None);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "error: --since \"yesterday\" is not an RFC 3339 time\n");
}

#[tokio::test]
async fn operators_show_update_rotate_and_delete_clients_and_rotate_keys_audited() {
    let cli = Cli::new().await;
    let o = cli.run(
        &[
            "client",
            "create",
            "--name",
            "Reports",
            "--redirect-uri",
            "https://reports.example.com/cb",
            "--grant-types",
            "client_credentials",
            "--admin-api",
            "--json",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let created: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let id = created["client_id"].as_str().unwrap().to_string();
    let old_secret = created["client_secret"].as_str().unwrap().to_string();

    let o = cli.run(&["client", "show", &id, "--json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(shown["admin_api"], true, "--admin-api lets it ask for gatehouse:admin");
    assert!(!stdout(&o).contains(&old_secret) && !stdout(&o).contains("secret_hash"));
    let etag = shown["etag"].as_str().unwrap().to_string();

    let o = cli.run(
        &["client", "update", &id, "--name", "Reports 2", "--if-match", "\"0\""],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("ETag"), "{}", stderr(&o));
    let o = cli.run(
        &[
            "client",
            "update",
            &id,
            "--redirect-uri",
            "http://reports.example.com/cb",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "the registration rules apply");
    let o = cli.run(
        &[
            "client",
            "update",
            &id,
            "--name",
            "Reports 2",
            "--admin-api",
            "false",
            "--if-match",
            &etag,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = cli.run(&["client", "show", &id, "--json"], None);
    let shown: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(shown["name"], "Reports 2");
    assert_eq!(shown["admin_api"], false);

    let o = cli.run(&["client", "rotate-secret", &id, "--json"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let rotated: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_ne!(rotated["client_secret"].as_str().unwrap(), old_secret);
    let o = cli.run(&["keys", "rotate", "--alg", "ES256"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = cli.run(&["client", "delete", &id], None);
    assert_eq!(stdout(&o), format!("client {id} deleted\n"));
    let o = cli.run(&["client", "show", &id], None);
    assert_eq!(o.status.code(), Some(1));

    let o = cli.run(&["audit", "list", "--json"], None);
    let events: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let by_cli: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "cli")
        .filter_map(|e| e["kind"].as_str())
        .collect();
    for k in [
        "client.updated",
        "client.secret_rotated",
        "key.rotated",
        "client.deleted",
    ] {
        assert!(by_cli.contains(&k), "{k} in {by_cli:?}");
    }
}
