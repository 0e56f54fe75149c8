//! Applying a register (GIAS) import to the organisations table.

use sqlx::{Postgres, Transaction};
use time::OffsetDateTime;

use super::db_err;
use crate::domain::clock::to_millis;
use crate::domain::gias::{Change, Establishment, EstablishmentStatus, ImportPlan};
use crate::domain::DfeNumber;
use crate::store::meta::StoreError;

/// The advisory lock key that serialises register imports ("GIAS" in ASCII).
const REGISTER_IMPORT_LOCK: i64 = 0x4749_4153;

fn closed_at(e: &Establishment, at: OffsetDateTime) -> Option<i64> {
    (e.status == EstablishmentStatus::Closed)
        .then(|| e.close_date.map(|d| to_millis(d.midnight().assume_utc())).unwrap_or_else(|| to_millis(at)))
}

fn optional(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

async fn upsert(
    tx: &mut Transaction<'_, Postgres>,
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
    query.execute(&mut **tx).await.map_err(db_err)?;
    Ok(())
}

async fn org_id(tx: &mut Transaction<'_, Postgres>, dfe: DfeNumber) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar("SELECT id FROM organisations WHERE dfe_number = $1")
        .bind(dfe.compact())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)
}

pub(super) async fn apply(
    tx: &mut Transaction<'_, Postgres>,
    plan: &ImportPlan,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    // Two imports at once (two administrators, two nodes) would each be planned against the
    // register as it was; taking this lock makes the second wait for the first to commit, as
    // SQLite's single writer does. It is released with the transaction.
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(REGISTER_IMPORT_LOCK)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    // A URN moving from one row to another must leave before it arrives: closures and updates
    // first, additions last.
    for change in &plan.changes {
        match change {
            Change::Close { to, .. } | Change::Update { to, .. } => upsert(tx, to, at, false).await?,
            Change::Add(_) => {}
        }
    }
    for change in &plan.changes {
        if let Change::Add(e) = change {
            upsert(tx, e, at, true).await?;
        }
    }
    for s in &plan.successions {
        let (Some(pred), Some(succ)) = (org_id(tx, s.predecessor_dfe).await?, org_id(tx, s.successor_dfe).await?)
        else {
            continue;
        };
        sqlx::query(
            "INSERT INTO organisation_successions (predecessor_org_id, predecessor_urn, successor_org_id, successor_urn, link_type, established_on) \
             VALUES ($1, $2, $3, $4, $5, CAST($6 AS DATE)) ON CONFLICT (predecessor_urn, successor_urn) DO NOTHING",
        )
        .bind(pred)
        .bind(i64::from(s.predecessor_urn))
        .bind(succ)
        .bind(i64::from(s.successor_urn))
        .bind(&s.link_type)
        .bind(s.established.map(|d| d.to_string()))
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}
