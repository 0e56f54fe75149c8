//! Background jobs. Each runs on an interval until shutdown; those that must not run on two
//! nodes at once (the orphan sweep, the retention purge) run under a lease (see [`lease`]).

pub mod channel_refresh;
pub mod lease;
pub mod orphan_sweep;
pub mod retention;

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::AppState;
use lease::Exclusive;

/// Starts every worker; they stop when `stop` turns true.
pub fn spawn_all(state: AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let every = Duration::from_secs(state.settings().workers.orphan_sweep_interval_secs.max(1));
    let catalogue_state = state.clone();
    let checkpoint = tokio::spawn(audit_checkpoints(state.clone(), stop.clone()));
    let refresh = tokio::spawn(run_every(channel_refresh::EVERY, stop.clone(), move || {
        let state = catalogue_state.clone();
        async move {
            channel_refresh::refresh_once(&state).await;
            crate::metrics::global().worker_ran("channel_refresh", true);
        }
    }));
    let sweep_state = state.clone();
    let sweep = tokio::spawn(run_every(every, stop.clone(), move || {
        let state = sweep_state.clone();
        async move {
            let outcome =
                lease::run_exclusive(&state, orphan_sweep::LEASE, lease::node_id(), orphan_sweep::sweep_once(&state))
                    .await;
            crate::metrics::global().worker_ran("orphan_sweep", outcome.is_ok());
            match outcome {
                Ok(Exclusive::Ran(report)) if report.is_empty() => {
                    tracing::debug!("orphan sweep: nothing to remove")
                }
                Ok(Exclusive::Ran(report)) => tracing::info!(?report, "orphan sweep removed leftovers"),
                Ok(Exclusive::Busy { holder, .. }) => tracing::debug!(%holder, "orphan sweep runs on another node"),
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "orphan sweep failed; will retry")
                }
            }
        }
    }));
    let mut jobs = vec![sweep, refresh, checkpoint];
    if state.settings().retention.enabled {
        let every = Duration::from_secs(state.settings().retention.interval_secs.max(1));
        jobs.push(tokio::spawn(run_every(every, stop, move || {
            let state = state.clone();
            async move { retention_once(&state).await }
        })));
    }
    jobs
}

async fn retention_once(state: &AppState) {
    match retention::run_once(state, retention::Mode::Purge).await {
        Ok(Exclusive::Ran(report)) if report.is_quiet() => tracing::debug!("retention: nothing due"),
        Ok(Exclusive::Ran(report)) => tracing::info!(
            examined = report.examined,
            purged = report.purged.len(),
            held = report.held.len(),
            warned = report.warned.len(),
            objects_left = report.objects_left.len(),
            more = report.more,
            "retention run done"
        ),
        Ok(Exclusive::Busy { holder, .. }) => tracing::debug!(%holder, "retention runs on another node"),
        Err(e) => tracing::warn!(error = format!("{e:#}"), "retention run failed; will retry"),
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
