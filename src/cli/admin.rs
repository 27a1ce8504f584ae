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
    let outcome = admin::users::apply(&ops, &Actor::Cli, u.id, action, None, &admin::Source::default()).await?;
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

/// `gatehouse client show|update|rotate-secret|delete`.
#[derive(Debug, Subcommand)]
pub enum ClientAdmin {
    /// Show a client's settings (never its secret).
    Show {
        /// The client's id (ids are base64url, so one may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change a client's settings under the registration rules; what is not named stays.
    Update(Box<ClientUpdate>),
    /// Give a confidential client a new secret (printed once); the old one stops at once.
    RotateSecret {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// Print exactly {"client_id": "...", "client_secret": "..."}.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client with its consents and refresh tokens.
    Delete {
        #[arg(allow_hyphen_values = true)]
        client_id: String,
    },
}

#[derive(Debug, Args)]
pub struct ClientUpdate {
    #[arg(allow_hyphen_values = true)]
    pub client_id: String,
    #[arg(long)]
    pub name: Option<String>,
    /// Redirect URI (repeatable): replaces the list.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URI (repeatable): replaces the list.
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Comma-separated grant types: replaces the list.
    #[arg(long, value_delimiter = ',')]
    pub grant_types: Vec<String>,
    /// Comma-separated scopes the client may request: replaces the list.
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    #[arg(long)]
    pub first_party: Option<bool>,
    #[arg(long)]
    pub require_par: Option<bool>,
    #[arg(long)]
    pub require_mfa: Option<bool>,
    /// Whether the client may ask for the admin API's scope.
    #[arg(long)]
    pub admin_api: Option<bool>,
    /// Back-channel logout URI; an empty value removes it.
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
    /// Only if the client's version is still this ETag (as `client show --json` prints it).
    #[arg(long)]
    pub if_match: Option<String>,
}

/// A list option: None when not given (the setting stays), else the new list.
fn given(v: Vec<String>) -> Option<Vec<String>> {
    let v: Vec<String> = v
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    (!v.is_empty()).then_some(v)
}

pub async fn client(cmd: ClientAdmin) -> Result<(), CliError> {
    use crate::clients::{self, manage};
    let state = state().await?;
    let db = state.db();
    match cmd {
        ClientAdmin::Show { client_id, json } => {
            let c = manage::find(db, &client_id).await?;
            let mut view = serde_json::json!(manage::view(&c));
            view["etag"] = manage::etag(&c).into();
            if json {
                println!("{view}");
            } else {
                let Some(map) = view.as_object() else {
                    return Err(CliError::Input("the client cannot be shown".into()));
                };
                for (k, v) in map {
                    println!("{k}: {v}");
                }
            }
        }
        ClientAdmin::Update(u) => {
            let grant_types = match given(u.grant_types) {
                Some(g) => Some(
                    g.iter()
                        .map(|g| clients::GrantType::parse(g))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                None => None,
            };
            let change = manage::Update {
                name: u.name,
                redirect_uris: given(u.redirect_uris),
                post_logout_redirect_uris: given(u.post_logout_redirect_uris),
                grant_types,
                first_party: u.first_party,
                require_par: u.require_par,
                require_mfa: u.require_mfa,
                scopes: given(u.scopes),
                backchannel_logout_uri: u
                    .backchannel_logout_uri
                    .map(|b| Some(b).filter(|b| !b.trim().is_empty())),
                admin_api: u.admin_api,
                ..manage::Update::default()
            };
            let c = manage::update(
                db,
                &u.client_id,
                change,
                u.if_match.as_deref(),
                crate::audit::By::actor("cli"),
            )
            .await?;
            println!("client {} updated", c.id);
        }
        ClientAdmin::RotateSecret { client_id, json } => {
            let secret =
                manage::rotate_secret(db, state.token_hasher(), &client_id, crate::audit::By::actor("cli")).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "client_id": client_id, "client_secret": secret })
                );
            } else {
                println!("client {client_id} has a new secret (shown once; the old one no longer works):\n{secret}");
            }
        }
        ClientAdmin::Delete { client_id } => {
            manage::delete(db, &client_id, crate::audit::By::actor("cli")).await?;
            println!("client {client_id} deleted");
        }
    }
    Ok(())
}

/// `gatehouse keys rotate`: the audited rotation the admin pages and API use.
pub async fn rotate_keys(only: Option<crate::crypto::signing::Alg>) -> Result<(), CliError> {
    let state = state().await?;
    let created = admin::keys::rotate(&state.admin_ops(), &Actor::Cli, only, &admin::Source::default()).await?;
    for (alg, kid) in created {
        println!(
            "{alg} {kid} published; signs from now + {}s",
            state.config().keys.publish_secs
        );
    }
    Ok(())
}

/// `gatehouse keys list`: the published keys with their state.
pub async fn list_keys() -> Result<(), CliError> {
    let state = state().await?;
    for k in admin::keys::list(state.db()).await? {
        println!(
            "{} {} {} created={} activates={}",
            k.alg, k.kid, k.state, k.created_at, k.activates_at
        );
    }
    Ok(())
}
