//! The command line: `serve`, `migrate`, `admin`, `keys`, `audit`, `retention`, `config`, `openapi`.

mod admin;
mod admin_users;
mod audit;
mod keys;
mod retention;
mod serve;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Overrides, Settings};

#[derive(Debug, Parser)]
#[command(name = "pigeonpost", version, about = "Secure file exchange between a local authority and its schools")]
pub struct Cli {
    /// A settings file layered over the defaults (see `pigeonpost config default`).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The data directory (database, keyring, development certificate, objects).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTPS server.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8443 (port 0 picks a free port).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Apply database migrations and exit (serve also applies them on start).
    Migrate,
    /// Manage organisations and API keys.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Manage the master keys that protect stored files.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Verify and checkpoint the audit trail.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Purge files whose retention period is over (or list them with --dry-run).
    #[command(subcommand)]
    Retention(retention::RetentionCommand),
    /// Show settings.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the OpenAPI 3.1 description of the HTTP API (also served at /api/v1/openapi.json).
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the default settings file, with a comment on every setting.
    Default,
}

/// A check that ran and found what it looks for broken (as opposed to failing to run).
#[derive(Debug, thiserror::Error)]
#[error("the check failed")]
struct Refuted;

pub fn run(cli: Cli) -> ExitCode {
    // Needs no settings, database or runtime: the document is built from the code alone.
    if let Command::Openapi = cli.command {
        return match crate::http::openapi::json() {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: the OpenAPI document could not be built: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let listen = match &cli.command {
        Command::Serve { listen } => *listen,
        _ => None,
    };
    let overrides = Overrides { data_dir: cli.data_dir.clone(), listen };
    let settings = match Settings::load(cli.config.as_deref(), &overrides) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let serving = matches!(cli.command, Command::Serve { .. });
    // Administrative commands print their result on stdout; keep their logs to warnings.
    let level = if serving { settings.log_level.clone() } else { "warn".to_owned() };
    crate::telemetry::init(&level, settings.log_format);

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve { .. } => serve::run(settings).await,
            Command::Migrate => {
                crate::service::startup::open_repository(&settings).await?;
                println!("database is up to date");
                Ok(())
            }
            Command::Admin(cmd) => admin::run(settings, cmd).await,
            Command::Keys(cmd) => keys::run(settings, cmd).await,
            Command::Audit(cmd) => match audit::run(settings, cmd).await {
                Ok(true) => Ok(()),
                Ok(false) => Err(anyhow::Error::new(Refuted)),
                Err(e) => Err(e),
            },
            Command::Retention(cmd) => retention::run(settings, cmd).await,
            Command::Config(ConfigCommand::Default) => {
                print!("{}", crate::config::DEFAULT_TOML);
                Ok(())
            }
            // Answered above, before the settings were read.
            Command::Openapi => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // The command has said why already.
        Err(e) if e.is::<Refuted>() => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
