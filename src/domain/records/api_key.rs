//! What the exchange keeps about an automated job's API key (never the key itself, only a
//! hash of its secret) and what it may do.

use time::OffsetDateTime;

use crate::domain::{OrgId, Organisation};

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
pub struct KeyScope {
    /// Channel slugs, or `*` for every channel.
    pub channels: Vec<String>,
    pub can_send: bool,
    pub can_receive: bool,
    pub expires_at: Option<OffsetDateTime>,
}
