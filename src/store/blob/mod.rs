//! Object storage for sealed (encrypted) objects. Keys are random object ids, never file
//! names. An object becomes visible only on [`BlobWriter::commit`]; a writer dropped or aborted
//! before that leaves nothing a reader can see.

pub mod local;
pub mod s3;

use std::fmt;
use std::ops::Range;
use std::pin::Pin;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::Stream;
use uuid::Uuid;

/// The name of an object in the store: the transfer's random object id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ObjectKey(pub Uuid);

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

pub type BlobStream = Pin<Box<dyn Stream<Item = std::io::Result<Bytes>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("object {0} is not in the store")]
    NotFound(ObjectKey),
    /// The store could not be reached or could not do the work; it may succeed later.
    #[error("the object store is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

impl From<std::io::Error> for BlobError {
    fn from(e: std::io::Error) -> Self {
        BlobError::Unavailable(e.into())
    }
}

#[derive(Debug, Clone)]
pub struct BlobInfo {
    pub key: ObjectKey,
    pub modified: SystemTime,
}

#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Starts writing a new object. Nothing is visible under `key` until `commit`.
    async fn begin(&self, key: ObjectKey) -> Result<Box<dyn BlobWriter>, BlobError>;
    /// Streams an object, or the byte range of it.
    async fn get(&self, key: ObjectKey, range: Option<Range<u64>>) -> Result<BlobStream, BlobError>;
    /// Deletes an object; deleting one that is not there succeeds.
    async fn delete(&self, key: ObjectKey) -> Result<(), BlobError>;
    /// Every committed object, for the orphan sweep.
    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError>;
    /// Removes writes that were never committed (a crash mid-upload) and started before `before`.
    /// Returns how many were removed.
    async fn remove_abandoned_writes(&self, before: SystemTime) -> Result<u64, BlobError>;
    /// Answers whether the store can be used now (for readiness checks).
    async fn check(&self) -> Result<(), BlobError>;
}

#[async_trait]
pub trait BlobWriter: Send {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError>;
    /// Makes the object durable and visible. Returns its length in bytes.
    async fn commit(self: Box<Self>) -> Result<u64, BlobError>;
    /// Throws away everything written.
    async fn abort(self: Box<Self>);
}
