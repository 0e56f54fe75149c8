//! Removes what a crash can leave in the object store: objects whose transfer row was never
//! committed, uploads that never finished, and objects of transfers whose data key has been
//! destroyed (withdrawn or purged) but whose delete failed at the time. The worker runs it
//! under the lease [`LEASE`], so one node sweeps at a time.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use uuid::Uuid;

use crate::service::AppState;
use crate::store::ObjectKey;

/// The lease that keeps the sweep to one node at a time.
pub const LEASE: &str = "orphan-sweep";

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepReport {
    pub abandoned_writes: u64,
    pub orphans: u64,
    pub dead: u64,
}

impl SweepReport {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

pub async fn sweep_once(state: &AppState) -> anyhow::Result<SweepReport> {
    let grace = Duration::from_secs(state.settings().workers.orphan_grace_secs);
    // An object younger than the grace period may belong to an upload whose row is about to be
    // committed; only older ones can be judged.
    let cutoff = SystemTime::now().checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH);
    let mut report = SweepReport {
        abandoned_writes: state.blobs().remove_abandoned_writes(cutoff).await.context("removing abandoned writes")?,
        ..SweepReport::default()
    };
    let objects = state.blobs().list().await.context("listing the object store")?;
    let ids: Vec<Uuid> = objects.iter().map(|o| o.key.0).collect();
    let live = state.repo().live_objects(&ids).await.context("looking up live objects")?;
    let dead = state.repo().dead_objects(&ids).await.context("looking up dead objects")?;
    for object in objects {
        let id = object.key.0;
        if live.contains(&id) {
            continue;
        }
        let is_dead = dead.contains(&id);
        if !is_dead && object.modified > cutoff {
            continue;
        }
        state.blobs().delete(ObjectKey(id)).await.with_context(|| format!("deleting object {id}"))?;
        if is_dead {
            report.dead += 1;
        } else {
            report.orphans += 1;
        }
    }
    Ok(report)
}
