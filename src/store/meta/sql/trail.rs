//! Appending to the audit trail inside the caller's transaction, so an event is stored exactly
//! when the change it records is.

use anyhow::anyhow;
use sqlx::{QueryBuilder, Row};

use super::db_err;
use crate::audit::AuditEvent;
use crate::store::meta::audit_rows::{chain, insert_links, EVENTS_PER_INSERT};
use crate::store::StoreError;

per_engine! {
    /// Appends `event` inside the caller's transaction. The UPDATE of the head row comes before
    /// the previous hash is read: on PostgreSQL it takes the row's lock, held to the end of the
    /// transaction, so appends from every node are serialised there; on SQLite it makes this
    /// transaction the one writer. Either way the chain stays linear.
    pub(crate) async fn append(conn: &mut <Db as sqlx::Database>::Connection, event: &AuditEvent) -> Result<u64, StoreError> {
        append_many(conn, &[event]).await
    }

    /// Appends `events`, in order, inside the caller's transaction: the chain links one-by-one
    /// appends would give, with one update of the head for the lot and the rows inserted many to
    /// a statement. What makes a bulk write (a purge of thousands, a group of uploads) cost a few
    /// statements rather than three per event. Returns the last event's sequence number (0 for
    /// none).
    pub(crate) async fn append_many(
        conn: &mut <Db as sqlx::Database>::Connection,
        events: &[&AuditEvent],
    ) -> Result<u64, StoreError> {
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
            let mut q: QueryBuilder<Db> = insert_links(chunk);
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

    /// Ends a transaction whose change was to touch exactly one row: when it did, the audit
    /// event is appended and the transaction committed; otherwise it is rolled back, so a change
    /// that found nothing to change records nothing. Answers whether it did.
    pub(crate) async fn commit_if_one(
        mut tx: sqlx::Transaction<'_, Db>,
        rows: u64,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        if rows != 1 {
            return Ok(false);
        }
        append(&mut tx, event).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(true)
    }
}

/// The append of either engine, so code compiled once per engine by `run!` writes
/// `Db::append(&mut tx, event).await?`.
pub(crate) trait Trail: sqlx::Database {
    fn append<'c>(
        conn: &'c mut Self::Connection,
        event: &'c AuditEvent,
    ) -> impl std::future::Future<Output = Result<u64, StoreError>> + Send + 'c;
    fn append_many<'c>(
        conn: &'c mut Self::Connection,
        events: &'c [&'c AuditEvent],
    ) -> impl std::future::Future<Output = Result<u64, StoreError>> + Send + 'c;
    fn commit_if_one<'c>(
        tx: sqlx::Transaction<'c, Self>,
        rows: u64,
        event: &'c AuditEvent,
    ) -> impl std::future::Future<Output = Result<bool, StoreError>> + Send + 'c;
}

impl Trail for sqlx::Sqlite {
    fn append<'c>(
        conn: &'c mut Self::Connection,
        event: &'c AuditEvent,
    ) -> impl std::future::Future<Output = Result<u64, StoreError>> + Send + 'c {
        sqlite::append(conn, event)
    }
    fn append_many<'c>(
        conn: &'c mut Self::Connection,
        events: &'c [&'c AuditEvent],
    ) -> impl std::future::Future<Output = Result<u64, StoreError>> + Send + 'c {
        sqlite::append_many(conn, events)
    }
    fn commit_if_one<'c>(
        tx: sqlx::Transaction<'c, Self>,
        rows: u64,
        event: &'c AuditEvent,
    ) -> impl std::future::Future<Output = Result<bool, StoreError>> + Send + 'c {
        sqlite::commit_if_one(tx, rows, event)
    }
}

impl Trail for sqlx::Postgres {
    fn append<'c>(
        conn: &'c mut Self::Connection,
        event: &'c AuditEvent,
    ) -> impl std::future::Future<Output = Result<u64, StoreError>> + Send + 'c {
        postgres::append(conn, event)
    }
    fn append_many<'c>(
        conn: &'c mut Self::Connection,
        events: &'c [&'c AuditEvent],
    ) -> impl std::future::Future<Output = Result<u64, StoreError>> + Send + 'c {
        postgres::append_many(conn, events)
    }
    fn commit_if_one<'c>(
        tx: sqlx::Transaction<'c, Self>,
        rows: u64,
        event: &'c AuditEvent,
    ) -> impl std::future::Future<Output = Result<bool, StoreError>> + Send + 'c {
        postgres::commit_if_one(tx, rows, event)
    }
}
