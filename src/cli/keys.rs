use clap::Subcommand;

use crate::audit::{Actor, AuditEvent};
use crate::config::Settings;
use crate::crypto::KeySource;
use crate::service::keys::rewrap_all;
use crate::service::startup::master_keys::record_keyring;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new primary master key and re-wrap every stored data key under it. Stored
    /// objects are not rewritten; files stay readable throughout.
    Rotate,
    /// Re-wrap every data key not yet under the primary master key (after a rotation done by
    /// changing PIGEONPOST_MASTER_KEY, or to finish an interrupted rotation).
    Rewrap,
    /// List the master keys by id (never their values).
    List,
}

pub async fn run(settings: Settings, cmd: KeysCommand) -> anyhow::Result<()> {
    let source = KeySource::from_env(settings.data_dir.clone());
    let (state, _) = crate::service::startup::build(settings).await?;
    let mut keyring = source.load()?;
    match cmd {
        KeysCommand::List => {
            for id in keyring.ids() {
                let mark = if id == keyring.primary_id() { " (primary)" } else { "" };
                println!("{id}{mark}");
            }
            return Ok(());
        }
        KeysCommand::Rotate => {
            let new = keyring.rotate()?;
            // Recorded before anything is sealed under it, so a node without it is refused.
            record_keyring(state.repo(), &keyring, state.now()).await?;
            let audit = AuditEvent::new(state.now(), Actor::operator(), "keyring.rotate").target("master_key", &new);
            state.repo().append_audit(&audit).await?;
            println!("new primary master key: {new}");
        }
        KeysCommand::Rewrap => {}
    }
    let report = rewrap_all(&state, &keyring).await?;
    let audit = AuditEvent::new(state.now(), Actor::operator(), "keyring.rewrap")
        .target("master_key", keyring.primary_id())
        .detail("rewrapped", report.rewrapped)
        .detail("skipped", report.skipped);
    state.repo().append_audit(&audit).await?;
    println!(
        "re-wrapped {} data keys under {}; {} changed meanwhile and were left as they are",
        report.rewrapped,
        keyring.primary_id(),
        report.skipped
    );
    Ok(())
}
