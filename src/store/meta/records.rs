use time::OffsetDateTime;
use uuid::Uuid;

use crate::crypto::WrappedKey;
use crate::domain::{ChannelSlug, FileName, Mailbox, OrgId, OrgKind, OrgRef, Organisation, TransferId, UserId};

// The records of transfers, keys and people belong to the domain; the store's old names for
// them stay so that its engines and their tests read them from here too.
pub use crate::domain::records::*;

#[derive(Debug, Clone)]
pub struct NewOrganisation {
    pub kind: OrgKind,
    pub reference: OrgRef,
    pub name: String,
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

/// A message stored before messages were sealed, to be sealed now.
pub struct PlainMessage {
    pub transfer: TransferId,
    pub object_id: Uuid,
    pub wrapped_key: Option<WrappedKey>,
    pub has_file: bool,
    pub available: bool,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct NewBatch {
    pub id: BatchId,
    pub channel: ChannelSlug,
    pub sender: OrgId,
    pub sender_key_id: Option<String>,
    /// The person who dropped it, when it was not sent with an API key.
    pub sender_user: Option<UserId>,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone)]
pub struct BatchRecord {
    pub id: BatchId,
    pub channel: String,
    pub sender: OrgId,
    /// Who sent it: the API key's id, or the username of the person signed in.
    pub sent_by: SentBy,
    pub created_at: OffsetDateTime,
    /// The per-file report as JSON, once the batch has been read to its end.
    pub report: Option<String>,
    pub finished_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SentBy {
    Key(String),
    User(String),
    /// Recorded before the sender's person was kept.
    Unknown,
}

/// One batch in its sender's list, newest first.
#[derive(Debug, Clone)]
pub struct BatchEntry {
    /// Opaque position for keyset pagination.
    pub cursor: i64,
    pub batch: BatchRecord,
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
    /// Delivered to one of these organisations.
    pub recipients: Option<Vec<OrgId>>,
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
