use anyhow::{anyhow, Context};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use time::OffsetDateTime;

use super::{db_err, org_from_row, SqliteRepository, KEY_SCOPE_COLS, ORG_COLS};
use crate::audit::AuditEvent;
use crate::crypto::WrappedKey;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::organisation::OrgStatus;
use crate::domain::{FunctionSlug, OrgId, Organisation, UserId, UserStatus, Username};
use crate::store::meta::*;

const USER_COLS: &str = "u.id AS u_id, u.username, u.display_name, u.role, u.status AS u_status, u.password_hash, \
     u.totp_kek_id, u.totp_wrapped, u.totp_confirmed_at, u.totp_last_step, u.disable_on, u.last_login_at, u.activated_at, \
     u.created_at AS u_created_at, u.disabled_reason, u.password_change_required";

fn user_from_row(row: &SqliteRow) -> anyhow::Result<UserRecord> {
    let role: String = row.try_get("role")?;
    let status: String = row.try_get("u_status")?;
    let username: String = row.try_get("username")?;
    let kek: Option<String> = row.try_get("totp_kek_id")?;
    let wrapped: Option<Vec<u8>> = row.try_get("totp_wrapped")?;
    let millis = |name: &str| -> anyhow::Result<Option<OffsetDateTime>> {
        Ok(row.try_get::<Option<i64>, _>(name)?.map(from_millis))
    };
    Ok(UserRecord {
        id: UserId(row.try_get("u_id")?),
        org: org_from_row(row)?,
        username: username.parse().with_context(|| format!("stored username {username:?}"))?,
        display_name: row.try_get("display_name")?,
        role: role.parse().map_err(|e: String| anyhow!(e))?,
        status: UserStatus::parse(&status).ok_or_else(|| anyhow!("unknown user status {status:?}"))?,
        password_hash: row.try_get("password_hash")?,
        totp: kek.zip(wrapped).map(|(kek_id, bytes)| WrappedKey { kek_id, bytes }),
        totp_confirmed: row.try_get::<Option<i64>, _>("totp_confirmed_at")?.is_some(),
        totp_last_step: row.try_get::<Option<i64>, _>("totp_last_step")?.map(|s| s as u64),
        disable_on: millis("disable_on")?,
        last_login_at: millis("last_login_at")?,
        activated_at: millis("activated_at")?,
        created_at: from_millis(row.try_get("u_created_at")?),
        disabled_reason: row.try_get("disabled_reason")?,
        password_change_required: row.try_get("password_change_required")?,
    })
}

fn session_from_row(row: &SqliteRow) -> anyhow::Result<SessionRecord> {
    Ok(SessionRecord {
        id: row.try_get("id")?,
        user: UserId(row.try_get("user_id")?),
        expires_at: from_millis(row.try_get("expires_at")?),
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(from_millis),
    })
}

enum UserFilter<'a> {
    Id(i64),
    Name(&'a str),
    Org(i64),
    All,
}

impl SqliteRepository {
    async fn user_where(&self, filter: UserFilter<'_>) -> Result<Vec<UserRecord>, StoreError> {
        let condition = match filter {
            UserFilter::Id(_) => "u.id = ?",
            UserFilter::Name(_) => "lower(u.username) = ?",
            UserFilter::Org(_) => "u.org_id = ?",
            UserFilter::All => "1 = 1",
        };
        let sql = format!("SELECT {USER_COLS}, {ORG_COLS} FROM users u JOIN organisations o ON o.id = u.org_id WHERE {condition} ORDER BY o.id, u.username");
        let query = sqlx::query(&sql);
        let query = match filter {
            UserFilter::Id(id) | UserFilter::Org(id) => query.bind(id),
            UserFilter::Name(name) => query.bind(name),
            UserFilter::All => query,
        };
        let rows = query.fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(rows.iter().map(user_from_row).collect::<anyhow::Result<_>>()?)
    }

    async fn session_where(&self, condition: &str, value: &[u8]) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!("SELECT id, user_id, expires_at, revoked_at FROM sessions WHERE {condition} = ?");
        let row = sqlx::query(&sql).bind(value).fetch_optional(&self.pool).await.map_err(db_err)?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }
}

#[async_trait]
impl IdentityStore for SqliteRepository {
    async fn find_organisation_by_urn(&self, urn: u32) -> Result<Option<Organisation>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ORG_COLS} FROM organisations o WHERE o.urn = ?"))
            .bind(urn as i64)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.as_ref().map(org_from_row).transpose()?)
    }

    async fn get_organisation(&self, id: OrgId) -> Result<Option<Organisation>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ORG_COLS} FROM organisations o WHERE o.id = ?"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.as_ref().map(org_from_row).transpose()?)
    }

    async fn set_organisation_status(
        &self,
        id: OrgId,
        status: OrgStatus,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let closed_at = (status == OrgStatus::Closed).then(|| to_millis(at));
        let done = sqlx::query("UPDATE organisations SET status = ?, closed_at = ? WHERE id = ?")
            .bind(status.as_str())
            .bind(closed_at)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn set_totp_required(&self, id: OrgId, required: bool, audit: &AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done = sqlx::query("UPDATE organisations SET totp_required = ? WHERE id = ?")
            .bind(required)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn apply_register_import(
        &self,
        plan: &crate::domain::gias::ImportPlan,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        super::register::apply(&mut tx, plan, at).await?;
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn predecessors(&self, org: OrgId) -> Result<Vec<OrgId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT predecessor_org_id FROM organisation_successions WHERE successor_org_id = ? AND predecessor_org_id <> ?",
        )
        .bind(org.0)
        .bind(org.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(ids.into_iter().map(OrgId).collect())
    }

    async fn create_user(
        &self,
        user: &NewUser,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<UserRecord, StoreError> {
        let at = to_millis(at);
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (org_id, username, display_name, role, status, password_hash, password_changed_at, created_at, requested_by, activated_at, password_change_required) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, CASE WHEN ? = 'active' THEN ? END, ?) RETURNING id",
        )
        .bind(user.org.0)
        .bind(user.username.as_str())
        .bind(&user.display_name)
        .bind(user.role.as_str())
        .bind(user.status.as_str())
        .bind(&user.password_hash)
        .bind(user.password_hash.as_ref().map(|_| at))
        .bind(at)
        .bind(user.requested_by.map(|u| u.0))
        .bind(user.status.as_str())
        .bind(at)
        .bind(user.password_change_required)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let audit = audit.clone().target("user", id);
        super::audit::append(&mut tx, &audit).await?;
        tx.commit().await.map_err(db_err)?;
        self.get_user(UserId(id)).await?.ok_or_else(|| StoreError::Other(anyhow!("user vanished after insert")))
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
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&self.pool).await.map_err(db_err)?;
        Ok(n as u64)
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
        let at = to_millis(at);
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done = match status {
            UserStatus::Disabled => sqlx::query("UPDATE users SET status = 'disabled', disabled_at = ?, disabled_reason = ? WHERE id = ? AND status <> 'disabled'")
                .bind(at)
                .bind(reason)
                .bind(id.0)
                .execute(&mut *tx)
                .await,
            UserStatus::Active => sqlx::query("UPDATE users SET status = 'active', approved_by = coalesce(approved_by, ?), disabled_at = NULL, disabled_reason = NULL, activated_at = ? WHERE id = ?")
                .bind(by.map(|u| u.0))
                .bind(at)
                .bind(id.0)
                .execute(&mut *tx)
                .await,
            UserStatus::Requested => return Err(StoreError::Other(anyhow!("a user cannot be put back to requested"))),
        }
        .map_err(db_err)?;
        if status != UserStatus::Active {
            sqlx::query("UPDATE sessions SET revoked_at = ?, revoked_reason = 'user disabled' WHERE user_id = ? AND revoked_at IS NULL")
                .bind(at)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn set_password(
        &self,
        id: UserId,
        phc: &str,
        change_required: bool,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = to_millis(at);
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(
            "UPDATE users SET password_hash = ?, password_changed_at = ?, password_change_required = ? WHERE id = ?",
        )
        .bind(phc)
        .bind(at)
        .bind(change_required)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query("UPDATE sessions SET revoked_at = ?, revoked_reason = 'password changed' WHERE user_id = ? AND revoked_at IS NULL")
            .bind(at)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
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
        let at = to_millis(at);
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("UPDATE users SET totp_kek_id = ?, totp_wrapped = ?, totp_confirmed_at = ?, totp_last_step = NULL WHERE id = ?")
            .bind(secret.map(|w| w.kek_id.clone()))
            .bind(secret.map(|w| w.bytes.clone()))
            .bind(confirmed.then_some(at))
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("DELETE FROM recovery_codes WHERE user_id = ?")
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        for hash in recovery_hashes {
            sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)")
                .bind(id.0)
                .bind(&hash[..])
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn confirm_totp(&self, id: UserId, at: OffsetDateTime, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("UPDATE users SET totp_confirmed_at = ? WHERE id = ? AND totp_wrapped IS NOT NULL")
            .bind(to_millis(at))
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn advance_totp_step(&self, id: UserId, step: u64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET totp_last_step = ? WHERE id = ? AND (totp_last_step IS NULL OR totp_last_step < ?)",
        )
        .bind(step as i64)
        .bind(id.0)
        .bind(step as i64)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_recovery_code(&self, id: UserId, hash: &[u8; 32], at: OffsetDateTime) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
        )
        .bind(to_millis(at))
        .bind(id.0)
        .bind(&hash[..])
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_disable_on(
        &self,
        id: UserId,
        on: Option<OffsetDateTime>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done = sqlx::query("UPDATE users SET disable_on = ? WHERE id = ?")
            .bind(on.map(to_millis))
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn record_login(&self, id: UserId, at: OffsetDateTime) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET last_login_at = ? WHERE id = ?")
            .bind(to_millis(at))
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn create_function(
        &self,
        slug: &FunctionSlug,
        name: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("INSERT INTO functions (slug, name, created_at) VALUES (?, ?, ?)")
            .bind(slug.as_str())
            .bind(name)
            .bind(to_millis(at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn list_functions(&self) -> Result<Vec<(FunctionSlug, String)>, StoreError> {
        let rows = sqlx::query("SELECT slug, name FROM functions ORDER BY slug")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let slug: String = r.try_get("slug").map_err(db_err)?;
                let slug = FunctionSlug::parse(&slug).ok_or_else(|| anyhow!("stored function {slug:?}"))?;
                Ok((slug, r.try_get("name").map_err(db_err)?))
            })
            .collect()
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
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO user_functions (user_id, function, until, granted_by, granted_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (user_id, function) DO UPDATE SET until = excluded.until, granted_by = excluded.granted_by, granted_at = excluded.granted_at",
        )
        .bind(user.0)
        .bind(function.as_str())
        .bind(until.map(to_millis))
        .bind(by.map(|u| u.0))
        .bind(to_millis(at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn revoke_function(
        &self,
        user: UserId,
        function: &FunctionSlug,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done = sqlx::query("DELETE FROM user_functions WHERE user_id = ? AND function = ?")
            .bind(user.0)
            .bind(function.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn user_functions(&self, user: UserId, now: OffsetDateTime) -> Result<Vec<UserFunction>, StoreError> {
        let rows = sqlx::query("SELECT function, until FROM user_functions WHERE user_id = ? AND (until IS NULL OR until > ?) ORDER BY function")
            .bind(user.0)
            .bind(to_millis(now))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let f: String = r.try_get("function").map_err(db_err)?;
                Ok(UserFunction {
                    function: FunctionSlug::parse(&f).ok_or_else(|| anyhow!("stored function {f:?}"))?,
                    until: r.try_get::<Option<i64>, _>("until").map_err(db_err)?.map(from_millis),
                })
            })
            .collect()
    }

    async fn create_session(&self, s: &NewSession, audit: &AuditEvent) -> Result<(), StoreError> {
        let created = to_millis(s.created_at);
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("INSERT INTO sessions (id, user_id, refresh_hash, created_at, refreshed_at, expires_at, client_addr) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(&s.id)
            .bind(s.user.0)
            .bind(&s.refresh_hash[..])
            .bind(created)
            .bind(created)
            .bind(to_millis(s.expires_at))
            .bind(&s.client_addr)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn get_session(&self, id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query("SELECT id, user_id, expires_at, revoked_at FROM sessions WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(row.as_ref().map(session_from_row).transpose()?)
    }

    async fn find_session_by_refresh(&self, hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        self.session_where("refresh_hash", hash).await
    }

    async fn find_session_by_previous_refresh(&self, hash: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        self.session_where("previous_refresh_hash", hash).await
    }

    async fn rotate_refresh(
        &self,
        id: &str,
        old: &[u8; 32],
        new: &[u8; 32],
        expires_at: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE sessions SET refresh_hash = ?, previous_refresh_hash = refresh_hash, refreshed_at = ?, expires_at = ? \
             WHERE id = ? AND refresh_hash = ? AND revoked_at IS NULL",
        )
        .bind(&new[..])
        .bind(to_millis(at))
        .bind(to_millis(expires_at))
        .bind(id)
        .bind(&old[..])
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_session(
        &self,
        id: &str,
        reason: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done =
            sqlx::query("UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(to_millis(at))
                .bind(reason)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn revoke_user_sessions(
        &self,
        user: UserId,
        reason: &str,
        at: OffsetDateTime,
        except: Option<&str>,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE sessions SET revoked_at = ?, revoked_reason = ? WHERE user_id = ? AND revoked_at IS NULL AND id <> ?")
            .bind(to_millis(at))
            .bind(reason)
            .bind(user.0)
            .bind(except.unwrap_or(""))
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    async fn record_login_failure(
        &self,
        subjects: &[String],
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = to_millis(at);
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        for subject in subjects {
            sqlx::query("INSERT INTO login_failures (subject, at) VALUES (?, ?)")
                .bind(subject)
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        // Failures older than a day no longer count for anything.
        sqlx::query("DELETE FROM login_failures WHERE at < ?")
            .bind(at - 86_400_000)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn count_login_failures(&self, subject: &str, since: OffsetDateTime) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE subject = ? AND at >= ?")
            .bind(subject)
            .bind(to_millis(since))
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(n as u64)
    }

    async fn clear_login_failures(&self, subject: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE subject = ?")
            .bind(subject)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn accept_terms(
        &self,
        user: UserId,
        version: u32,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO terms_acceptances (user_id, version, accepted_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(user.0)
        .bind(version)
        .bind(to_millis(at))
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn accepted_terms_version(&self, user: UserId) -> Result<Option<u32>, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM terms_acceptances WHERE user_id = ?")
            .bind(user.0)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(v.map(|v| v as u32))
    }

    async fn confirm_user_list(
        &self,
        org: OrgId,
        by: UserId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("INSERT INTO user_list_confirmations (org_id, confirmed_by, confirmed_at) VALUES (?, ?, ?)")
            .bind(org.0)
            .bind(by.0)
            .bind(to_millis(at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn user_list_confirmations(&self) -> Result<Vec<(Organisation, Option<OffsetDateTime>)>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ORG_COLS}, (SELECT max(c.confirmed_at) FROM user_list_confirmations c WHERE c.org_id = o.id) AS last \
             FROM organisations o WHERE o.kind = 'school' AND o.status IN ('open', 'open_proposed_to_close') ORDER BY o.dfe_number"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| Ok((org_from_row(r)?, r.try_get::<Option<i64>, _>("last").map_err(db_err)?.map(from_millis))))
            .collect()
    }

    async fn list_api_keys(&self, org: Option<OrgId>) -> Result<Vec<ApiKeySummary>, StoreError> {
        let sql = format!(
            "SELECT k.key_id, k.name, k.created_at AS k_created_at, k.last_used_at, k.revoked_at, k.suspended_at, {KEY_SCOPE_COLS}, {ORG_COLS} \
             FROM api_keys k JOIN organisations o ON o.id = k.org_id WHERE (? IS NULL OR k.org_id = ?) ORDER BY o.id, k.name"
        );
        let rows = sqlx::query(&sql)
            .bind(org.map(|o| o.0))
            .bind(org.map(|o| o.0))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let millis = |name: &str| -> Result<Option<OffsetDateTime>, StoreError> {
                    Ok(row.try_get::<Option<i64>, _>(name).map_err(db_err)?.map(from_millis))
                };
                Ok(ApiKeySummary {
                    key_id: row.try_get("key_id").map_err(db_err)?,
                    org: org_from_row(row)?,
                    name: row.try_get("name").map_err(db_err)?,
                    scope: super::keys::scope_from_row(row)?,
                    created_at: from_millis(row.try_get("k_created_at").map_err(db_err)?),
                    last_used_at: millis("last_used_at")?,
                    revoked_at: millis("revoked_at")?,
                    suspended_at: millis("suspended_at")?,
                })
            })
            .collect()
    }

    async fn set_api_key_suspended(
        &self,
        key_id: &str,
        suspended: bool,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let sql = if suspended {
            "UPDATE api_keys SET suspended_at = ? WHERE key_id = ? AND suspended_at IS NULL"
        } else {
            "UPDATE api_keys SET suspended_at = NULL WHERE ? IS NOT NULL AND key_id = ? AND suspended_at IS NOT NULL"
        };
        let done = sqlx::query(sql).bind(to_millis(at)).bind(key_id).execute(&mut *tx).await.map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn revoke_api_key(&self, key_id: &str, at: OffsetDateTime, audit: &AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done = sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL")
            .bind(to_millis(at))
            .bind(key_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }
}
