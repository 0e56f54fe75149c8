//! The installation's master keys and first-start work on PostgreSQL.

use anyhow::anyhow;
use sqlx::{PgPool, Row};
use time::OffsetDateTime;

use super::db_err;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::UserId;
use crate::store::meta::{
    BootstrapOutcome, BootstrapPlan, KeyCheck, SealedSample, SeenKey, StoreError, CHECK_VALUE_LEN,
};

pub(super) async fn seen_master_keys(pool: &PgPool) -> Result<Vec<SeenKey>, StoreError> {
    let rows = sqlx::query("SELECT kek_id, check_value, primary_since FROM master_keys ORDER BY first_seen_at, kek_id")
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    rows.iter()
        .map(|row| {
            let check: Option<Vec<u8>> = row.try_get("check_value").map_err(db_err)?;
            let check_value = check
                .map(<[u8; CHECK_VALUE_LEN]>::try_from)
                .transpose()
                .map_err(|_| StoreError::Other(anyhow!("a stored master key check value is not 16 bytes")))?;
            Ok(SeenKey {
                kek_id: row.try_get("kek_id").map_err(db_err)?,
                check_value,
                primary_since: row.try_get::<Option<i64>, _>("primary_since").map_err(db_err)?.map(from_millis),
            })
        })
        .collect()
}

pub(super) async fn record_master_keys(
    pool: &PgPool,
    keys: &[KeyCheck],
    primary: &str,
    at: OffsetDateTime,
) -> Result<(), StoreError> {
    let at = to_millis(at);
    let mut tx = pool.begin().await.map_err(db_err)?;
    for key in keys {
        // A key seen first: recorded. A key known by id only: its check filled in. A key with a
        // check already: left alone, so the caller, reading back, sees any disagreement.
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
    // Later than every earlier primary whatever the nodes' clocks say; unchanged when it already
    // is the newest, so restarts do not reorder anything.
    sqlx::query(
        "UPDATE master_keys SET primary_since = GREATEST($1, (SELECT coalesce(max(primary_since), 0) + 1 FROM master_keys)) \
         WHERE kek_id = $2 AND kek_id IS DISTINCT FROM \
           (SELECT kek_id FROM master_keys WHERE primary_since IS NOT NULL ORDER BY primary_since DESC, kek_id LIMIT 1)",
    )
    .bind(at)
    .bind(primary)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)
}

pub(super) async fn master_key_in_use(pool: &PgPool, kek_id: &str) -> Result<bool, StoreError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM transfers WHERE kek_id = $1) \
             OR EXISTS (SELECT 1 FROM users WHERE totp_kek_id = $1)",
    )
    .bind(kek_id)
    .fetch_one(pool)
    .await
    .map_err(db_err)
}

pub(super) async fn sealed_sample(pool: &PgPool, kek_id: &str) -> Result<Option<SealedSample>, StoreError> {
    let row = sqlx::query("SELECT object_id, wrapped_dek FROM transfers WHERE kek_id = $1 LIMIT 1")
        .bind(kek_id)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    if let Some(row) = row {
        let wrapped =
            crate::crypto::WrappedKey { kek_id: kek_id.to_owned(), bytes: row.try_get("wrapped_dek").map_err(db_err)? };
        return Ok(Some(SealedSample::Transfer { object_id: row.try_get("object_id").map_err(db_err)?, wrapped }));
    }
    let row = sqlx::query("SELECT id, totp_wrapped FROM users WHERE totp_kek_id = $1 LIMIT 1")
        .bind(kek_id)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.map(|row| {
        let bytes: Vec<u8> = row.try_get("totp_wrapped").map_err(db_err)?;
        Ok(SealedSample::Totp {
            user: UserId(row.try_get("id").map_err(db_err)?),
            wrapped: crate::crypto::WrappedKey { kek_id: kek_id.to_owned(), bytes },
        })
    })
    .transpose()
}

pub(super) async fn holds_keyed_data(pool: &PgPool) -> Result<bool, StoreError> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM master_keys) OR EXISTS (SELECT 1 FROM users) \
             OR EXISTS (SELECT 1 FROM transfers)",
    )
    .fetch_one(pool)
    .await
    .map_err(db_err)
}

pub(super) async fn bootstrap_version(pool: &PgPool) -> Result<i64, StoreError> {
    let version: Option<i64> = sqlx::query_scalar("SELECT bootstrap_version::BIGINT FROM installation WHERE id = 1")
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    Ok(version.unwrap_or(0))
}

pub(super) async fn bootstrap(pool: &PgPool, plan: &BootstrapPlan) -> Result<BootstrapOutcome, StoreError> {
    let at = to_millis(plan.at);
    let mut tx = pool.begin().await.map_err(db_err)?;
    // The row lock, held to the end of the transaction, is what makes this once-only: a node
    // that arrives second waits here, then finds the work done.
    let done: i64 = sqlx::query_scalar(
        "UPDATE installation SET bootstrap_version = bootstrap_version WHERE id = 1 \
         RETURNING bootstrap_version::BIGINT",
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
        let slug = plan.system_org.to_string();
        let existing: Option<i64> = sqlx::query_scalar("SELECT id FROM organisations WHERE slug = $1")
            .bind(&slug)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?;
        let org_id = match existing {
            Some(id) => id,
            None => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO organisations (kind, slug, name, created_at) VALUES ('system', $1, $2, $3) RETURNING id",
                )
                .bind(&slug)
                .bind(&plan.system_org_name)
                .bind(at)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
                super::audit::append(&mut tx, &plan.system_org_audit).await?;
                id
            }
        };
        let people: i64 = sqlx::query_scalar("SELECT count(*) FROM users").fetch_one(&mut *tx).await.map_err(db_err)?;
        if people == 0 {
            let admin = &plan.admin;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO users (org_id, username, display_name, role, status, password_hash, password_changed_at, created_at, activated_at) \
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
            super::audit::append(&mut tx, &admin.audit.clone().target("user", id)).await?;
            outcome.admin_created = true;
        }
    }
    if done < 2 {
        for (slug, name, audit) in &plan.functions {
            let added = sqlx::query(
                "INSERT INTO functions (slug, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (slug) DO NOTHING",
            )
            .bind(slug.as_str())
            .bind(name)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if added.rows_affected() == 1 {
                super::audit::append(&mut tx, audit).await?;
                outcome.functions_added.push(slug.as_str().to_owned());
            }
        }
    }
    sqlx::query(
        "UPDATE installation SET bootstrap_version = $1, bootstrapped_at = coalesce(bootstrapped_at, $2) WHERE id = 1",
    )
    .bind(i32::try_from(plan.version).map_err(|_| StoreError::Other(anyhow!("bootstrap version out of range")))?)
    .bind(at)
    .execute(&mut *tx)
    .await
    .map_err(db_err)?;
    tx.commit().await.map_err(db_err)?;
    Ok(outcome)
}
