//! Background jobs. Each runs on an interval until shutdown; those that must not run on two
//! nodes at once (the orphan sweep, the retention purge) run under a lease (see [`lease`]).

pub mod channel_refresh;
pub mod lease;
pub mod orphan_sweep;
pub mod retention;

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::service::AppState;

/// Starts every worker; they stop when `stop` turns true.
pub fn spawn_all(state: AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let every = Duration::from_secs(state.settings().workers.orphan_sweep_interval_secs.max(1));
    let catalogue_state = state.clone();
    let checkpoint = tokio::spawn(audit_checkpoints(state.clone(), stop.clone()));
    let refusals = tokio::spawn(refusal_counts(state.clone(), stop.clone()));
    let refresh = tokio::spawn(run_every(channel_refresh::EVERY, stop.clone(), move || {
        let state = catalogue_state.clone();
        async move {
            channel_refresh::refresh_once(&state).await;
            crate::metrics::global().worker_ran("channel_refresh", true);
        }
    }));
    let (sweep_tenure, sweep_lease) = lease::keep(state.clone(), orphan_sweep::LEASE, stop.clone());
    let sweep_state = state.clone();
    let sweep = tokio::spawn(run_while_held(every, stop.clone(), sweep_tenure, "orphan sweep", move || {
        let state = sweep_state.clone();
        async move {
            let outcome = orphan_sweep::sweep_once(&state).await;
            crate::metrics::global().worker_ran("orphan_sweep", outcome.is_ok());
            match outcome {
                Ok(report) if report.is_empty() => tracing::debug!("orphan sweep: nothing to remove"),
                Ok(report) => tracing::info!(?report, "orphan sweep removed leftovers"),
                Err(e) => tracing::warn!(error = format!("{e:#}"), "orphan sweep failed; will retry"),
            }
        }
    }));
    let mut jobs = vec![sweep_lease, sweep, refresh, checkpoint, refusals];
    if state.settings().retention.enabled {
        let every = Duration::from_secs(state.settings().retention.interval_secs.max(1));
        let (tenure, retention_lease) = lease::keep(state.clone(), retention::LEASE, stop.clone());
        jobs.push(retention_lease);
        jobs.push(tokio::spawn(run_while_held(every, stop, tenure, "retention purge", move || {
            let state = state.clone();
            async move { retention_once(&state).await }
        })));
    }
    jobs
}

async fn retention_once(state: &AppState) {
    let outcome = retention::run_held(state).await;
    crate::metrics::global().worker_ran("retention", outcome.is_ok());
    match outcome {
        Ok(report) if report.is_quiet() => tracing::debug!("retention: nothing due"),
        Ok(report) => tracing::info!(
            examined = report.examined,
            purged = report.purged.len(),
            held = report.held.len(),
            warned = report.warned.len(),
            objects_left = report.objects_left.len(),
            more = report.more,
            "retention run done"
        ),
        Err(e) => tracing::warn!(error = format!("{e:#}"), "retention run failed; will retry"),
    }
}

/// Runs `job` every `every` for as long as this node holds the job's lease: the first run as
/// soon as the lease is taken (at start-up, or when this node takes over from one that died),
/// and none while another node holds it. A run is stopped where it is if the lease is lost.
async fn run_while_held<F, Fut>(
    every: Duration,
    mut stop: watch::Receiver<bool>,
    mut tenure: lease::Tenure,
    what: &'static str,
    mut job: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        tokio::select! {
            _ = tenure.acquired() => {}
            _ = stop.changed() => return,
        }
        let mut watch = tenure.clone();
        tokio::select! {
            _ = job() => {}
            _ = watch.lost() => tracing::warn!(job = what, "lease lost during a run; the run stopped where it was"),
            _ = stop.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Seals the audit chain's head into the checkpoint file on an interval (and logs it), so a
/// copy kept outside the database can show a rewritten chain.
async fn audit_checkpoints(state: AppState, stop: watch::Receiver<bool>) {
    let every = Duration::from_secs(state.settings().audit.checkpoint_interval_secs.max(1));
    let last = std::sync::Arc::new(std::sync::Mutex::new(None::<u64>));
    run_every(every, stop, move || {
        let (state, last) = (state.clone(), last.clone());
        async move {
            let previous = last.lock().ok().and_then(|l| *l);
            match crate::service::audit::checkpoint(&state, previous).await {
                Ok(Some(c)) => {
                    if let Ok(mut l) = last.lock() {
                        *l = Some(c.seq);
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = format!("{e:#}"), "could not checkpoint the audit chain; will retry"),
            }
        }
    })
    .await
}

/// Writes the counts of refused anonymous requests as their windows close, and every count
/// still open once the server stops (after the last request has been answered).
async fn refusal_counts(state: AppState, stop: watch::Receiver<bool>) {
    let every = Duration::from_secs((state.settings().audit.anonymous_refusal_window_secs / 4).max(1));
    let flushing = state.clone();
    run_every(every, stop, move || {
        let state = flushing.clone();
        async move { crate::service::audit::flush_refusals(&state, false).await }
    })
    .await;
    crate::service::audit::flush_refusals(&state, true).await;
}

async fn run_every<F, Fut>(every: Duration, mut stop: watch::Receiver<bool>, mut job: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => job().await,
            _ = stop.changed() => return,
        }
    }
}
