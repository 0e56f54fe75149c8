//! Queries behind the LA's reports that cut across every organisation's mailbox.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::domain::{OrgId, Organisation, TransferId};

/// Which undelivered files to list: those on each named channel created at or before its
/// cutoff, and on any other channel at or before `otherwise` (none when `otherwise` is None).
#[derive(Debug, Clone)]
pub struct UnclaimedFilter {
    pub cutoffs: Vec<(String, OffsetDateTime)>,
    pub otherwise: Option<OffsetDateTime>,
    pub recipient: Option<OrgId>,
    pub limit: u32,
}

/// A delivery of an available transfer, still in its recipient's inbox, that nobody in the
/// recipient organisation has downloaded.
#[derive(Debug, Clone)]
pub struct UnclaimedDelivery {
    pub transfer: TransferId,
    pub channel: String,
    pub filename: String,
    pub sender: Organisation,
    pub recipient: Organisation,
    pub created_at: OffsetDateTime,
}

#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Unclaimed deliveries matching `filter`, oldest first.
    async fn unclaimed_deliveries(&self, filter: &UnclaimedFilter) -> Result<Vec<UnclaimedDelivery>, StoreError>;
}
