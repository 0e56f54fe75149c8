//! What the nodes of one installation must agree on before they serve: the master keys its data
//! is sealed under (by id and check value, never the keys), and the first-start work, done once
//! whichever node gets there first.

use time::OffsetDateTime;

use crate::audit::AuditEvent;
use crate::crypto::WrappedKey;
use crate::domain::{FunctionSlug, OrgRef, UserId, Username};

pub use crate::crypto::CHECK_VALUE_LEN;

/// A master key the database has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenKey {
    pub kek_id: String,
    /// None for an id found in rows sealed before keys were recorded, until a node proves it
    /// holds the key by opening one of them.
    pub check_value: Option<[u8; CHECK_VALUE_LEN]>,
    /// When a node last started with this key as its primary.
    pub primary_since: Option<OffsetDateTime>,
}

/// A key as a node presents it for recording.
#[derive(Debug, Clone)]
pub struct KeyCheck {
    pub kek_id: String,
    pub check_value: [u8; CHECK_VALUE_LEN],
}

/// One row sealed under a master key, to prove a node's key of that id is the right one.
#[derive(Debug, Clone)]
pub enum SealedSample {
    /// A transfer's data key, bound to its object id.
    Transfer { object_id: uuid::Uuid, wrapped: WrappedKey },
    /// A person's TOTP secret, bound to their user id.
    Totp { user: UserId, wrapped: WrappedKey },
}

/// The first-start work, prepared by a node before it knows whether it will be the one to do
/// it. Each part is done only if the installation has not done it yet.
#[derive(Debug, Clone)]
pub struct BootstrapPlan {
    /// The bootstrap version this plan brings the installation to.
    pub version: i64,
    pub at: OffsetDateTime,
    pub system_org: OrgRef,
    pub system_org_name: String,
    pub system_org_audit: AuditEvent,
    /// The first administrator, created only when the database has nobody yet.
    pub admin: BootstrapAdmin,
    /// Functions the channels route by, each with its name and the event that records it.
    pub functions: Vec<(FunctionSlug, String, AuditEvent)>,
}

#[derive(Debug, Clone)]
pub struct BootstrapAdmin {
    pub username: Username,
    pub display_name: String,
    pub password_hash: String,
    /// Its target (the new user's id) is filled in when the row exists.
    pub audit: AuditEvent,
}

/// What one node's bootstrap did; another node may have done the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BootstrapOutcome {
    /// This node created the first administrator, and so is the one to show its password.
    pub admin_created: bool,
    pub functions_added: Vec<String>,
}

/// The version the first-start work of this release brings an installation to: 1 is the system
/// organisation and its administrator, 2 the functions the shipped channels route by.
pub const BOOTSTRAP_VERSION: i64 = 2;
