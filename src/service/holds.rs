//! Legal holds: an LA administrator stops retention purging a transfer, everything an
//! organisation sent or received, or everything on a channel, until the hold is lifted. Every
//! placement and lifting is an audit event; lifted holds stay on record.

use tracing::info;
use uuid::Uuid;

use super::authority::enforce;
use super::{printable_name, ServiceError};
use crate::audit::AuditEvent;
use crate::domain::retention::HoldScope;
use crate::domain::{OrgRef, TransferId};
use crate::policy::{self, Action, Principal};
use crate::service::AppState;
use crate::store::meta::{HoldId, HoldRecord, NewHold};

/// The longest reason kept with a hold.
pub const MAX_REASON: usize = 1000;

/// What a hold is asked to cover, as the request gave it.
pub struct HoldRequest {
    pub scope: String,
    pub target: String,
    pub reason: String,
}

/// Who placed or lifted a hold, as stored beside it: the person's username, or the key's id.
fn who_name(who: &Principal) -> String {
    match who.user() {
        Some(u) => u.username.to_string(),
        None => who.key_id().unwrap_or("unknown").to_owned(),
    }
}

pub async fn place(state: &AppState, who: &Principal, request: HoldRequest) -> Result<HoldRecord, ServiceError> {
    enforce(policy::decide(who, Action::ManageHolds))?;
    let scope = HoldScope::parse(request.scope.trim()).ok_or_else(|| {
        ServiceError::bad_request("invalid_scope", "give the scope of the hold: transfer, organisation or channel")
    })?;
    let reason = printable_name(&request.reason, MAX_REASON, "the reason for the hold")?.to_owned();
    let raw = request.target.trim();
    // The target is resolved now, so a hold always names something that exists and is stored
    // in the one spelling the purge compares with.
    let (target, org, concerning) = match scope {
        HoldScope::Transfer => {
            let id: TransferId = raw.parse().map_err(|_| {
                ServiceError::bad_request("invalid_target", format!("'{raw}' is not a transfer id (a UUID)"))
            })?;
            let transfer = state
                .repo()
                .get_transfer(id)
                .await?
                .ok_or_else(|| ServiceError::Unknown(format!("there is no transfer {id}")))?;
            (id.to_string(), None, Some(transfer.sender.reference.to_string()))
        }
        HoldScope::Organisation => {
            let reference: OrgRef = raw.parse().map_err(|_| {
                ServiceError::bad_request(
                    "invalid_target",
                    format!("'{raw}' is not an organisation: give a DfE number such as 825/2001, or a team slug"),
                )
            })?;
            let found = state
                .repo()
                .find_organisation(&reference)
                .await?
                .ok_or_else(|| ServiceError::Unknown(format!("there is no organisation {reference}")))?;
            (found.reference.to_string(), Some(found.id), Some(found.reference.to_string()))
        }
        HoldScope::Channel => {
            if state.channels().get(raw).is_none() {
                return Err(ServiceError::Unknown(format!(
                    "there is no channel '{raw}': GET /api/v1/channels lists them"
                )));
            }
            (raw.to_owned(), None, None)
        }
    };
    let hold = NewHold {
        id: Uuid::new_v4(),
        scope,
        target: target.clone(),
        org,
        reason: reason.clone(),
        placed_at: state.now(),
        placed_by: who_name(who),
    };
    let mut audit = AuditEvent::by(who, hold.placed_at, "hold.place")
        .target("hold", hold.id)
        .detail("scope", scope.as_str())
        .detail("on", &target)
        .detail("reason", &reason);
    if let Some(org) = concerning {
        audit = audit.concerning(org);
    }
    state.repo().place_hold(&hold, &audit).await?;
    info!(hold = %hold.id, scope = scope.as_str(), target = %target, by = %who.describe(), "legal hold placed");
    state.repo().get_hold(hold.id).await?.ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("hold vanished")))
}

pub async fn list(state: &AppState, who: &Principal, include_lifted: bool) -> Result<Vec<HoldRecord>, ServiceError> {
    enforce(policy::decide(who, Action::ManageHolds))?;
    Ok(state.repo().list_holds(include_lifted).await?)
}

fn no_hold(id: &str) -> ServiceError {
    ServiceError::Unknown(format!("there is no hold {id}: GET /api/v1/holds lists them"))
}

/// Lifts a hold; its row stays, with when and by whom it was lifted.
pub async fn lift(state: &AppState, who: &Principal, raw_id: &str) -> Result<HoldRecord, ServiceError> {
    enforce(policy::decide(who, Action::ManageHolds))?;
    let id: HoldId = Uuid::parse_str(raw_id).map_err(|_| no_hold(raw_id))?;
    let hold = state.repo().get_hold(id).await?.ok_or_else(|| no_hold(raw_id))?;
    let mut audit = AuditEvent::by(who, state.now(), "hold.lift")
        .target("hold", id)
        .detail("scope", hold.scope.as_str())
        .detail("on", &hold.target);
    if hold.scope == HoldScope::Organisation {
        audit = audit.concerning(&hold.target);
    }
    if !state.repo().lift_hold(id, &who_name(who), state.now(), &audit).await? {
        return Err(ServiceError::Conflict {
            code: "already_lifted",
            message: format!("hold {id} was already lifted: nothing changed"),
        });
    }
    info!(hold = %id, by = %who.describe(), "legal hold lifted");
    state.repo().get_hold(id).await?.ok_or_else(|| no_hold(raw_id))
}
