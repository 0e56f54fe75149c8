//! The audit trail's store. Events that record a change are appended by the change's own
//! repository method, inside its transaction; [`AuditStore::append_audit`] is for events that
//! record no change (a refused request, a failed login).

use async_trait::async_trait;
use time::OffsetDateTime;

use super::StoreError;
use crate::audit::{AuditEvent, StoredEvent};

/// Which events to list. Every field narrows; none set lists everything.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// The organisation the event concerns, or whose member acted.
    pub org: Option<String>,
    pub actor: Option<String>,
    /// An action, or a prefix of one ending in `.` (`transfer.` for every transfer event).
    pub action: Option<String>,
    pub target: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
}

/// An event with the details text exactly as stored (the chain covers those bytes).
#[derive(Debug, Clone)]
pub struct AuditRecord {
    pub stored: StoredEvent,
    pub details_json: String,
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends one event in a transaction of its own; returns its sequence number.
    async fn append_audit(&self, event: &AuditEvent) -> Result<u64, StoreError>;
    /// Events in sequence order from `after` (exclusive), at most `limit`: for verifying.
    async fn audit_from(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError>;
    /// Events matching `filter`, newest first, strictly before `before` when given.
    async fn search_audit(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// How many `action` events `actor` (kind and id) caused since `since`, and the sum of their
    /// `bytes` detail: what the download alert counts.
    async fn recent_activity(
        &self,
        actor_kind: &str,
        actor_id: &str,
        action: &str,
        since: OffsetDateTime,
    ) -> Result<(u64, u64), StoreError>;
    /// Appends `event` unless its actor already has an event with its action since `since`,
    /// deciding under the chain's lock so that concurrent callers raise it once. True if appended.
    async fn append_once_since(&self, event: &AuditEvent, since: OffsetDateTime) -> Result<bool, StoreError>;
    /// The last sequence number given out, and its hash (0 and zeros for an empty chain).
    async fn audit_head(&self) -> Result<(u64, [u8; 32]), StoreError>;
}
