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
    let refresh = tokio::spawn(run_every(channel_refresh::EVERY, stop.clone(), move || {
        let state = catalogue_state.clone();
        async move {
            channel_refresh::refresh_once(&state).await;
            crate::metrics::global().worker_ran("channel_refresh", true);
        }
    }));
    let sweep = tokio::spawn(run_every(every, stop, move || {
        let state = state.clone();
        async move {
            let outcome = orphan_sweep::sweep_once(&state).await;
            crate::metrics::global().worker_ran("orphan_sweep", outcome.is_ok());
            match outcome {
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
    vec![sweep, refresh]
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
