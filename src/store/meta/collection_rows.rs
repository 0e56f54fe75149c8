//! The collection report's query, written once for both engines.

use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};
use time::OffsetDateTime;

use super::SenderTally;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::OrgId;

/// Per sender on `channel`: its files since `since` and its latest file. The index
/// `transfers_channel_sender` (migration 0010) holds the channel's rows together, in sender order.
pub(crate) fn sender_tallies_query<'a, DB>(channel: &str, since: OffsetDateTime) -> QueryBuilder<'a, DB>
where
    DB: Database,
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    let mut q = QueryBuilder::new(
        "SELECT t.sender_org_id, MAX(t.created_at) AS last_file_at, \
         SUM(CASE WHEN t.created_at >= ",
    );
    q.push_bind(to_millis(since));
    q.push(" THEN 1 ELSE 0 END) AS files_since FROM transfers t WHERE t.channel = ");
    q.push_bind(channel.to_owned());
    q.push(
        " AND t.has_file AND t.state <> 'withdrawn' AND t.quarantine_code IS NULL \
         GROUP BY t.sender_org_id",
    );
    q
}

pub(crate) fn sender_tally<'r, R>(row: &'r R) -> anyhow::Result<SenderTally>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
{
    let files: i64 = row.try_get("files_since")?;
    Ok(SenderTally {
        sender: OrgId(row.try_get("sender_org_id")?),
        files_since: u64::try_from(files)?,
        last_file_at: from_millis(row.try_get("last_file_at")?),
    })
}
