//! Leases: so that of several nodes sharing a database exactly one runs a background job at a
//! time. A node takes the job's row in `leases` with a compare-and-set statement, renews it
//! while the job runs, and gives it up at the end. A node that dies stops renewing; once the
//! lease has expired the next node to try takes the job over. Jobs run under a lease must be
//! safe to stop at any await (each step its own transaction), because a node that finds it
//! has lost its lease stops at once rather than race the new holder.

use std::future::Future;
use std::sync::OnceLock;

use anyhow::anyhow;
use time::{Duration, OffsetDateTime};
use tracing::{debug, warn};

use crate::app::AppState;
use crate::store::meta::LeaseClaim;

/// This process's name in the `leases` table: the host, the process id and a random part, so a
/// restarted node is a new holder and an operator can tell which machine holds a job.
pub fn node_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "node".to_owned());
        let random = uuid::Uuid::new_v4().simple().to_string();
        format!("{host}-{}-{}", std::process::id(), &random[..8])
    })
}

/// What came of trying to run a job under its lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exclusive<T> {
    Ran(T),
    /// Another node holds the lease; the job did not run here.
    Busy {
        holder: String,
        until: OffsetDateTime,
    },
}

/// Runs `job` as `holder` if the lease `name` can be had, renewing it every third of its
/// lifetime (`workers.lease_secs`) until the job ends. The job is dropped, and an error
/// returned, if the lease is lost meanwhile.
pub async fn run_exclusive<T>(
    state: &AppState,
    name: &str,
    holder: &str,
    job: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<Exclusive<T>> {
    let secs = state.settings().workers.lease_secs.max(3);
    let ttl = Duration::seconds(secs as i64);
    let now = state.now();
    if let LeaseClaim::HeldBy { holder, until } = state.repo().acquire_lease(name, holder, now, now + ttl).await? {
        debug!(lease = name, %holder, "another node holds the lease; not running the job here");
        return Ok(Exclusive::Busy { holder, until });
    }
    debug!(lease = name, holder, "lease taken");
    let renew = async {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(secs / 3));
        every.tick().await;
        loop {
            every.tick().await;
            match state.repo().renew_lease(name, holder, state.now() + ttl).await {
                Ok(true) => {}
                Ok(false) => return anyhow!("lost the lease '{name}' to another node; it carries on from here"),
                // The job will meet the same trouble; if it does not, the next renewal may succeed.
                Err(e) => warn!(lease = name, error = %e, "could not renew the lease"),
            }
        }
    };
    let result = tokio::select! {
        done = job => done.map(Exclusive::Ran),
        lost = renew => Err(lost),
    };
    if let Err(e) = state.repo().release_lease(name, holder).await {
        warn!(lease = name, error = %e, "could not release the lease; it will expire by itself");
    }
    result
}
