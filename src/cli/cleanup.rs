//! `gatehouse accounts cleanup`: erases accounts deleted more than N days ago (default:
//! the grace period). Asks on a terminal; without one it needs `--no-input`. Goes on past
//! an account that fails, reports it, and exits non-zero if any did.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;

use super::{CliError, load_config};
use crate::accounts::lifecycle;
use crate::app;

/// At most this many accounts per run (run again for more).
const MAX_PER_RUN: u64 = 10_000;

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Permanently erase accounts deleted more than --days ago.
    Cleanup {
        /// List what would be erased, erase nothing.
        #[arg(long)]
        dry_run: bool,
        /// Erase accounts deleted more than this many days ago (default: the grace
        /// period, `accounts.deletion_grace_days`).
        #[arg(long)]
        days: Option<u64>,
        /// Print each account.
        #[arg(long)]
        verbose: bool,
        /// Do not ask for confirmation (needed without a terminal).
        #[arg(long)]
        no_input: bool,
    },
}

pub async fn run(cmd: AccountsCommand) -> Result<(), CliError> {
    let AccountsCommand::Cleanup {
        dry_run,
        days,
        verbose,
        no_input,
    } = cmd;
    let config = load_config()?;
    let days = days.unwrap_or(config.accounts.deletion_grace_days);
    let key = app::load_master_key(&config).map_err(app::StartError::from)?;
    let db = app::open_database(&config, Some(&key)).await?;
    let due = lifecycle::due(&db, days, MAX_PER_RUN).await?;
    let describe = |u: &entity::user::Model| {
        let when = u
            .deleted_at
            .map_or_else(String::new, |d| d.format("%Y-%m-%d %H:%M UTC").to_string());
        format!("{} (id {}, deleted {when})", u.email, u.id)
    };
    if dry_run {
        println!(
            "{} accounts deleted more than {days} days ago would be erased",
            due.len()
        );
        for u in &due {
            println!("  {}", describe(u));
        }
        return Ok(());
    }
    if due.is_empty() {
        println!("no account was deleted more than {days} days ago");
        return Ok(());
    }
    if !no_input {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::Input(
                "no terminal to confirm on: pass --no-input to erase without asking".into(),
            ));
        }
        print!(
            "Erase {} accounts deleted more than {days} days ago, for good? Type \"yes\": ",
            due.len()
        );
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| CliError::Input(format!("reading the answer: {e}")))?;
        if answer.trim() != "yes" {
            println!("nothing was erased");
            return Ok(());
        }
    }
    let mut erased = 0usize;
    let mut failed = 0usize;
    for u in &due {
        match lifecycle::purge(&db, u, crate::audit::By::actor("cli")).await {
            Ok(true) => {
                erased += 1;
                if verbose {
                    println!("erased {}", describe(u));
                }
            }
            Ok(false) => {
                if verbose {
                    println!("skipped {} (restored or erased meanwhile)", describe(u));
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("failed {}: {e}", describe(u));
            }
        }
    }
    println!("erased {erased} accounts, {failed} failed");
    if failed > 0 {
        return Err(CliError::Input(format!("{failed} accounts could not be erased")));
    }
    Ok(())
}
