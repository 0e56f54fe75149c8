//! Second factors: a person's TOTP secret, the last time step used, and their recovery codes.

use time::OffsetDateTime;

use super::super::rows::to_i64;
use super::super::trail::Trail;
use super::super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::crypto::WrappedKey;
use crate::domain::clock::to_millis;
use crate::domain::UserId;
use crate::store::meta::StoreError;

impl SqlRepository {
    pub(super) async fn set_totp(
        &self,
        id: UserId,
        secret: Option<&WrappedKey>,
        confirmed: bool,
        recovery_hashes: &[[u8; 32]],
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        let at = to_millis(at);
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            sqlx::query(
                "UPDATE users SET totp_kek_id = $1, totp_wrapped = $2, totp_confirmed_at = $3, totp_last_step = NULL WHERE id = $4",
            )
            .bind(secret.map(|w| w.kek_id.clone()))
            .bind(secret.map(|w| w.bytes.clone()))
            .bind(confirmed.then_some(at))
            .bind(id.0)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            for hash in recovery_hashes {
                sqlx::query("INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                    .bind(id.0)
                    .bind(&hash[..])
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
            }
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    pub(super) async fn confirm_totp(
        &self,
        id: UserId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            sqlx::query("UPDATE users SET totp_confirmed_at = $1 WHERE id = $2 AND totp_wrapped IS NOT NULL")
                .bind(to_millis(at))
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    /// Records `step` as the last one used, if it is later than the last. A step beyond
    /// `i64::MAX` is refused rather than stored wrapped round to a negative number, which would
    /// compare as earlier than every step and let one code be used again.
    pub(super) async fn advance_totp_step(&self, id: UserId, step: u64) -> Result<bool, StoreError> {
        let step = to_i64(step, "TOTP step")?;
        // Two nodes checking the same code at once both reach this UPDATE; the second waits for
        // the first's row lock, then re-reads totp_last_step and no longer matches. So a code
        // is accepted once, cluster-wide, without a transaction around the check.
        let done = run!(&self.pool, |pool| {
            sqlx::query(
                "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
            )
            .bind(step)
            .bind(id.0)
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected()
        });
        Ok(done == 1)
    }

    pub(super) async fn use_recovery_code(
        &self,
        id: UserId,
        hash: &[u8; 32],
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let done = run!(&self.pool, |pool| {
            sqlx::query(
                "UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL",
            )
            .bind(to_millis(at))
            .bind(id.0)
            .bind(&hash[..])
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected()
        });
        Ok(done == 1)
    }
}
