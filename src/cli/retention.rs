//! `pigeonpost retention run [--dry-run]`: the retention purge on demand.

use clap::Subcommand;
use time::format_description::well_known::Rfc3339;

use crate::config::Settings;
use crate::workers::lease::Exclusive;
use crate::workers::retention::{self, Mode};

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Purge every file that is due now, as the worker does, and record the expiry warnings
    /// that are due. Waits for no one: if another node is running the purge, says so and stops.
    Run {
        /// List what would be purged, kept by a hold or warned about, with the reasons, and
        /// change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub async fn run(settings: Settings, cmd: RetentionCommand) -> anyhow::Result<()> {
    let RetentionCommand::Run { dry_run } = cmd;
    let (state, _) = crate::service::startup::build(settings).await?;
    let mode = if dry_run { Mode::DryRun } else { Mode::Purge };
    match retention::run_once(&state, mode).await? {
        Exclusive::Ran(report) => {
            print!("{}", report.describe(mode));
            Ok(())
        }
        Exclusive::Busy { holder, until } => anyhow::bail!(
            "the node {holder} holds the retention lease and purges by itself every retention.interval_secs; \
             its lease lasts until {} unless renewed (a server keeps renewing it while it runs). \
             Use --dry-run to see what is due, or run this when no server is running",
            until.format(&Rfc3339).unwrap_or_default()
        ),
    }
}
