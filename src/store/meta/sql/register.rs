//! Applying a register (GIAS) import to the organisations table.

use time::OffsetDateTime;

use super::engine::Dialect;
use super::trail::Trail;
use super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::domain::clock::to_millis;
use crate::domain::gias::{Change, Establishment, EstablishmentStatus, ImportPlan};
use crate::domain::DfeNumber;
use crate::store::meta::StoreError;

/// The lock that serialises register imports ("GIAS" in ASCII).
const REGISTER_IMPORT_LOCK: i64 = 0x4749_4153;

fn closed_at(e: &Establishment, at: OffsetDateTime) -> Option<i64> {
    (e.status == EstablishmentStatus::Closed)
        .then(|| e.close_date.map(|d| to_millis(d.midnight().assume_utc())).unwrap_or_else(|| to_millis(at)))
}

fn optional(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

per_engine! {
    async fn upsert(
        conn: &mut <Db as sqlx::Database>::Connection,
        e: &Establishment,
        at: OffsetDateTime,
        insert: bool,
    ) -> Result<(), StoreError> {
        let query = if insert {
            sqlx::query(
                "INSERT INTO organisations (name, urn, establishment_type, phase, status, closed_at, dfe_number, kind, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'school', $8)",
            )
        } else {
            sqlx::query(
                "UPDATE organisations SET name = $1, urn = $2, establishment_type = $3, phase = $4, status = $5, closed_at = $6 \
                 WHERE dfe_number = $7",
            )
        };
        let query = query
            .bind(&e.name)
            .bind(i64::from(e.urn))
            .bind(optional(&e.type_name))
            .bind(optional(&e.phase))
            .bind(e.status.as_str())
            .bind(closed_at(e, at))
            .bind(e.dfe.compact());
        let query = if insert { query.bind(to_millis(at)) } else { query };
        query.execute(&mut *conn).await.map_err(db_err)?;
        Ok(())
    }

    async fn org_id(conn: &mut <Db as sqlx::Database>::Connection, dfe: DfeNumber) -> Result<Option<i64>, StoreError> {
        sqlx::query_scalar("SELECT id FROM organisations WHERE dfe_number = $1")
            .bind(dfe.compact())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)
    }

    pub(super) async fn apply(
        conn: &mut <Db as sqlx::Database>::Connection,
        plan: &ImportPlan,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        // Two imports at once (two administrators, two nodes) would each be planned against the
        // register as it was; the lock makes the second wait for the first to commit.
        if let Some(lock) = Db::TRANSACTION_LOCK {
            sqlx::query(lock).bind(REGISTER_IMPORT_LOCK).execute(&mut *conn).await.map_err(db_err)?;
        }
        // A URN moving from one row to another must leave before it arrives: closures and updates
        // first, additions last.
        for change in &plan.changes {
            match change {
                Change::Close { to, .. } | Change::Update { to, .. } => upsert(conn, to, at, false).await?,
                Change::Add(_) => {}
            }
        }
        for change in &plan.changes {
            if let Change::Add(e) = change {
                upsert(conn, e, at, true).await?;
            }
        }
        let insert_succession = format!(
            "INSERT INTO organisation_successions (predecessor_org_id, predecessor_urn, successor_org_id, successor_urn, link_type, established_on) \
             VALUES ($1, $2, $3, $4, $5, {}) ON CONFLICT (predecessor_urn, successor_urn) DO NOTHING",
            Db::date_from_text("$6"),
        );
        for s in &plan.successions {
            let (Some(pred), Some(succ)) = (org_id(conn, s.predecessor_dfe).await?, org_id(conn, s.successor_dfe).await?)
            else {
                continue;
            };
            sqlx::query(&insert_succession)
                .bind(pred)
                .bind(i64::from(s.predecessor_urn))
                .bind(succ)
                .bind(i64::from(s.successor_urn))
                .bind(&s.link_type)
                .bind(s.established.map(|d| d.to_string()))
                .execute(&mut *conn)
                .await
                .map_err(db_err)?;
        }
        Ok(())
    }
}

impl SqlRepository {
    pub(super) async fn apply_register_import(
        &self,
        plan: &ImportPlan,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        run!(&self.pool, |pool, engine| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            engine::apply(&mut tx, plan, at).await?;
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }
}
