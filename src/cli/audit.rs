//! `pigeonpost audit verify` and `pigeonpost audit checkpoint`.

use std::path::PathBuf;

use clap::Subcommand;

use crate::config::Settings;
use crate::service::audit;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the whole hash chain and report the first broken link (exit code 1), or the
    /// number of events and the head's hash when it holds.
    Verify {
        /// A checkpoint file (as written by the server, or a copy kept elsewhere): the chain must
        /// still hold every head it records, which catches even a consistent rewrite.
        #[arg(long, value_name = "FILE")]
        checkpoints: Option<PathBuf>,
    },
    /// Seal the chain's head into the checkpoint file now.
    Checkpoint,
}

/// The command's verdict, for the process's exit code.
pub async fn run(settings: Settings, cmd: AuditCommand) -> anyhow::Result<bool> {
    let (state, _) = crate::service::startup::build(settings).await?;
    match cmd {
        AuditCommand::Checkpoint => {
            match audit::checkpoint(&state, None).await? {
                Some(c) => println!(
                    "checkpoint {} ({}) written to {}",
                    c.seq,
                    c.hash,
                    state.settings().checkpoint_path().display()
                ),
                None => println!("the audit chain is empty: nothing to checkpoint"),
            }
            Ok(true)
        }
        AuditCommand::Verify { checkpoints } => {
            let v = audit::verify(&state, checkpoints.as_deref()).await?;
            if let Some(b) = &v.broken {
                println!("BROKEN at event {}: {b}", b.seq());
                println!("the {} events before it hold", v.count);
            }
            if let Some(c) = &v.checkpoints {
                for problem in &c.problems {
                    println!("CHECKPOINT: {problem}");
                }
                if c.problems.is_empty() {
                    println!("all {} checkpoints are in the chain", c.checked);
                }
            }
            if v.holds() {
                println!("the audit chain holds: {} events, head {} ({})", v.count, v.head.0, hex::encode(v.head.1));
            }
            Ok(v.holds())
        }
    }
}
