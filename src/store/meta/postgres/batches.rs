//! Batch drops, the sender's quarantine, reply threads and successions, on PostgreSQL.

use sqlx::Row;
use time::OffsetDateTime;

use super::{db_err, org_from_row, transfer_from_row, PgRepository, ORG_COLS, TRANSFER_COLS};
use crate::audit::AuditEvent;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::{OrgId, Organisation, TransferId};
use crate::store::meta::{BatchId, BatchRecord, MailboxEntry, NewBatch, Release, TransferRecord};
use crate::store::StoreError;

impl PgRepository {
    pub(super) async fn replies(&self, id: TransferId) -> Result<Vec<TransferRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TRANSFER_COLS} FROM transfers t JOIN organisations o ON o.id = t.sender_org_id \
             WHERE t.reply_to_seq = (SELECT seq FROM transfers WHERE id = $1) ORDER BY t.seq"
        ))
        .bind(id.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut transfers = rows.iter().map(transfer_from_row).collect::<anyhow::Result<Vec<_>>>()?;
        self.attach_deliveries(&mut transfers).await?;
        Ok(transfers.into_iter().map(|(_, t)| t).collect())
    }

    pub(super) async fn insert_batch(&self, b: &NewBatch) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO batches (id, channel, sender_org_id, sender_key_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(b.id)
        .bind(b.channel.as_str())
        .bind(b.sender.0)
        .bind(&b.sender_key_id)
        .bind(to_millis(b.created_at))
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub(super) async fn store_batch_report(
        &self,
        id: BatchId,
        report: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("UPDATE batches SET report = $1, finished_at = $2 WHERE id = $3")
            .bind(report)
            .bind(to_millis(at))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    pub(super) async fn load_batch(&self, id: BatchId) -> Result<Option<BatchRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, channel, sender_org_id, created_at, report, finished_at FROM batches WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(BatchRecord {
            id: row.try_get("id").map_err(db_err)?,
            channel: row.try_get("channel").map_err(db_err)?,
            sender: OrgId(row.try_get("sender_org_id").map_err(db_err)?),
            created_at: from_millis(row.try_get("created_at").map_err(db_err)?),
            report: row.try_get("report").map_err(db_err)?,
            finished_at: row.try_get::<Option<i64>, _>("finished_at").map_err(db_err)?.map(from_millis),
        }))
    }

    pub(super) async fn quarantine_page(
        &self,
        orgs: &[OrgId],
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MailboxEntry>, StoreError> {
        let orgs: Vec<i64> = orgs.iter().map(|o| o.0).collect();
        let rows = sqlx::query(&format!(
            "SELECT t.seq AS cursor, {TRANSFER_COLS} FROM transfers t JOIN organisations o ON o.id = t.sender_org_id \
             WHERE t.quarantine_code IS NOT NULL AND t.state = 'available' AND t.seq < $1 \
             AND t.sender_org_id = ANY($2) ORDER BY t.seq DESC LIMIT $3"
        ))
        .bind(before.unwrap_or(i64::MAX))
        .bind(&orgs)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut entries = Vec::with_capacity(rows.len());
        for row in &rows {
            let cursor: i64 = row.try_get("cursor").map_err(db_err)?;
            let (_, transfer) = transfer_from_row(row)?;
            // Nothing to attach: a quarantined file is delivered to nobody.
            entries.push(MailboxEntry { cursor, transfer });
        }
        Ok(entries)
    }

    pub(super) async fn release(&self, r: &Release, audit: &AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // The UPDATE both checks and takes the file out of quarantine: a sender releasing it
        // twice at once (two nodes, two tabs) delivers it once, as the second matches nothing.
        let seq: Option<i64> = sqlx::query_scalar(
            "UPDATE transfers SET quarantine_code = NULL, quarantine_reason = NULL, filename = $1, routing_note = $2 \
             WHERE id = $3 AND quarantine_code IS NOT NULL AND state = 'available' RETURNING seq",
        )
        .bind(r.filename.as_str())
        .bind(&r.routing_note)
        .bind(r.transfer.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(seq) = seq else { return Ok(false) };
        sqlx::query("INSERT INTO deliveries (transfer_seq, recipient_org_id) VALUES ($1, $2)")
            .bind(seq)
            .bind(r.recipient.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        super::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    pub(super) async fn successor_orgs(&self, org: OrgId) -> Result<Vec<Organisation>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT DISTINCT {ORG_COLS} FROM organisation_successions s \
             JOIN organisations o ON o.id = s.successor_org_id \
             WHERE s.predecessor_org_id = $1 AND s.successor_org_id <> $1 ORDER BY o.id"
        ))
        .bind(org.0)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.iter().map(org_from_row).collect::<anyhow::Result<_>>()?)
    }
}
