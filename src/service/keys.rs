//! Re-wrapping data keys after a rotation.

use super::{AppState, ServiceError};
use crate::crypto::{Keyring, ObjectId};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RewrapReport {
    pub rewrapped: u64,
    /// Rows changed by someone else between reading and writing them (withdrawn, or re-wrapped by another node).
    pub skipped: u64,
}

/// Re-wraps every stored data key that is not under the keyring's primary key. Objects are
/// not touched. Safe to interrupt and to run again.
pub async fn rewrap_all(state: &AppState, keyring: &Keyring) -> Result<RewrapReport, ServiceError> {
    let primary = keyring.primary_id().to_owned();
    let mut report = RewrapReport::default();
    let mut seen_skips = std::collections::HashSet::new();
    loop {
        let batch = state.repo().keys_not_under(&primary, 500).await?;
        let fresh: Vec<_> = batch.into_iter().filter(|k| !seen_skips.contains(&k.transfer)).collect();
        if fresh.is_empty() {
            return Ok(report);
        }
        for stored in fresh {
            let object_id: ObjectId = *stored.object_id.as_bytes();
            let new = keyring
                .rewrap(&stored.wrapped_key, &object_id)
                .map_err(|e| anyhow::anyhow!("could not re-wrap the data key of transfer {}: {e}", stored.transfer))?;
            if state.repo().replace_wrapped_key(stored.transfer, &stored.wrapped_key, &new).await? {
                report.rewrapped += 1;
            } else {
                report.skipped += 1;
                seen_skips.insert(stored.transfer);
            }
        }
    }
}
