//! The embedded metadata store: one SQLite file in WAL mode with full synchronous commits, so a
//! transfer acknowledged to a client survives a power cut.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::mailbox_filter;
use super::*;
use crate::audit::AuditEvent;
use crate::crypto::WrappedKey;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::organisation::OrgStatus;
use crate::domain::{OrgKind, Sha256Digest, TransferState};

mod audit;
mod batches;
mod channels;
mod group_commit;
mod identity;
mod installation;
mod keys;
mod leases;
mod register;
mod reports;
mod retention;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

pub struct SqliteRepository {
    pool: SqlitePool,
    /// New transfers go through one writer task that commits those waiting together.
    transfers: group_commit::GroupCommit,
}

impl SqliteRepository {
    pub async fn connect(url: &str, max_connections: u32, acquire_timeout: Duration) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("'{url}' is not an SQLite database URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(acquire_timeout)
            .connect_with(options)
            .await
            .with_context(|| format!("could not open the SQLite database at {url}"))?;
        let transfers = group_commit::GroupCommit::start(pool.clone());
        Ok(Self { pool, transfers })
    }
}

fn db_err(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => StoreError::Unavailable(e.into()),
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(d.message().to_owned()),
        // SQLITE_BUSY and SQLITE_LOCKED: another writer held on for longer than busy_timeout.
        sqlx::Error::Database(d) if matches!(d.code().as_deref(), Some("5" | "6" | "517")) => {
            StoreError::Unavailable(e.into())
        }
        _ => StoreError::Other(anyhow::Error::new(e)),
    }
}

/// Organisation columns under the `o_` prefix, for any query joining `organisations o`.
macro_rules! org_cols {
    () => {
        "o.id AS o_id, o.kind AS o_kind, o.dfe_number AS o_dfe, o.slug AS o_slug, o.name AS o_name, \
         o.status AS o_status, o.urn AS o_urn, o.phase AS o_phase, o.establishment_type AS o_type, \
         o.totp_required AS o_totp"
    };
}

const ORG_COLS: &str = org_cols!();
const KEY_SCOPE_COLS: &str = "k.channels, k.can_send, k.can_receive, k.expires_at";

const TRANSFER_COLS: &str = concat!(
    "t.seq AS t_seq, t.id AS t_id, t.object_id, t.channel, t.sender_key_id, t.filename, \
     t.content_type, t.size, t.sha256, t.kek_id, t.wrapped_dek, t.state, t.created_at, t.withdrawn_at, \
     t.message, (SELECT r.id FROM transfers r WHERE r.seq = t.reply_to_seq) AS reply_to_id, \
     t.has_file, t.quarantine_code, t.quarantine_reason, t.quarantined_at, t.routing_note, \
     (SELECT b.id FROM batches b WHERE b.seq = t.batch_seq) AS batch_id, ",
    org_cols!()
);

fn org_from_row(row: &SqliteRow) -> anyhow::Result<Organisation> {
    let kind: String = row.try_get("o_kind")?;
    let kind = OrgKind::parse(&kind).ok_or_else(|| anyhow!("unknown organisation kind {kind:?}"))?;
    let reference = match kind {
        OrgKind::School => {
            let dfe: String = row.try_get("o_dfe")?;
            OrgRef::School(dfe.parse()?)
        }
        OrgKind::Team | OrgKind::System => {
            let slug: String = row.try_get("o_slug")?;
            OrgRef::Team(slug.parse()?)
        }
    };
    let status: String = row.try_get("o_status")?;
    let urn: Option<i64> = row.try_get("o_urn")?;
    Ok(Organisation {
        id: OrgId(row.try_get("o_id")?),
        kind,
        reference,
        name: row.try_get("o_name")?,
        status: OrgStatus::parse_stored(&status).ok_or_else(|| anyhow!("unknown organisation status {status:?}"))?,
        urn: urn.and_then(|u| u32::try_from(u).ok()),
        phase: row.try_get("o_phase")?,
        establishment_type: row.try_get("o_type")?,
        totp_required: row.try_get("o_totp")?,
    })
}

/// A transfer row without its deliveries, and its sequence number for loading them.
fn transfer_from_row(row: &SqliteRow) -> anyhow::Result<(i64, TransferRecord)> {
    let sha: Vec<u8> = row.try_get("sha256")?;
    let sha: [u8; 32] = sha.try_into().map_err(|_| anyhow!("stored SHA-256 has the wrong length"))?;
    let kek_id: Option<String> = row.try_get("kek_id")?;
    let wrapped: Option<Vec<u8>> = row.try_get("wrapped_dek")?;
    let state: String = row.try_get("state")?;
    let size: i64 = row.try_get("size")?;
    let record = TransferRecord {
        id: TransferId(Uuid::parse_str(row.try_get("t_id")?)?),
        object_id: Uuid::parse_str(row.try_get("object_id")?)?,
        channel: row.try_get("channel")?,
        sender: org_from_row(row)?,
        sender_key_id: row.try_get("sender_key_id")?,
        recipients: Vec::new(),
        filename: row.try_get("filename")?,
        content_type: row.try_get("content_type")?,
        size: u64::try_from(size)?,
        sha256: Sha256Digest(sha),
        wrapped_key: kek_id.zip(wrapped).map(|(kek_id, bytes)| WrappedKey { kek_id, bytes }),
        state: TransferState::parse(&state).ok_or_else(|| anyhow!("unknown transfer state {state:?}"))?,
        created_at: from_millis(row.try_get("created_at")?),
        withdrawn_at: row.try_get::<Option<i64>, _>("withdrawn_at")?.map(from_millis),
        message: row.try_get("message")?,
        reply_to: row
            .try_get::<Option<String>, _>("reply_to_id")?
            .map(|id| Uuid::parse_str(&id).map(TransferId))
            .transpose()?,
        has_file: row.try_get("has_file")?,
        quarantine: row
            .try_get::<Option<String>, _>("quarantine_code")?
            .map(|code| -> anyhow::Result<Quarantine> {
                Ok(Quarantine {
                    code,
                    reason: row.try_get::<Option<String>, _>("quarantine_reason")?.unwrap_or_default(),
                })
            })
            .transpose()?,
        quarantined_at: row.try_get::<Option<i64>, _>("quarantined_at")?.map(from_millis),
        routing_note: row.try_get("routing_note")?,
        batch: row.try_get::<Option<String>, _>("batch_id")?.map(|id| Uuid::parse_str(&id)).transpose()?,
    };
    Ok((row.try_get("t_seq")?, record))
}

/// The rows of one new transfer (the transfer and its deliveries) inside the caller's
/// transaction; its audit event is the caller's to append.
async fn insert_rows(conn: &mut sqlx::SqliteConnection, t: &NewTransfer) -> Result<i64, StoreError> {
    let seq: i64 = sqlx::query_scalar(
        "INSERT INTO transfers (id, object_id, channel, sender_org_id, sender_key_id, filename, content_type, \
         size, sha256, kek_id, wrapped_dek, state, created_at, message, reply_to_seq, has_file, \
         quarantine_code, quarantine_reason, quarantined_at, routing_note, batch_seq) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'available', ?, ?, (SELECT seq FROM transfers WHERE id = ?), \
         ?, ?, ?, ?, ?, (SELECT seq FROM batches WHERE id = ?)) RETURNING seq",
    )
    .bind(t.id.to_string())
    .bind(t.object_id.hyphenated().to_string())
    .bind(t.channel.as_str())
    .bind(t.sender.0)
    .bind(&t.sender_key_id)
    .bind(t.filename.as_ref().map_or("", |f| f.as_str()))
    .bind(&t.content_type)
    .bind(i64::try_from(t.size).context("size out of range")?)
    .bind(&t.sha256.0[..])
    .bind(t.wrapped_key.as_ref().map(|k| k.kek_id.clone()))
    .bind(t.wrapped_key.as_ref().map(|k| k.bytes.clone()))
    .bind(to_millis(t.created_at))
    .bind(&t.message)
    .bind(t.reply_to.map(|r| r.to_string()))
    .bind(t.filename.is_some())
    .bind(t.quarantine.as_ref().map(|q| q.code.clone()))
    .bind(t.quarantine.as_ref().map(|q| q.reason.clone()))
    .bind(t.quarantine.as_ref().map(|_| to_millis(t.created_at)))
    .bind(&t.routing_note)
    .bind(t.batch.map(|b| b.hyphenated().to_string()))
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    if !t.recipients.is_empty() {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new("INSERT INTO deliveries (transfer_seq, recipient_org_id) ");
        q.push_values(&t.recipients, |mut b, recipient| {
            b.push_bind(seq).push_bind(recipient.0);
        });
        q.build().execute(&mut *conn).await.map_err(db_err)?;
    }
    Ok(seq)
}

impl SqliteRepository {
    /// Fills in the deliveries of already-loaded transfers with one query.
    async fn attach_deliveries(&self, transfers: &mut [(i64, TransferRecord)]) -> Result<(), StoreError> {
        if transfers.is_empty() {
            return Ok(());
        }
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT d.transfer_seq, d.removed_at, {ORG_COLS} FROM deliveries d \
             JOIN organisations o ON o.id = d.recipient_org_id WHERE d.transfer_seq IN ("
        ));
        let mut list = q.separated(", ");
        for (seq, _) in transfers.iter() {
            list.push_bind(*seq);
        }
        q.push(") ORDER BY d.seq");
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_err)?;
        let mut by_seq: HashMap<i64, Vec<Delivery>> = HashMap::new();
        for row in rows {
            let seq: i64 = row.try_get("transfer_seq").map_err(db_err)?;
            let removed_at = row.try_get::<Option<i64>, _>("removed_at").map_err(db_err)?.map(from_millis);
            by_seq.entry(seq).or_default().push(Delivery { org: org_from_row(&row)?, removed_at });
        }
        for (seq, t) in transfers.iter_mut() {
            t.recipients = by_seq.remove(seq).unwrap_or_default();
        }
        Ok(())
    }

    async fn object_ids_where(&self, candidates: &[Uuid], condition: &str) -> Result<HashSet<Uuid>, StoreError> {
        let mut found = HashSet::new();
        for chunk in candidates.chunks(500) {
            let mut q: QueryBuilder<Sqlite> =
                QueryBuilder::new(format!("SELECT object_id FROM transfers WHERE {condition} AND object_id IN ("));
            let mut list = q.separated(", ");
            for id in chunk {
                list.push_bind(id.hyphenated().to_string());
            }
            q.push(")");
            for row in q.build().fetch_all(&self.pool).await.map_err(db_err)? {
                let id: String = row.try_get(0).map_err(db_err)?;
                found.insert(Uuid::parse_str(&id).context("stored object id is not a UUID")?);
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl Repository for SqliteRepository {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => db_err(e),
            other => StoreError::Other(anyhow::Error::new(other).context("database migration failed")),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_err)?;
        Ok(())
    }

    async fn create_organisation(
        &self,
        org: &NewOrganisation,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Organisation, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let (dfe, slug) = match &org.reference {
            OrgRef::School(n) => (Some(n.compact()), None),
            OrgRef::Team(s) => (None, Some(s.as_str().to_owned())),
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO organisations (kind, dfe_number, slug, name, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(org.kind.as_str())
        .bind(dfe)
        .bind(slug)
        .bind(&org.name)
        .bind(to_millis(at))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        self::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        self.get_organisation(OrgId(id))
            .await?
            .ok_or_else(|| StoreError::Other(anyhow!("organisation vanished after insert")))
    }

    async fn find_organisation(&self, reference: &OrgRef) -> Result<Option<Organisation>, StoreError> {
        let row = match reference {
            OrgRef::School(n) => {
                sqlx::query(&format!("SELECT {ORG_COLS} FROM organisations o WHERE o.dfe_number = ?"))
                    .bind(n.compact())
                    .fetch_optional(&self.pool)
                    .await
            }
            OrgRef::Team(s) => {
                sqlx::query(&format!("SELECT {ORG_COLS} FROM organisations o WHERE o.slug = ?"))
                    .bind(s.as_str())
                    .fetch_optional(&self.pool)
                    .await
            }
        }
        .map_err(db_err)?;
        Ok(row.as_ref().map(org_from_row).transpose()?)
    }

    async fn list_organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        let rows =
            sqlx::query(&format!("SELECT {ORG_COLS} FROM organisations o ORDER BY o.kind, o.dfe_number, o.slug"))
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(rows.iter().map(org_from_row).collect::<anyhow::Result<_>>()?)
    }

    async fn create_api_key(&self, key: &NewApiKey, at: OffsetDateTime, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO api_keys (key_id, org_id, name, secret_hash, created_at, channels, can_send, can_receive, expires_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
            .bind(&key.key_id)
            .bind(key.org_id.0)
            .bind(&key.name)
            .bind(&key.secret_hash[..])
            .bind(to_millis(at))
            .bind(key.scope.channels.join(","))
            .bind(key.scope.can_send)
            .bind(key.scope.can_receive)
            .bind(key.scope.expires_at.map(to_millis))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        self::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn find_api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT k.key_id, k.name, k.secret_hash, k.revoked_at, k.suspended_at, {KEY_SCOPE_COLS}, {ORG_COLS} \
             FROM api_keys k JOIN organisations o ON o.id = k.org_id WHERE k.key_id = ?"
        ))
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ApiKeyRecord {
            key_id: row.try_get("key_id").map_err(db_err)?,
            name: row.try_get("name").map_err(db_err)?,
            secret_hash: row.try_get("secret_hash").map_err(db_err)?,
            revoked_at: row.try_get::<Option<i64>, _>("revoked_at").map_err(db_err)?.map(from_millis),
            suspended_at: row.try_get::<Option<i64>, _>("suspended_at").map_err(db_err)?.map(from_millis),
            scope: keys::scope_from_row(&row)?,
            org: org_from_row(&row)?,
        }))
    }

    async fn touch_api_key(&self, key_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        // Only write when the recorded time is a minute stale: a busy job should not turn every
        // request into a database write. The check is a read first, because even an UPDATE that
        // matches nothing takes SQLite's single write lock and would queue every request of a
        // busy job behind the uploads being committed.
        let at = to_millis(at);
        let stale: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM api_keys WHERE key_id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
        )
        .bind(key_id)
        .bind(at - 60_000)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        if stale.is_none() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE api_keys SET last_used_at = ? WHERE key_id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
        )
        .bind(at)
        .bind(key_id)
        .bind(at - 60_000)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn insert_transfer(&self, t: &NewTransfer, audit: &AuditEvent) -> Result<TransferRecord, StoreError> {
        self.transfers.insert(t.clone(), audit.clone()).await?;
        self.get_transfer(t.id).await?.ok_or_else(|| StoreError::Other(anyhow!("transfer vanished after insert")))
    }

    async fn insert_transfers(&self, items: &[(NewTransfer, AuditEvent)]) -> Result<(), StoreError> {
        let items: Vec<(&NewTransfer, &AuditEvent)> = items.iter().map(|(t, a)| (t, a)).collect();
        group_commit::store_together(&self.pool, &items).await
    }

    async fn get_transfer(&self, id: TransferId) -> Result<Option<TransferRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {TRANSFER_COLS} FROM transfers t JOIN organisations o ON o.id = t.sender_org_id WHERE t.id = ?"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else { return Ok(None) };
        let mut one = [transfer_from_row(&row)?];
        self.attach_deliveries(&mut one).await?;
        let [(_, record)] = one;
        Ok(Some(record))
    }

    async fn mailbox_page(&self, query: &MailboxQuery<'_>) -> Result<Vec<MailboxEntry>, StoreError> {
        let before = query.before.unwrap_or(i64::MAX);
        let (head, owner, order) = match query.mailbox {
            Mailbox::Inbox => (
                format!(
                    "SELECT d.seq AS cursor, {TRANSFER_COLS} FROM deliveries d \
                     JOIN transfers t ON t.seq = d.transfer_seq \
                     JOIN organisations o ON o.id = t.sender_org_id \
                     WHERE d.removed_at IS NULL AND t.state = 'available' AND d.seq < "
                ),
                "d.recipient_org_id",
                " ORDER BY d.seq DESC LIMIT ",
            ),
            Mailbox::Sent => (
                format!(
                    "SELECT t.seq AS cursor, {TRANSFER_COLS} FROM transfers t \
                     JOIN organisations o ON o.id = t.sender_org_id WHERE t.quarantine_code IS NULL AND t.seq < "
                ),
                "t.sender_org_id",
                " ORDER BY t.seq DESC LIMIT ",
            ),
        };
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(head);
        q.push_bind(before);
        mailbox_filter::push_in(&mut q, owner, query.orgs);
        if let Some(channels) = query.channels {
            q.push(" AND t.channel IN (");
            let mut list = q.separated(", ");
            for c in channels {
                list.push_bind(c.clone());
            }
            list.push_unseparated(")");
        }
        if !query.hidden_channels.is_empty() {
            q.push(" AND t.channel NOT IN (");
            let mut list = q.separated(", ");
            for c in query.hidden_channels {
                list.push_bind(c.clone());
            }
            list.push_unseparated(")");
        }
        mailbox_filter::push_filter(&mut q, query);
        mailbox_filter::push_since_bound(&mut q, query);
        q.push(order).push_bind(query.limit);
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_err)?;
        let mut cursors = Vec::with_capacity(rows.len());
        let mut transfers = Vec::with_capacity(rows.len());
        for row in &rows {
            cursors.push(row.try_get::<i64, _>("cursor").map_err(db_err)?);
            transfers.push(transfer_from_row(row)?);
        }
        self.attach_deliveries(&mut transfers).await?;
        Ok(cursors
            .into_iter()
            .zip(transfers)
            .map(|(cursor, (_, transfer))| MailboxEntry { cursor, transfer })
            .collect())
    }

    async fn open_requests(
        &self,
        channel: &str,
        orgs: &[OrgId],
        limit: u32,
    ) -> Result<Vec<TransferRecord>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {TRANSFER_COLS} FROM transfers t JOIN organisations o ON o.id = t.sender_org_id \
             WHERE t.state = 'available' AND t.reply_to_seq IS NULL AND t.channel = "
        ));
        q.push_bind(channel.to_owned());
        q.push(" AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.reply_to_seq = t.seq) AND EXISTS (SELECT 1 FROM deliveries d WHERE d.transfer_seq = t.seq AND d.recipient_org_id IN (");
        let mut list = q.separated(", ");
        for org in orgs {
            list.push_bind(org.0);
        }
        q.push(")) ORDER BY t.seq LIMIT ").push_bind(limit);
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_err)?;
        let mut transfers = rows.iter().map(transfer_from_row).collect::<anyhow::Result<Vec<_>>>()?;
        self.attach_deliveries(&mut transfers).await?;
        Ok(transfers.into_iter().map(|(_, t)| t).collect())
    }

    async fn record_download(&self, d: &NewDownload, audit: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(
            "INSERT INTO downloads (transfer_seq, org_id, key_id, client_addr, range_start, range_end, at) \
             SELECT seq, ?, ?, ?, ?, ?, ? FROM transfers WHERE id = ?",
        )
        .bind(d.org.0)
        .bind(&d.key_id)
        .bind(&d.client_addr)
        .bind(d.range.map(|r| r.0 as i64))
        .bind(d.range.map(|r| r.1 as i64))
        .bind(to_millis(d.at))
        .bind(d.transfer.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        self::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    async fn list_downloads(&self, id: TransferId) -> Result<Vec<DownloadRecord>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT w.key_id, w.range_start, w.range_end, w.at, {ORG_COLS} FROM downloads w \
             JOIN transfers t ON t.seq = w.transfer_seq JOIN organisations o ON o.id = w.org_id \
             WHERE t.id = ? ORDER BY w.seq"
        ))
        .bind(id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let start: Option<i64> = row.try_get("range_start").map_err(db_err)?;
                let end: Option<i64> = row.try_get("range_end").map_err(db_err)?;
                Ok(DownloadRecord {
                    org: org_from_row(row)?,
                    key_id: row.try_get("key_id").map_err(db_err)?,
                    range: start.zip(end).map(|(s, e)| (s as u64, e as u64)),
                    at: from_millis(row.try_get("at").map_err(db_err)?),
                })
            })
            .collect()
    }

    async fn replies_to(&self, id: TransferId) -> Result<Vec<TransferRecord>, StoreError> {
        self.replies(id).await
    }

    async fn create_batch(&self, batch: &NewBatch) -> Result<(), StoreError> {
        self.insert_batch(batch).await
    }

    async fn finish_batch(
        &self,
        id: BatchId,
        report: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.store_batch_report(id, report, at, audit).await
    }

    async fn get_batch(&self, id: BatchId) -> Result<Option<BatchRecord>, StoreError> {
        self.load_batch(id).await
    }

    async fn list_quarantine(
        &self,
        orgs: &[OrgId],
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MailboxEntry>, StoreError> {
        self.quarantine_page(orgs, before, limit).await
    }

    async fn release_from_quarantine(&self, release: &Release, audit: &AuditEvent) -> Result<bool, StoreError> {
        self.release(release, audit).await
    }

    async fn successors(&self, org: OrgId) -> Result<Vec<Organisation>, StoreError> {
        self.successor_orgs(org).await
    }

    async fn withdraw_transfer(
        &self,
        id: TransferId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done = sqlx::query(
            "UPDATE transfers SET state = 'withdrawn', withdrawn_at = ?, kek_id = NULL, wrapped_dek = NULL \
             WHERE id = ? AND state = 'available'",
        )
        .bind(to_millis(at))
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        self::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn remove_delivery(
        &self,
        id: TransferId,
        org: OrgId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let done = sqlx::query(
            "UPDATE deliveries SET removed_at = ? WHERE recipient_org_id = ? AND removed_at IS NULL \
             AND transfer_seq = (SELECT seq FROM transfers WHERE id = ?)",
        )
        .bind(to_millis(at))
        .bind(org.0)
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        self::audit::append(&mut tx, audit).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }

    async fn live_objects(&self, candidates: &[Uuid]) -> Result<HashSet<Uuid>, StoreError> {
        self.object_ids_where(candidates, "wrapped_dek IS NOT NULL").await
    }

    async fn dead_objects(&self, candidates: &[Uuid]) -> Result<HashSet<Uuid>, StoreError> {
        self.object_ids_where(candidates, "wrapped_dek IS NULL").await
    }

    async fn keys_not_under(&self, kek_id: &str, limit: u32) -> Result<Vec<StoredKey>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, object_id, kek_id, wrapped_dek FROM transfers \
             WHERE kek_id IS NOT NULL AND kek_id <> ? ORDER BY seq LIMIT ?",
        )
        .bind(kek_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id").map_err(db_err)?;
                let object_id: String = row.try_get("object_id").map_err(db_err)?;
                Ok(StoredKey {
                    transfer: TransferId(Uuid::parse_str(&id).context("stored id is not a UUID")?),
                    object_id: Uuid::parse_str(&object_id).context("stored object id is not a UUID")?,
                    wrapped_key: WrappedKey {
                        kek_id: row.try_get("kek_id").map_err(db_err)?,
                        bytes: row.try_get("wrapped_dek").map_err(db_err)?,
                    },
                })
            })
            .collect()
    }

    async fn replace_wrapped_key(
        &self,
        id: TransferId,
        old: &WrappedKey,
        new: &WrappedKey,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE transfers SET kek_id = ?, wrapped_dek = ? WHERE id = ? AND kek_id = ? AND wrapped_dek = ?",
        )
        .bind(&new.kek_id)
        .bind(&new.bytes)
        .bind(id.to_string())
        .bind(&old.kek_id)
        .bind(&old.bytes)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn seen_master_keys(&self) -> Result<Vec<SeenKey>, StoreError> {
        installation::seen_master_keys(&self.pool).await
    }

    async fn record_master_keys(&self, keys: &[KeyCheck], primary: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        installation::record_master_keys(&self.pool, keys, primary, at).await
    }

    async fn master_key_in_use(&self, kek_id: &str) -> Result<bool, StoreError> {
        installation::master_key_in_use(&self.pool, kek_id).await
    }

    async fn sealed_sample(&self, kek_id: &str) -> Result<Option<SealedSample>, StoreError> {
        installation::sealed_sample(&self.pool, kek_id).await
    }

    async fn holds_keyed_data(&self) -> Result<bool, StoreError> {
        installation::holds_keyed_data(&self.pool).await
    }

    async fn bootstrap_version(&self) -> Result<i64, StoreError> {
        installation::bootstrap_version(&self.pool).await
    }

    async fn bootstrap(&self, plan: &BootstrapPlan) -> Result<BootstrapOutcome, StoreError> {
        installation::bootstrap(&self.pool, plan).await
    }
}
