//! The identity half of the metadata store: people, sessions, login failures, functions, key
//! scopes and the register's organisation details.

use async_trait::async_trait;

use crate::audit::AuditEvent;
use time::OffsetDateTime;

use super::StoreError;
use crate::crypto::WrappedKey;
use crate::domain::organisation::OrgStatus;
use crate::domain::records::{KeyScope, NewUser, UserFunction, UserRecord};
use crate::domain::{FunctionSlug, OrgId, Organisation, UserId, UserStatus, Username};

#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub user: UserId,
    pub refresh_hash: [u8; 32],
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub client_addr: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: String,
    pub user: UserId,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
}

#[derive(Debug, Clone)]
pub struct ApiKeySummary {
    pub key_id: String,
    pub org: Organisation,
    pub name: String,
    pub scope: KeyScope,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub suspended_at: Option<OffsetDateTime>,
}

#[async_trait]
pub trait IdentityStore: Send + Sync {
    async fn find_organisation_by_urn(&self, urn: u32) -> Result<Option<Organisation>, StoreError>;
    async fn get_organisation(&self, id: OrgId) -> Result<Option<Organisation>, StoreError>;
    async fn set_organisation_status(
        &self,
        id: OrgId,
        status: OrgStatus,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    async fn set_totp_required(&self, id: OrgId, required: bool, audit: &AuditEvent) -> Result<bool, StoreError>;

    /// Applies a register import in one transaction: adds, updates, closures and successions.
    async fn apply_register_import(
        &self,
        plan: &crate::domain::gias::ImportPlan,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Organisations that a school carries on from (academy conversions, amalgamations).
    async fn predecessors(&self, org: OrgId) -> Result<Vec<OrgId>, StoreError>;

    async fn create_user(
        &self,
        user: &NewUser,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<UserRecord, StoreError>;
    async fn get_user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError>;
    async fn find_user(&self, username: &Username) -> Result<Option<UserRecord>, StoreError>;
    async fn list_users(&self, org: Option<OrgId>) -> Result<Vec<UserRecord>, StoreError>;
    async fn count_users(&self) -> Result<u64, StoreError>;
    /// Changes a user's status; leaving `active` revokes every session in the same transaction.
    async fn set_user_status(
        &self,
        id: UserId,
        status: UserStatus,
        reason: Option<&str>,
        by: Option<UserId>,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Sets a new password hash and revokes every session in the same transaction.
    /// `change_required`: the password was chosen for the person, who must replace it first.
    async fn set_password(
        &self,
        id: UserId,
        phc: &str,
        change_required: bool,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Replaces the TOTP secret and recovery codes (None clears them). Unconfirmed until `confirm_totp`.
    async fn set_totp(
        &self,
        id: UserId,
        secret: Option<&WrappedKey>,
        confirmed: bool,
        recovery_hashes: &[[u8; 32]],
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn confirm_totp(&self, id: UserId, at: OffsetDateTime, audit: &AuditEvent) -> Result<(), StoreError>;
    /// Records the time step of an accepted code, only if it is later than the last one (so a code is used once, across nodes).
    async fn advance_totp_step(&self, id: UserId, step: u64) -> Result<bool, StoreError>;
    /// Marks a recovery code used; false if it was not an unused code of this user.
    async fn use_recovery_code(&self, id: UserId, hash: &[u8; 32], at: OffsetDateTime) -> Result<bool, StoreError>;
    async fn set_disable_on(
        &self,
        id: UserId,
        on: Option<OffsetDateTime>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    async fn record_login(&self, id: UserId, at: OffsetDateTime) -> Result<(), StoreError>;

    async fn create_function(
        &self,
        slug: &FunctionSlug,
        name: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn list_functions(&self) -> Result<Vec<(FunctionSlug, String)>, StoreError>;
    async fn grant_function(
        &self,
        user: UserId,
        function: &FunctionSlug,
        until: Option<OffsetDateTime>,
        by: Option<UserId>,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn revoke_function(
        &self,
        user: UserId,
        function: &FunctionSlug,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Functions in force at `now` (lapsed cover excluded).
    async fn user_functions(&self, user: UserId, now: OffsetDateTime) -> Result<Vec<UserFunction>, StoreError>;

    async fn create_session(&self, session: &NewSession, audit: &AuditEvent) -> Result<(), StoreError>;
    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError>;
    async fn find_session_by_refresh(&self, hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError>;
    async fn find_session_by_previous_refresh(&self, hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError>;
    /// Swaps the refresh token if it is still `old` (two refreshes racing: one wins).
    async fn rotate_refresh(
        &self,
        id: &str,
        old: &[u8; 32],
        new: &[u8; 32],
        expires_at: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    async fn revoke_session(
        &self,
        id: &str,
        reason: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    async fn revoke_user_sessions(
        &self,
        user: UserId,
        reason: &str,
        at: OffsetDateTime,
        except: Option<&str>,
    ) -> Result<u64, StoreError>;

    /// Counts one attempt for every subject, each with its limit of attempts since `since`, as
    /// one step that attempts running at once on any node see; false (nothing counted) when a
    /// subject has reached its limit. The attempt stays counted as a failure unless released.
    async fn reserve_login_attempt(
        &self,
        limits: &[(String, u64)],
        since: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;
    /// Takes back one attempt reserved for the subject at `at`.
    async fn release_login_attempt(&self, subject: &str, at: OffsetDateTime) -> Result<(), StoreError>;

    async fn accept_terms(
        &self,
        user: UserId,
        version: u32,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    async fn accepted_terms_version(&self, user: UserId) -> Result<Option<u32>, StoreError>;
    async fn confirm_user_list(
        &self,
        org: OrgId,
        by: UserId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Every open school with the time of its latest user-list confirmation, if any.
    async fn user_list_confirmations(&self) -> Result<Vec<(Organisation, Option<OffsetDateTime>)>, StoreError>;

    async fn list_api_keys(&self, org: Option<OrgId>) -> Result<Vec<ApiKeySummary>, StoreError>;
    /// Suspends a key (or lets it go on). False if it was already so.
    async fn set_api_key_suspended(
        &self,
        key_id: &str,
        suspended: bool,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError>;
    async fn revoke_api_key(&self, key_id: &str, at: OffsetDateTime, audit: &AuditEvent) -> Result<bool, StoreError>;
}
