//! Retention and legal holds: the transfers due for a look, purging those no hold covers, expiry
//! warnings, and placing and lifting holds.

use std::collections::{HashMap, HashSet};

use anyhow::anyhow;
use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::engine::{Columns, DbUuid, Dialect};
use super::rows::{org_from_row, ORG_COLS};
use super::trail::Trail;
use super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::retention::HoldScope;
use crate::domain::{OrgId, TransferId};
use crate::store::meta::{
    purged_in_order, HoldId, HoldRecord, NewHold, RecipientClock, RetentionCandidate, RetentionStore, StoreError,
};

/// True when an active hold covers the transfer row `transfers` of the enclosing statement. A
/// hold's target is text, so a transfer's id is compared as text.
fn held<D: Dialect>() -> String {
    format!(
        "EXISTS (SELECT 1 FROM holds h WHERE h.lifted_at IS NULL AND ( \
           (h.scope = 'transfer' AND h.target = {}) \
        OR (h.scope = 'channel' AND h.target = transfers.channel) \
        OR (h.scope = 'organisation' AND (h.org_id = transfers.sender_org_id \
            OR EXISTS (SELECT 1 FROM deliveries d WHERE d.transfer_seq = transfers.seq AND d.recipient_org_id = h.org_id)))))",
        D::uuid_as_text("transfers.id")
    )
}

const HOLD_COLS: &str = "id, scope, target, org_id, reason, placed_at, placed_by, lifted_at, lifted_by";

fn hold_from_row(row: &impl Columns) -> Result<HoldRecord, StoreError> {
    let scope: String = row.col("scope").map_err(db_err)?;
    Ok(HoldRecord {
        id: row.col::<DbUuid>("id").map_err(db_err)?.0,
        scope: HoldScope::parse(&scope).ok_or_else(|| anyhow!("unknown hold scope {scope:?}"))?,
        target: row.col("target").map_err(db_err)?,
        org: row.col::<Option<i64>>("org_id").map_err(db_err)?.map(OrgId),
        reason: row.col("reason").map_err(db_err)?,
        placed_at: from_millis(row.col("placed_at").map_err(db_err)?),
        placed_by: row.col("placed_by").map_err(db_err)?,
        lifted_at: row.col::<Option<i64>>("lifted_at").map_err(db_err)?.map(from_millis),
        lifted_by: row.col("lifted_by").map_err(db_err)?,
    })
}

impl SqlRepository {
    /// The recipients of the transfers with sequence numbers `seqs`, with their first downloads.
    async fn recipient_clocks(&self, seqs: &[i64]) -> Result<HashMap<i64, Vec<RecipientClock>>, StoreError> {
        let mut by_seq: HashMap<i64, Vec<RecipientClock>> = HashMap::new();
        run!(&self.pool, |pool| {
            for chunk in seqs.chunks(Db::LIST_CHUNK) {
                let mut q: QueryBuilder<Db> = QueryBuilder::new(format!(
                    "SELECT d.transfer_seq, d.removed_at, \
                     (SELECT MIN(w.at) FROM downloads w WHERE w.transfer_seq = d.transfer_seq \
                      AND w.org_id = d.recipient_org_id) AS first_download, {ORG_COLS} \
                     FROM deliveries d JOIN organisations o ON o.id = d.recipient_org_id WHERE "
                ));
                Db::push_in_i64(&mut q, "d.transfer_seq", chunk.to_vec());
                q.push(" ORDER BY d.seq");
                for row in q.build().fetch_all(pool).await.map_err(db_err)? {
                    let seq: i64 = row.try_get("transfer_seq").map_err(db_err)?;
                    by_seq.entry(seq).or_default().push(RecipientClock {
                        org: org_from_row(&row)?,
                        removed_at: row.try_get::<Option<i64>, _>("removed_at").map_err(db_err)?.map(from_millis),
                        first_download: row
                            .try_get::<Option<i64>, _>("first_download")
                            .map_err(db_err)?
                            .map(from_millis),
                    });
                }
            }
        });
        Ok(by_seq)
    }
}

#[async_trait]
impl RetentionStore for SqlRepository {
    async fn retention_candidates(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RetentionCandidate>, StoreError> {
        let mut candidates = Vec::new();
        run!(&self.pool, |pool| {
            let rows = sqlx::query(&format!(
                "SELECT t.seq, t.id AS t_id, t.object_id, t.channel, t.filename, t.created_at, t.has_file, \
                 t.expiry_warned_at, {ORG_COLS} FROM transfers t JOIN organisations o ON o.id = t.sender_org_id \
                 WHERE t.state = 'available' AND t.seq > $1 ORDER BY t.seq LIMIT $2"
            ))
            .bind(after.unwrap_or(0))
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            candidates.reserve(rows.len());
            for row in &rows {
                candidates.push(RetentionCandidate {
                    cursor: row.try_get("seq").map_err(db_err)?,
                    id: TransferId(row.try_get::<DbUuid, _>("t_id").map_err(db_err)?.0),
                    object_id: row.try_get::<DbUuid, _>("object_id").map_err(db_err)?.0,
                    channel: row.try_get("channel").map_err(db_err)?,
                    filename: row.try_get("filename").map_err(db_err)?,
                    sender: org_from_row(row)?,
                    created_at: from_millis(row.try_get("created_at").map_err(db_err)?),
                    has_file: row.try_get("has_file").map_err(db_err)?,
                    warned_at: row.try_get::<Option<i64>, _>("expiry_warned_at").map_err(db_err)?.map(from_millis),
                    recipients: Vec::new(),
                });
            }
        });
        let seqs: Vec<i64> = candidates.iter().map(|c| c.cursor).collect();
        let mut clocks = self.recipient_clocks(&seqs).await?;
        for c in &mut candidates {
            c.recipients = clocks.remove(&c.cursor).unwrap_or_default();
        }
        Ok(candidates)
    }

    async fn purge_transfer(&self, id: TransferId, at: OffsetDateTime, audit: &AuditEvent) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let done = sqlx::query(&format!(
                "UPDATE transfers SET state = 'purged', purged_at = $1, kek_id = NULL, wrapped_dek = NULL \
                 WHERE id = $2 AND state = 'available' AND NOT {}",
                held::<Db>()
            ))
            .bind(to_millis(at))
            .bind(DbUuid(id.0))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }

    async fn purge_transfers(
        &self,
        items: &[(TransferId, AuditEvent)],
        at: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        // The same statement purge_transfer runs, for many ids at once: it answers the ids it
        // purged, and only those get their audit event, all appended with one head update.
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let mut purged: HashSet<Uuid> = HashSet::with_capacity(items.len());
            for chunk in items.chunks(Db::LIST_CHUNK) {
                let mut q: QueryBuilder<Db> = QueryBuilder::new("UPDATE transfers SET state = 'purged', purged_at = ");
                q.push_bind(to_millis(at));
                q.push(format!(
                    ", kek_id = NULL, wrapped_dek = NULL WHERE state = 'available' AND NOT {} AND ",
                    held::<Db>()
                ));
                Db::push_in_uuid(&mut q, "id", chunk.iter().map(|(id, _)| DbUuid(id.0)).collect());
                q.push(" RETURNING id");
                for row in q.build().fetch_all(&mut *tx).await.map_err(db_err)? {
                    purged.insert(row.try_get::<DbUuid, _>("id").map_err(db_err)?.0);
                }
            }
            let (done, events) = purged_in_order(items, |id| purged.remove(&id.0));
            Db::append_many(&mut tx, &events).await?;
            tx.commit().await.map_err(db_err)?;
            Ok(done)
        })
    }

    async fn record_expiry_warning(
        &self,
        id: TransferId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let done = sqlx::query(
                "UPDATE transfers SET expiry_warned_at = $1 \
                 WHERE id = $2 AND state = 'available' AND expiry_warned_at IS NULL",
            )
            .bind(to_millis(at))
            .bind(DbUuid(id.0))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }

    async fn place_hold(&self, hold: &NewHold, audit: &AuditEvent) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            sqlx::query(
                "INSERT INTO holds (id, scope, target, org_id, reason, placed_at, placed_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(DbUuid(hold.id))
            .bind(hold.scope.as_str())
            .bind(&hold.target)
            .bind(hold.org.map(|o| o.0))
            .bind(&hold.reason)
            .bind(to_millis(hold.placed_at))
            .bind(&hold.placed_by)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
            Ok(())
        })
    }

    async fn list_holds(&self, include_lifted: bool) -> Result<Vec<HoldRecord>, StoreError> {
        let filter = if include_lifted { "" } else { " WHERE lifted_at IS NULL" };
        run!(&self.pool, |pool| {
            let rows = sqlx::query(&format!("SELECT {HOLD_COLS} FROM holds{filter} ORDER BY placed_at, id"))
                .fetch_all(pool)
                .await
                .map_err(db_err)?;
            rows.iter().map(hold_from_row).collect()
        })
    }

    async fn get_hold(&self, id: HoldId) -> Result<Option<HoldRecord>, StoreError> {
        run!(&self.pool, |pool| {
            let row = sqlx::query(&format!("SELECT {HOLD_COLS} FROM holds WHERE id = $1"))
                .bind(DbUuid(id))
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
            row.as_ref().map(hold_from_row).transpose()
        })
    }

    async fn lift_hold(
        &self,
        id: HoldId,
        by: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let done =
                sqlx::query("UPDATE holds SET lifted_at = $1, lifted_by = $2 WHERE id = $3 AND lifted_at IS NULL")
                    .bind(to_millis(at))
                    .bind(by)
                    .bind(DbUuid(id))
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }
}
