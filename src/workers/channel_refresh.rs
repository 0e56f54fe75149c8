//! Picks up channel changes made on other nodes: every node reads the stored changes again on
//! a short interval, so a change made anywhere is in force everywhere within it.

use std::time::Duration;

use crate::service::channel_overrides;
use crate::service::AppState;

pub const EVERY: Duration = Duration::from_secs(30);

pub async fn refresh_once(state: &AppState) {
    match channel_overrides::refresh(state).await {
        Ok(()) => tracing::debug!("channel catalogue refreshed"),
        Err(e) => tracing::warn!(
            error = format!("{e:#}"),
            "could not refresh the channel catalogue; keeping the one in force"
        ),
    }
}
