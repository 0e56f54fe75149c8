//! Mailbox pages (inbox and sent, with their filters) and the requests still open on a channel.

use sqlx::QueryBuilder;

use super::engine::{Columns, Dialect};
use super::rows::{transfer_from_row, TRANSFER_COLS};
use super::{db_err, SqlRepository};
use crate::domain::{Mailbox, OrgId};
use crate::store::meta::{mailbox_filter, MailboxEntry, MailboxQuery, StoreError, TransferRecord};

/// A transfer read without its deliveries, with its sequence number for loading them.
type Loaded = (i64, TransferRecord);

/// Each row's cursor and transfer.
fn entries_from_rows<R: Columns>(rows: &[R]) -> Result<(Vec<i64>, Vec<Loaded>), StoreError> {
    let mut cursors = Vec::with_capacity(rows.len());
    let mut transfers = Vec::with_capacity(rows.len());
    for row in rows {
        cursors.push(row.col::<i64>("cursor").map_err(db_err)?);
        transfers.push(transfer_from_row(row)?);
    }
    Ok((cursors, transfers))
}

fn org_ids(orgs: &[OrgId]) -> Vec<i64> {
    orgs.iter().map(|o| o.0).collect()
}

impl SqlRepository {
    pub(super) async fn mailbox(&self, query: &MailboxQuery<'_>) -> Result<Vec<MailboxEntry>, StoreError> {
        let before = query.before.unwrap_or(i64::MAX);
        let (head, owner, order) = match query.mailbox {
            Mailbox::Inbox => (
                format!(
                    "SELECT d.seq AS cursor, {TRANSFER_COLS} FROM deliveries d \
                     JOIN transfers t ON t.seq = d.transfer_seq \
                     JOIN organisations o ON o.id = t.sender_org_id \
                     WHERE d.removed_at IS NULL AND t.state = 'available' AND d.seq < "
                ),
                "d.recipient_org_id",
                " ORDER BY d.seq DESC LIMIT ",
            ),
            Mailbox::Sent => (
                format!(
                    "SELECT t.seq AS cursor, {TRANSFER_COLS} FROM transfers t \
                     JOIN organisations o ON o.id = t.sender_org_id WHERE t.quarantine_code IS NULL AND t.seq < "
                ),
                "t.sender_org_id",
                " ORDER BY t.seq DESC LIMIT ",
            ),
        };
        let (cursors, mut transfers) = run!(&self.pool, |pool| {
            let mut q: QueryBuilder<Db> = QueryBuilder::new(head);
            q.push_bind(before);
            q.push(" AND ");
            Db::push_in_i64(&mut q, owner, org_ids(query.orgs));
            if let Some(channels) = query.channels {
                q.push(" AND ");
                Db::push_in_text(&mut q, "t.channel", channels.to_vec());
            }
            if !query.hidden_channels.is_empty() {
                q.push(" AND NOT ");
                Db::push_in_text(&mut q, "t.channel", query.hidden_channels.to_vec());
            }
            mailbox_filter::push_filter(&mut q, query);
            if Db::NEEDS_SINCE_BOUND {
                mailbox_filter::push_since_bound(&mut q, query);
            }
            q.push(order).push_bind(i64::from(query.limit));
            let rows = q.build().fetch_all(pool).await.map_err(db_err)?;
            entries_from_rows(&rows)?
        });
        self.attach_deliveries(&mut transfers).await?;
        Ok(cursors
            .into_iter()
            .zip(transfers)
            .map(|(cursor, (_, transfer))| MailboxEntry { cursor, transfer })
            .collect())
    }

    pub(super) async fn requests_open(
        &self,
        channel: &str,
        orgs: &[OrgId],
        limit: u32,
    ) -> Result<Vec<TransferRecord>, StoreError> {
        let transfers = run!(&self.pool, |pool| {
            let mut q: QueryBuilder<Db> = QueryBuilder::new(format!(
                "SELECT {TRANSFER_COLS} FROM transfers t JOIN organisations o ON o.id = t.sender_org_id \
                 WHERE t.state = 'available' AND t.reply_to_seq IS NULL AND t.channel = "
            ));
            q.push_bind(channel.to_owned());
            q.push(
                " AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.reply_to_seq = t.seq) \
                 AND EXISTS (SELECT 1 FROM deliveries d WHERE d.transfer_seq = t.seq AND ",
            );
            Db::push_in_i64(&mut q, "d.recipient_org_id", org_ids(orgs));
            q.push(") ORDER BY t.seq LIMIT ").push_bind(i64::from(limit));
            let rows = q.build().fetch_all(pool).await.map_err(db_err)?;
            rows.iter().map(transfer_from_row).collect::<anyhow::Result<Vec<_>>>()?
        });
        self.with_deliveries(transfers).await
    }
}
