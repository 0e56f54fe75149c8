use time::OffsetDateTime;
use uuid::Uuid;

use super::identity::KeyScope;
use crate::crypto::WrappedKey;
use crate::domain::{
    ChannelSlug, FileName, Mailbox, OrgId, OrgKind, OrgRef, Organisation, Sha256Digest, TransferId, TransferState,
};

#[derive(Debug, Clone)]
pub struct NewOrganisation {
    pub kind: OrgKind,
    pub reference: OrgRef,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub key_id: String,
    pub org_id: OrgId,
    pub name: String,
    pub secret_hash: [u8; 32],
    pub scope: KeyScope,
}

#[derive(Debug, Clone)]
pub struct ApiKeyRecord {
    pub key_id: String,
    pub org: Organisation,
    pub name: String,
    pub secret_hash: Vec<u8>,
    pub revoked_at: Option<OffsetDateTime>,
    /// Set while a download alert holds the key back.
    pub suspended_at: Option<OffsetDateTime>,
    pub scope: KeyScope,
}

#[derive(Debug, Clone)]
pub struct NewTransfer {
    pub id: TransferId,
    pub object_id: Uuid,
    pub channel: ChannelSlug,
    pub sender: OrgId,
    pub sender_key_id: Option<String>,
    pub recipients: Vec<OrgId>,
    /// None for a message sent without a file.
    pub filename: Option<FileName>,
    pub content_type: String,
    pub size: u64,
    pub sha256: Sha256Digest,
    /// None for a message sent without a file: there is no object to protect.
    pub wrapped_key: Option<WrappedKey>,
    pub created_at: OffsetDateTime,
    pub message: Option<String>,
    pub reply_to: Option<TransferId>,
    /// Set when the file is stored for its sender but delivered to nobody (it could not be routed).
    pub quarantine: Option<Quarantine>,
    pub routing_note: Option<String>,
    pub batch: Option<BatchId>,
}

/// Why a batch file is held in its sender's quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    /// A stable code for programs (`unroutable_name`, `unknown_school`, ...).
    pub code: String,
    /// The sentence shown to the sender: what is wrong and what to do.
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct TransferRecord {
    pub id: TransferId,
    pub object_id: Uuid,
    pub channel: String,
    pub sender: Organisation,
    pub sender_key_id: Option<String>,
    pub recipients: Vec<Delivery>,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: Sha256Digest,
    pub wrapped_key: Option<WrappedKey>,
    pub state: TransferState,
    pub created_at: OffsetDateTime,
    pub withdrawn_at: Option<OffsetDateTime>,
    pub message: Option<String>,
    pub reply_to: Option<TransferId>,
    pub has_file: bool,
    pub quarantine: Option<Quarantine>,
    pub quarantined_at: Option<OffsetDateTime>,
    pub routing_note: Option<String>,
    pub batch: Option<BatchId>,
}

impl TransferRecord {
    pub fn is_sent_by(&self, org: OrgId) -> bool {
        self.sender.id == org
    }

    /// Held in the sender's quarantine, delivered to nobody yet.
    pub fn is_quarantined(&self) -> bool {
        self.quarantine.is_some() && self.state == TransferState::Available
    }

    /// Delivered to `org` and not removed from its inbox.
    pub fn is_delivered_to(&self, org: OrgId) -> bool {
        self.recipients.iter().any(|d| d.org.id == org && d.removed_at.is_none())
    }
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub org: Organisation,
    pub removed_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct MailboxEntry {
    /// Opaque position for keyset pagination.
    pub cursor: i64,
    pub transfer: TransferRecord,
}

#[derive(Debug, Clone)]
pub struct NewDownload {
    pub transfer: TransferId,
    pub org: OrgId,
    pub key_id: Option<String>,
    pub client_addr: Option<String>,
    pub range: Option<(u64, u64)>,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct DownloadRecord {
    pub org: Organisation,
    pub key_id: Option<String>,
    pub range: Option<(u64, u64)>,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct StoredKey {
    pub transfer: TransferId,
    pub object_id: Uuid,
    pub wrapped_key: WrappedKey,
}

/// Public identity of a batch drop: random, like a transfer's.
pub type BatchId = Uuid;

#[derive(Debug, Clone)]
pub struct NewBatch {
    pub id: BatchId,
    pub channel: ChannelSlug,
    pub sender: OrgId,
    pub sender_key_id: Option<String>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct BatchRecord {
    pub id: BatchId,
    pub channel: String,
    pub sender: OrgId,
    pub created_at: OffsetDateTime,
    /// The per-file report as JSON, once the batch has been read to its end.
    pub report: Option<String>,
    pub finished_at: Option<OffsetDateTime>,
}

/// A quarantined file given a recipient by its sender.
#[derive(Debug, Clone)]
pub struct Release {
    pub transfer: TransferId,
    pub recipient: OrgId,
    /// The name the recipient sees (a routing prefix may be stripped).
    pub filename: FileName,
    pub routing_note: String,
}

/// Whether anyone in an organisation has downloaded a transfer delivered to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadState {
    /// Nobody in the organisation (or those it carries on from) has downloaded it yet.
    New,
    Downloaded,
}

/// Narrows a mailbox listing; the default lists everything.
#[derive(Debug, Clone, Default)]
pub struct MailboxFilter {
    pub channel: Option<String>,
    /// Sent by one of these organisations (a sender and those it carries on from).
    pub senders: Option<Vec<OrgId>>,
    /// Created at or after this time.
    pub since: Option<OffsetDateTime>,
    pub download_state: Option<DownloadState>,
}

/// One page of a mailbox: whose, which box, what the caller may see, and how far along.
#[derive(Debug, Clone)]
pub struct MailboxQuery<'a> {
    /// An organisation and those it carries on from.
    pub orgs: &'a [OrgId],
    pub mailbox: Mailbox,
    /// Only these channels when given (a key's scope).
    pub channels: Option<&'a [String]>,
    /// Never these channels (those limited to a function the person does not hold).
    pub hidden_channels: &'a [String],
    pub filter: &'a MailboxFilter,
    /// Strictly older than this cursor from a previous page.
    pub before: Option<i64>,
    pub limit: u32,
}
