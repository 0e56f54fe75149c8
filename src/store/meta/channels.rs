//! Channel definitions changed through the admin API, stored beside the file's catalogue.

use async_trait::async_trait;

use crate::audit::AuditEvent;
use time::OffsetDateTime;

use super::StoreError;
use crate::domain::UserId;

/// One stored override, its definition still as text: parsing it is the caller's business, so
/// a row written by a newer version cannot stop this one from reading the others.
#[derive(Debug, Clone)]
pub struct ChannelOverrideRecord {
    pub slug: String,
    /// The channel as JSON.
    pub definition: String,
    pub updated_at: OffsetDateTime,
    pub updated_by: Option<UserId>,
    /// The username of `updated_by`, for showing who made the change.
    pub updated_by_username: Option<String>,
}

#[async_trait]
pub trait ChannelStore: Send + Sync {
    /// Every override, in slug order.
    async fn channel_overrides(&self) -> Result<Vec<ChannelOverrideRecord>, StoreError>;
    async fn channel_override(&self, slug: &str) -> Result<Option<ChannelOverrideRecord>, StoreError>;
    /// Creates or replaces the override of `slug`.
    async fn put_channel_override(
        &self,
        slug: &str,
        definition: &str,
        by: Option<UserId>,
        at: OffsetDateTime,
        audit: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// Removes the override of `slug`. False if there was none.
    async fn delete_channel_override(&self, slug: &str, audit: &AuditEvent) -> Result<bool, StoreError>;
}
