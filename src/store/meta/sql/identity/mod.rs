//! The identity store: each method is written in the file of its concern, as a method of
//! [`SqlRepository`] with the same name, which the trait's method calls.

mod api_keys;
mod functions;
mod login_failures;
mod organisations;
mod sessions;
mod totp;
mod users;

use async_trait::async_trait;
use time::OffsetDateTime;

use self::organisations::OrgKey;
use self::sessions::SessionKey;
use self::users::UserFilter;
use super::SqlRepository;
use crate::audit::AuditEvent;
use crate::crypto::WrappedKey;
use crate::domain::gias::ImportPlan;
use crate::domain::organisation::OrgStatus;
use crate::domain::{FunctionSlug, OrgId, Organisation, UserId, UserStatus, Username};
use crate::store::meta::{
    ApiKeySummary, IdentityStore, NewSession, NewUser, SessionRecord, StoreError, UserFunction, UserRecord,
};

#[async_trait]
impl IdentityStore for SqlRepository {
    async fn find_organisation_by_urn(&self, urn: u32) -> Result<Option<Organisation>, StoreError> {
        self.organisation_where(OrgKey::Urn(urn)).await
    }

    async fn get_organisation(&self, id: OrgId) -> Result<Option<Organisation>, StoreError> {
        self.organisation_where(OrgKey::Id(id)).await
    }

    async fn set_organisation_status(
        &self,
        id: OrgId,
        status: OrgStatus,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        SqlRepository::set_organisation_status(self, id, status, at, audit).await
    }

    async fn set_totp_required(&self, id: OrgId, required: bool, audit: &AuditEvent) -> Result<bool, StoreError> {
        SqlRepository::set_totp_required(self, id, required, audit).await
    }

    async fn apply_register_import(
        &self,
        plan: &ImportPlan,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        SqlRepository::apply_register_import(self, plan, at, audit).await
    }

    async fn predecessors(&self, org: OrgId) -> Result<Vec<OrgId>, StoreError> {
        SqlRepository::predecessors(self, org).await
    }

    async fn create_user(
        &self,
        user: &NewUser,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<UserRecord, StoreError> {
        SqlRepository::create_user(self, user, at, audit).await
    }

    async fn get_user(&self, id: UserId) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.user_where(UserFilter::Id(id.0)).await?.pop())
    }

    async fn find_user(&self, username: &Username) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.user_where(UserFilter::Name(username.as_str())).await?.pop())
    }

    async fn list_users(&self, org: Option<OrgId>) -> Result<Vec<UserRecord>, StoreError> {
        match org {
            Some(org) => self.user_where(UserFilter::Org(org.0)).await,
            None => self.user_where(UserFilter::All).await,
        }
    }

    async fn count_users(&self) -> Result<u64, StoreError> {
        SqlRepository::count_users(self).await
    }

    async fn set_user_status(
        &self,
        id: UserId,
        status: UserStatus,
        reason: Option<&str>,
        by: Option<UserId>,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        SqlRepository::set_user_status(self, id, status, reason, by, at, audit).await
    }

    async fn set_password(
        &self,
        id: UserId,
        phc: &str,
        change_required: bool,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        SqlRepository::set_password(self, id, phc, change_required, at, audit).await
    }

    async fn set_totp(
        &self,
        id: UserId,
        secret: Option<&WrappedKey>,
        confirmed: bool,
        recovery_hashes: &[[u8; 32]],
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        SqlRepository::set_totp(self, id, secret, confirmed, recovery_hashes, at, audit).await
    }

    async fn confirm_totp(&self, id: UserId, at: OffsetDateTime, audit: &AuditEvent) -> Result<(), StoreError> {
        SqlRepository::confirm_totp(self, id, at, audit).await
    }

    async fn advance_totp_step(&self, id: UserId, step: u64) -> Result<bool, StoreError> {
        SqlRepository::advance_totp_step(self, id, step).await
    }

    async fn use_recovery_code(&self, id: UserId, hash: &[u8; 32], at: OffsetDateTime) -> Result<bool, StoreError> {
        SqlRepository::use_recovery_code(self, id, hash, at).await
    }

    async fn set_disable_on(
        &self,
        id: UserId,
        on: Option<OffsetDateTime>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        SqlRepository::set_disable_on(self, id, on, audit).await
    }

    async fn record_login(&self, id: UserId, at: OffsetDateTime) -> Result<(), StoreError> {
        SqlRepository::record_login(self, id, at).await
    }

    async fn create_function(
        &self,
        slug: &FunctionSlug,
        name: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        SqlRepository::create_function(self, slug, name, at, audit).await
    }

    async fn list_functions(&self) -> Result<Vec<(FunctionSlug, String)>, StoreError> {
        SqlRepository::list_functions(self).await
    }

    async fn grant_function(
        &self,
        user: UserId,
        function: &FunctionSlug,
        until: Option<OffsetDateTime>,
        by: Option<UserId>,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        SqlRepository::grant_function(self, user, function, until, by, at, audit).await
    }

    async fn revoke_function(
        &self,
        user: UserId,
        function: &FunctionSlug,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        SqlRepository::revoke_function(self, user, function, audit).await
    }

    async fn user_functions(&self, user: UserId, now: OffsetDateTime) -> Result<Vec<UserFunction>, StoreError> {
        SqlRepository::user_functions(self, user, now).await
    }

    async fn create_session(&self, session: &NewSession, audit: &AuditEvent) -> Result<(), StoreError> {
        SqlRepository::create_session(self, session, audit).await
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.session_where(SessionKey::Id(id)).await
    }

    async fn find_session_by_refresh(&self, hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        self.session_where(SessionKey::Refresh(hash)).await
    }

    async fn find_session_by_previous_refresh(&self, hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        self.session_where(SessionKey::PreviousRefresh(hash)).await
    }

    async fn rotate_refresh(
        &self,
        id: &str,
        old: &[u8; 32],
        new: &[u8; 32],
        expires_at: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        SqlRepository::rotate_refresh(self, id, old, new, expires_at, at).await
    }

    async fn revoke_session(
        &self,
        id: &str,
        reason: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        SqlRepository::revoke_session(self, id, reason, at, audit).await
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        reason: &str,
        at: OffsetDateTime,
        except: Option<&str>,
    ) -> Result<u64, StoreError> {
        SqlRepository::revoke_user_sessions(self, user, reason, at, except).await
    }

    async fn reserve_login_attempt(
        &self,
        limits: &[(String, u64)],
        since: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        SqlRepository::reserve_login_attempt(self, limits, since, at).await
    }

    async fn release_login_attempt(&self, subject: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        SqlRepository::release_login_attempt(self, subject, at).await
    }

    async fn accept_terms(
        &self,
        user: UserId,
        version: u32,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        SqlRepository::accept_terms(self, user, version, at, audit).await
    }

    async fn accepted_terms_version(&self, user: UserId) -> Result<Option<u32>, StoreError> {
        SqlRepository::accepted_terms_version(self, user).await
    }

    async fn confirm_user_list(
        &self,
        org: OrgId,
        by: UserId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        SqlRepository::confirm_user_list(self, org, by, at, audit).await
    }

    async fn user_list_confirmations(&self) -> Result<Vec<(Organisation, Option<OffsetDateTime>)>, StoreError> {
        SqlRepository::user_list_confirmations(self).await
    }

    async fn list_api_keys(&self, org: Option<OrgId>) -> Result<Vec<ApiKeySummary>, StoreError> {
        SqlRepository::list_api_keys(self, org).await
    }

    async fn set_api_key_suspended(
        &self,
        key_id: &str,
        suspended: bool,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        SqlRepository::set_api_key_suspended(self, key_id, suspended, at, audit).await
    }

    async fn revoke_api_key(&self, key_id: &str, at: OffsetDateTime, audit: &AuditEvent) -> Result<bool, StoreError> {
        SqlRepository::revoke_api_key(self, key_id, at, audit).await
    }
}
