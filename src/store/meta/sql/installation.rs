//! The installation's master keys and first-start work.

use anyhow::anyhow;
use time::OffsetDateTime;

use super::engine::{Columns, DbUuid, Dialect};
use super::trail::Trail;
use super::{db_err, SqlRepository};
use crate::crypto::WrappedKey;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::UserId;
use crate::store::meta::{
    BootstrapOutcome, BootstrapPlan, KeyCheck, SealedSample, SeenKey, StoreError, CHECK_VALUE_LEN,
};

fn seen_key_from_row(row: &impl Columns) -> Result<SeenKey, StoreError> {
    let check: Option<Vec<u8>> = row.col("check_value").map_err(db_err)?;
    let check_value = check
        .map(<[u8; CHECK_VALUE_LEN]>::try_from)
        .transpose()
        .map_err(|_| StoreError::Other(anyhow!("a stored master key check value is not 16 bytes")))?;
    Ok(SeenKey {
        kek_id: row.col("kek_id").map_err(db_err)?,
        check_value,
        primary_since: row.col::<Option<i64>>("primary_since").map_err(db_err)?.map(from_millis),
    })
}

impl SqlRepository {
    pub(super) async fn master_keys(&self) -> Result<Vec<SeenKey>, StoreError> {
        run!(&self.pool, |pool| {
            let rows = sqlx::query(
                "SELECT kek_id, check_value, primary_since FROM master_keys ORDER BY first_seen_at, kek_id",
            )
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter().map(seen_key_from_row).collect()
        })
    }

    pub(super) async fn store_master_keys(
        &self,
        keys: &[KeyCheck],
        primary: &str,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let at = to_millis(at);
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            for key in keys {
                // A key seen first: recorded. A key known by id only: its check filled in. A key
                // with a check already: left alone, so the caller, reading back, sees any
                // disagreement.
                sqlx::query(
                    "INSERT INTO master_keys (kek_id, check_value, first_seen_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (kek_id) DO UPDATE SET check_value = excluded.check_value \
                     WHERE master_keys.check_value IS NULL",
                )
                .bind(&key.kek_id)
                .bind(&key.check_value[..])
                .bind(at)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
            // Later than every earlier primary whatever the nodes' clocks say; unchanged when it
            // already is the newest, so restarts do not reorder anything.
            let greatest = Db::GREATEST;
            sqlx::query(&format!(
                "UPDATE master_keys \
                 SET primary_since = {greatest}($1, (SELECT coalesce(max(primary_since), 0) + 1 FROM master_keys)) \
                 WHERE kek_id = $2 AND kek_id IS DISTINCT FROM \
                   (SELECT kek_id FROM master_keys WHERE primary_since IS NOT NULL \
                    ORDER BY primary_since DESC, kek_id LIMIT 1)"
            ))
            .bind(at)
            .bind(primary)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            tx.commit().await.map_err(db_err)
        })
    }

    pub(super) async fn key_in_use(&self, kek_id: &str) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM transfers WHERE kek_id = $1) \
                     OR EXISTS (SELECT 1 FROM users WHERE totp_kek_id = $1)",
            )
            .bind(kek_id)
            .fetch_one(pool)
            .await
            .map_err(db_err)
        })
    }

    pub(super) async fn sample_sealed_under(&self, kek_id: &str) -> Result<Option<SealedSample>, StoreError> {
        run!(&self.pool, |pool| {
            let row = sqlx::query("SELECT object_id, wrapped_dek FROM transfers WHERE kek_id = $1 LIMIT 1")
                .bind(kek_id)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
            if let Some(row) = row {
                let wrapped = WrappedKey { kek_id: kek_id.to_owned(), bytes: row.col("wrapped_dek").map_err(db_err)? };
                let object_id = row.col::<DbUuid>("object_id").map_err(db_err)?.0;
                return Ok(Some(SealedSample::Transfer { object_id, wrapped }));
            }
            let row = sqlx::query("SELECT id, totp_wrapped FROM users WHERE totp_kek_id = $1 LIMIT 1")
                .bind(kek_id)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
            row.map(|row| {
                let bytes: Vec<u8> = row.col("totp_wrapped").map_err(db_err)?;
                Ok(SealedSample::Totp {
                    user: UserId(row.col("id").map_err(db_err)?),
                    wrapped: WrappedKey { kek_id: kek_id.to_owned(), bytes },
                })
            })
            .transpose()
        })
    }

    pub(super) async fn keyed_data_present(&self) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM master_keys) OR EXISTS (SELECT 1 FROM users) \
                     OR EXISTS (SELECT 1 FROM transfers)",
            )
            .fetch_one(pool)
            .await
            .map_err(db_err)
        })
    }

    pub(super) async fn installed_version(&self) -> Result<i64, StoreError> {
        let version: Option<i64> = run!(&self.pool, |pool| {
            sqlx::query_scalar("SELECT CAST(bootstrap_version AS BIGINT) FROM installation WHERE id = 1")
                .fetch_optional(pool)
                .await
                .map_err(db_err)?
        });
        Ok(version.unwrap_or(0))
    }

    pub(super) async fn run_bootstrap(&self, plan: &BootstrapPlan) -> Result<BootstrapOutcome, StoreError> {
        let at = to_millis(plan.at);
        let version =
            i32::try_from(plan.version).map_err(|_| StoreError::Other(anyhow!("bootstrap version out of range")))?;
        let slug = plan.system_org.to_string();
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            // Writing first is what makes this once-only. On PostgreSQL it takes the row's lock,
            // held to the end of the transaction; on SQLite it makes this transaction the
            // database's one writer until it ends. Either way a node that arrives second waits
            // here, then finds the work done.
            let done: i64 = sqlx::query_scalar(
                "UPDATE installation SET bootstrap_version = bootstrap_version WHERE id = 1 \
                 RETURNING CAST(bootstrap_version AS BIGINT)",
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            let mut outcome = BootstrapOutcome::default();
            if done >= plan.version {
                tx.rollback().await.map_err(db_err)?;
                return Ok(outcome);
            }
            if done < 1 {
                let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM organisations WHERE slug = $1")
                    .bind(&slug)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
                let org_id = match existing {
                    Some(id) => id,
                    None => {
                        let id: i64 = sqlx::query_scalar(
                            "INSERT INTO organisations (kind, slug, name, created_at) VALUES ('system', $1, $2, $3) \
                             RETURNING id",
                        )
                        .bind(&slug)
                        .bind(&plan.system_org_name)
                        .bind(at)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(db_err)?;
                        Db::append(&mut tx, &plan.system_org_audit).await?;
                        id
                    }
                };
                let people: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&mut *tx).await.map_err(db_err)?;
                if people == 0 {
                    let admin = &plan.admin;
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO users (org_id, username, display_name, role, status, password_hash, \
                         password_changed_at, created_at, activated_at) \
                         VALUES ($1, $2, $3, 'system_admin', 'active', $4, $5, $5, $5) RETURNING id",
                    )
                    .bind(org_id)
                    .bind(admin.username.as_str())
                    .bind(&admin.display_name)
                    .bind(&admin.password_hash)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    Db::append(&mut tx, &admin.audit.clone().target("user", id)).await?;
                    outcome.admin_created = true;
                }
            }
            if done < 2 {
                for (function, name, audit) in &plan.functions {
                    let added = sqlx::query(
                        "INSERT INTO functions (slug, name, created_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (slug) DO NOTHING",
                    )
                    .bind(function.as_str())
                    .bind(name)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                    if added.rows_affected() == 1 {
                        Db::append(&mut tx, audit).await?;
                        outcome.functions_added.push(function.as_str().to_owned());
                    }
                }
            }
            sqlx::query(
                "UPDATE installation SET bootstrap_version = $1, bootstrapped_at = coalesce(bootstrapped_at, $2) \
                 WHERE id = 1",
            )
            .bind(version)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            tx.commit().await.map_err(db_err)?;
            Ok(outcome)
        })
    }
}
