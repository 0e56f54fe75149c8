//! Sessions: created at login, refreshed by rotating a one-time refresh token, revoked one by
//! one or all of a person's at once.

use time::OffsetDateTime;

use super::super::engine::Columns;
use super::super::trail::Trail;
use super::super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::UserId;
use crate::store::meta::{NewSession, SessionRecord, StoreError};

fn session_from_row(row: &impl Columns) -> anyhow::Result<SessionRecord> {
    Ok(SessionRecord {
        id: row.col("id")?,
        user: UserId(row.col("user_id")?),
        expires_at: from_millis(row.col("expires_at")?),
        revoked_at: row.col::<Option<i64>>("revoked_at")?.map(from_millis),
    })
}

/// The column a session is found by.
#[derive(Clone, Copy)]
pub(super) enum SessionKey<'a> {
    Id(&'a str),
    Refresh(&'a [u8; 32]),
    PreviousRefresh(&'a [u8; 32]),
}

impl SqlRepository {
    pub(super) async fn create_session(&self, s: &NewSession, audit: &AuditEvent) -> Result<(), StoreError> {
        let created = to_millis(s.created_at);
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            sqlx::query(
                "INSERT INTO sessions (id, user_id, refresh_hash, created_at, refreshed_at, expires_at, client_addr) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
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
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    pub(super) async fn session_where(&self, key: SessionKey<'_>) -> Result<Option<SessionRecord>, StoreError> {
        let column = match key {
            SessionKey::Id(_) => "id",
            SessionKey::Refresh(_) => "refresh_hash",
            SessionKey::PreviousRefresh(_) => "previous_refresh_hash",
        };
        run!(&self.pool, |pool| {
            let sql = format!("SELECT id, user_id, expires_at, revoked_at FROM sessions WHERE {column} = $1");
            let query = sqlx::query(&sql);
            let query = match key {
                SessionKey::Id(id) => query.bind(id),
                SessionKey::Refresh(hash) | SessionKey::PreviousRefresh(hash) => query.bind(&hash[..]),
            };
            let row = query.fetch_optional(pool).await.map_err(db_err)?;
            Ok(row.as_ref().map(session_from_row).transpose()?)
        })
    }

    pub(super) async fn rotate_refresh(
        &self,
        id: &str,
        old: &[u8; 32],
        new: &[u8; 32],
        expires_at: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = run!(&self.pool, |pool| {
            sqlx::query(
                "UPDATE sessions SET refresh_hash = $1, previous_refresh_hash = refresh_hash, refreshed_at = $2, expires_at = $3 \
                 WHERE id = $4 AND refresh_hash = $5 AND revoked_at IS NULL",
            )
            .bind(&new[..])
            .bind(to_millis(at))
            .bind(to_millis(expires_at))
            .bind(id)
            .bind(&old[..])
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected()
        });
        Ok(done == 1)
    }

    pub(super) async fn revoke_session(
        &self,
        id: &str,
        reason: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let done = sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
            )
            .bind(to_millis(at))
            .bind(reason)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }

    pub(super) async fn revoke_user_sessions(
        &self,
        user: UserId,
        reason: &str,
        at: OffsetDateTime,
        except: Option<&str>,
    ) -> Result<u64, StoreError> {
        Ok(run!(&self.pool, |pool| {
            sqlx::query(
                "UPDATE sessions SET revoked_at = $1, revoked_reason = $2 WHERE user_id = $3 AND revoked_at IS NULL AND id <> $4",
            )
            .bind(to_millis(at))
            .bind(reason)
            .bind(user.0)
            .bind(except.unwrap_or(""))
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected()
        }))
    }
}
