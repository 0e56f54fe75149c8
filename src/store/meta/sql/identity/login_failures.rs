//! Failed logins, counted per subject (an account, an address) to slow down guessing.

use time::OffsetDateTime;

use super::super::trail::Trail;
use super::super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::domain::clock::to_millis;
use crate::store::meta::StoreError;

/// Failures older than this no longer count for anything.
const KEPT_FOR_MILLIS: i64 = 86_400_000;

impl SqlRepository {
    pub(super) async fn record_login_failure(
        &self,
        subjects: &[String],
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = to_millis(at);
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            for subject in subjects {
                sqlx::query("INSERT INTO login_failures (subject, at) VALUES ($1, $2)")
                    .bind(subject)
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            sqlx::query("DELETE FROM login_failures WHERE at < $1")
                .bind(at - KEPT_FOR_MILLIS)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    pub(super) async fn count_login_failures(&self, subject: &str, since: OffsetDateTime) -> Result<u64, StoreError> {
        let n: i64 = run!(&self.pool, |pool| {
            sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE subject = $1 AND at >= $2")
                .bind(subject)
                .bind(to_millis(since))
                .fetch_one(pool)
                .await
                .map_err(db_err)?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    pub(super) async fn clear_login_failures(&self, subject: &str) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            sqlx::query("DELETE FROM login_failures WHERE subject = $1")
                .bind(subject)
                .execute(pool)
                .await
                .map_err(db_err)?;
        });
        Ok(())
    }
}
