//! The CLI's administrative commands: `user list|show|disable|enable|delete|restore` and
//! `audit list`, on the same operations as the admin pages and API (actor `cli`).

use clap::{Args, Subcommand};

use super::{CliError, load_config};
use crate::admin::{self, Actor, users::Action};

/// What the admin operations answer to the CLI: their message as the error.
impl From<admin::Error> for CliError {
    fn from(e: admin::Error) -> Self {
        CliError::Input(e.to_string())
    }
}

#[derive(Debug, Args)]
pub struct UserList {
    /// Only accounts whose address or name contains this.
    #[arg(long)]
    pub q: Option<String>,
    /// At most this many (1–100).
    #[arg(long, default_value_t = admin::DEFAULT_PAGE)]
    pub limit: u64,
    /// The accounts after this cursor (printed after a full page).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Audit events, newest first.
    List {
        /// Only events about this user (an address).
        #[arg(long)]
        user: Option<String>,
        /// Only events at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Only this kind (user.disabled), or a family ending in a dot (mfa.).
        #[arg(long)]
        kind: Option<String>,
        /// At most this many (1–100).
        #[arg(long, default_value_t = admin::DEFAULT_PAGE)]
        limit: u64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

async fn state() -> Result<crate::web::AppState, CliError> {
    Ok(crate::app::offline_state(load_config()?).await?)
}

pub async fn user_list(args: UserList) -> Result<(), CliError> {
    let state = state().await?;
    let ops = state.admin_ops();
    let page = admin::users::list(
        &ops,
        args.q.as_deref(),
        args.cursor.as_deref(),
        admin::page_size(Some(args.limit)),
    )
    .await?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "items": page.items, "next_cursor": page.next })
        );
        return Ok(());
    }
    if page.items.is_empty() {
        println!("no accounts");
    }
    for u in &page.items {
        let su = if u.superuser { " superuser" } else { "" };
        println!(
            "{} {} {}{su} created {}",
            u.id,
            u.email,
            u.status,
            u.created_at.format("%Y-%m-%d")
        );
    }
    if let Some(next) = page.next {
        println!("more: --cursor {next}");
    }
    Ok(())
}

pub async fn user_show(email: &str, json: bool) -> Result<(), CliError> {
    let state = state().await?;
    let ops = state.admin_ops();
    let u = admin::users::find_by_email(&ops, email).await?;
    let d = admin::users::detail(&ops, u.id).await?;
    if json {
        println!("{}", serde_json::json!(d));
        return Ok(());
    }
    let s = &d.summary;
    println!("{} {}", s.id, s.email);
    println!("status: {}{}", s.status, if s.superuser { ", superuser" } else { "" });
    if let Some(p) = s.purge_on {
        println!("erased on: {}", p.format("%Y-%m-%d"));
    }
    println!("created: {}", s.created_at.to_rfc3339());
    println!(
        "last sign-in: {}",
        s.last_login_at.map_or_else(|| "never".to_string(), |t| t.to_rfc3339())
    );
    println!("password: {}", if d.has_password { "set" } else { "none" });
    for f in &d.factors {
        println!(
            "factor: {} {:?} added {}",
            f.kind,
            f.name,
            f.created_at.format("%Y-%m-%d")
        );
    }
    println!("backup codes left: {}", d.backup_codes_left);
    for l in &d.linked {
        println!("linked: {} {}", l.provider, l.email.as_deref().unwrap_or(""));
    }
    println!("sessions: {}", d.sessions.len());
    for a in &d.applications {
        println!("application: {} ({})", a.name, a.client_id);
    }
    Ok(())
}

/// Applies `action` to the account with the address `email`; prints what it did.
pub async fn user_action(email: &str, action: Action) -> Result<(), CliError> {
    let state = state().await?;
    let ops = state.admin_ops();
    let u = admin::users::find_by_email(&ops, email).await?;
    let outcome = admin::users::apply(&ops, &Actor::Cli, u.id, action, None, None).await?;
    println!("{}", outcome.message);
    Ok(())
}

pub async fn audit(cmd: AuditCommand) -> Result<(), CliError> {
    let AuditCommand::List {
        user,
        since,
        kind,
        limit,
        json,
    } = cmd;
    let state = state().await?;
    let ops = state.admin_ops();
    let user = match user {
        Some(e) => Some(admin::users::find_by_email(&ops, &e).await?.id),
        None => None,
    };
    let since = since
        .map(|s| admin::parse_time(&s).ok_or_else(|| CliError::Input(format!("--since {s:?} is not an RFC 3339 time"))))
        .transpose()?;
    let filter = crate::audit::Filter {
        user,
        actor: None,
        kind,
        since,
        until: None,
    };
    let page = admin::logs::events(&ops, &filter, None, admin::page_size(Some(limit))).await?;
    if json {
        println!("{}", serde_json::json!(page.items));
        return Ok(());
    }
    if page.items.is_empty() {
        println!("no events");
    }
    for e in &page.items {
        println!(
            "{} {} {} {}{}",
            e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            e.kind,
            e.actor,
            e.user_id.map(|u| u.to_string()).unwrap_or_else(|| "-".into()),
            e.ip.as_deref().map(|ip| format!(" from {ip}")).unwrap_or_default()
        );
    }
    Ok(())
}
