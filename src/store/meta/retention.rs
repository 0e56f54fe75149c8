//! What the retention worker and legal holds need from the database, and the leases that let
//! one node at a time run a background job. Kept apart from [`super::Repository`]'s core
//! methods so each engine implements them in a module of their own.

use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;
use crate::audit::AuditEvent;
use crate::domain::retention::HoldScope;
use crate::domain::{OrgId, Organisation, TransferId};

/// An available transfer with what its retention clocks run from.
#[derive(Debug, Clone)]
pub struct RetentionCandidate {
    /// Opaque position for paging through candidates.
    pub cursor: i64,
    pub id: TransferId,
    pub object_id: Uuid,
    pub channel: String,
    pub filename: String,
    pub sender: Organisation,
    pub created_at: OffsetDateTime,
    pub has_file: bool,
    /// When the expiry warning was recorded, if it has been.
    pub warned_at: Option<OffsetDateTime>,
    pub recipients: Vec<RecipientClock>,
}

/// One recipient organisation of a transfer and its first download (by anyone in it).
#[derive(Debug, Clone)]
pub struct RecipientClock {
    pub org: Organisation,
    /// The recipient removed the transfer from its inbox.
    pub removed_at: Option<OffsetDateTime>,
    pub first_download: Option<OffsetDateTime>,
}

/// Public identity of a legal hold: random, like a transfer's.
pub type HoldId = Uuid;

#[derive(Debug, Clone)]
pub struct NewHold {
    pub id: HoldId,
    pub scope: HoldScope,
    /// The transfer id, organisation reference or channel slug, as shown to people.
    pub target: String,
    /// For an organisation hold, the organisation it covers.
    pub org: Option<OrgId>,
    pub reason: String,
    pub placed_at: OffsetDateTime,
    /// Who placed it (a username, or `operator`).
    pub placed_by: String,
}

#[derive(Debug, Clone)]
pub struct HoldRecord {
    pub id: HoldId,
    pub scope: HoldScope,
    pub target: String,
    pub org: Option<OrgId>,
    pub reason: String,
    pub placed_at: OffsetDateTime,
    pub placed_by: String,
    pub lifted_at: Option<OffsetDateTime>,
    pub lifted_by: Option<String>,
}

impl HoldRecord {
    pub fn is_active(&self) -> bool {
        self.lifted_at.is_none()
    }
}

#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Up to `limit` available transfers after `after` (a cursor), in upload order, each with
    /// its recipients and their first downloads.
    async fn retention_candidates(&self, after: Option<i64>, limit: u32)
        -> Result<Vec<RetentionCandidate>, StoreError>;
    /// Purges an available transfer: marks it purged and destroys its wrapped data key in one
    /// transaction with `audit`. False, and nothing changed, if it was no longer available or an
    /// active hold covers it (the hold is checked inside the transaction, so a hold placed a
    /// moment ago still wins).
    async fn purge_transfer(&self, id: TransferId, at: OffsetDateTime, audit: &AuditEvent) -> Result<bool, StoreError>;
    /// Purges several transfers exactly as [`RetentionStore::purge_transfer`] would each, but in
    /// one transaction: one durable commit for the lot rather than one per transfer, which is
    /// what bounds a purge of many files on a disk where a commit costs a millisecond or more.
    /// Each transfer is purged (true) or left untouched (false), in the order given; a failure
    /// leaves them all untouched. The default purges them one by one.
    async fn purge_transfers(
        &self,
        items: &[(TransferId, AuditEvent)],
        at: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        let mut done = Vec::with_capacity(items.len());
        for (id, audit) in items {
            done.push(self.purge_transfer(*id, at, audit).await?);
        }
        Ok(done)
    }
    /// Records that the recipients of an available transfer are to be warned of its expiry.
    /// False if that was recorded before (a transfer is warned about once).
    async fn record_expiry_warning(
        &self,
        id: TransferId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    async fn place_hold(&self, hold: &NewHold, audit: &AuditEvent) -> Result<(), StoreError>;
    /// Holds in the order they were placed; lifted ones too when `include_lifted`.
    async fn list_holds(&self, include_lifted: bool) -> Result<Vec<HoldRecord>, StoreError>;
    async fn get_hold(&self, id: HoldId) -> Result<Option<HoldRecord>, StoreError>;
    /// Lifts an active hold, keeping its row. False if it was already lifted or never existed.
    async fn lift_hold(&self, id: HoldId, by: &str, at: OffsetDateTime, audit: &AuditEvent)
        -> Result<bool, StoreError>;
}

/// Whether a lease was taken, or who holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseClaim {
    Acquired,
    HeldBy { holder: String, until: OffsetDateTime },
}

/// Leases are coordination between nodes, not records of anything done to data, so taking and
/// renewing one is logged but not audited.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes lease `name` for `holder` until `until` if it is free, expired at `now`, or
    /// already `holder`'s: one compare-and-set statement, so two nodes cannot both win.
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<LeaseClaim, StoreError>;
    /// Moves `holder`'s lease on to `until`. False if it is no longer `holder`'s.
    async fn renew_lease(&self, name: &str, holder: &str, until: OffsetDateTime) -> Result<bool, StoreError>;
    /// Gives the lease up so another node need not wait for it to expire.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

/// Which of `items` a bulk purge purged, in their order, given the ids its statement answered
/// (`was_purged` takes each id out as it answers, so an id given twice counts once, at its
/// first mention, as one-by-one purges would have), and the audit events of those purged.
pub(crate) fn purged_in_order(
    items: &[(TransferId, AuditEvent)],
    mut was_purged: impl FnMut(&TransferId) -> bool,
) -> (Vec<bool>, Vec<&AuditEvent>) {
    let done: Vec<bool> = items.iter().map(|(id, _)| was_purged(id)).collect();
    let events = items.iter().zip(&done).filter(|(_, purged)| **purged).map(|((_, audit), _)| audit).collect();
    (done, events)
}
