//! Receipts for a page of transfers: for the sender, how many recipients have downloaded each;
//! for a recipient, whether their own organisation has.

use super::super::download::{function_gate, hidden_unless_allowed};
use super::super::ServiceError;
use crate::domain::records::TransferRecord;
use crate::policy::{self, Action, Principal};
use crate::service::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// The caller sent it: `downloaded` of its `recipients` have fetched it.
    Sent { downloaded: usize, recipients: usize },
    /// The caller received it: whether anyone in their organisation has fetched it.
    Received { downloaded: bool },
}

/// One receipt per transfer, in order; a transfer the caller may not see is refused as not
/// found, as anywhere else.
pub async fn for_transfers(
    state: &AppState,
    who: &Principal,
    transfers: &[&TransferRecord],
) -> Result<Vec<Receipt>, ServiceError> {
    let mut receipts = Vec::with_capacity(transfers.len());
    for t in transfers {
        let gate = function_gate(state, t);
        hidden_unless_allowed(policy::decide(who, Action::ReadTransfer(t, gate.as_deref())))?;
        let downloads = if t.has_file { state.repo().list_downloads(t.id).await? } else { Vec::new() };
        receipts.push(if t.is_sent_by(who.org_id()) {
            Receipt::Sent {
                downloaded: t.recipients.iter().filter(|r| downloads.iter().any(|d| d.org.id == r.org.id)).count(),
                recipients: t.recipients.len(),
            }
        } else {
            Receipt::Received { downloaded: downloads.iter().any(|d| d.org.id == who.org_id()) }
        });
    }
    Ok(receipts)
}
