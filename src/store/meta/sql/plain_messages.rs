//! Messages written before messages were sealed: found, and replaced by their sealed form, once.

use super::engine::{Columns, DbUuid};
use super::{db_err, SqlRepository};
use crate::crypto::{SealedText, WrappedKey};
use crate::domain::TransferId;
use crate::store::meta::{PlainMessage, StoreError};

impl SqlRepository {
    pub(super) async fn find_plain_messages(&self, limit: u32) -> Result<Vec<PlainMessage>, StoreError> {
        run!(&self.pool, |pool| {
            let rows = sqlx::query(
                "SELECT id, object_id, kek_id, wrapped_dek, has_file, state, message FROM transfers \
                 WHERE message IS NOT NULL ORDER BY seq LIMIT $1",
            )
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
            rows.iter().map(plain_from_row).collect()
        })
    }

    /// Writes `sealed` in place of the plain text (or, with none, only clears it). `new_key` is
    /// the data key made for a message that had none; it is set only while the message is
    /// still available and keyless, so a withdrawal that landed meanwhile is not undone.
    pub(super) async fn replace_plain_message(
        &self,
        id: TransferId,
        sealed: Option<&SealedText>,
        new_key: Option<&WrappedKey>,
    ) -> Result<bool, StoreError> {
        let sealed = sealed.map(|s| s.as_bytes().to_vec());
        let done = run!(&self.pool, |pool| {
            match new_key {
                Some(key) => sqlx::query(
                    "UPDATE transfers SET message_sealed = $1, message = NULL, kek_id = $2, wrapped_dek = $3 \
                     WHERE id = $4 AND message IS NOT NULL AND kek_id IS NULL AND state = 'available'",
                )
                .bind(&sealed)
                .bind(&key.kek_id)
                .bind(&key.bytes)
                .bind(DbUuid(id.0)),
                None => sqlx::query(
                    "UPDATE transfers SET message_sealed = $1, message = NULL WHERE id = $2 AND message IS NOT NULL",
                )
                .bind(&sealed)
                .bind(DbUuid(id.0)),
            }
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected()
        });
        Ok(done == 1)
    }
}

fn plain_from_row(row: &impl Columns) -> Result<PlainMessage, StoreError> {
    let kek_id: Option<String> = row.col("kek_id").map_err(db_err)?;
    let wrapped: Option<Vec<u8>> = row.col("wrapped_dek").map_err(db_err)?;
    let state: String = row.col("state").map_err(db_err)?;
    Ok(PlainMessage {
        transfer: TransferId(row.col::<DbUuid>("id").map_err(db_err)?.0),
        object_id: row.col::<DbUuid>("object_id").map_err(db_err)?.0,
        wrapped_key: kek_id.zip(wrapped).map(|(kek_id, bytes)| WrappedKey { kek_id, bytes }),
        has_file: row.col("has_file").map_err(db_err)?,
        available: state == "available",
        text: row.col("message").map_err(db_err)?,
    })
}
