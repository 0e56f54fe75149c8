//! Transfers: storing a new one with its deliveries, reading them back, downloads, withdrawals,
//! the objects still needed, and re-wrapping data keys under a new master key.

use std::collections::{HashMap, HashSet};
use std::future::Future;

use sqlx::{QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use super::engine::{Columns, DbUuid, Dialect};
use super::rows::{org_from_row, to_i64, transfer_from_row, ORG_COLS, TRANSFER_COLS};
use super::trail::Trail;
use super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::crypto::WrappedKey;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::{OrgId, TransferId};
use crate::store::meta::{Delivery, DownloadRecord, NewDownload, NewTransfer, StoreError, StoredKey, TransferRecord};

/// The most object ids one statement asks about, so each statement and its answer stay small;
/// fewer where the engine limits the values bound (`Dialect::LIST_CHUNK`).
const OBJECTS_PER_QUERY: usize = 1000;

fn objects_per_query(engine_list_chunk: usize) -> usize {
    engine_list_chunk.min(OBJECTS_PER_QUERY)
}

/// A new transfer's deliveries, in the order of its recipients (a delivery's `seq` is the order
/// listings show them in). The statements differ, so each engine has its own: SQLite takes a row
/// of values per recipient; PostgreSQL takes the recipients as one array, so its statement is
/// the same whatever their number.
pub(super) trait Fanout: sqlx::Database {
    fn insert_deliveries<'c>(
        conn: &'c mut Self::Connection,
        seq: i64,
        recipients: &'c [OrgId],
    ) -> impl Future<Output = Result<(), StoreError>> + Send + 'c;
}

impl Fanout for sqlx::Sqlite {
    async fn insert_deliveries<'c>(
        conn: &'c mut Self::Connection,
        seq: i64,
        recipients: &'c [OrgId],
    ) -> Result<(), StoreError> {
        let mut q: QueryBuilder<sqlx::Sqlite> =
            QueryBuilder::new("INSERT INTO deliveries (transfer_seq, recipient_org_id) ");
        q.push_values(recipients, |mut b, recipient| {
            b.push_bind(seq).push_bind(recipient.0);
        });
        q.build().execute(&mut *conn).await.map_err(db_err)?;
        Ok(())
    }
}

impl Fanout for sqlx::Postgres {
    async fn insert_deliveries<'c>(
        conn: &'c mut Self::Connection,
        seq: i64,
        recipients: &'c [OrgId],
    ) -> Result<(), StoreError> {
        let recipients: Vec<i64> = recipients.iter().map(|r| r.0).collect();
        // WITH ORDINALITY keeps the recipients' order in the deliveries' seq, as on SQLite.
        sqlx::query(
            "INSERT INTO deliveries (transfer_seq, recipient_org_id) \
             SELECT $1, r.org FROM unnest($2::BIGINT[]) WITH ORDINALITY AS r (org, n) ORDER BY r.n",
        )
        .bind(seq)
        .bind(&recipients)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}

per_engine! {
    /// The rows of one new transfer (the transfer and its deliveries) inside the caller's
    /// transaction; its audit event is the caller's to append.
    pub(crate) async fn insert_rows(conn: &mut <Db as sqlx::Database>::Connection, t: &NewTransfer) -> Result<i64, StoreError> {
        let seq: i64 = sqlx::query_scalar(
            "INSERT INTO transfers (id, object_id, channel, sender_org_id, sender_key_id, filename, content_type, \
             size, sha256, kek_id, wrapped_dek, state, created_at, message_sealed, reply_to_seq, has_file, \
             quarantine_code, quarantine_reason, quarantined_at, routing_note, batch_seq) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'available', $12, $13, \
             (SELECT seq FROM transfers WHERE id = $14), $15, $16, $17, $18, $19, \
             (SELECT seq FROM batches WHERE id = $20)) RETURNING seq",
        )
        .bind(DbUuid(t.id.0))
        .bind(DbUuid(t.object_id))
        .bind(t.channel.as_str())
        .bind(t.sender.0)
        .bind(&t.sender_key_id)
        .bind(t.filename.as_ref().map_or("", |f| f.as_str()))
        .bind(&t.content_type)
        .bind(to_i64(t.size, "size")?)
        .bind(&t.sha256.0[..])
        .bind(t.wrapped_key.as_ref().map(|k| k.kek_id.clone()))
        .bind(t.wrapped_key.as_ref().map(|k| k.bytes.clone()))
        .bind(to_millis(t.created_at))
        .bind(t.message.as_ref().map(|m| m.as_bytes().to_vec()))
        .bind(t.reply_to.map(|r| DbUuid(r.0)))
        .bind(t.filename.is_some())
        .bind(t.quarantine.as_ref().map(|q| q.code.clone()))
        .bind(t.quarantine.as_ref().map(|q| q.reason.clone()))
        .bind(t.quarantine.as_ref().map(|_| to_millis(t.created_at)))
        .bind(&t.routing_note)
        .bind(t.batch.map(DbUuid))
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
        if !t.recipients.is_empty() {
            <Db as Fanout>::insert_deliveries(&mut *conn, seq, &t.recipients).await?;
        }
        Ok(seq)
    }

    /// Stores `items`, each transfer with its deliveries and its audit event, in one
    /// transaction: all of them or, on any failure, none.
    pub(crate) async fn store_together(
        pool: &sqlx::Pool<Db>,
        items: &[(&NewTransfer, &AuditEvent)],
    ) -> Result<(), StoreError> {
        let mut tx = pool.begin().await.map_err(db_err)?;
        for (transfer, _) in items {
            insert_rows(&mut tx, transfer).await?;
        }
        let events: Vec<&AuditEvent> = items.iter().map(|(_, a)| *a).collect();
        Db::append_many(&mut tx, &events).await?;
        tx.commit().await.map_err(db_err)
    }
}

/// For SQLite's writer task, which holds that engine's pool.
pub(super) use self::sqlite::store_together as store_together_on_sqlite;

/// The deliveries of the rows read, by transfer sequence number.
fn deliveries_from_rows<R: Columns>(rows: &[R]) -> Result<HashMap<i64, Vec<Delivery>>, StoreError> {
    let mut by_seq: HashMap<i64, Vec<Delivery>> = HashMap::new();
    for row in rows {
        let seq: i64 = row.col("transfer_seq").map_err(db_err)?;
        let removed_at = row.col::<Option<i64>>("removed_at").map_err(db_err)?.map(from_millis);
        by_seq.entry(seq).or_default().push(Delivery { org: org_from_row(row)?, removed_at });
    }
    Ok(by_seq)
}

fn download_from_row(row: &impl Columns) -> Result<DownloadRecord, StoreError> {
    let start: Option<i64> = row.col("range_start").map_err(db_err)?;
    let end: Option<i64> = row.col("range_end").map_err(db_err)?;
    Ok(DownloadRecord {
        org: org_from_row(row)?,
        key_id: row.col("key_id").map_err(db_err)?,
        range: start.zip(end).map(|(s, e)| (s as u64, e as u64)),
        at: from_millis(row.col("at").map_err(db_err)?),
    })
}

fn stored_key_from_row(row: &impl Columns) -> Result<StoredKey, StoreError> {
    Ok(StoredKey {
        transfer: TransferId(row.col::<DbUuid>("id").map_err(db_err)?.0),
        object_id: row.col::<DbUuid>("object_id").map_err(db_err)?.0,
        wrapped_key: WrappedKey {
            kek_id: row.col("kek_id").map_err(db_err)?,
            bytes: row.col("wrapped_dek").map_err(db_err)?,
        },
    })
}

impl SqlRepository {
    /// Stores `items` in one transaction, all or none.
    pub(super) async fn store_transfers(&self, items: &[(&NewTransfer, &AuditEvent)]) -> Result<(), StoreError> {
        run!(&self.pool, |pool, engine| engine::store_together(pool, items).await)
    }

    /// Fills in the deliveries of already-loaded transfers with one query.
    pub(super) async fn attach_deliveries(&self, transfers: &mut [(i64, TransferRecord)]) -> Result<(), StoreError> {
        if transfers.is_empty() {
            return Ok(());
        }
        let seqs: Vec<i64> = transfers.iter().map(|(seq, _)| *seq).collect();
        let mut by_seq = run!(&self.pool, |pool| {
            let mut q: QueryBuilder<Db> = QueryBuilder::new(format!(
                "SELECT d.transfer_seq, d.removed_at, {ORG_COLS} FROM deliveries d \
                 JOIN organisations o ON o.id = d.recipient_org_id WHERE "
            ));
            Db::push_in_i64(&mut q, "d.transfer_seq", seqs);
            q.push(" ORDER BY d.seq");
            let rows = q.build().fetch_all(pool).await.map_err(db_err)?;
            deliveries_from_rows(&rows)?
        });
        for (seq, t) in transfers.iter_mut() {
            t.recipients = by_seq.remove(seq).unwrap_or_default();
        }
        Ok(())
    }

    /// Transfers read without their deliveries, made whole with one more query.
    pub(super) async fn with_deliveries(
        &self,
        mut transfers: Vec<(i64, TransferRecord)>,
    ) -> Result<Vec<TransferRecord>, StoreError> {
        self.attach_deliveries(&mut transfers).await?;
        Ok(transfers.into_iter().map(|(_, t)| t).collect())
    }

    pub(super) async fn load_transfer(&self, id: TransferId) -> Result<Option<TransferRecord>, StoreError> {
        let found = run!(&self.pool, |pool| {
            let row = sqlx::query(&format!(
                "SELECT {TRANSFER_COLS} FROM transfers t JOIN organisations o ON o.id = t.sender_org_id WHERE t.id = $1"
            ))
            .bind(DbUuid(id.0))
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
            row.as_ref().map(transfer_from_row).transpose()?
        });
        let Some(found) = found else { return Ok(None) };
        let mut one = [found];
        self.attach_deliveries(&mut one).await?;
        let [(_, record)] = one;
        Ok(Some(record))
    }

    pub(super) async fn insert_download(&self, d: &NewDownload, audit: &AuditEvent) -> Result<(), StoreError> {
        let range = d.range.map(|(s, e)| Ok::<_, StoreError>((to_i64(s, "range start")?, to_i64(e, "range end")?)));
        let range = range.transpose()?;
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            sqlx::query(
                "INSERT INTO downloads (transfer_seq, org_id, key_id, client_addr, range_start, range_end, at) \
                 SELECT seq, $1, $2, $3, $4, $5, $6 FROM transfers WHERE id = $7",
            )
            .bind(d.org.0)
            .bind(&d.key_id)
            .bind(&d.client_addr)
            .bind(range.map(|r| r.0))
            .bind(range.map(|r| r.1))
            .bind(to_millis(d.at))
            .bind(DbUuid(d.transfer.0))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    pub(super) async fn downloads_of(&self, id: TransferId) -> Result<Vec<DownloadRecord>, StoreError> {
        run!(&self.pool, |pool| {
            let rows = sqlx::query(&format!(
                "SELECT w.key_id, w.range_start, w.range_end, w.at, {ORG_COLS} FROM downloads w \
                 JOIN transfers t ON t.seq = w.transfer_seq JOIN organisations o ON o.id = w.org_id \
                 WHERE t.id = $1 ORDER BY w.seq"
            ))
            .bind(DbUuid(id.0))
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter().map(download_from_row).collect()
        })
    }

    pub(super) async fn withdraw(
        &self,
        id: TransferId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let done = sqlx::query(
                "UPDATE transfers SET state = 'withdrawn', withdrawn_at = $1, kek_id = NULL, wrapped_dek = NULL \
                 WHERE id = $2 AND state = 'available'",
            )
            .bind(to_millis(at))
            .bind(DbUuid(id.0))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }

    pub(super) async fn remove_from_inbox(
        &self,
        id: TransferId,
        org: OrgId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let done = sqlx::query(
                "UPDATE deliveries SET removed_at = $1 WHERE recipient_org_id = $2 AND removed_at IS NULL \
                 AND transfer_seq = (SELECT seq FROM transfers WHERE id = $3)",
            )
            .bind(to_millis(at))
            .bind(org.0)
            .bind(DbUuid(id.0))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }

    /// Of `candidates`, the object ids of transfers whose data key is still there (`live`) or
    /// has been destroyed (not `live`).
    pub(super) async fn object_ids_with_key(
        &self,
        candidates: &[Uuid],
        live: bool,
    ) -> Result<HashSet<Uuid>, StoreError> {
        let condition = if live { "wrapped_dek IS NOT NULL" } else { "wrapped_dek IS NULL" };
        let mut found = HashSet::new();
        run!(&self.pool, |pool| {
            for chunk in candidates.chunks(objects_per_query(Db::LIST_CHUNK)) {
                let ids: Vec<DbUuid> = chunk.iter().copied().map(DbUuid).collect();
                let mut q: QueryBuilder<Db> =
                    QueryBuilder::new(format!("SELECT object_id FROM transfers WHERE {condition} AND "));
                Db::push_in_uuid(&mut q, "object_id", ids);
                for row in q.build().fetch_all(pool).await.map_err(db_err)? {
                    found.insert(row.try_get::<DbUuid, _>(0).map_err(db_err)?.0);
                }
            }
        });
        Ok(found)
    }

    pub(super) async fn keys_to_rewrap(&self, kek_id: &str, limit: u32) -> Result<Vec<StoredKey>, StoreError> {
        run!(&self.pool, |pool| {
            let rows = sqlx::query(
                "SELECT id, object_id, kek_id, wrapped_dek FROM transfers \
                 WHERE kek_id IS NOT NULL AND kek_id <> $1 ORDER BY seq LIMIT $2",
            )
            .bind(kek_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter().map(stored_key_from_row).collect()
        })
    }

    pub(super) async fn rewrap(&self, id: TransferId, old: &WrappedKey, new: &WrappedKey) -> Result<bool, StoreError> {
        // Compare-and-set: a node that re-wrapped the same row first has changed kek_id and
        // wrapped_dek, so this one matches nothing. On PostgreSQL the row lock makes the check
        // and the write one step; on SQLite the single writer does.
        let done = run!(&self.pool, |pool| {
            sqlx::query(
                "UPDATE transfers SET kek_id = $1, wrapped_dek = $2 WHERE id = $3 AND kek_id = $4 AND wrapped_dek = $5",
            )
            .bind(&new.kek_id)
            .bind(&new.bytes)
            .bind(DbUuid(id.0))
            .bind(&old.kek_id)
            .bind(&old.bytes)
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected()
        });
        Ok(done == 1)
    }
}
