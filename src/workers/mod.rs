//! Background jobs. Each runs on an interval until shutdown.

pub mod channel_refresh;
pub mod orphan_sweep;

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::AppState;

/// Starts every worker; they stop when `stop` turns true.
pub fn spawn_all(state: AppState, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let every = Duration::from_secs(state.settings().workers.orphan_sweep_interval_secs.max(1));
    let catalogue_state = state.clone();
    let checkpoint = tokio::spawn(audit_checkpoints(state.clone(), stop.clone()));
    let refresh = tokio::spawn(run_every(channel_refresh::EVERY, stop.clone(), move || {
        let state = catalogue_state.clone();
        async move { channel_refresh::refresh_once(&state).await }
    }));
    let sweep = tokio::spawn(run_every(every, stop, move || {
        let state = state.clone();
        async move {
            match orphan_sweep::sweep_once(&state).await {
                Ok(report) if report.is_empty() => {
                    tracing::debug!("orphan sweep: nothing to remove")
                }
                Ok(report) => tracing::info!(?report, "orphan sweep removed leftovers"),
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "orphan sweep failed; will retry")
                }
            }
        }
    }));
    vec![sweep, refresh, checkpoint]
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
