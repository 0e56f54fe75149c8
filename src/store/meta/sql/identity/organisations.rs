//! An organisation's details as people see them: its status, whether it requires TOTP, the
//! schools it succeeds, and when its list of people was last confirmed.

use time::OffsetDateTime;

use super::super::engine::{Columns, Dialect};
use super::super::rows::{org_from_row, ORG_COLS};
use super::super::trail::Trail;
use super::super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::domain::clock::{from_millis, to_millis};
use crate::domain::organisation::OrgStatus;
use crate::domain::{OrgId, Organisation, UserId};
use crate::store::meta::StoreError;

/// The column an organisation is found by.
#[derive(Clone, Copy)]
pub(super) enum OrgKey {
    Id(OrgId),
    Urn(u32),
}

impl SqlRepository {
    pub(super) async fn organisation_where(&self, key: OrgKey) -> Result<Option<Organisation>, StoreError> {
        let (condition, value) = match key {
            OrgKey::Id(id) => ("o.id = $1", id.0),
            OrgKey::Urn(urn) => ("o.urn = $1", i64::from(urn)),
        };
        run!(&self.pool, |pool| {
            let row = sqlx::query(&format!("SELECT {ORG_COLS} FROM organisations o WHERE {condition}"))
                .bind(value)
                .fetch_optional(pool)
                .await
                .map_err(db_err)?;
            Ok(row.as_ref().map(org_from_row).transpose()?)
        })
    }

    pub(super) async fn set_organisation_status(
        &self,
        id: OrgId,
        status: OrgStatus,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let closed_at = (status == OrgStatus::Closed).then(|| to_millis(at));
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let done = sqlx::query("UPDATE organisations SET status = $1, closed_at = $2 WHERE id = $3")
                .bind(status.as_str())
                .bind(closed_at)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }

    pub(super) async fn set_totp_required(
        &self,
        id: OrgId,
        required: bool,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            let done = sqlx::query("UPDATE organisations SET totp_required = $1 WHERE id = $2")
                .bind(required)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            Db::commit_if_one(tx, done.rows_affected(), audit).await
        })
    }

    pub(super) async fn predecessors(&self, org: OrgId) -> Result<Vec<OrgId>, StoreError> {
        let ids: Vec<i64> = run!(&self.pool, |pool| {
            sqlx::query_scalar(
                "SELECT DISTINCT predecessor_org_id FROM organisation_successions \
                 WHERE successor_org_id = $1 AND predecessor_org_id <> $1",
            )
            .bind(org.0)
            .fetch_all(pool)
            .await
            .map_err(db_err)?
        });
        Ok(ids.into_iter().map(OrgId).collect())
    }

    pub(super) async fn confirm_user_list(
        &self,
        org: OrgId,
        by: UserId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            let mut tx = pool.begin().await.map_err(db_err)?;
            sqlx::query("INSERT INTO user_list_confirmations (org_id, confirmed_by, confirmed_at) VALUES ($1, $2, $3)")
                .bind(org.0)
                .bind(by.0)
                .bind(to_millis(at))
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            Db::append(&mut tx, audit).await?;
            tx.commit().await.map_err(db_err)?;
        });
        Ok(())
    }

    pub(super) async fn user_list_confirmations(
        &self,
    ) -> Result<Vec<(Organisation, Option<OffsetDateTime>)>, StoreError> {
        run!(&self.pool, |pool| {
            let sql = format!(
                "SELECT {ORG_COLS}, (SELECT max(c.confirmed_at) FROM user_list_confirmations c WHERE c.org_id = o.id) AS last \
                 FROM organisations o WHERE o.kind = 'school' AND o.status IN ('open', 'open_proposed_to_close') \
                 ORDER BY o.dfe_number{}",
                Db::BYTE_ORDER
            );
            let rows = sqlx::query(&sql).fetch_all(pool).await.map_err(db_err)?;
            rows.iter()
                .map(|r| Ok((org_from_row(r)?, r.col::<Option<i64>>("last").map_err(db_err)?.map(from_millis))))
                .collect()
        })
    }
}
