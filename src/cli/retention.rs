//! `pigeonpost retention run [--dry-run]`: the retention purge on demand.

use clap::Subcommand;
use time::format_description::well_known::Rfc3339;

use crate::config::Settings;
use crate::workers::lease::Exclusive;
use crate::workers::retention::{self, Mode, RetentionReport};

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
    let (state, _) = crate::app::build(settings).await?;
    let mode = if dry_run { Mode::DryRun } else { Mode::Purge };
    match retention::run_once(&state, mode).await? {
        Exclusive::Ran(report) => {
            print!("{}", describe(&report, mode));
            Ok(())
        }
        Exclusive::Busy { holder, until } => anyhow::bail!(
            "another node ({holder}) is running the retention purge; its lease lasts until {} unless renewed. \
             Try again later, or use --dry-run to see what is due",
            until.format(&Rfc3339).unwrap_or_default()
        ),
    }
}

/// The report as lines for a person: what went (or would go) and why, what a hold kept, which
/// warnings were recorded.
pub fn describe(r: &RetentionReport, mode: Mode) -> String {
    let dry = mode == Mode::DryRun;
    let when = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    let mut out = String::new();
    if dry {
        out.push_str("dry run: nothing was changed\n");
    }
    out.push_str(&format!(
        "{} {} transfer(s) of {} examined\n",
        if dry { "would purge" } else { "purged" },
        r.purged.len(),
        r.examined
    ));
    for e in &r.purged {
        out.push_str(&format!(
            "  {}  {}  from {}  \"{}\"  expired {} ({})\n",
            e.transfer,
            e.channel,
            e.sender,
            e.filename,
            when(e.expired_at),
            e.reason
        ));
    }
    if !r.held.is_empty() {
        out.push_str(&format!("kept by a legal hold: {} expired transfer(s)\n", r.held.len()));
        for (e, holds) in &r.held {
            let ids: Vec<String> = holds.iter().map(|h| h.to_string()).collect();
            out.push_str(&format!(
                "  {}  {}  expired {} ({}), held by {}\n",
                e.transfer,
                e.channel,
                when(e.expired_at),
                e.reason,
                ids.join(", ")
            ));
        }
    }
    if !r.warned.is_empty() {
        out.push_str(&format!(
            "{} {} expiry warning(s)\n",
            if dry { "would record" } else { "recorded" },
            r.warned.len()
        ));
        for w in &r.warned {
            out.push_str(&format!(
                "  {}  {}  expires {}, not yet downloaded by {}\n",
                w.transfer,
                w.channel,
                when(w.expires_at),
                w.recipients.join(", ")
            ));
        }
    }
    if !r.objects_left.is_empty() {
        out.push_str(&format!(
            "{} purged file(s) could not be deleted from the object store yet (they are unreadable already); \
             the orphan sweep deletes them once the store answers\n",
            r.objects_left.len()
        ));
    }
    if r.skipped > 0 {
        out.push_str(&format!(
            "{} changed meanwhile (withdrawn, purged elsewhere or just held) and were left\n",
            r.skipped
        ));
    }
    if r.more {
        out.push_str("stopped at retention.batch_size; more are due and the next run takes them\n");
    }
    out
}
