//! Whom a person may address on a channel whose route takes a named recipient, so a form can
//! offer them instead of asking for a DfE number from memory.

use super::super::upload::sending_on;
use super::super::ServiceError;
use crate::domain::channel::Recipients;
use crate::domain::{ChannelSlug, OrgKind, Organisation};
use crate::policy::Principal;
use crate::service::AppState;

/// The open organisations the caller's route on `channel` may name, by name; empty when the
/// route does not take a named recipient. Refused as the upload itself would be when the
/// caller may not send on the channel.
pub async fn choices(
    state: &AppState,
    who: &Principal,
    channel: &ChannelSlug,
) -> Result<Vec<Organisation>, ServiceError> {
    let catalogue = state.channels();
    let (_, route) = sending_on(&catalogue, who, channel)?;
    let kinds: &[OrgKind] = match route.to {
        Recipients::ExplicitSchool => &[OrgKind::School],
        Recipients::ExplicitTeam => &[OrgKind::Team],
        Recipients::Explicit => &[OrgKind::School, OrgKind::Team],
        _ => return Ok(Vec::new()),
    };
    let mut orgs: Vec<Organisation> = state
        .repo()
        .list_organisations()
        .await?
        .into_iter()
        .filter(|o| kinds.contains(&o.kind) && o.status.can_receive() && o.id != who.org_id())
        .collect();
    orgs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(orgs)
}
