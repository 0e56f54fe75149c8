//! Applying a register (GIAS) import to the organisations table.

use sqlx::{Sqlite, Transaction};
use time::OffsetDateTime;

use super::db_err;
use crate::domain::clock::to_millis;
use crate::domain::gias::{Change, Establishment, EstablishmentStatus, ImportPlan};
use crate::domain::DfeNumber;
use crate::store::meta::StoreError;

fn closed_at(e: &Establishment, at: OffsetDateTime) -> Option<i64> {
    (e.status == EstablishmentStatus::Closed)
        .then(|| e.close_date.map(|d| to_millis(d.midnight().assume_utc())).unwrap_or_else(|| to_millis(at)))
}

fn optional(s: &str) -> Option<&str> {
    let s = s.trim();
    (!s.is_empty()).then_some(s)
}

async fn upsert(
    tx: &mut Transaction<'_, Sqlite>,
    e: &Establishment,
    at: OffsetDateTime,
    insert: bool,
) -> Result<(), StoreError> {
    let sql = if insert {
        "INSERT INTO organisations (name, urn, establishment_type, phase, status, closed_at, dfe_number, kind, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, 'school', ?)"
    } else {
        "UPDATE organisations SET name = ?, urn = ?, establishment_type = ?, phase = ?, status = ?, closed_at = ? \
         WHERE dfe_number = ? AND ? IS NOT NULL"
    };
    sqlx::query(sql)
        .bind(&e.name)
        .bind(e.urn as i64)
        .bind(optional(&e.type_name))
        .bind(optional(&e.phase))
        .bind(e.status.as_str())
        .bind(closed_at(e, at))
        .bind(e.dfe.compact())
        .bind(to_millis(at))
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

async fn org_id(tx: &mut Transaction<'_, Sqlite>, dfe: DfeNumber) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar("SELECT id FROM organisations WHERE dfe_number = ?")
        .bind(dfe.compact())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)
}

pub(super) async fn apply(
    tx: &mut Transaction<'_, Sqlite>,
    plan: &ImportPlan,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
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
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (predecessor_urn, successor_urn) DO NOTHING",
        )
        .bind(pred)
        .bind(s.predecessor_urn as i64)
        .bind(succ)
        .bind(s.successor_urn as i64)
        .bind(&s.link_type)
        .bind(s.established.map(|d| d.to_string()))
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}
