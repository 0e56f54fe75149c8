//! Failed logins, counted per subject (an account, an address) to slow down guessing.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::super::engine::Dialect;
use super::super::{db_err, SqlRepository};
use crate::domain::clock::to_millis;
use crate::store::meta::StoreError;

/// Failures older than this no longer count for anything.
const KEPT_FOR_MILLIS: i64 = 86_400_000;

/// The key of the transaction lock that makes one subject's attempts take turns, the same on
/// every node.
fn subject_lock(subject: &str) -> i64 {
    let digest = Sha256::digest(format!("pigeonpost login attempts {subject}"));
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(key)
}

impl SqlRepository {
    /// Counts an attempt against every subject's limit before its password is checked, or
    /// refuses it if any subject has reached its limit, in one transaction: attempts running at
    /// once (on any node) each see the others, so no more than the limit are ever checked. The
    /// reservation stays as the failure unless released.
    pub(super) async fn reserve_login_attempt(
        &self,
        limits: &[(String, u64)],
        since: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let (since, at) = (to_millis(since), to_millis(at));
        // A fixed order, so two attempts sharing two subjects cannot wait on each other.
        let mut limits: Vec<&(String, u64)> = limits.iter().collect();
        limits.sort();
        limits.dedup();
        let reserved = run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            if let Some(lock) = Db::TRANSACTION_LOCK {
                for (subject, _) in &limits {
                    sqlx::query(lock).bind(subject_lock(subject)).execute(&mut *tx).await.map_err(db_err)?;
                }
            }
            // On SQLite this write takes the one write lock, so the counts below stay true
            // until the commit.
            sqlx::query("DELETE FROM login_failures WHERE at < $1")
                .bind(at - KEPT_FOR_MILLIS)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let mut room = true;
            for (subject, limit) in &limits {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM login_failures WHERE subject = $1 AND at >= $2")
                    .bind(subject)
                    .bind(since)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
                if u64::try_from(n).unwrap_or(0) >= *limit {
                    room = false;
                    break;
                }
            }
            if room {
                for (subject, _) in &limits {
                    sqlx::query("INSERT INTO login_failures (subject, at) VALUES ($1, $2)")
                        .bind(subject)
                        .bind(at)
                        .execute(&mut *tx)
                        .await
                        .map_err(db_err)?;
                }
            }
            tx.commit().await.map_err(db_err)?;
            room
        });
        Ok(reserved)
    }

    /// Takes back one attempt reserved at `at` for a subject (the login succeeded).
    pub(super) async fn release_login_attempt(&self, subject: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            let sql = format!(
                "DELETE FROM login_failures WHERE {id} IN \
                 (SELECT {id} FROM login_failures WHERE subject = $1 AND at = $2 LIMIT 1)",
                id = Db::ROW_ID
            );
            sqlx::query(&sql).bind(subject).bind(to_millis(at)).execute(pool).await.map_err(db_err)?;
        });
        Ok(())
    }
}
