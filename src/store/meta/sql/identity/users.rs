//! People: their accounts, status, passwords, the last login, and the terms they accepted.

use anyhow::{anyhow, Context};
use time::OffsetDateTime;

use super::super::engine::{Columns, Dialect};
use super::super::rows::{org_from_row, ORG_COLS};
use super::super::trail::Trail;
use super::super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::{UserId, UserStatus};
use crate::store::meta::{NewUser, StoreError, UserRecord};

const USER_COLS: &str = "u.id AS u_id, u.username, u.display_name, u.role, u.status AS u_status, u.password_hash, \
     u.totp_kek_id, u.totp_wrapped, u.totp_confirmed_at, u.totp_last_step, u.disable_on, u.last_login_at, u.activated_at, \
     u.created_at AS u_created_at, u.disabled_reason, u.password_change_required";

fn user_from_row(row: &impl Columns) -> anyhow::Result<UserRecord> {
    let role: String = row.col("role")?;
    let status: String = row.col("u_status")?;
    let username: String = row.col("username")?;
    let kek: Option<String> = row.col("totp_kek_id")?;
    let wrapped: Option<Vec<u8>> = row.col("totp_wrapped")?;
    let millis =
        |name: &str| -> anyhow::Result<Option<OffsetDateTime>> { Ok(row.col::<Option<i64>>(name)?.map(from_millis)) };
    Ok(UserRecord {
        id: UserId(row.col("u_id")?),
        org: org_from_row(row)?,
        username: username.parse().with_context(|| format!("stored username {username:?}"))?,
        display_name: row.col("display_name")?,
        role: role.parse().map_err(|e: String| anyhow!(e))?,
        status: UserStatus::parse(&status).ok_or_else(|| anyhow!("unknown user status {status:?}"))?,
        password_hash: row.col("password_hash")?,
        totp: kek.zip(wrapped).map(|(kek_id, bytes)| crate::crypto::WrappedKey { kek_id, bytes }),
        totp_confirmed: row.col::<Option<i64>>("totp_confirmed_at")?.is_some(),
        // Written only through `advance_totp_step`, which refuses a step beyond `i64::MAX`.
        totp_last_step: row
            .col::<Option<i64>>("totp_last_step")?
            .map(|s| u64::try_from(s).map_err(|_| anyhow!("stored TOTP step {s} is negative")))
            .transpose()?,
        disable_on: millis("disable_on")?,
        last_login_at: millis("last_login_at")?,
        activated_at: millis("activated_at")?,
        created_at: from_millis(row.col("u_created_at")?),
        disabled_reason: row.col("disabled_reason")?,
        password_change_required: row.col("password_change_required")?,
    })
}

#[derive(Clone, Copy)]
pub(super) enum UserFilter<'a> {
    Id(i64),
    Name(&'a str),
    Org(i64),
    All,
}

impl SqlRepository {
    pub(super) async fn user_where(&self, filter: UserFilter<'_>) -> Result<Vec<UserRecord>, StoreError> {
        let condition = match filter {
            UserFilter::Id(_) => "u.id = $1",
            UserFilter::Name(_) => "lower(u.username) = $1",
            UserFilter::Org(_) => "u.org_id = $1",
            UserFilter::All => "1 = 1",
        };
        run!(&self.pool, |pool| {
            let sql = format!(
                "SELECT {USER_COLS}, {ORG_COLS} FROM users u JOIN organisations o ON o.id = u.org_id WHERE {condition} \
                 ORDER BY o.id, u.username{}",
                Db::BYTE_ORDER
            );
            let query = sqlx::query(&sql);
            let query = match filter {
                UserFilter::Id(id) | UserFilter::Org(id) => query.bind(id),
                UserFilter::Name(name) => query.bind(name),
                UserFilter::All => query,
            };
            let rows = query.fetch_all(pool).await.map_err(db_err)?;
            Ok(rows.iter().map(user_from_row).collect::<anyhow::Result<_>>()?)
        })
    }

    pub(super) async fn create_user(
        &self,
        user: &NewUser,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<UserRecord, StoreError> {
        let at = to_millis(at);
        let id: i64 = run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO users (org_id, username, display_name, role, status, password_hash, password_changed_at, created_at, requested_by, activated_at, password_change_required) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $5 = 'active' THEN $8 END, $10) RETURNING id",
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
            .bind(user.password_change_required)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            let audit = audit.clone().target("user", id);
            Db::append(&mut tx, &audit).await?;
            tx.commit().await.map_err(db_err)?;
            id
        });
        self.user_where(UserFilter::Id(id))
            .await?
            .pop()
            .ok_or_else(|| StoreError::Other(anyhow!("user vanished after insert")))
    }

    pub(super) async fn count_users(&self) -> Result<u64, StoreError> {
        let n: i64 = run!(&self.pool, |pool| {
            sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(pool).await.map_err(db_err)?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(super) async fn set_user_status(
        &self,
        id: UserId,
        status: UserStatus,
        reason: Option<&str>,
        by: Option<UserId>,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let at = to_millis(at);
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let done = match status {
                UserStatus::Disabled => sqlx::query(
                    "UPDATE users SET status = 'disabled', disabled_at = $1, disabled_reason = $2 WHERE id = $3 AND status <> 'disabled'",
                )
                .bind(at)
                .bind(reason)
                .bind(id.0)
                .execute(&mut *tx)
                .await,
                UserStatus::Active => sqlx::query(
                    "UPDATE users SET status = 'active', approved_by = coalesce(approved_by, $1), disabled_at = NULL, disabled_reason = NULL, activated_at = $2 WHERE id = $3",
                )
                .bind(by.map(|u| u.0))
                .bind(at)
                .bind(id.0)
                .execute(&mut *tx)
                .await,
                UserStatus::Requested => return Err(StoreError::Other(anyhow!("a user cannot be put back to requested"))),
            }
            .map_err(db_err)?;
            if status != UserStatus::Active {
                sqlx::query(
                    "UPDATE sessions SET revoked_at = $1, revoked_reason = 'user disabled' WHERE user_id = $2 AND revoked_at IS NULL",
                )
                .bind(at)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }

    pub(super) async fn set_password(
        &self,
        id: UserId,
        phc: &str,
        change_required: bool,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = to_millis(at);
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            sqlx::query(
                "UPDATE users SET password_hash = $1, password_changed_at = $2, password_change_required = $3 WHERE id = $4",
            )
            .bind(phc)
            .bind(at)
            .bind(change_required)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_reason = 'password changed' WHERE user_id = $2 AND revoked_at IS NULL",
            )
            .bind(at)
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    pub(super) async fn set_disable_on(
        &self,
        id: UserId,
        on: Option<OffsetDateTime>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let done = sqlx::query("UPDATE users SET disable_on = $1 WHERE id = $2")
                .bind(on.map(to_millis))
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }

    pub(super) async fn record_login(&self, id: UserId, at: OffsetDateTime) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
                .bind(to_millis(at))
                .bind(id.0)
                .execute(pool)
                .await
                .map_err(db_err)?;
        });
        Ok(())
    }

    pub(super) async fn accept_terms(
        &self,
        user: UserId,
        version: u32,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            sqlx::query(
                "INSERT INTO terms_acceptances (user_id, version, accepted_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(user.0)
            .bind(i64::from(version))
            .bind(to_millis(at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    pub(super) async fn accepted_terms_version(&self, user: UserId) -> Result<Option<u32>, StoreError> {
        let v: Option<i64> = run!(&self.pool, |pool| {
            sqlx::query_scalar("SELECT max(version) FROM terms_acceptances WHERE user_id = $1")
                .bind(user.0)
                .fetch_one(pool)
                .await
                .map_err(db_err)?
        });
        // Versions are written from a u32, so a stored one always fits.
        Ok(v.map(|v| u32::try_from(v).map_err(|_| anyhow!("stored terms version {v} is out of range"))).transpose()?)
    }
}
