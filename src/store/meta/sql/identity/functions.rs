//! Functions within an organisation (such as `finance` or `data`) and who holds them, for a while
//! or for good.

use anyhow::anyhow;
use time::OffsetDateTime;

use super::super::engine::{Columns, Dialect};
use super::super::trail::Trail;
use super::super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::{FunctionSlug, UserId};
use crate::store::meta::{StoreError, UserFunction};

fn slug_from_row(row: &impl Columns, column: &str) -> Result<FunctionSlug, StoreError> {
    let slug: String = row.col(column).map_err(db_err)?;
    Ok(FunctionSlug::parse(&slug).ok_or_else(|| anyhow!("stored function {slug:?}"))?)
}

impl SqlRepository {
    pub(super) async fn create_function(
        &self,
        slug: &FunctionSlug,
        name: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            sqlx::query("INSERT INTO functions (slug, name, created_at) VALUES ($1, $2, $3)")
                .bind(slug.as_str())
                .bind(name)
                .bind(to_millis(at))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    pub(super) async fn list_functions(&self) -> Result<Vec<(FunctionSlug, String)>, StoreError> {
        run!(&self.pool, |pool| {
            let sql = format!("SELECT slug, name FROM functions ORDER BY slug{}", Db::BYTE_ORDER);
            let rows = sqlx::query(&sql).fetch_all(pool).await.map_err(db_err)?;
            rows.iter().map(|r| Ok((slug_from_row(r, "slug")?, r.col("name").map_err(db_err)?))).collect()
        })
    }

    pub(super) async fn grant_function(
        &self,
        user: UserId,
        function: &FunctionSlug,
        until: Option<OffsetDateTime>,
        by: Option<UserId>,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            sqlx::query(
                "INSERT INTO user_functions (user_id, function, until, granted_by, granted_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (user_id, function) DO UPDATE SET until = excluded.until, granted_by = excluded.granted_by, granted_at = excluded.granted_at",
            )
            .bind(user.0)
            .bind(function.as_str())
            .bind(until.map(to_millis))
            .bind(by.map(|u| u.0))
            .bind(to_millis(at))
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    pub(super) async fn revoke_function(
        &self,
        user: UserId,
        function: &FunctionSlug,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let done = sqlx::query("DELETE FROM user_functions WHERE user_id = $1 AND function = $2")
                .bind(user.0)
                .bind(function.as_str())
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }

    pub(super) async fn user_functions(
        &self,
        user: UserId,
        now: OffsetDateTime,
    ) -> Result<Vec<UserFunction>, StoreError> {
        run!(&self.pool, |pool| {
            let sql = format!(
                "SELECT function, until FROM user_functions WHERE user_id = $1 AND (until IS NULL OR until > $2) ORDER BY function{}",
                Db::BYTE_ORDER
            );
            let rows = sqlx::query(&sql).bind(user.0).bind(to_millis(now)).fetch_all(pool).await.map_err(db_err)?;
            rows.iter()
                .map(|r| {
                    Ok(UserFunction {
                        function: slug_from_row(r, "function")?,
                        until: r.col::<Option<i64>>("until").map_err(db_err)?.map(from_millis),
                    })
                })
                .collect()
        })
    }
}
