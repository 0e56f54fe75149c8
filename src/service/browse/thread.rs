//! A transfer's whole thread: the first message of it the caller may see, and every answer
//! under that one (replies to replies, files and messages alike), oldest first. Each message
//! is shown only as the policy lets the caller read it, as anywhere else.

use std::collections::{HashSet, VecDeque};

use super::super::download::{function_gate, visible_transfer};
use super::super::ServiceError;
use crate::domain::records::TransferRecord;
use crate::domain::TransferId;
use crate::policy::{self, Action, Decision, Principal};
use crate::service::AppState;

/// The most messages a thread shows, so a page's cost has a bound whatever is sent.
pub const MAX_THREAD: usize = 200;

/// The thread `id` is in, oldest first, `id` included; a transfer the caller may not see is
/// not found.
pub async fn of(state: &AppState, who: &Principal, id: TransferId) -> Result<Vec<TransferRecord>, ServiceError> {
    let current = visible_transfer(state, who, id).await?;
    let mut root = current.clone();
    // Up to the first message the caller may read: an answer whose request they may not see
    // starts its own thread for them.
    let mut climbed = HashSet::from([root.id]);
    while let Some(parent) = root.reply_to {
        match state.repo().get_transfer(parent).await? {
            Some(p) if may_read(state, who, &p) && climbed.insert(p.id) => root = p,
            _ => break,
        }
    }
    let mut seen = HashSet::from([root.id]);
    let mut waiting = VecDeque::from([root]);
    let mut thread = Vec::new();
    while let Some(message) = waiting.pop_front() {
        if seen.len() < MAX_THREAD {
            for reply in state.repo().replies_to(message.id).await? {
                if seen.len() < MAX_THREAD && may_read(state, who, &reply) && seen.insert(reply.id) {
                    waiting.push_back(reply);
                }
            }
        }
        thread.push(message);
    }
    if !thread.iter().any(|t| t.id == id) {
        thread.push(current);
    }
    // Stable: a message and its answer written in the same millisecond keep their order.
    thread.sort_by_key(|t| t.created_at);
    Ok(thread)
}

fn may_read(state: &AppState, who: &Principal, t: &TransferRecord) -> bool {
    let gate = function_gate(state, t);
    policy::decide(who, Action::ReadTransfer(t, gate.as_deref())) == Decision::Allow
}
