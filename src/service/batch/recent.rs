//! The batches a sender dropped lately, newest first, with what became of their files: the list a
//! routing team starts from before opening one batch's report.

use serde::Deserialize;
use time::OffsetDateTime;

use crate::domain::records::BatchId;
use crate::policy::{self, Action, Principal};
use crate::service::authority::enforce;
use crate::service::mailbox::page_limit;
use crate::service::{AppState, ServiceError};
use crate::store::meta::SentBy;

/// How a finished batch's files ended, as its stored report counts them.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub files: usize,
    pub delivered: usize,
    pub quarantined: usize,
    pub refused: usize,
}

#[derive(Debug, Clone)]
pub struct RecentBatch {
    pub id: BatchId,
    pub channel: String,
    pub sent_by: SentBy,
    pub created_at: OffsetDateTime,
    /// None while the batch is being read, or if it was never read to its end.
    pub counts: Option<Counts>,
}

pub struct RecentPage {
    pub items: Vec<RecentBatch>,
    /// Where the next (older) page starts, when there may be one.
    pub next_cursor: Option<i64>,
}

/// The caller's organisation's batches, newest first, strictly older than `before`: the one
/// policy decision covers them all, as they share the caller's organisation as sender.
pub async fn recent(
    state: &AppState,
    who: &Principal,
    before: Option<i64>,
    limit: Option<u32>,
) -> Result<RecentPage, ServiceError> {
    enforce(policy::decide(who, Action::ViewBatch { sender: who.org_id() }))?;
    let limit = page_limit(limit)?;
    let entries = state.repo().list_batches(&[who.org_id()], before, limit).await?;
    let next_cursor = (entries.len() == limit as usize).then(|| entries.last().map(|e| e.cursor)).flatten();
    let items = entries
        .into_iter()
        .map(|e| e.batch)
        .map(|b| RecentBatch {
            id: b.id,
            counts: b.report.as_deref().and_then(|json| serde_json::from_str(json).ok()),
            channel: b.channel,
            sent_by: b.sent_by,
            created_at: b.created_at,
        })
        .collect();
    Ok(RecentPage { items, next_cursor })
}
