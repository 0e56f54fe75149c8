//! The channel catalogue in force: the file's, with the definitions LA administrators stored
//! through the API laid over it. Every node rebuilds it from the database, at start, after a
//! change it made itself, and on a timer, so nodes sharing a database converge.

use tracing::warn;

use super::ServiceError;
use crate::domain::channel::{Catalogue, Channel};
use crate::service::AppState;
use crate::store::meta::ChannelOverrideRecord;

/// Reads a stored definition. It may have been written by another version of the server (a
/// field since removed), so failure is an answer, not a crash.
pub fn parse_stored(record: &ChannelOverrideRecord) -> Result<Channel, String> {
    let channel: Channel = serde_json::from_str(&record.definition).map_err(|e| e.to_string())?;
    if channel.slug != record.slug {
        return Err(format!("the definition is for '{}', not '{}'", channel.slug, record.slug));
    }
    channel.validate().map_err(|e| e.to_string())?;
    Ok(channel)
}

/// The file's catalogue with every usable override in force; an unusable one is logged and
/// left out, and the file's definition (if any) stays in force for that slug.
pub fn effective(file: &Catalogue, records: &[ChannelOverrideRecord]) -> Catalogue {
    let usable = records.iter().filter_map(|record| match parse_stored(record) {
        Ok(channel) => Some(channel),
        Err(problem) => {
            warn!(channel = %record.slug, %problem, "a stored channel change cannot be read and is not in force; PUT the channel again or DELETE the change");
            None
        }
    });
    file.overlaid(usable)
}

/// Rebuilds the catalogue in force from the database.
pub async fn refresh(state: &AppState) -> Result<(), ServiceError> {
    let records = state.repo().channel_overrides().await?;
    let catalogue = effective(state.file_channels(), &records);
    // Each override was checked on its own; a merged catalogue that still fails (it cannot
    // today) must not replace one that works.
    if let Err(problem) = catalogue.validate() {
        warn!(%problem, "the channel catalogue with the stored changes is not valid; keeping the one in force");
        return Ok(());
    }
    state.replace_channels(catalogue);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::OffsetDateTime;

    fn record(slug: &str, definition: &str) -> ChannelOverrideRecord {
        ChannelOverrideRecord {
            slug: slug.into(),
            definition: definition.into(),
            updated_at: OffsetDateTime::UNIX_EPOCH,
            updated_by: None,
            updated_by_username: None,
        }
    }

    fn file() -> Catalogue {
        crate::service::startup::parse_channels(crate::service::startup::DEFAULT_CHANNELS).unwrap()
    }

    #[test]
    fn an_override_replaces_the_files_channel_and_a_new_slug_is_added() {
        let census = r#"{"slug":"census","name":"Census (closed)","description":"","enabled":false,
            "route":[{"from":"schools","to":"team:smst"}]}"#;
        let extra = r#"{"slug":"sen","name":"SEN","description":"","route":[{"from":"schools","to":"team:sen"}]}"#;
        let c = effective(&file(), &[record("census", census), record("sen", extra)]);
        assert!(!c.get("census").unwrap().enabled);
        assert_eq!(c.get("census").unwrap().name, "Census (closed)");
        assert!(c.get("sen").is_some());
        assert_eq!(c.channels.len(), file().channels.len() + 1);
    }

    #[test]
    fn an_override_that_no_longer_reads_is_skipped_and_the_file_stays_in_force() {
        let future = r#"{"slug":"census","name":"Census","description":"","route":[{"from":"schools","to":"team:smst"}],
            "window":"autumn"}"#;
        let wrong_slug =
            r#"{"slug":"ctf","name":"CTF","description":"","route":[{"from":"schools","to":"team:smst"}]}"#;
        let c = effective(&file(), &[record("census", future), record("fsm", wrong_slug), record("x", "not json")]);
        assert_eq!(c.get("census").unwrap().name, "School Census");
        assert_eq!(c.get("fsm").unwrap().name, "Free School Meals eligibility");
        assert_eq!(c.channels.len(), file().channels.len());
    }
}
