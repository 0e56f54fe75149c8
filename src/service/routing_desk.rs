//! What a team that routes files by name needs beside the batch and quarantine use cases: which
//! of its channels take batches, one held file to look at, a school to send it to found by
//! name, DfE number or URN, and its request channels' turnaround with working days left.
//! Each asks the policy as the use cases it serves do.

use time::Date;

use super::authority::enforce;
use super::download::hidden_unless_allowed;
use super::reports::{self, OpenRequest};
use super::ServiceError;
use crate::domain::channel::{Channel, Recipients};
use crate::domain::records::TransferRecord;
use crate::domain::{OrgKind, Organisation, TransferId};
use crate::policy::{self, Action, Decision, Principal};
use crate::service::AppState;

/// The FSM eligibility channel, whose open requests the turnaround page lists.
pub const FSM_CHANNEL: &str = "fsm";

/// At most this many schools are offered for one search.
pub const MAX_MATCHES: usize = 20;

/// The channels on which `who` may send a batch (those routed by the school a file name starts
/// with). Refused when there are none: nobody else has a batch or a quarantine to work on.
pub fn batch_channels(state: &AppState, who: &Principal) -> Result<Vec<Channel>, ServiceError> {
    let catalogue = state.channels();
    let channels: Vec<Channel> = catalogue
        .channels
        .iter()
        .filter(|c| c.route_matching(&who.org).is_some_and(|r| r.to == Recipients::NamedSchool))
        .filter(|c| policy::decide(who, Action::SendOn(c)) == Decision::Allow)
        .cloned()
        .collect();
    if channels.is_empty() {
        // Whatever stopped each channel (a step owed, a key that cannot send) is the answer.
        if let Some(c) = catalogue.channels.iter().find(|c| c.route_matching(&who.org).is_some()) {
            if let decision @ (Decision::StepRequired(_) | Decision::Hidden) = policy::decide(who, Action::SendOn(c)) {
                enforce(decision)?;
            }
        }
        return Err(ServiceError::Forbidden);
    }
    Ok(channels)
}

/// One file held in the caller's quarantine.
pub async fn held(state: &AppState, who: &Principal, id: TransferId) -> Result<TransferRecord, ServiceError> {
    let transfer = state.repo().get_transfer(id).await?.ok_or(ServiceError::NotFound)?;
    hidden_unless_allowed(policy::decide(who, Action::ManageQuarantine(&transfer)))?;
    Ok(transfer)
}

/// Open schools whose name holds `query`, or whose DfE number (with or without its slash) or
/// URN is `query`; exact numbers first, then by name. For choosing where a held file goes, so
/// only for those who may route batches.
pub async fn find_schools(state: &AppState, who: &Principal, query: &str) -> Result<Vec<Organisation>, ServiceError> {
    batch_channels(state, who)?;
    let query = query.trim();
    if query.is_empty() {
        return Ok(Vec::new());
    }
    let wanted = query.to_lowercase();
    let digits: String = query.chars().filter(|c| !c.is_whitespace() && *c != '/').collect();
    let mut found: Vec<(u8, Organisation)> = state
        .repo()
        .list_organisations()
        .await?
        .into_iter()
        .filter(|o| o.kind == OrgKind::School && o.status.can_receive())
        .filter_map(|o| {
            let dfe: String = o.reference.to_string().chars().filter(|c| *c != '/').collect();
            let rank = if dfe == digits || o.urn.is_some_and(|u| u.to_string() == digits) {
                0
            } else if o.name.to_lowercase().contains(&wanted) {
                1
            } else if digits.len() >= 3 && digits.chars().all(|c| c.is_ascii_digit()) && dfe.starts_with(&digits) {
                2
            } else {
                return None;
            };
            Some((rank, o))
        })
        .collect();
    found.sort_by(|(ra, a), (rb, b)| ra.cmp(rb).then_with(|| a.name.cmp(&b.name)));
    Ok(found.into_iter().take(MAX_MATCHES).map(|(_, o)| o).collect())
}

/// One open request, with its deadline in working days.
pub struct Due {
    pub request: OpenRequest,
    pub received_on: Date,
    /// The last working day of the turnaround (None on a channel without a target).
    pub due_on: Option<Date>,
    /// Working days left before `due_on` (0 once it is reached or passed).
    pub days_left: Option<u32>,
}

pub struct Turnaround {
    pub channel: Channel,
    pub target_business_days: Option<u32>,
    /// Overdue first, then the oldest first.
    pub requests: Vec<Due>,
}

/// The FSM requests the caller's team has not answered yet. Only the team that answers the
/// channel (and LA administrators) see it, as with the collection report.
pub async fn fsm_turnaround(state: &AppState, who: &Principal) -> Result<Turnaround, ServiceError> {
    let catalogue = state.channels();
    let channel = catalogue
        .get(FSM_CHANNEL)
        .cloned()
        .ok_or_else(|| ServiceError::Unknown(format!("there is no '{FSM_CHANNEL}' channel on this service")))?;
    enforce(policy::decide(who, Action::ViewCollectionReport(&channel)))?;
    let report = reports::turnaround(state, who, FSM_CHANNEL).await?;
    let calendar = reports::calendar(state)?;
    let mut requests: Vec<Due> = report
        .requests
        .into_iter()
        .map(|request| {
            let received_on = request.transfer.created_at.date();
            let due_on = report.target_business_days.map(|t| calendar.add_business_days(received_on, t));
            let days_left = report.target_business_days.map(|t| t.saturating_sub(request.age_business_days));
            Due { request, received_on, due_on, days_left }
        })
        .collect();
    requests.sort_by(|a, b| {
        b.request
            .overdue
            .cmp(&a.request.overdue)
            .then_with(|| b.request.age_business_days.cmp(&a.request.age_business_days))
            .then_with(|| a.request.transfer.created_at.cmp(&b.request.transfer.created_at))
    });
    Ok(Turnaround { channel, target_business_days: report.target_business_days, requests })
}
