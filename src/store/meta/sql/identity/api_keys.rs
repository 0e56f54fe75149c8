//! API keys as their organisation's administrators see them: listed, suspended and resumed,
//! revoked.

use time::OffsetDateTime;

use super::super::engine::{Columns, Dialect};
use super::super::rows::{org_from_row, scope_from_row, KEY_SCOPE_COLS, ORG_COLS};
use super::super::trail::Trail;
use super::super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::OrgId;
use crate::store::meta::{ApiKeySummary, StoreError};

fn summary_from_row(row: &impl Columns) -> Result<ApiKeySummary, StoreError> {
    let millis = |name: &str| -> Result<Option<OffsetDateTime>, StoreError> {
        Ok(row.col::<Option<i64>>(name).map_err(db_err)?.map(from_millis))
    };
    Ok(ApiKeySummary {
        key_id: row.col("key_id").map_err(db_err)?,
        org: org_from_row(row)?,
        name: row.col("name").map_err(db_err)?,
        scope: scope_from_row(row)?,
        created_at: from_millis(row.col("k_created_at").map_err(db_err)?),
        last_used_at: millis("last_used_at")?,
        revoked_at: millis("revoked_at")?,
        suspended_at: millis("suspended_at")?,
    })
}

impl SqlRepository {
    pub(super) async fn list_api_keys(&self, org: Option<OrgId>) -> Result<Vec<ApiKeySummary>, StoreError> {
        run!(&self.pool, |pool| {
            let sql = format!(
                "SELECT k.key_id, k.name, k.created_at AS k_created_at, k.last_used_at, k.revoked_at, k.suspended_at, \
                 {KEY_SCOPE_COLS}, {ORG_COLS} \
                 FROM api_keys k JOIN organisations o ON o.id = k.org_id \
                 WHERE (CAST($1 AS BIGINT) IS NULL OR k.org_id = $1) ORDER BY o.id, k.name{}",
                Db::BYTE_ORDER
            );
            let rows = sqlx::query(&sql).bind(org.map(|o| o.0)).fetch_all(pool).await.map_err(db_err)?;
            rows.iter().map(summary_from_row).collect()
        })
    }

    pub(super) async fn set_api_key_suspended(
        &self,
        key_id: &str,
        suspended: bool,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let query = if suspended {
                sqlx::query("UPDATE api_keys SET suspended_at = $1 WHERE key_id = $2 AND suspended_at IS NULL")
                    .bind(to_millis(at))
            } else {
                sqlx::query("UPDATE api_keys SET suspended_at = NULL WHERE key_id = $1 AND suspended_at IS NOT NULL")
            };
            let done = query.bind(key_id).execute(&mut *tx).await.map_err(db_err)?;
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }

    pub(super) async fn revoke_api_key(
        &self,
        key_id: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let done = sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE key_id = $2 AND revoked_at IS NULL")
                .bind(to_millis(at))
                .bind(key_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }
}
