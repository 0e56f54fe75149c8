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

/// What one organisation has sent on a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderTally {
    pub sender: OrgId,
    /// Files created at or after the time asked about.
    pub files_since: u64,
    /// Its latest file on the channel, whenever that was.
    pub last_file_at: OffsetDateTime,
}

#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Unclaimed deliveries matching `filter`, oldest first.
    async fn unclaimed_deliveries(&self, filter: &UnclaimedFilter) -> Result<Vec<UnclaimedDelivery>, StoreError>;
    /// Everyone who has ever sent a file on `channel`, with how many since `since`. A file
    /// counts once it reached its recipients: not one withdrawn, nor one still in quarantine.
    async fn sender_tallies(&self, channel: &str, since: OffsetDateTime) -> Result<Vec<SenderTally>, StoreError>;
}
