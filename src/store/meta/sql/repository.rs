//! The repository of organisations, API keys, transfers and the installation. Each method hands
//! over to the module of its concern (`organisations`, `transfers`, `mailbox`, `batches`,
//! `installation`), where its statements are written once for both engines.

use std::collections::HashSet;

use anyhow::anyhow;
use async_trait::async_trait;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{db_err, SqlRepository};
use crate::audit::AuditEvent;
use crate::crypto::{SealedText, WrappedKey};
use crate::domain::{OrgId, OrgRef, Organisation, TransferId};
use crate::store::meta::{
    ApiKeyRecord, BatchEntry, BatchId, BatchRecord, BootstrapOutcome, BootstrapPlan, DownloadRecord, IdentityStore,
    KeyCheck, MailboxEntry, MailboxQuery, NewApiKey, NewBatch, NewDownload, NewOrganisation, NewTransfer, PlainMessage,
    Release, Repository, SealedSample, SeenKey, StoreError, StoredKey, TransferRecord,
};

#[async_trait]
impl Repository for SqlRepository {
    async fn migrate(&self) -> Result<(), StoreError> {
        // On PostgreSQL sqlx takes an advisory lock for the run, so nodes starting together
        // migrate once.
        let migrator = self.migrator();
        let done = run!(&self.pool, |pool| migrator.run(pool).await);
        done.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => db_err(e),
            other => StoreError::Other(anyhow::Error::new(other).context("database migration failed")),
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        run!(&self.pool, |pool| {
            sqlx::query("SELECT 1").execute(pool).await.map_err(db_err)?;
        });
        Ok(())
    }

    async fn create_organisation(
        &self,
        org: &NewOrganisation,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<Organisation, StoreError> {
        let id = self.insert_organisation(org, at, audit).await?;
        self.get_organisation(id).await?.ok_or_else(|| StoreError::Other(anyhow!("organisation vanished after insert")))
    }

    async fn find_organisation(&self, reference: &OrgRef) -> Result<Option<Organisation>, StoreError> {
        self.organisation_by_ref(reference).await
    }

    async fn list_organisations(&self) -> Result<Vec<Organisation>, StoreError> {
        self.organisations().await
    }

    async fn create_api_key(&self, key: &NewApiKey, at: OffsetDateTime, audit: &AuditEvent) -> Result<(), StoreError> {
        self.insert_api_key(key, at, audit).await
    }

    async fn find_api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.api_key(key_id).await
    }

    async fn touch_api_key(&self, key_id: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.touch_key(key_id, at).await
    }

    async fn insert_transfer(&self, t: &NewTransfer, audit: &AuditEvent) -> Result<TransferRecord, StoreError> {
        match &self.transfers {
            // SQLite: through the writer task, which commits the uploads waiting together.
            Some(writer) => writer.insert(t.clone(), audit.clone()).await?,
            None => self.store_transfers(&[(t, audit)]).await?,
        }
        self.get_transfer(t.id).await?.ok_or_else(|| StoreError::Other(anyhow!("transfer vanished after insert")))
    }

    async fn insert_transfers(&self, items: &[(NewTransfer, AuditEvent)]) -> Result<(), StoreError> {
        let items: Vec<(&NewTransfer, &AuditEvent)> = items.iter().map(|(t, a)| (t, a)).collect();
        if self.transfers.is_some() {
            // SQLite: one transaction for the lot, all or none, as the writer task would.
            return self.store_transfers(&items).await;
        }
        // PostgreSQL: one by one, as `Repository::insert_transfers` describes for an engine that
        // does not store them together.
        for item in &items {
            self.store_transfers(std::slice::from_ref(item)).await?;
        }
        Ok(())
    }

    async fn get_transfer(&self, id: TransferId) -> Result<Option<TransferRecord>, StoreError> {
        self.load_transfer(id).await
    }

    async fn mailbox_page(&self, query: &MailboxQuery<'_>) -> Result<Vec<MailboxEntry>, StoreError> {
        self.mailbox(query).await
    }

    async fn open_requests(
        &self,
        channel: &str,
        orgs: &[OrgId],
        limit: u32,
    ) -> Result<Vec<TransferRecord>, StoreError> {
        self.requests_open(channel, orgs, limit).await
    }

    async fn record_download(&self, d: &NewDownload, audit: &AuditEvent) -> Result<(), StoreError> {
        self.insert_download(d, audit).await
    }

    async fn list_downloads(&self, id: TransferId) -> Result<Vec<DownloadRecord>, StoreError> {
        self.downloads_of(id).await
    }

    async fn replies_to(&self, id: TransferId) -> Result<Vec<TransferRecord>, StoreError> {
        self.replies(id).await
    }

    async fn create_batch(&self, batch: &NewBatch) -> Result<(), StoreError> {
        self.insert_batch(batch).await
    }

    async fn finish_batch(
        &self,
        id: BatchId,
        report: &str,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.store_batch_report(id, report, at, audit).await
    }

    async fn get_batch(&self, id: BatchId) -> Result<Option<BatchRecord>, StoreError> {
        self.load_batch(id).await
    }

    async fn list_batches(
        &self,
        senders: &[OrgId],
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<BatchEntry>, StoreError> {
        self.batch_page(senders, before, limit).await
    }

    async fn list_quarantine(
        &self,
        orgs: &[OrgId],
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<MailboxEntry>, StoreError> {
        self.quarantine_page(orgs, before, limit).await
    }

    async fn release_from_quarantine(&self, release: &Release, audit: &AuditEvent) -> Result<bool, StoreError> {
        self.release(release, audit).await
    }

    async fn successors(&self, org: OrgId) -> Result<Vec<Organisation>, StoreError> {
        self.successor_orgs(org).await
    }

    async fn withdraw_transfer(
        &self,
        id: TransferId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.withdraw(id, at, audit).await
    }

    async fn remove_delivery(
        &self,
        id: TransferId,
        org: OrgId,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.remove_from_inbox(id, org, at, audit).await
    }

    async fn live_objects(&self, candidates: &[Uuid]) -> Result<HashSet<Uuid>, StoreError> {
        self.object_ids_with_key(candidates, true).await
    }

    async fn dead_objects(&self, candidates: &[Uuid]) -> Result<HashSet<Uuid>, StoreError> {
        self.object_ids_with_key(candidates, false).await
    }

    async fn keys_not_under(&self, kek_id: &str, limit: u32) -> Result<Vec<StoredKey>, StoreError> {
        self.keys_to_rewrap(kek_id, limit).await
    }

    async fn replace_wrapped_key(
        &self,
        id: TransferId,
        old: &WrappedKey,
        new: &WrappedKey,
    ) -> Result<bool, StoreError> {
        self.rewrap(id, old, new).await
    }

    async fn plain_messages(&self, limit: u32) -> Result<Vec<PlainMessage>, StoreError> {
        self.find_plain_messages(limit).await
    }

    async fn seal_plain_message(
        &self,
        id: TransferId,
        sealed: Option<&SealedText>,
        new_key: Option<&WrappedKey>,
    ) -> Result<bool, StoreError> {
        self.replace_plain_message(id, sealed, new_key).await
    }

    async fn seen_master_keys(&self) -> Result<Vec<SeenKey>, StoreError> {
        self.master_keys().await
    }

    async fn record_master_keys(&self, keys: &[KeyCheck], primary: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        self.store_master_keys(keys, primary, at).await
    }

    async fn master_key_in_use(&self, kek_id: &str) -> Result<bool, StoreError> {
        self.key_in_use(kek_id).await
    }

    async fn sealed_sample(&self, kek_id: &str) -> Result<Option<SealedSample>, StoreError> {
        self.sample_sealed_under(kek_id).await
    }

    async fn holds_keyed_data(&self) -> Result<bool, StoreError> {
        self.keyed_data_present().await
    }

    async fn bootstrap_version(&self) -> Result<i64, StoreError> {
        self.installed_version().await
    }

    async fn bootstrap(&self, plan: &BootstrapPlan) -> Result<BootstrapOutcome, StoreError> {
        self.run_bootstrap(plan).await
    }
}
