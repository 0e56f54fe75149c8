//! Retention and legal holds on PostgreSQL, statement for statement as on SQLite.

use std::collections::{HashMap, HashSet};

use anyhow::anyhow;
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{db_err, org_from_row, PgRepository, ORG_COLS};
use crate::audit::AuditEvent;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::retention::HoldScope;
use crate::domain::{OrgId, TransferId};
use crate::store::meta::{
    purged_in_order, HoldId, HoldRecord, NewHold, RecipientClock, RetentionCandidate, RetentionStore, StoreError,
};

/// True when an active hold covers the transfer row `transfers` of the enclosing statement.
const HELD: &str = "EXISTS (SELECT 1 FROM holds h WHERE h.lifted_at IS NULL AND ( \
       (h.scope = 'transfer' AND h.target = transfers.id::text) \
    OR (h.scope = 'channel' AND h.target = transfers.channel) \
    OR (h.scope = 'organisation' AND (h.org_id = transfers.sender_org_id \
        OR EXISTS (SELECT 1 FROM deliveries d WHERE d.transfer_seq = transfers.seq AND d.recipient_org_id = h.org_id)))))";

const HOLD_COLS: &str = "id, scope, target, org_id, reason, placed_at, placed_by, lifted_at, lifted_by";

fn hold_from_row(row: &PgRow) -> Result<HoldRecord, StoreError> {
    let id: Uuid = row.try_get("id").map_err(db_err)?;
    let scope: String = row.try_get("scope").map_err(db_err)?;
    Ok(HoldRecord {
        id,
        scope: HoldScope::parse(&scope).ok_or_else(|| anyhow!("unknown hold scope {scope:?}"))?,
        target: row.try_get("target").map_err(db_err)?,
        org: row.try_get::<Option<i64>, _>("org_id").map_err(db_err)?.map(OrgId),
        reason: row.try_get("reason").map_err(db_err)?,
        placed_at: from_millis(row.try_get("placed_at").map_err(db_err)?),
        placed_by: row.try_get("placed_by").map_err(db_err)?,
        lifted_at: row.try_get::<Option<i64>, _>("lifted_at").map_err(db_err)?.map(from_millis),
        lifted_by: row.try_get("lifted_by").map_err(db_err)?,
    })
}

impl PgRepository {
    /// The recipients of the transfers with sequence numbers `seqs`, with their first downloads.
    async fn recipient_clocks(&self, seqs: &[i64]) -> Result<HashMap<i64, Vec<RecipientClock>>, StoreError> {
        let mut by_seq: HashMap<i64, Vec<RecipientClock>> = HashMap::new();
        for chunk in seqs.chunks(500) {
            let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!(
                "SELECT d.transfer_seq, d.removed_at, \
                 (SELECT MIN(w.at) FROM downloads w WHERE w.transfer_seq = d.transfer_seq \
                  AND w.org_id = d.recipient_org_id) AS first_download, {ORG_COLS} \
                 FROM deliveries d JOIN organisations o ON o.id = d.recipient_org_id WHERE d.transfer_seq IN ("
            ));
            let mut list = q.separated(", ");
            for seq in chunk {
                list.push_bind(*seq);
            }
            q.push(") ORDER BY d.seq");
            for row in q.build().fetch_all(&self.pool).await.map_err(db_err)? {
                let seq: i64 = row.try_get("transfer_seq").map_err(db_err)?;
                by_seq.entry(seq).or_default().push(RecipientClock {
                    org: org_from_row(&row)?,
                    removed_at: row.try_get::<Option<i64>, _>("removed_at").map_err(db_err)?.map(from_millis),
                    first_download: row.try_get::<Option<i64>, _>("first_download").map_err(db_err)?.map(from_millis),
                });
            }
        }
        Ok(by_seq)
    }
}

#[async_trait]
impl RetentionStore for PgRepository {
    async fn retention_candidates(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RetentionCandidate>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT t.seq, t.id AS t_id, t.object_id, t.channel, t.filename, t.created_at, t.has_file, \
             t.expiry_warned_at, {ORG_COLS} FROM transfers t JOIN organisations o ON o.id = t.sender_org_id \
             WHERE t.state = 'available' AND t.seq > $1 ORDER BY t.seq LIMIT $2"
        ))
        .bind(after.unwrap_or(0))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: Uuid = row.try_get("t_id").map_err(db_err)?;
            let object_id: Uuid = row.try_get("object_id").map_err(db_err)?;
            candidates.push(RetentionCandidate {
                cursor: row.try_get("seq").map_err(db_err)?,
                id: TransferId(id),
                object_id,
                channel: row.try_get("channel").map_err(db_err)?,
                filename: row.try_get("filename").map_err(db_err)?,
                sender: org_from_row(row)?,
                created_at: from_millis(row.try_get("created_at").map_err(db_err)?),
                has_file: row.try_get("has_file").map_err(db_err)?,
                warned_at: row.try_get::<Option<i64>, _>("expiry_warned_at").map_err(db_err)?.map(from_millis),
                recipients: Vec::new(),
            });
        }
        let seqs: Vec<i64> = candidates.iter().map(|c| c.cursor).collect();
        let mut clocks = self.recipient_clocks(&seqs).await?;
        for c in &mut candidates {
            c.recipients = clocks.remove(&c.cursor).unwrap_or_default();
        }
        Ok(candidates)
    }

    async fn purge_transfer(&self, id: TransferId, at: OffsetDateTime, audit: &AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done = sqlx::query(&format!(
            "UPDATE transfers SET state = 'purged', purged_at = $1, kek_id = NULL, wrapped_dek = NULL \
             WHERE id = $2 AND state = 'available' AND NOT {HELD}"
        ))
        .bind(to_millis(at))
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

    async fn purge_transfers(
        &self,
        items: &[(TransferId, AuditEvent)],
        at: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        // The same statement purge_transfer runs, for all the ids at once: it answers the ids
        // it purged, and only those get their audit event, all appended with one head update.
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let ids: Vec<Uuid> = items.iter().map(|(id, _)| id.0).collect();
        let rows = sqlx::query(&format!(
            "UPDATE transfers SET state = 'purged', purged_at = $1, kek_id = NULL, wrapped_dek = NULL \
             WHERE state = 'available' AND NOT {HELD} AND id = ANY($2) RETURNING id"
        ))
        .bind(to_millis(at))
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        let mut purged: HashSet<Uuid> = HashSet::with_capacity(rows.len());
        for row in &rows {
            purged.insert(row.try_get("id").map_err(db_err)?);
        }
        let (done, events) = purged_in_order(items, |id| purged.remove(&id.0));
        super::audit::append_many(&mut tx, &events).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(done)
    }

    async fn record_expiry_warning(
        &self,
        id: TransferId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done = sqlx::query(
            "UPDATE transfers SET expiry_warned_at = $1 \
             WHERE id = $2 AND state = 'available' AND expiry_warned_at IS NULL",
        )
        .bind(to_millis(at))
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

    async fn place_hold(&self, hold: &NewHold, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO holds (id, scope, target, org_id, reason, placed_at, placed_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(hold.id)
        .bind(hold.scope.as_str())
        .bind(&hold.target)
        .bind(hold.org.map(|o| o.0))
        .bind(&hold.reason)
        .bind(to_millis(hold.placed_at))
        .bind(&hold.placed_by)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn list_holds(&self, include_lifted: bool) -> Result<Vec<HoldRecord>, StoreError> {
        let filter = if include_lifted { "" } else { " WHERE lifted_at IS NULL" };
        let rows = sqlx::query(&format!("SELECT {HOLD_COLS} FROM holds{filter} ORDER BY placed_at, id"))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter().map(hold_from_row).collect()
    }

    async fn get_hold(&self, id: HoldId) -> Result<Option<HoldRecord>, StoreError> {
        let row = sqlx::query(&format!("SELECT {HOLD_COLS} FROM holds WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        row.as_ref().map(hold_from_row).transpose()
    }

    async fn lift_hold(
        &self,
        id: HoldId,
        by: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done = sqlx::query("UPDATE holds SET lifted_at = $1, lifted_by = $2 WHERE id = $3 AND lifted_at IS NULL")
            .bind(to_millis(at))
            .bind(by)
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
}
