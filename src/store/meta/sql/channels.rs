//! Channel definitions changed at run time, which override the configured ones.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::engine::{Columns, Dialect};
use super::trail::Trail;
use super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::UserId;
use crate::store::meta::{ChannelOverrideRecord, ChannelStore, StoreError};

const OVERRIDE_COLS: &str = "c.slug, c.definition, c.updated_at, c.updated_by, u.username AS updated_by_username";

fn override_from_row(row: &impl Columns) -> Result<ChannelOverrideRecord, StoreError> {
    Ok(ChannelOverrideRecord {
        slug: row.col("slug").map_err(db_err)?,
        definition: row.col("definition").map_err(db_err)?,
        updated_at: from_millis(row.col("updated_at").map_err(db_err)?),
        updated_by: row.col::<Option<i64>>("updated_by").map_err(db_err)?.map(UserId),
        updated_by_username: row.col("updated_by_username").map_err(db_err)?,
    })
}

#[async_trait]
impl ChannelStore for SqlRepository {
    async fn channel_overrides(&self) -> Result<Vec<ChannelOverrideRecord>, StoreError> {
        run!(&self.pool, |pool| {
            let rows = sqlx::query(&format!(
                "SELECT {OVERRIDE_COLS} FROM channel_overrides c LEFT JOIN users u ON u.id = c.updated_by \
                 ORDER BY c.slug{}",
                Db::BYTE_ORDER
            ))
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter().map(override_from_row).collect()
        })
    }

    async fn channel_override(&self, slug: &str) -> Result<Option<ChannelOverrideRecord>, StoreError> {
        run!(&self.pool, |pool| {
            let row = sqlx::query(&format!(
                "SELECT {OVERRIDE_COLS} FROM channel_overrides c LEFT JOIN users u ON u.id = c.updated_by \
                 WHERE c.slug = $1"
            ))
            .bind(slug)
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
            row.as_ref().map(override_from_row).transpose()
        })
    }

    async fn put_channel_override(
        &self,
        slug: &str,
        definition: &str,
        by: Option<UserId>,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            sqlx::query(
                "INSERT INTO channel_overrides (slug, definition, updated_at, updated_by) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (slug) DO UPDATE SET definition = excluded.definition, \
                 updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            )
            .bind(slug)
            .bind(definition)
            .bind(to_millis(at))
            .bind(by.map(|u| u.0))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
            Ok(())
        })
    }

    async fn delete_channel_override(&self, slug: &str, audit: &AuditEvent) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let done = sqlx::query("DELETE FROM channel_overrides WHERE slug = $1")
                .bind(slug)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }
}
