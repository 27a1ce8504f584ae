//! The operator command line. Exit codes: 0 success, 2 usage error (from clap), 1 any
//! other failure, reported as one line on stderr.

use std::io::{BufRead, IsTerminal, Write};

use clap::{Args, Parser, Subcommand};
use secrecy::SecretString;

mod admin;
mod cleanup;

use crate::accounts::{self, Email, NewUser, PasswordHasher};
use crate::admin::users::Action;
use crate::app::{self, App};
use crate::clients::{self, GrantType, NewClient};
use crate::config::{self, Config};
use crate::mail;
use crate::theme::Theme;

/// Gatehouse, a self-hosted OpenID Connect identity provider.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve HTTP (the default when no command is given).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Configuration tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Account lifecycle: purging deleted accounts.
    #[command(subcommand)]
    Accounts(cleanup::AccountsCommand),
    /// Manage OAuth / OpenID Connect clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Mail tools.
    #[command(subcommand)]
    Mail(MailCommand),
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(admin::AuditCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Publish a new signing key for each algorithm (or one); it signs after keys.publish_secs.
    Rotate {
        /// Only this algorithm: RS256, ES256 or EdDSA.
        #[arg(long)]
        alg: Option<String>,
    },
    /// List the published signing keys.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print it with every secret redacted.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. Without --password-stdin, prompts for the password twice.
    Create(UserCreate),
    /// Second factors of a user.
    #[command(subcommand)]
    Mfa(MfaCommand),
    /// List accounts.
    List(admin::UserList),
    /// Show an account: status, dates, factors, links, sessions, applications.
    Show {
        #[arg(long)]
        email: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: it cannot sign in, its sessions and tokens end.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled account.
    Enable {
        #[arg(long)]
        email: String,
    },
    /// Delete an account: it is erased after the grace period unless restored.
    Delete {
        #[arg(long)]
        email: String,
    },
    /// Restore an account scheduled for deletion.
    Restore {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Remove every second factor and backup code of a user who lost them (audited; the
    /// user is mailed). Check who is asking before you do this.
    Reset {
        #[arg(long)]
        email: String,
    },
}

#[derive(Debug, Args)]
pub struct UserCreate {
    /// The user's email address (the login name).
    #[arg(long)]
    pub email: String,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// Mark the email address as verified (the account is active at once).
    #[arg(long)]
    pub verified: bool,
    /// Make the user a superuser (administrator).
    #[arg(long)]
    pub superuser: bool,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client. A confidential client's secret is printed once, here only.
    Create(Box<ClientCreate>),
    /// List registered clients.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change how a confidential client authenticates at the token endpoint
    /// (client_secret_basic or client_secret_post); its secret stays the same.
    SetAuthMethod {
        /// The client's id (ids are base64url, so one may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        client_id: String,
        /// client_secret_basic or client_secret_post.
        method: String,
    },
    #[command(flatten)]
    Admin(admin::ClientAdmin),
}

#[derive(Debug, Args)]
pub struct ClientCreate {
    /// Display name shown to users on the consent screen.
    #[arg(long)]
    pub name: String,
    /// Redirect URI (repeatable); matched exactly.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URI (repeatable).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required), e.g. a single-page or native app.
    #[arg(long)]
    pub public: bool,
    /// Comma-separated grant types: authorization_code, refresh_token, client_credentials.
    #[arg(long, value_delimiter = ',')]
    pub grant_types: Vec<String>,
    /// A trusted first-party application: users are not asked for consent.
    #[arg(long)]
    pub first_party: bool,
    /// ID token signing algorithm: RS256 (default), ES256 or EdDSA.
    #[arg(long)]
    pub id_token_alg: Option<String>,
    /// Access token signing algorithm (default: the server's access_token_alg).
    #[arg(long)]
    pub access_token_alg: Option<String>,
    /// OpenID Connect Back-Channel Logout URI of the application.
    #[arg(long)]
    pub backchannel_logout_uri: Option<String>,
    /// Require pushed authorization requests (RFC 9126).
    #[arg(long)]
    pub require_par: bool,
    /// Require multi-factor sign-in for this application: users are asked for their
    /// second factor (step-up) before it gets a code.
    #[arg(long)]
    pub require_mfa: bool,
    /// A JWK Set file with the client's public keys: the client then authenticates with
    /// private_key_jwt and gets no secret.
    #[arg(long)]
    pub jwks_file: Option<std::path::PathBuf>,
    /// How a confidential client authenticates at the token endpoint: client_secret_basic
    /// (default), client_secret_post, or private_key_jwt (with --jwks-file). Other
    /// methods are refused for this client.
    #[arg(long)]
    pub token_endpoint_auth_method: Option<String>,
    /// A resource (RFC 8707) the client may ask tokens for (repeatable): an absolute URI,
    /// which becomes the access token's `aud`.
    #[arg(long = "resource")]
    pub resources: Vec<String>,
    /// Comma-separated scopes the client may request (default: openid,profile,email,offline_access).
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// Access token lifetime for this client, in seconds.
    #[arg(long)]
    pub access_token_secs: Option<i64>,
    /// Refresh token idle lifetime for this client, in seconds.
    #[arg(long)]
    pub refresh_token_idle_secs: Option<i64>,
    /// Refresh token absolute lifetime for this client, in seconds.
    #[arg(long)]
    pub refresh_token_absolute_secs: Option<i64>,
    /// Let the client ask for the admin API's scope (gatehouse:admin) through
    /// client_credentials: its tokens can then do what a superuser can at /admin/api/v1.
    #[arg(long)]
    pub admin_api: bool,
    /// Print exactly {"client_id": "...", "client_secret": "..." | null}.
    #[arg(long)]
    pub json: bool,
}

/// The scopes a new client may request: those given (the defaults without any), and
/// the admin API's with `--admin-api`.
fn with_admin_api(given: &[String], admin_api: bool) -> Vec<String> {
    let mut scopes: Vec<String> = given
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if admin_api {
        scopes = clients::manage::with_admin_scope(scopes);
    }
    scopes
}

fn parse_alg(s: Option<&str>) -> Result<Option<crate::crypto::signing::Alg>, CliError> {
    s.map(|a| a.parse().map_err(CliError::Input)).transpose()
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Render the test mail and send it through the configured transport now.
    Test {
        /// Recipient address.
        #[arg(long)]
        to: String,
    },
}

/// A failed command, printed as `error: <message>`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("{0}")]
    Start(#[from] app::StartError),
    #[error("{0}")]
    Accounts(#[from] accounts::Error),
    #[error("{0}")]
    Clients(#[from] clients::Error),
    #[error("{0}")]
    Mail(#[from] mail::MailError),
    #[error("mail not sent: {0}")]
    Send(#[from] mail::SendError),
    #[error("{0}")]
    Input(String),
}

pub(crate) fn load_config() -> Result<Config, CliError> {
    let config = Config::load()?;
    crate::telemetry::init(config.log_format, &config.log_level);
    for var in config::unknown_env_vars(std::env::vars()) {
        tracing::warn!(variable = %var, "unknown GATEHOUSE_ variable ignored (see docs/configuration.md)");
    }
    Ok(config)
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = App::build(load_config()?).await?;
            app.run(app::shutdown_signal()).await?;
            Ok(())
        }
        Command::Migrate => {
            let config = load_config()?;
            let db = crate::db::connect(&config).await.map_err(app::StartError::from)?;
            crate::db::ping(&db).await.map_err(app::StartError::from)?;
            let pending = crate::db::pending_migrations(&db)
                .await
                .map_err(app::StartError::from)?;
            crate::db::migrate(&db).await.map_err(app::StartError::from)?;
            if pending.is_empty() {
                println!("database is up to date");
            } else {
                for name in &pending {
                    println!("applied {name}");
                }
            }
            Ok(())
        }
        Command::Config(ConfigCommand::Check) => {
            let config = load_config()?;
            print!("{}", config.redacted_toml());
            for u in &config.upstream {
                println!(
                    "# upstream {:?}: register the redirect URI {}",
                    u.id,
                    u.callback_url(&config.issuer_id)
                );
            }
            Ok(())
        }
        Command::User(UserCommand::Create(args)) => user_create(args).await,
        Command::User(UserCommand::Mfa(MfaCommand::Reset { email })) => mfa_reset(&email).await,
        Command::User(UserCommand::List(args)) => admin::user_list(args).await,
        Command::User(UserCommand::Show { email, json }) => admin::user_show(&email, json).await,
        Command::User(UserCommand::Disable { email }) => admin::user_action(&email, Action::Disable).await,
        Command::User(UserCommand::Enable { email }) => admin::user_action(&email, Action::Enable).await,
        Command::User(UserCommand::Delete { email }) => admin::user_action(&email, Action::ScheduleDeletion).await,
        Command::User(UserCommand::Restore { email }) => admin::user_action(&email, Action::Restore).await,
        Command::Audit(cmd) => admin::audit(cmd).await,
        Command::Accounts(cmd) => cleanup::run(cmd).await,
        Command::Client(ClientCommand::Create(args)) => client_create(*args).await,
        Command::Client(ClientCommand::List { json }) => client_list(json).await,
        Command::Client(ClientCommand::SetAuthMethod { client_id, method }) => {
            let config = load_config()?;
            let key = app::load_master_key(&config).map_err(app::StartError::from)?;
            let db = app::open_database(&config, Some(&key)).await?;
            clients::set_auth_method(&db, &client_id, &method, "cli").await?;
            println!("client {client_id} now authenticates with {method}");
            Ok(())
        }
        Command::Client(ClientCommand::Admin(cmd)) => admin::client(cmd).await,
        Command::Keys(cmd) => keys(cmd).await,
        Command::Mail(MailCommand::Test { to }) => {
            let config = load_config()?;
            let theme = Theme::new(config.theme_dir.clone());
            let rendered = mail::render(&theme, &config.issuer, &to, "test", serde_json::json!({}))?;
            let transport = mail::Transport::from_config(&config.mail_transport)?;
            transport.send(&config.mail_from, &rendered).await?;
            println!("test mail sent to {to} via {}", transport.kind());
            Ok(())
        }
    }
}

/// Reads the new user's password from stdin or, on a terminal, prompts twice.
fn read_password(from_stdin: bool) -> Result<SecretString, CliError> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::Input(format!("cannot read the password from standard input: {e}")))?;
        let pw = line
            .strip_suffix('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .unwrap_or(&line);
        return Ok(SecretString::from(pw.to_string()));
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Input(
            "no terminal to prompt for the password: pass --password-stdin".into(),
        ));
    }
    let first = rpassword::prompt_password("Password: ").map_err(|e| CliError::Input(e.to_string()))?;
    let second = rpassword::prompt_password("Password (again): ").map_err(|e| CliError::Input(e.to_string()))?;
    if first != second {
        return Err(CliError::Input("the passwords do not match".into()));
    }
    Ok(SecretString::from(first))
}

async fn mfa_reset(email: &str) -> Result<(), CliError> {
    let email = Email::parse(email).map_err(accounts::Error::from)?;
    let state = app::offline_state(load_config()?).await?;
    let user = accounts::find_by_email(state.db(), &email)
        .await
        .map_err(accounts::Error::from)?
        .ok_or_else(|| CliError::Input(format!("no user with the address {}", email.as_str())))?;
    // The admin operation: the factors go, and so do the sessions and tokens of whoever
    // held them.
    let ops = state.admin_ops();
    let source = crate::admin::Source::default();
    let outcome = crate::admin::users::apply(
        &ops,
        &crate::admin::Actor::Cli,
        user.id,
        Action::ResetFactors,
        None,
        &source,
    )
    .await?;
    println!("{}", outcome.message);
    Ok(())
}

async fn user_create(args: UserCreate) -> Result<(), CliError> {
    let config = load_config()?;
    let email = Email::parse(&args.email).map_err(accounts::Error::from)?;
    let password = read_password(args.password_stdin)?;
    let key = app::load_master_key(&config).map_err(app::StartError::from)?;
    let db = app::open_database(&config, Some(&key)).await?;
    let hasher = PasswordHasher::new(&config.argon2)
        .and_then(|h| h.with_breached_list(config.password.breached_list.as_deref()))
        .map_err(|e| CliError::Input(e.to_string()))?;
    let user = accounts::create_user(
        &db,
        &hasher,
        &config.password,
        NewUser {
            email,
            password: Some(password),
            verified: args.verified,
            superuser: args.superuser,
        },
        "cli",
    )
    .await?;
    let mut flags = Vec::new();
    if args.verified {
        flags.push("verified");
    }
    if args.superuser {
        flags.push("superuser");
    }
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!(" ({})", flags.join(", "))
    };
    println!("created user {} <{}>{flags}", user.id, user.email);
    Ok(())
}

async fn client_create(args: ClientCreate) -> Result<(), CliError> {
    let config = load_config()?;
    let grant_types = args
        .grant_types
        .iter()
        .filter(|g| !g.trim().is_empty())
        .map(|g| GrantType::parse(g))
        .collect::<Result<Vec<_>, _>>()?;
    let jwks = match &args.jwks_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::Input(format!("--jwks-file {}: {e}", path.display())))?;
            Some(serde_json::from_str(&text).map_err(|e| CliError::Input(format!("--jwks-file: not JSON: {e}")))?)
        }
        None => None,
    };
    let key = app::load_master_key(&config).map_err(app::StartError::from)?;
    let db = app::open_database(&config, Some(&key)).await?;
    let created = clients::create(
        &db,
        &key.token_hasher(),
        NewClient {
            post_logout_redirect_uris: args.post_logout_redirect_uris,
            first_party: args.first_party,
            id_token_alg: parse_alg(args.id_token_alg.as_deref())?,
            access_token_alg: parse_alg(args.access_token_alg.as_deref())?,
            backchannel_logout_uri: args.backchannel_logout_uri,
            require_par: args.require_par,
            require_mfa: args.require_mfa,
            jwks,
            scopes: with_admin_api(&args.scopes, args.admin_api),
            auth_method: args.token_endpoint_auth_method,
            resources: args.resources,
            lifetimes: clients::repo::Lifetimes {
                access_token_secs: args.access_token_secs,
                refresh_token_idle_secs: args.refresh_token_idle_secs,
                refresh_token_absolute_secs: args.refresh_token_absolute_secs,
            },
            ..NewClient::new(&args.name, args.redirect_uris, args.public, grant_types)
        },
        "cli",
    )
    .await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let id = serde_json::Value::from(created.client.id.clone());
        let secret = created
            .secret
            .clone()
            .map_or(serde_json::Value::Null, serde_json::Value::from);
        let _ = writeln!(out, "{{\"client_id\": {id}, \"client_secret\": {secret}}}");
    } else {
        let _ = writeln!(out, "client_id:     {}", created.client.id);
        match &created.secret {
            Some(s) => {
                let _ = writeln!(out, "client_secret: {s}");
                let _ = writeln!(out, "Store the secret now: it is not shown again.");
            }
            None => {
                let _ = writeln!(out, "public client: no secret; PKCE (S256) is required");
            }
        }
    }
    Ok(())
}

async fn client_list(json: bool) -> Result<(), CliError> {
    let config = load_config()?;
    let key = app::load_master_key(&config).map_err(app::StartError::from)?;
    let db = app::open_database(&config, Some(&key)).await?;
    let list = clients::list(&db).await?;
    let mut out = std::io::stdout().lock();
    if json {
        let rows: Vec<_> = list
            .iter()
            .map(|c| {
                serde_json::json!({
                    "client_id": c.id,
                    "name": c.name,
                    "public": c.token_endpoint_auth_method == "none",
                    "token_endpoint_auth_method": c.token_endpoint_auth_method,
                    "grant_types": c.grant_types,
                    "redirect_uris": c.redirect_uris,
                    "post_logout_redirect_uris": c.post_logout_redirect_uris,
                    "resources": c.allowed_resources.clone().unwrap_or_else(|| serde_json::json!([])),
                    "created_at": c.created_at,
                })
            })
            .collect();
        let _ = writeln!(out, "{}", serde_json::Value::from(rows));
        return Ok(());
    }
    if list.is_empty() {
        let _ = writeln!(out, "no clients registered");
        return Ok(());
    }
    for c in &list {
        let kind = if c.token_endpoint_auth_method != "none" {
            "confidential"
        } else {
            "public"
        };
        let _ = writeln!(
            out,
            "{}  {}  {}  grants={}  redirect_uris={}",
            c.id,
            c.name,
            kind,
            clients::strings(&c.grant_types).join(","),
            clients::strings(&c.redirect_uris).join(" ")
        );
    }
    Ok(())
}

async fn keys(cmd: KeysCommand) -> Result<(), CliError> {
    match cmd {
        KeysCommand::Rotate { alg } => {
            let only = match alg {
                Some(a) => Some(a.parse::<crate::crypto::signing::Alg>().map_err(CliError::Input)?),
                None => None,
            };
            admin::rotate_keys(only).await
        }
        KeysCommand::List => admin::list_keys().await,
    }
}
