//! Listing a mailbox, reading one transfer, and taking one out of circulation.

use time::OffsetDateTime;
use tracing::{info, warn};

use super::authority::enforce;
use super::download::visible_transfer;
use super::ServiceError;
use crate::audit::AuditEvent;
use crate::domain::records::TransferRecord;
use crate::domain::{ChannelSlug, Mailbox, OrgId, OrgRef, TransferId};
use crate::policy::{self, Action, Decision, Principal};
use crate::service::AppState;
use crate::store::meta::{DownloadRecord, DownloadState, MailboxEntry, MailboxFilter, MailboxQuery};
use crate::store::ObjectKey;

pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 200;

pub struct Page {
    pub items: Vec<MailboxEntry>,
    /// Present when there may be more: pass it back to get the next page.
    pub next_cursor: Option<i64>,
}

/// What to narrow a listing to, as the caller named it.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub channel: Option<ChannelSlug>,
    /// The sender: a school by DfE number or a team by slug.
    pub from: Option<OrgRef>,
    /// A recipient of sent items: a school by DfE number or a team by slug.
    pub to: Option<OrgRef>,
    pub since: Option<OffsetDateTime>,
    pub download_state: Option<DownloadState>,
}

pub async fn list(
    state: &AppState,
    who: &Principal,
    mailbox: Mailbox,
    filter: ListFilter,
    before: Option<i64>,
    limit: Option<u32>,
) -> Result<Page, ServiceError> {
    enforce(policy::decide(who, Action::ReadMailbox(mailbox)))?;
    let limit = page_limit(limit)?;
    let filter = resolve(state, mailbox, filter).await?;
    let orgs = who.mailboxes();
    let hidden = unseen_channels(state, who, mailbox);
    let query = MailboxQuery {
        orgs: &orgs,
        mailbox,
        channels: who.channel_scope(),
        hidden_channels: &hidden,
        filter: &filter,
        before,
        limit,
    };
    let items = state.repo().mailbox_page(&query).await?;
    let next_cursor = (items.len() == limit as usize).then(|| items.last().map(|e| e.cursor)).flatten();
    Ok(Page { items, next_cursor })
}

/// The filter in the store's terms: a channel that exists, and a sender or recipient that
/// does. Each is refused with 400 when it names nothing, so a mistyped name is not read as "no
/// files", and when it does not filter this box.
async fn resolve(state: &AppState, mailbox: Mailbox, filter: ListFilter) -> Result<MailboxFilter, ServiceError> {
    if mailbox == Mailbox::Sent && (filter.from.is_some() || filter.download_state.is_some()) {
        return Err(ServiceError::bad_request(
            "invalid_filter",
            "from and state filter the inbox: leave them out with box=sent",
        ));
    }
    if mailbox == Mailbox::Inbox && filter.to.is_some() {
        return Err(ServiceError::bad_request("invalid_filter", "to filters sent items: leave it out with box=inbox"));
    }
    let channel = match filter.channel {
        Some(c) if state.channels().get(c.as_str()).is_none() => return Err(super::unknown_channel(c.as_str())),
        other => other.map(|c| c.as_str().to_owned()),
    };
    Ok(MailboxFilter {
        channel,
        senders: organisation(state, filter.from.as_ref()).await?,
        recipients: organisation(state, filter.to.as_ref()).await?,
        since: filter.since,
        download_state: filter.download_state,
    })
}

/// The organisation a filter names, as the store's list of one.
async fn organisation(state: &AppState, reference: Option<&OrgRef>) -> Result<Option<Vec<OrgId>>, ServiceError> {
    let Some(reference) = reference else { return Ok(None) };
    let org = state.repo().find_organisation(reference).await?.ok_or_else(|| {
        ServiceError::bad_request(
            "unknown_organisation",
            format!("there is no organisation {reference}: give a school's DfE number or a team's slug"),
        )
    })?;
    Ok(Some(vec![org.id]))
}

/// The page size asked for, or the default.
pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32, ServiceError> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ServiceError::bad_request("invalid_limit", format!("limit must be between 1 and {MAX_PAGE}"))),
    }
}

/// Channels whose files this person may not see in their inbox: those limited to a function
/// they do not hold.
fn unseen_channels(state: &AppState, who: &Principal, mailbox: Mailbox) -> Vec<String> {
    if mailbox != Mailbox::Inbox {
        return Vec::new();
    }
    state
        .channels()
        .channels
        .iter()
        .filter(|c| c.function.as_deref().is_some_and(|f| !who.holds_function(f)))
        .map(|c| c.slug.clone())
        .collect()
}

pub struct TransferDetail {
    pub transfer: TransferRecord,
    /// Receipts, shown to the sender only.
    pub downloads: Option<Vec<DownloadRecord>>,
    /// The answers to it that the caller may see, oldest first: the thread under a request.
    pub replies: Vec<TransferRecord>,
}

pub async fn get(state: &AppState, who: &Principal, id: TransferId) -> Result<TransferDetail, ServiceError> {
    let transfer = visible_transfer(state, who, id).await?;
    let downloads = if transfer.is_sent_by(who.org_id()) { Some(state.repo().list_downloads(id).await?) } else { None };
    let catalogue = state.channels();
    let replies = state
        .repo()
        .replies_to(id)
        .await?
        .into_iter()
        .filter(|r| {
            let gate = catalogue.get(&r.channel).and_then(|c| c.function.as_deref());
            policy::decide(who, Action::ReadTransfer(r, gate)) == Decision::Allow
        })
        .collect();
    Ok(TransferDetail { transfer, downloads, replies })
}

/// The sender withdraws a transfer (its data key is destroyed, then its object deleted), or a
/// recipient removes it from their inbox.
pub async fn delete(state: &AppState, who: &Principal, id: TransferId) -> Result<(), ServiceError> {
    let transfer = state.repo().get_transfer(id).await?.ok_or(ServiceError::NotFound)?;
    if let Decision::StepRequired(step) = policy::decide(who, Action::ListMailbox) {
        return Err(ServiceError::StepRequired(step));
    }
    if policy::decide(who, Action::WithdrawTransfer(&transfer)) == Decision::Allow {
        let audit = AuditEvent::by(who, state.now(), "transfer.withdraw")
            .target("transfer", id)
            .concerning(&transfer.sender.reference);
        if !state.repo().withdraw_transfer(id, state.now(), &audit).await? {
            return Err(ServiceError::Gone(format!("this transfer is already {}", transfer.state.as_str())));
        }
        info!(transfer = %id, "transfer withdrawn; data key destroyed");
        if !transfer.has_file {
            return Ok(());
        }
        if let Err(e) = state.blobs().delete(ObjectKey(transfer.object_id)).await {
            // The key is gone, so the object is unreadable; the sweep deletes it later.
            warn!(transfer = %id, error = %e, "could not delete a withdrawn transfer's object yet");
        }
        return Ok(());
    }
    if policy::decide(who, Action::RemoveFromInbox(&transfer)) == Decision::Allow
        && transfer.state == crate::domain::TransferState::Available
    {
        let audit = AuditEvent::by(who, state.now(), "transfer.remove_from_inbox")
            .target("transfer", id)
            .concerning(&who.org.reference);
        state.repo().remove_delivery(id, who.org_id(), state.now(), &audit).await?;
        return Ok(());
    }
    Err(ServiceError::NotFound)
}
