//! The audit trail: reading and searching it, and the appends that stand alone. Appends inside
//! another change's transaction are in `trail.rs`.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};
use time::OffsetDateTime;

use super::engine::Dialect;
use super::trail::Trail;
use super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::domain::clock::to_millis;
use crate::store::meta::audit_rows::{hash32, record, COLS};
use crate::store::meta::{AuditFilter, AuditRecord, AuditStore};
use crate::store::StoreError;

#[async_trait]
impl AuditStore for SqlRepository {
    async fn append_audit(&self, event: &AuditEvent) -> Result<u64, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let seq = Db::append(&mut tx, event).await?;
            tx.commit().await.map_err(db_err)?;
            Ok(seq)
        })
    }

    async fn audit_from(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        run!(&self.pool, |pool| {
            let rows = sqlx::query(&format!("SELECT {COLS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"))
                .bind(after as i64)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
            Ok(rows.iter().map(record).collect::<anyhow::Result<_>>()?)
        })
    }

    async fn search_audit(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        run!(&self.pool, |pool| {
            let mut q: QueryBuilder<Db> = QueryBuilder::new(format!("SELECT {COLS} FROM audit_events WHERE seq < "));
            q.push_bind(before.map_or(i64::MAX, |b| b as i64));
            if let Some(org) = &filter.org {
                q.push(" AND (org = ").push_bind(org.clone()).push(" OR actor_org = ").push_bind(org.clone()).push(")");
            }
            if let Some(actor) = &filter.actor {
                q.push(" AND actor_id = ").push_bind(actor.clone());
            }
            match filter.action.as_deref() {
                Some(prefix) if prefix.ends_with('.') => {
                    q.push(" AND substr(action, 1, ")
                        .push_bind(prefix.len() as i64)
                        .push(") = ")
                        .push_bind(prefix.to_owned());
                }
                Some(action) => {
                    q.push(" AND action = ").push_bind(action.to_owned());
                }
                None => {}
            }
            if let Some(target) = &filter.target {
                q.push(" AND target_id = ").push_bind(target.clone());
            }
            if let Some(from) = filter.from {
                q.push(" AND at >= ").push_bind(to_millis(from));
            }
            if let Some(until) = filter.until {
                q.push(" AND at < ").push_bind(to_millis(until));
            }
            q.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(limit));
            let rows = q.build().fetch_all(pool).await.map_err(db_err)?;
            Ok(rows.iter().map(record).collect::<anyhow::Result<_>>()?)
        })
    }

    async fn recent_activity(
        &self,
        actor_kind: &str,
        actor_id: &str,
        action: &str,
        since: OffsetDateTime,
    ) -> Result<(u64, u64), StoreError> {
        run!(&self.pool, |pool| {
            // CAST: PostgreSQL's sum of bigints is a numeric.
            let row = sqlx::query(&format!(
                "SELECT count(*) AS n, CAST(coalesce(sum({}), 0) AS BIGINT) AS bytes FROM audit_events \
                 WHERE actor_id = $1 AND actor_kind = $2 AND action = $3 AND at >= $4",
                Db::json_i64("details", "bytes")
            ))
            .bind(actor_id)
            .bind(actor_kind)
            .bind(action)
            .bind(to_millis(since))
            .fetch_one(pool)
            .await
            .map_err(db_err)?;
            let n: i64 = row.try_get("n").map_err(db_err)?;
            let bytes: i64 = row.try_get("bytes").map_err(db_err)?;
            Ok((n.max(0) as u64, bytes.max(0) as u64))
        })
    }

    async fn append_once_since(&self, event: &AuditEvent, since: OffsetDateTime) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            // Take the chain's lock before looking, so two callers cannot both see none.
            sqlx::query(&Db::lock_rows("audit_head", "seq", "id = 1")).execute(&mut *tx).await.map_err(db_err)?;
            let seen: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM audit_events WHERE actor_id = $1 AND actor_kind = $2 AND action = $3 AND at >= $4",
            )
            .bind(&event.actor.id)
            .bind(event.actor.kind)
            .bind(&event.action)
            .bind(to_millis(since))
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            if seen > 0 {
                return Ok(false);
            }
            Db::append(&mut tx, event).await?;
            tx.commit().await.map_err(db_err)?;
            Ok(true)
        })
    }

    async fn audit_head(&self) -> Result<(u64, [u8; 32]), StoreError> {
        run!(&self.pool, |pool| {
            let row =
                sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(pool).await.map_err(db_err)?;
            let seq: i64 = row.try_get("seq").map_err(db_err)?;
            Ok((u64::try_from(seq).map_err(anyhow::Error::from)?, hash32(&row, "hash")?))
        })
    }
}
