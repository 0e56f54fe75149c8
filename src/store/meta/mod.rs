//! Metadata repository: organisations, API keys, transfers, deliveries and downloads.
//! SQL lives only in `sql`, written once for both engines.

pub mod audit;
mod audit_rows;
pub mod channels;
mod collection_rows;
pub mod identity;
pub mod installation;
mod mailbox_filter;
mod records;
pub mod reports;
pub mod retention;
pub mod sql;

pub use audit::*;
pub use channels::*;
pub use identity::*;
pub use installation::*;
pub use records::*;
pub use reports::*;
pub use retention::*;

use std::collections::HashSet;

use async_trait::async_trait;

use crate::audit::AuditEvent;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::crypto::{SealedText, WrappedKey};
use crate::domain::{Mailbox, OrgId, OrgRef, Organisation, TransferId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached in time; the request may succeed later.
    #[error("the database is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A uniqueness rule was broken; the text names what already exists.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

#[async_trait]
pub trait Repository:
    AuditStore + IdentityStore + ChannelStore + ReportStore + RetentionStore + LeaseStore + Send + Sync + 'static
{
    /// Applies pending migrations; safe to run on every start.
    async fn migrate(&self) -> Result<(), StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;

    async fn create_organisation(
        &self,
        org: &NewOrganisation,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Organisation, StoreError>;
    async fn find_organisation(&self, reference: &OrgRef) -> Result<Option<Organisation>, StoreError>;
    async fn list_organisations(&self) -> Result<Vec<Organisation>, StoreError>;

    async fn create_api_key(&self, key: &NewApiKey, at: OffsetDateTime, audit: &AuditEvent) -> Result<(), StoreError>;
    async fn find_api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;
    async fn touch_api_key(&self, key_id: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    /// Stores a transfer and its deliveries in one transaction: it becomes visible whole or not at all.
    async fn insert_transfer(&self, transfer: &NewTransfer, audit: &AuditEvent) -> Result<TransferRecord, StoreError>;
    /// Stores many transfers, each with its deliveries and audit event as
    /// [`Repository::insert_transfer`] would, for bulk loads (imports, benchmarks). An engine
    /// that can stores them in one transaction, all or none; the default stores them one by
    /// one, so a failure part way leaves those before it stored.
    async fn insert_transfers(&self, items: &[(NewTransfer, AuditEvent)]) -> Result<(), StoreError> {
        for (transfer, audit) in items {
            self.insert_transfer(transfer, audit).await?;
        }
        Ok(())
    }
    async fn get_transfer(&self, id: TransferId) -> Result<Option<TransferRecord>, StoreError>;
    /// One page of a mailbox, newest first, narrowed by the query's filter.
    async fn mailbox_page(&self, query: &MailboxQuery<'_>) -> Result<Vec<MailboxEntry>, StoreError>;
    /// One page of the mailboxes of `orgs` (an organisation and those it carries on from), newest
    /// first, strictly older than `before` (a cursor from a previous page), only on `channels` when given
    /// and never on `hidden_channels`: [`Repository::mailbox_page`] without a filter.
    async fn list_mailbox(
        &self,
        orgs: &[OrgId],
        channels: Option<&[String]>,
        hidden_channels: &[String],
        mailbox: Mailbox,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MailboxEntry>, StoreError> {
        let filter = MailboxFilter::default();
        self.mailbox_page(&MailboxQuery { orgs, mailbox, channels, hidden_channels, filter: &filter, before, limit })
            .await
    }
    /// Available transfers on `channel` delivered to any of `orgs` that no transfer answers yet, oldest first.
    async fn open_requests(&self, channel: &str, orgs: &[OrgId], limit: u32)
        -> Result<Vec<TransferRecord>, StoreError>;
    async fn record_download(&self, download: &NewDownload, audit: &AuditEvent) -> Result<(), StoreError>;
    async fn list_downloads(&self, id: TransferId) -> Result<Vec<DownloadRecord>, StoreError>;
    /// The transfers that answer `id`, oldest first.
    async fn replies_to(&self, id: TransferId) -> Result<Vec<TransferRecord>, StoreError>;

    async fn create_batch(&self, batch: &NewBatch) -> Result<(), StoreError>;
    async fn finish_batch(
        &self,
        id: BatchId,
        report: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn get_batch(&self, id: BatchId) -> Result<Option<BatchRecord>, StoreError>;
    /// The batches any of `senders` sent, newest first, strictly older than `before` (a cursor
    /// from a previous page).
    async fn list_batches(
        &self,
        senders: &[OrgId],
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<BatchEntry>, StoreError>;
    /// Files held in the quarantine of any of `orgs`, newest first, strictly older than `before`.
    async fn list_quarantine(
        &self,
        orgs: &[OrgId],
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MailboxEntry>, StoreError>;
    /// Delivers a quarantined file in one transaction. False if it was no longer in quarantine.
    async fn release_from_quarantine(&self, release: &Release, audit: &AuditEvent) -> Result<bool, StoreError>;
    /// The organisations recorded as carrying `org` on (usually one; two when it was split).
    async fn successors(&self, org: OrgId) -> Result<Vec<Organisation>, StoreError>;

    /// Marks the transfer withdrawn and destroys its wrapped data key. False if it was not available.
    async fn withdraw_transfer(
        &self,
        id: TransferId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Hides a delivery from the recipient's inbox. False if it was not there.
    async fn remove_delivery(
        &self,
        id: TransferId,
        org: OrgId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;

    /// Of the given object ids, those that a transfer still needs (its data key still exists).
    async fn live_objects(&self, candidates: &[Uuid]) -> Result<HashSet<Uuid>, StoreError>;
    /// Object ids of transfers whose data key has been destroyed, so their objects can go.
    async fn dead_objects(&self, candidates: &[Uuid]) -> Result<HashSet<Uuid>, StoreError>;

    /// Up to `limit` wrapped data keys not wrapped under `kek_id`, for re-wrapping.
    async fn keys_not_under(&self, kek_id: &str, limit: u32) -> Result<Vec<StoredKey>, StoreError>;
    /// Replaces a wrapped key if it is still `old` (another node may have got there first).
    async fn replace_wrapped_key(&self, id: TransferId, old: &WrappedKey, new: &WrappedKey)
        -> Result<bool, StoreError>;

    /// Up to `limit` transfers whose message is still plain text, written before messages
    /// were sealed.
    async fn plain_messages(&self, limit: u32) -> Result<Vec<PlainMessage>, StoreError>;
    /// Replaces a plain message by `sealed` (none: the text is dropped, its key being gone),
    /// with `new_key` for a message that had no data key. False if another node did it first.
    async fn seal_plain_message(
        &self,
        id: TransferId,
        sealed: Option<&SealedText>,
        new_key: Option<&WrappedKey>,
    ) -> Result<bool, StoreError>;

    /// The master keys the database has seen, oldest first.
    async fn seen_master_keys(&self) -> Result<Vec<SeenKey>, StoreError>;
    /// Records a node's keys (a key known by id only gets its check value; a key with one
    /// keeps it) and makes `primary` the newest primary unless it is already.
    async fn record_master_keys(&self, keys: &[KeyCheck], primary: &str, at: OffsetDateTime) -> Result<(), StoreError>;
    /// Whether any stored row is still sealed under the key `kek_id`.
    async fn master_key_in_use(&self, kek_id: &str) -> Result<bool, StoreError>;
    /// One stored row sealed under `kek_id`, if any.
    async fn sealed_sample(&self, kek_id: &str) -> Result<Option<SealedSample>, StoreError>;
    /// Whether the database holds anything a master key seals or vouches for: people, files,
    /// or the record of a key.
    async fn holds_keyed_data(&self) -> Result<bool, StoreError>;
    /// How much of the first-start work is done (see [`BOOTSTRAP_VERSION`]).
    async fn bootstrap_version(&self) -> Result<i64, StoreError>;
    /// Does what of `plan` is not done yet, in one transaction under the installation's lock.
    async fn bootstrap(&self, plan: &BootstrapPlan) -> Result<BootstrapOutcome, StoreError>;
}
