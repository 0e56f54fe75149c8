use time::OffsetDateTime;
use uuid::Uuid;

use super::identity::KeyScope;
use crate::crypto::WrappedKey;
use crate::domain::{
    ChannelSlug, FileName, OrgId, OrgKind, OrgRef, Organisation, Sha256Digest, TransferId, TransferState,
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
    pub filename: FileName,
    pub content_type: String,
    pub size: u64,
    pub sha256: Sha256Digest,
    pub wrapped_key: WrappedKey,
    pub created_at: OffsetDateTime,
    pub message: Option<String>,
    pub reply_to: Option<TransferId>,
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
}

impl TransferRecord {
    pub fn is_sent_by(&self, org: OrgId) -> bool {
        self.sender.id == org
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
