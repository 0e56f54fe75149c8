//! Organisations and their API keys.

use time::OffsetDateTime;

use super::engine::{Columns, Dialect};
use super::rows::{org_from_row, scope_from_row, KEY_SCOPE_COLS, ORG_COLS};
use super::trail::Trail;
use super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::{OrgId, OrgRef, Organisation};
use crate::store::meta::{ApiKeyRecord, NewApiKey, NewOrganisation, StoreError};

/// A key's `last_used_at` is written only when it is this stale: a busy job should not turn
/// every request into a database write.
const TOUCH_EVERY_MILLIS: i64 = 60_000;

fn api_key_from_row(row: &impl Columns) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        key_id: row.col("key_id").map_err(db_err)?,
        name: row.col("name").map_err(db_err)?,
        secret_hash: row.col("secret_hash").map_err(db_err)?,
        revoked_at: row.col::<Option<i64>>("revoked_at").map_err(db_err)?.map(from_millis),
        suspended_at: row.col::<Option<i64>>("suspended_at").map_err(db_err)?.map(from_millis),
        scope: scope_from_row(row)?,
        org: org_from_row(row)?,
    })
}

impl SqlRepository {
    /// Inserts the organisation and returns its id.
    pub(super) async fn insert_organisation(
        &self,
        org: &NewOrganisation,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<OrgId, StoreError> {
        let (dfe, slug) = match &org.reference {
            OrgRef::School(n) => (Some(n.compact()), None),
            OrgRef::Team(s) => (None, Some(s.as_str().to_owned())),
        };
        let id: i64 = run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO organisations (kind, dfe_number, slug, name, created_at) VALUES ($1, $2, $3, $4, $5) \
                 RETURNING id",
            )
            .bind(org.kind.as_str())
            .bind(dfe)
            .bind(slug)
            .bind(&org.name)
            .bind(to_millis(at))
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
            id
        });
        Ok(OrgId(id))
    }

    pub(super) async fn organisation_by_ref(&self, reference: &OrgRef) -> Result<Option<Organisation>, StoreError> {
        let (condition, value) = match reference {
            OrgRef::School(n) => ("o.dfe_number = $1", n.compact()),
            OrgRef::Team(s) => ("o.slug = $1", s.as_str().to_owned()),
        };
        run!(&self.pool, |pool| {
            let row = sqlx::query(&format!("SELECT {ORG_COLS} FROM organisations o WHERE {condition}"))
                .bind(value)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
            Ok(row.as_ref().map(org_from_row).transpose()?)
        })
    }

    pub(super) async fn organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        run!(&self.pool, |pool| {
            // NULLS FIRST is SQLite's default and not PostgreSQL's: the order is the same on both.
            let rows = sqlx::query(&format!(
                "SELECT {ORG_COLS} FROM organisations o ORDER BY o.kind, o.dfe_number NULLS FIRST, o.slug NULLS FIRST"
            ))
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            Ok(rows.iter().map(org_from_row).collect::<anyhow::Result<_>>()?)
        })
    }

    pub(super) async fn insert_api_key(
        &self,
        key: &NewApiKey,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            sqlx::query(
                "INSERT INTO api_keys (key_id, org_id, name, secret_hash, created_at, channels, can_send, can_receive, \
                 expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
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
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    pub(super) async fn api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        run!(&self.pool, |pool| {
            let row = sqlx::query(&format!(
                "SELECT k.key_id, k.name, k.secret_hash, k.revoked_at, k.suspended_at, {KEY_SCOPE_COLS}, {ORG_COLS} \
                 FROM api_keys k JOIN organisations o ON o.id = k.org_id WHERE k.key_id = $1"
            ))
            .bind(key_id)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
            row.as_ref().map(api_key_from_row).transpose()
        })
    }

    pub(super) async fn touch_key(&self, key_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let at = to_millis(at);
        let stale_before = at - TOUCH_EVERY_MILLIS;
        run!(&self.pool, |pool| {
            if Db::ONE_WRITER {
                // Even an UPDATE that matches nothing takes SQLite's single write lock, and would
                // queue every request of a busy job behind the uploads being committed: read
                // first whether there is anything to write.
                let stale = sqlx::query(
                    "SELECT 1 FROM api_keys WHERE key_id = $1 AND (last_used_at IS NULL OR last_used_at < $2)",
                )
                .bind(key_id)
                .bind(stale_before)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
                if stale.is_none() {
                    return Ok(());
                }
            }
            sqlx::query(
                "UPDATE api_keys SET last_used_at = $1 WHERE key_id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
            )
            .bind(at)
            .bind(key_id)
            .bind(stale_before)
            .execute(pool)
            .await
            .map_err(db_err)?;
        });
        Ok(())
    }
}
