//! A team's distributions: what it sent to a group of schools, and which of them have
//! downloaded it. Read through the sender's own mailbox, so the policy sees the same request
//! the API's sent box and transfer detail make.

use std::collections::HashMap;

use time::OffsetDateTime;

use crate::domain::channel::Recipients;
use crate::domain::records::TransferRecord;
use crate::domain::{Mailbox, Organisation, TransferId};
use crate::policy::{self, Action, Decision, Principal};
use crate::service::authority::enforce;
use crate::service::mailbox::{self, ListFilter};
use crate::service::{AppState, ServiceError};

/// Distributions shown on one page.
pub const PAGE: usize = 50;
/// Sent items read looking for one page of distributions, so a team that mostly sends single
/// files is not read to the end on every request.
const SCAN: usize = 2000;

pub struct Distribution {
    pub transfer: TransferRecord,
    /// How many of its recipient organisations have downloaded it.
    pub downloaded_by: usize,
}

pub struct Page {
    pub items: Vec<Distribution>,
    /// Where the next page starts, when there may be more.
    pub next_cursor: Option<i64>,
}

/// A receipt per school: when someone there first downloaded it, if anyone has.
pub struct Receipt {
    pub school: Organisation,
    pub first_download: Option<OffsetDateTime>,
}

pub struct Detail {
    pub transfer: TransferRecord,
    pub receipts: Vec<Receipt>,
}

impl Detail {
    pub fn downloaded_by(&self) -> usize {
        self.receipts.iter().filter(|r| r.first_download.is_some()).count()
    }
}

/// Whether a transfer went to a group: on a channel that addresses groups, or to several at once.
pub fn is_distribution(state: &AppState, t: &TransferRecord) -> bool {
    let group_channel =
        state.channels().get(&t.channel).is_some_and(|c| c.routes.iter().any(|r| matches!(r.to, Recipients::Group)));
    t.recipients.len() > 1 || (group_channel && t.reply_to.is_none())
}

/// Only those who send to groups see distributions: the policy must let them send on a channel
/// whose route for them goes to a group (a channel switched off for now still counts, so its
/// receipts stay in view). A school is refused here, as it is refused sending on such a channel.
fn may_distribute(state: &AppState, who: &Principal) -> Result<(), ServiceError> {
    let catalogue = state.channels();
    let mut refusal = Decision::Forbidden;
    for channel in &catalogue.channels {
        if !channel.route_matching(&who.org).is_some_and(|r| matches!(r.to, Recipients::Group)) {
            continue;
        }
        match policy::decide(who, Action::SendOn(channel)) {
            Decision::Allow | Decision::ChannelOff => return Ok(()),
            other => refusal = other,
        }
    }
    enforce(refusal)
}

/// The caller's distributions, newest first, a page at a time.
pub async fn list(state: &AppState, who: &Principal, before: Option<i64>) -> Result<Page, ServiceError> {
    may_distribute(state, who)?;
    let mut items = Vec::new();
    let mut cursor = before;
    let mut scanned = 0;
    loop {
        let page =
            mailbox::list(state, who, Mailbox::Sent, ListFilter::default(), cursor, Some(mailbox::MAX_PAGE)).await?;
        scanned += page.items.len();
        for entry in page.items {
            cursor = Some(entry.cursor);
            if !is_distribution(state, &entry.transfer) {
                continue;
            }
            let detail = mailbox::get(state, who, entry.transfer.id).await?;
            let downloaded_by = receipts(&detail.transfer, detail.downloads.as_deref().unwrap_or_default())
                .iter()
                .filter(|r| r.first_download.is_some())
                .count();
            items.push(Distribution { transfer: detail.transfer, downloaded_by });
            if items.len() == PAGE {
                return Ok(Page { items, next_cursor: cursor });
            }
        }
        match page.next_cursor {
            Some(_) if scanned < SCAN => {}
            Some(_) => return Ok(Page { items, next_cursor: cursor }),
            None => return Ok(Page { items, next_cursor: None }),
        }
    }
}

/// One distribution with a receipt per recipient; "not found" unless the caller sent it.
pub async fn get(state: &AppState, who: &Principal, id: TransferId) -> Result<Detail, ServiceError> {
    may_distribute(state, who)?;
    let detail = mailbox::get(state, who, id).await?;
    let Some(downloads) = detail.downloads else { return Err(ServiceError::NotFound) };
    if !is_distribution(state, &detail.transfer) {
        return Err(ServiceError::NotFound);
    }
    let receipts = receipts(&detail.transfer, &downloads);
    Ok(Detail { transfer: detail.transfer, receipts })
}

fn receipts(t: &TransferRecord, downloads: &[crate::store::meta::DownloadRecord]) -> Vec<Receipt> {
    let mut first: HashMap<_, OffsetDateTime> = HashMap::new();
    for d in downloads {
        first.entry(d.org.id).and_modify(|at| *at = (*at).min(d.at)).or_insert(d.at);
    }
    let mut receipts: Vec<Receipt> = t
        .recipients
        .iter()
        .map(|r| Receipt { first_download: first.get(&r.org.id).copied(), school: r.org.clone() })
        .collect();
    receipts.sort_by_cached_key(|r| r.school.reference.to_string());
    receipts
}
