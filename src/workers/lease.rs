//! Leases: so that of several nodes sharing a database exactly one runs a background job at a
//! time. A node takes the job's row in `leases` with a compare-and-set statement and renews it
//! every third of its lifetime. A node that dies stops renewing; once the lease has expired the
//! next node to try takes the job over. Jobs run under a lease must be safe to stop at any
//! await (each step its own transaction), because a node that finds it has lost its lease
//! stops at once rather than race the new holder.
//!
//! A serving node keeps each job's lease for as long as it lives ([`keep`]), between runs as
//! well as during them, so one node is known to run each job and the others only stand by. A
//! one-off run (`pigeonpost retention run`) takes the lease for that run alone
//! ([`run_exclusive`]) and so is refused while a serving node holds it.

use std::future::Future;
use std::sync::OnceLock;

use anyhow::anyhow;
use time::{Duration, OffsetDateTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::service::AppState;
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

/// Whether this node holds a job's lease, as [`keep`] sees it.
#[derive(Clone)]
pub struct Tenure {
    held: watch::Receiver<bool>,
}

impl Tenure {
    pub fn held(&self) -> bool {
        *self.held.borrow()
    }

    /// Resolves once this node holds the lease (at once if it does); never if the keeper stops.
    pub async fn acquired(&mut self) {
        if self.held.wait_for(|held| *held).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Resolves once this node no longer holds the lease.
    pub async fn lost(&mut self) {
        let _ = self.held.wait_for(|held| !*held).await;
    }
}

fn lease_ttl(state: &AppState) -> (Duration, std::time::Duration) {
    let secs = state.settings().workers.lease_secs.max(3);
    (Duration::seconds(secs as i64), std::time::Duration::from_secs(secs / 3))
}

/// Keeps the lease `name` for this node until `stop` turns: takes it whenever it is free or
/// has expired, and renews it every third of its lifetime. On a clean stop the lease is given
/// up so another node can take over at once; a node that dies leaves it to expire.
pub fn keep(state: AppState, name: &'static str, mut stop: watch::Receiver<bool>) -> (Tenure, JoinHandle<()>) {
    let (tx, rx) = watch::channel(false);
    let task = tokio::spawn(async move {
        let (ttl, period) = lease_ttl(&state);
        let holder = node_id();
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut held_until: Option<OffsetDateTime> = None;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.changed() => break,
            }
            let now = state.now();
            match state.repo().acquire_lease(name, holder, now, now + ttl).await {
                Ok(LeaseClaim::Acquired) => {
                    if held_until.is_none() {
                        info!(lease = name, holder, "this node now holds the lease and runs the job");
                    }
                    held_until = Some(now + ttl);
                }
                Ok(LeaseClaim::HeldBy { holder: other, until }) => {
                    if held_until.take().is_some() {
                        warn!(lease = name, holder = %other, "another node has taken the lease over");
                    }
                    debug!(lease = name, holder = %other, until = %until, "another node holds the lease");
                }
                Err(e) => {
                    // Unknown whether the renewal landed: count the lease as ours only while the
                    // last renewal that did is sure to outlast the next attempt.
                    warn!(lease = name, error = %e, "could not renew the lease");
                    if held_until.is_some_and(|until| now + Duration::try_from(period).unwrap_or(ttl) >= until) {
                        held_until = None;
                        warn!(lease = name, "the lease may have expired; this node stops the job");
                    }
                }
            }
            tx.send_replace(held_until.is_some());
            crate::metrics::global().lease_held(name, held_until.is_some());
        }
        if held_until.is_some() {
            tx.send_replace(false);
            crate::metrics::global().lease_held(name, false);
            if let Err(e) = state.repo().release_lease(name, holder).await {
                warn!(lease = name, error = %e, "could not release the lease; it will expire by itself");
            }
        }
    });
    (Tenure { held: rx }, task)
}
