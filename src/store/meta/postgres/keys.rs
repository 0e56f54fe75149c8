use sqlx::postgres::PgRow;
use sqlx::Row;

use crate::domain::clock::from_millis;
use crate::store::meta::KeyScope;

/// Reads the scope columns selected by `KEY_SCOPE_COLS`.
pub(super) fn scope_from_row(row: &PgRow) -> anyhow::Result<KeyScope> {
    let channels: String = row.try_get("channels")?;
    Ok(KeyScope {
        channels: channels.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect(),
        can_send: row.try_get("can_send")?,
        can_receive: row.try_get("can_receive")?,
        expires_at: row.try_get::<Option<i64>, _>("expires_at")?.map(from_millis),
    })
}
