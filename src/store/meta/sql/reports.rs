//! Reports over transfers: deliveries left unclaimed, and each sender's files on a channel.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::{QueryBuilder, Row};
use time::OffsetDateTime;

use super::engine::{DbUuid, Dialect};
use super::rows::{org_from_row, ORG_COLS};
use super::{db_err, SqlRepository};
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::{Organisation, TransferId};
use crate::store::meta::collection_rows::{sender_tallies_query, sender_tally};
use crate::store::meta::{ReportStore, SenderTally, StoreError, UnclaimedDelivery, UnclaimedFilter};

impl SqlRepository {
    async fn organisations_by_id(&self, ids: &[i64]) -> Result<HashMap<i64, Organisation>, StoreError> {
        let mut found = HashMap::new();
        run!(&self.pool, |pool| {
            for chunk in ids.chunks(Db::LIST_CHUNK) {
                let mut q: QueryBuilder<Db> =
                    QueryBuilder::new(format!("SELECT {ORG_COLS} FROM organisations o WHERE "));
                Db::push_in_i64(&mut q, "o.id", chunk.to_vec());
                for row in q.build().fetch_all(pool).await.map_err(db_err)? {
                    let org = org_from_row(&row)?;
                    found.insert(org.id.0, org);
                }
            }
        });
        Ok(found)
    }
}

#[async_trait]
impl ReportStore for SqlRepository {
    async fn unclaimed_deliveries(&self, filter: &UnclaimedFilter) -> Result<Vec<UnclaimedDelivery>, StoreError> {
        if filter.cutoffs.is_empty() && filter.otherwise.is_none() {
            return Ok(Vec::new());
        }
        run!(&self.pool, |pool| {
            // A download by anyone in the recipient organisation claims the file for all of it.
            let mut q: QueryBuilder<Db> = QueryBuilder::new(
                "SELECT t.id, t.channel, t.filename, t.created_at, t.sender_org_id, d.recipient_org_id \
                 FROM deliveries d JOIN transfers t ON t.seq = d.transfer_seq \
                 WHERE t.state = 'available' AND d.removed_at IS NULL \
                 AND NOT EXISTS (SELECT 1 FROM downloads w WHERE w.transfer_seq = t.seq AND w.org_id = d.recipient_org_id)",
            );
            if let Some(org) = filter.recipient {
                q.push(" AND d.recipient_org_id = ").push_bind(org.0);
            }
            q.push(" AND (");
            let mut first = true;
            for (channel, cutoff) in &filter.cutoffs {
                if !first {
                    q.push(" OR ");
                }
                first = false;
                q.push("(t.channel = ")
                    .push_bind(channel.clone())
                    .push(" AND t.created_at <= ")
                    .push_bind(to_millis(*cutoff));
                q.push(")");
            }
            if let Some(cutoff) = filter.otherwise {
                if !first {
                    q.push(" OR ");
                }
                q.push("(t.created_at <= ").push_bind(to_millis(cutoff));
                if !filter.cutoffs.is_empty() {
                    q.push(" AND t.channel NOT IN (");
                    let mut list = q.separated(", ");
                    for (channel, _) in &filter.cutoffs {
                        list.push_bind(channel.clone());
                    }
                    q.push(")");
                }
                q.push(")");
            }
            q.push(") ORDER BY t.created_at, d.seq LIMIT ").push_bind(i64::from(filter.limit));
            let rows = q.build().fetch_all(pool).await.map_err(db_err)?;

            let mut ids: Vec<i64> = Vec::new();
            for row in &rows {
                ids.push(row.try_get("sender_org_id").map_err(db_err)?);
                ids.push(row.try_get("recipient_org_id").map_err(db_err)?);
            }
            ids.sort_unstable();
            ids.dedup();
            let orgs = self.organisations_by_id(&ids).await?;
            let org = |id: i64| {
                orgs.get(&id).cloned().ok_or_else(|| StoreError::Other(anyhow::anyhow!("organisation {id} vanished")))
            };
            rows.iter()
                .map(|row| {
                    Ok(UnclaimedDelivery {
                        transfer: TransferId(row.try_get::<DbUuid, _>("id").map_err(db_err)?.0),
                        channel: row.try_get("channel").map_err(db_err)?,
                        filename: row.try_get("filename").map_err(db_err)?,
                        sender: org(row.try_get("sender_org_id").map_err(db_err)?)?,
                        recipient: org(row.try_get("recipient_org_id").map_err(db_err)?)?,
                        created_at: from_millis(row.try_get("created_at").map_err(db_err)?),
                    })
                })
                .collect()
        })
    }

    async fn sender_tallies(&self, channel: &str, since: OffsetDateTime) -> Result<Vec<SenderTally>, StoreError> {
        run!(&self.pool, |pool| {
            let mut q = sender_tallies_query::<Db>(channel, since);
            let rows = q.build().fetch_all(pool).await.map_err(db_err)?;
            Ok(rows.iter().map(sender_tally).collect::<anyhow::Result<_>>()?)
        })
    }
}
