//! What the exchange keeps about a transfer: the file's description, where it went, and
//! the sealed data key of its object.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::crypto::{SealedText, WrappedKey};
use crate::domain::{ChannelSlug, FileName, OrgId, Organisation, Sha256Digest, TransferId, TransferState};

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
    /// The data key of the object and of the message. A message sent without a file has a key
    /// of its own, though no object, so that its text is sealed like any other.
    pub wrapped_key: Option<WrappedKey>,
    pub created_at: OffsetDateTime,
    /// The sender's message, sealed under the data key (see [`SealedText`]).
    pub message: Option<SealedText>,
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
    /// Sealed: `service::messages::text_of` reads it.
    pub message: Option<SealedText>,
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

/// Public identity of a batch drop: random, like a transfer's.
pub type BatchId = Uuid;
