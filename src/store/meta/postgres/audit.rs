//! The audit trail on PostgreSQL.

use anyhow::anyhow;
use async_trait::async_trait;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use super::{db_err, PgRepository};
use crate::audit::AuditEvent;
use crate::domain::clock::to_millis;
use crate::store::meta::audit_rows::{chain, hash32, insert_links, record, COLS, EVENTS_PER_INSERT};
use crate::store::meta::{AuditFilter, AuditRecord, AuditStore};
use crate::store::StoreError;

/// Appends `event` inside the caller's transaction. The UPDATE of the head row takes its row
/// lock, held to the end of the transaction, before the previous hash is read: appends from
/// every node are serialised there, so the chain stays linear.
pub(super) async fn append(conn: &mut PgConnection, event: &AuditEvent) -> Result<u64, StoreError> {
    append_many(conn, &[event]).await
}

/// Appends `events`, in order, inside the caller's transaction, with one update of the head for
/// the lot and the rows inserted many to a statement. The UPDATE of the head row takes its row
/// lock first, as [`append`] says. Returns the last event's sequence number (0 for none).
pub(super) async fn append_many(conn: &mut PgConnection, events: &[&AuditEvent]) -> Result<u64, StoreError> {
    if events.is_empty() {
        return Ok(0);
    }
    let n = i64::try_from(events.len()).map_err(|_| StoreError::Other(anyhow!("too many audit events")))?;
    let row = sqlx::query("UPDATE audit_head SET seq = seq + $1 WHERE id = 1 RETURNING seq, hash")
        .bind(n)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
    let last: i64 = row.try_get("seq").map_err(db_err)?;
    let prev: Vec<u8> = row.try_get("hash").map_err(db_err)?;
    let prev: [u8; 32] =
        prev.try_into().map_err(|_| StoreError::Other(anyhow!("the audit head hash is not 32 bytes")))?;
    let first =
        u64::try_from(last - n + 1).map_err(|_| StoreError::Other(anyhow!("negative audit sequence number")))?;
    let links = chain(first, prev, events);
    for chunk in links.chunks(EVENTS_PER_INSERT) {
        let mut q: QueryBuilder<Postgres> = insert_links(chunk);
        q.build().execute(&mut *conn).await.map_err(db_err)?;
    }
    let head = links.last().map_or(prev, |link| link.hash);
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(&head[..])
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
    Ok(first + events.len() as u64 - 1)
}

#[async_trait]
impl AuditStore for PgRepository {
    async fn append_audit(&self, event: &AuditEvent) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let seq = append(&mut tx, event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(seq)
    }

    async fn audit_from(&self, after: u64, limit: u32) -> Result<Vec<AuditRecord>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2"))
            .bind(after as i64)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(rows.iter().map(record).collect::<anyhow::Result<_>>()?)
    }

    async fn search_audit(
        &self,
        filter: &AuditFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!("SELECT {COLS} FROM audit_events WHERE seq < "));
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
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_err)?;
        Ok(rows.iter().map(record).collect::<anyhow::Result<_>>()?)
    }

    async fn recent_activity(
        &self,
        actor_kind: &str,
        actor_id: &str,
        action: &str,
        since: time::OffsetDateTime,
    ) -> Result<(u64, u64), StoreError> {
        let row = sqlx::query(
            "SELECT count(*) AS n, coalesce(sum((details::jsonb ->> 'bytes')::bigint), 0)::bigint AS bytes \
             FROM audit_events WHERE actor_id = $1 AND actor_kind = $2 AND action = $3 AND at >= $4",
        )
        .bind(actor_id)
        .bind(actor_kind)
        .bind(action)
        .bind(to_millis(since))
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        let n: i64 = row.try_get("n").map_err(db_err)?;
        let bytes: i64 = row.try_get("bytes").map_err(db_err)?;
        Ok((n.max(0) as u64, bytes.max(0) as u64))
    }

    async fn append_once_since(&self, event: &AuditEvent, since: time::OffsetDateTime) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Take the chain's lock before looking, so two callers cannot both see none.
        sqlx::query("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE").execute(&mut *tx).await.map_err(db_err)?;
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
        append(&mut tx, event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn audit_head(&self) -> Result<(u64, [u8; 32]), StoreError> {
        let row =
            sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1").fetch_one(&self.pool).await.map_err(db_err)?;
        let seq: i64 = row.try_get("seq").map_err(db_err)?;
        Ok((u64::try_from(seq).map_err(anyhow::Error::from)?, hash32(&row, "hash")?))
    }
}
