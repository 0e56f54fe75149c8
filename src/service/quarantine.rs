//! The sender's quarantine: batch files that could not be routed, stored and delivered to
//! nobody until the sender chooses a school for each or discards it.

use tracing::{info, warn};

use super::addressing::{forwarded, org_named};
use super::authority::enforce;
use super::download::hidden_unless_allowed;
use super::mailbox::{page_limit, Page};
use super::upload::sending_on;
use super::ServiceError;
use crate::audit::AuditEvent;
use crate::domain::records::TransferRecord;
use crate::domain::routing::route_by_name;
use crate::domain::{ChannelSlug, FileName, OrgKind, TransferId};
use crate::policy::{self, Action, Principal};
use crate::service::AppState;
use crate::store::meta::Release;
use crate::store::ObjectKey;

/// Reasons a file cannot be delivered on its channel whoever it is for: it must be sent again.
const NOT_REROUTABLE: &[&str] = &["type_not_allowed", "content_mismatch"];

pub async fn list(
    state: &AppState,
    who: &Principal,
    before: Option<i64>,
    limit: Option<u32>,
) -> Result<Page, ServiceError> {
    enforce(policy::decide(who, Action::ListQuarantine))?;
    let limit = page_limit(limit)?;
    let items = state.repo().list_quarantine(&who.mailboxes(), before, limit).await?;
    let next_cursor = (items.len() == limit as usize).then(|| items.last().map(|e| e.cursor)).flatten();
    Ok(Page { items, next_cursor })
}

async fn held(state: &AppState, who: &Principal, id: TransferId) -> Result<TransferRecord, ServiceError> {
    let transfer = state.repo().get_transfer(id).await?.ok_or(ServiceError::NotFound)?;
    hidden_unless_allowed(policy::decide(who, Action::ManageQuarantine(&transfer)))?;
    Ok(transfer)
}

/// Delivers a held file to the school the sender names (`825/2001`, `8252001`).
pub async fn route(
    state: &AppState,
    who: &Principal,
    id: TransferId,
    to: &str,
) -> Result<TransferRecord, ServiceError> {
    let transfer = held(state, who, id).await?;
    let code = transfer.quarantine.as_ref().map(|q| q.code.as_str()).unwrap_or_default();
    if NOT_REROUTABLE.contains(&code) {
        return Err(ServiceError::unprocessable(
            "not_reroutable",
            format!(
                "this file is held because its type or content is not accepted on {}, whichever school it is for: \
                 discard it and send a corrected file",
                transfer.channel
            ),
        ));
    }
    let slug = ChannelSlug::parse(&transfer.channel)
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("stored channel {} is not a slug", transfer.channel)))?;
    let catalogue = state.channels();
    let (channel, _) = sending_on(&catalogue, who, &slug)?;
    let (school, forward_note) = forwarded(state, org_named(state, to).await?).await?;
    if school.kind != OrgKind::School {
        return Err(ServiceError::unprocessable(
            "wrong_recipient_kind",
            format!("files on {} go to schools: name a school's DfE number in 'to'", channel.slug),
        ));
    }
    if !school.status.can_receive() {
        return Err(ServiceError::unprocessable(
            "recipient_closed",
            format!("{} is closed and cannot receive files: check the register for its successor", school.reference),
        ));
    }
    let mut filename = FileName::parse(&transfer.filename)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("stored file name is not valid: {e}")))?;
    if channel.strip_number_prefix {
        // Whatever number the name starts with, it is not one the school should be shown.
        if let Some(stripped) =
            route_by_name(filename.as_str()).ok().and_then(|r| FileName::parse(&r.stripped_name).ok())
        {
            filename = stripped;
        }
    }
    let mut note = format!("sent from the quarantine to {} by {}", school.reference, who.describe());
    if let Some(forward) = forward_note {
        note = format!("{note}; {forward}");
    }
    let release = Release { transfer: id, recipient: school.id, filename, routing_note: note };
    let audit = AuditEvent::by(who, state.now(), "quarantine.route")
        .target("transfer", id)
        .concerning(&school.reference)
        .detail("reason_held", transfer.quarantine.as_ref().map(|q| q.code.clone()))
        .detail("note", &release.routing_note);
    if !state.repo().release_from_quarantine(&release, &audit).await? {
        return Err(ServiceError::Gone("this file is no longer in the quarantine".to_owned()));
    }
    info!(transfer = %id, to = %school.reference, "quarantined file routed");
    state.repo().get_transfer(id).await?.ok_or(ServiceError::NotFound)
}

/// Discards a held file: its data key is destroyed at once, then its object deleted.
pub async fn discard(state: &AppState, who: &Principal, id: TransferId) -> Result<(), ServiceError> {
    let transfer = held(state, who, id).await?;
    let audit =
        AuditEvent::by(who, state.now(), "quarantine.discard").target("transfer", id).concerning(&who.org.reference);
    if !state.repo().withdraw_transfer(id, state.now(), &audit).await? {
        return Err(ServiceError::Gone("this file is no longer in the quarantine".to_owned()));
    }
    info!(transfer = %id, "quarantined file discarded; data key destroyed");
    if let Err(e) = state.blobs().delete(ObjectKey(transfer.object_id)).await {
        warn!(transfer = %id, error = %e, "could not delete a discarded file's object yet; the sweep will");
    }
    Ok(())
}
