//! The channel catalogue as one caller sees it.

use super::authority::enforce;
use super::ServiceError;
use crate::app::AppState;
use crate::domain::channel::{Channel, Route};
use crate::policy::{self, Action, Decision, Principal};

pub struct ChannelOffer<'a> {
    pub channel: &'a Channel,
    /// The route the caller's files take, when they may send on the channel.
    pub route: Option<&'a Route>,
    pub max_size_bytes: u64,
}

pub fn offered<'a>(state: &'a AppState, who: &Principal) -> Result<Vec<ChannelOffer<'a>>, ServiceError> {
    enforce(policy::decide(who, Action::ListChannels))?;
    let server_limit = state.settings().transfers.max_upload_bytes;
    Ok(state
        .channels()
        .channels
        .iter()
        .map(|channel| {
            let may = policy::decide(who, Action::SendOn(channel)) == Decision::Allow;
            ChannelOffer {
                channel,
                route: channel.route_for(&who.org).filter(|_| may),
                max_size_bytes: channel.max_size_bytes.unwrap_or(u64::MAX).min(server_limit),
            }
        })
        .collect())
}
