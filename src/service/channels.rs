//! The channel catalogue as one caller sees it.

use super::authority::enforce;
use super::ServiceError;
use crate::domain::channel::{Channel, Route};
use crate::policy::{self, Action, Decision, Principal};
use crate::service::AppState;

pub struct ChannelOffer {
    pub channel: Channel,
    /// The route the caller's files take, when they may send on the channel.
    pub route: Option<Route>,
    /// Why the caller may not send on the channel, when they may not.
    pub refusal: Option<&'static str>,
    pub max_size_bytes: u64,
}

pub fn offered(state: &AppState, who: &Principal) -> Result<Vec<ChannelOffer>, ServiceError> {
    enforce(policy::decide(who, Action::ListChannels))?;
    let server_limit = state.settings().transfers.max_upload_bytes;
    let catalogue = state.channels();
    Ok(catalogue
        .channels
        .iter()
        .map(|channel| {
            let refusal = match policy::decide(who, Action::SendOn(channel)) {
                Decision::Allow => None,
                Decision::ChannelOff => Some("the LA has switched this channel off for now"),
                _ if who.channel_scope().is_some_and(|s| !s.contains(&channel.slug)) => {
                    Some("this key is not scoped to this channel")
                }
                _ if channel.route_matching(&who.org).is_some() => Some("this key may only receive"),
                _ => Some("your organisation is not among this channel's senders"),
            };
            ChannelOffer {
                route: channel.route_for(&who.org).filter(|_| refusal.is_none()).cloned(),
                refusal,
                max_size_bytes: channel.max_size_bytes.unwrap_or(u64::MAX).min(server_limit),
                channel: channel.clone(),
            }
        })
        .collect())
}
