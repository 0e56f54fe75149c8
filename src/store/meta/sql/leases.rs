//! Leases: one row per job, taken and renewed by compare-and-set statements, so one node at a
//! time runs it.

use async_trait::async_trait;
use sqlx::Row;
use time::OffsetDateTime;

use super::{db_err, SqlRepository};
use crate::domain::clock::{from_millis, to_millis};
use crate::store::meta::{LeaseClaim, LeaseStore, StoreError};

#[async_trait]
impl LeaseStore for SqlRepository {
    async fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> Result<LeaseClaim, StoreError> {
        run!(&self.pool, |pool| {
            // Insert, or take over a row that has expired or is already ours; a live lease of
            // another holder matches neither, so the statement changes nothing.
            let done = sqlx::query(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE leases.expires_at <= $4 OR leases.holder = excluded.holder",
            )
            .bind(name)
            .bind(holder)
            .bind(to_millis(until))
            .bind(to_millis(now))
            .execute(pool)
            .await
            .map_err(db_err)?;
            if done.rows_affected() == 1 {
                return Ok(LeaseClaim::Acquired);
            }
            let row = sqlx::query("SELECT holder, expires_at FROM leases WHERE name = $1")
                .bind(name)
                .fetch_one(pool)
                .await
                .map_err(db_err)?;
            Ok(LeaseClaim::HeldBy {
                holder: row.try_get("holder").map_err(db_err)?,
                until: from_millis(row.try_get("expires_at").map_err(db_err)?),
            })
        })
    }

    async fn renew_lease(&self, name: &str, holder: &str, until: OffsetDateTime) -> Result<bool, StoreError> {
        let done = run!(&self.pool, |pool| {
            sqlx::query("UPDATE leases SET expires_at = $1 WHERE name = $2 AND holder = $3")
                .bind(to_millis(until))
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map_err(db_err)?
                .rows_affected()
        });
        Ok(done == 1)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map_err(db_err)?;
        });
        Ok(())
    }
}
