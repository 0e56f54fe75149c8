//! Batch drops, the sender's quarantine, reply threads and successions.

use sqlx::QueryBuilder;
use time::OffsetDateTime;

use super::engine::{Columns, DbUuid, Dialect};
use super::rows::{org_from_row, transfer_from_row, ORG_COLS, TRANSFER_COLS};
use super::trail::Trail;
use super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::{OrgId, Organisation, TransferId};
use crate::store::meta::{
    BatchEntry, BatchId, BatchRecord, MailboxEntry, NewBatch, Release, SentBy, StoreError, TransferRecord,
};

/// A batch and the name of the person who dropped it, if a person did.
const BATCH_FROM: &str = "SELECT b.seq AS cursor, b.id, b.channel, b.sender_org_id, b.sender_key_id, u.username, \
                          b.created_at, b.report, b.finished_at \
                          FROM batches b LEFT JOIN users u ON u.id = b.sender_user_id";

fn batch_from_row(row: &impl Columns) -> Result<BatchRecord, StoreError> {
    let key: Option<String> = row.col("sender_key_id").map_err(db_err)?;
    let user: Option<String> = row.col("username").map_err(db_err)?;
    Ok(BatchRecord {
        id: row.col::<DbUuid>("id").map_err(db_err)?.0,
        channel: row.col("channel").map_err(db_err)?,
        sender: OrgId(row.col("sender_org_id").map_err(db_err)?),
        sent_by: match (key, user) {
            (Some(key), _) => SentBy::Key(key),
            (None, Some(user)) => SentBy::User(user),
            (None, None) => SentBy::Unknown,
        },
        created_at: from_millis(row.col("created_at").map_err(db_err)?),
        report: row.col("report").map_err(db_err)?,
        finished_at: row.col::<Option<i64>>("finished_at").map_err(db_err)?.map(from_millis),
    })
}

/// Quarantine entries: nothing to attach, as a quarantined file is delivered to nobody.
fn quarantine_from_rows<R: Columns>(rows: &[R]) -> Result<Vec<MailboxEntry>, StoreError> {
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let cursor: i64 = row.col("cursor").map_err(db_err)?;
        let (_, transfer) = transfer_from_row(row)?;
        entries.push(MailboxEntry { cursor, transfer });
    }
    Ok(entries)
}

impl SqlRepository {
    pub(super) async fn replies(&self, id: TransferId) -> Result<Vec<TransferRecord>, StoreError> {
        let transfers = run!(&self.pool, |pool| {
            let rows = sqlx::query(&format!(
                "SELECT {TRANSFER_COLS} FROM transfers t JOIN organisations o ON o.id = t.sender_org_id \
                 WHERE t.reply_to_seq = (SELECT seq FROM transfers WHERE id = $1) ORDER BY t.seq"
            ))
            .bind(DbUuid(id.0))
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter().map(transfer_from_row).collect::<anyhow::Result<Vec<_>>>()?
        });
        self.with_deliveries(transfers).await
    }

    pub(super) async fn insert_batch(&self, b: &NewBatch) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            sqlx::query(
                "INSERT INTO batches (id, channel, sender_org_id, sender_key_id, sender_user_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(DbUuid(b.id))
            .bind(b.channel.as_str())
            .bind(b.sender.0)
            .bind(&b.sender_key_id)
            .bind(b.sender_user.map(|u| u.0))
            .bind(to_millis(b.created_at))
            .execute(pool)
            .await
            .map_err(db_err)?;
        });
        Ok(())
    }

    pub(super) async fn store_batch_report(
        &self,
        id: BatchId,
        report: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            sqlx::query("UPDATE batches SET report = $1, finished_at = $2 WHERE id = $3")
                .bind(report)
                .bind(to_millis(at))
                .bind(DbUuid(id))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    pub(super) async fn load_batch(&self, id: BatchId) -> Result<Option<BatchRecord>, StoreError> {
        run!(&self.pool, |pool| {
            let row = sqlx::query(&format!("{BATCH_FROM} WHERE b.id = $1"))
                .bind(DbUuid(id))
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
            row.as_ref().map(batch_from_row).transpose()
        })
    }

    /// The batches `senders` sent, newest first, strictly older than `before`: keyset paging
    /// down the (sender, seq) index.
    pub(super) async fn batch_page(
        &self,
        senders: &[OrgId],
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<BatchEntry>, StoreError> {
        let senders: Vec<i64> = senders.iter().map(|o| o.0).collect();
        run!(&self.pool, |pool| {
            let mut q: QueryBuilder<Db> = QueryBuilder::new(format!("{BATCH_FROM} WHERE b.seq < "));
            q.push_bind(before.unwrap_or(i64::MAX)).push(" AND ");
            Db::push_in_i64(&mut q, "b.sender_org_id", senders);
            q.push(" ORDER BY b.seq DESC LIMIT ").push_bind(i64::from(limit));
            let rows = q.build().fetch_all(pool).await.map_err(db_err)?;
            rows.iter()
                .map(|row| Ok(BatchEntry { cursor: row.col("cursor").map_err(db_err)?, batch: batch_from_row(row)? }))
                .collect::<Result<Vec<_>, StoreError>>()
        })
    }

    pub(super) async fn quarantine_page(
        &self,
        orgs: &[OrgId],
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MailboxEntry>, StoreError> {
        let orgs: Vec<i64> = orgs.iter().map(|o| o.0).collect();
        run!(&self.pool, |pool| {
            let mut q: QueryBuilder<Db> = QueryBuilder::new(format!(
                "SELECT t.seq AS cursor, {TRANSFER_COLS} FROM transfers t JOIN organisations o ON o.id = t.sender_org_id \
                 WHERE t.quarantine_code IS NOT NULL AND t.state = 'available' AND t.seq < "
            ));
            q.push_bind(before.unwrap_or(i64::MAX)).push(" AND ");
            Db::push_in_i64(&mut q, "t.sender_org_id", orgs);
            q.push(" ORDER BY t.seq DESC LIMIT ").push_bind(i64::from(limit));
            let rows = q.build().fetch_all(pool).await.map_err(db_err)?;
            quarantine_from_rows(&rows)
        })
    }

    pub(super) async fn release(&self, r: &Release, audit: &AuditEvent) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            // The UPDATE both checks and takes the file out of quarantine: a sender releasing it
            // twice at once (two nodes, two tabs) delivers it once, as the second matches nothing.
            let seq: Option<i64> = sqlx::query_scalar(
                "UPDATE transfers SET quarantine_code = NULL, quarantine_reason = NULL, filename = $1, routing_note = $2 \
                 WHERE id = $3 AND quarantine_code IS NOT NULL AND state = 'available' RETURNING seq",
            )
            .bind(r.filename.as_str())
            .bind(&r.routing_note)
            .bind(DbUuid(r.transfer.0))
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
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
            Ok(true)
        })
    }

    pub(super) async fn successor_orgs(&self, org: OrgId) -> Result<Vec<Organisation>, StoreError> {
        run!(&self.pool, |pool| {
            let rows = sqlx::query(&format!(
                "SELECT DISTINCT {ORG_COLS} FROM organisation_successions s \
                 JOIN organisations o ON o.id = s.successor_org_id \
                 WHERE s.predecessor_org_id = $1 AND s.successor_org_id <> $1 ORDER BY o.id"
            ))
            .bind(org.0)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            Ok(rows.iter().map(org_from_row).collect::<anyhow::Result<_>>()?)
        })
    }
}
