//! What the exchange keeps about a person: their account, role and functions.

use time::OffsetDateTime;

use crate::crypto::WrappedKey;
use crate::domain::{FunctionSlug, OrgId, Organisation, Role, UserId, UserStatus, Username};

#[derive(Debug, Clone)]
pub struct NewUser {
    pub org: OrgId,
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    pub status: UserStatus,
    pub password_hash: Option<String>,
    pub requested_by: Option<UserId>,
    /// The password was chosen for the person (generated): they must choose their own first.
    pub password_change_required: bool,
}

#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: UserId,
    pub org: Organisation,
    pub username: Username,
    pub display_name: String,
    pub role: Role,
    pub status: UserStatus,
    pub password_hash: Option<String>,
    pub totp: Option<WrappedKey>,
    pub totp_confirmed: bool,
    pub totp_last_step: Option<u64>,
    pub disable_on: Option<OffsetDateTime>,
    pub last_login_at: Option<OffsetDateTime>,
    pub activated_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub disabled_reason: Option<String>,
    /// The password was chosen for the person: their sessions may only change it.
    pub password_change_required: bool,
}

#[derive(Debug, Clone)]
pub struct UserFunction {
    pub function: FunctionSlug,
    /// Temporary cover ends here.
    pub until: Option<OffsetDateTime>,
}
