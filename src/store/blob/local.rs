//! Objects as files in a directory: `objects/<two hex>/<uuid>` for committed objects and
//! `tmp/<uuid>.partial` for writes in progress. A write goes to the temporary file, is fsynced,
//! then renamed into place and the directory fsynced, so after a crash an object is either whole
//! or absent.

use std::io::SeekFrom;
use std::ops::Range;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use async_trait::async_trait;
use tokio::fs;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};
use tokio_util::io::ReaderStream;
use uuid::Uuid;

use super::{BlobError, BlobInfo, BlobStore, BlobStream, BlobWriter, ObjectKey};

/// Four sealed segments a read: each read of a Tokio file is a trip to the blocking pool, and
/// a trip per segment left a download waiting on thread wake-ups more than on the disk.
const READ_CHUNK: usize = 4 * (64 * 1024 + 16);

pub struct LocalBlobStore {
    objects: PathBuf,
    tmp: PathBuf,
}

impl LocalBlobStore {
    pub async fn open(root: &Path) -> anyhow::Result<Self> {
        let objects = root.join("objects");
        let tmp = root.join("tmp");
        for dir in [&objects, &tmp] {
            fs::create_dir_all(dir).await.with_context(|| format!("could not create {}", dir.display()))?;
        }
        Ok(Self { objects, tmp })
    }

    fn path_of(&self, key: ObjectKey) -> PathBuf {
        let name = key.0.simple().to_string();
        self.objects.join(&name[..2]).join(key.0.hyphenated().to_string())
    }
}

fn not_found_or(key: ObjectKey, e: std::io::Error) -> BlobError {
    if e.kind() == std::io::ErrorKind::NotFound {
        BlobError::NotFound(key)
    } else {
        e.into()
    }
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn begin(&self, key: ObjectKey) -> Result<Box<dyn BlobWriter>, BlobError> {
        let tmp_path = self.tmp.join(format!("{}.partial", Uuid::new_v4().hyphenated()));
        // The file and the second handle the background flushes use, in one trip to the
        // blocking pool: every upload opens one, and most are small.
        let path = tmp_path.clone();
        let (file, flush_handle) = tokio::task::spawn_blocking(move || -> std::io::Result<_> {
            let file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
            let flush_handle = file.try_clone()?;
            Ok((file, flush_handle))
        })
        .await
        .map_err(|e| BlobError::Unavailable(anyhow::anyhow!("the task opening an object failed: {e}")))??;
        let early_sync = EarlySync { file: Arc::new(flush_handle), unsynced: 0, running: None };
        Ok(Box::new(LocalWriter {
            file: Some(fs::File::from_std(file)),
            early_sync,
            tmp_path,
            final_path: self.path_of(key),
            written: 0,
            done: false,
        }))
    }

    async fn get(&self, key: ObjectKey, range: Option<Range<u64>>) -> Result<BlobStream, BlobError> {
        let mut file = fs::File::open(self.path_of(key)).await.map_err(|e| not_found_or(key, e))?;
        let stream: BlobStream = match range {
            None => Box::pin(ReaderStream::with_capacity(file, READ_CHUNK)),
            Some(r) => {
                file.seek(SeekFrom::Start(r.start)).await?;
                let limited = tokio::io::AsyncReadExt::take(file, r.end.saturating_sub(r.start));
                Box::pin(ReaderStream::with_capacity(limited, READ_CHUNK))
            }
        };
        Ok(stream)
    }

    async fn delete(&self, key: ObjectKey) -> Result<(), BlobError> {
        match fs::remove_file(self.path_of(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError> {
        let mut found = Vec::new();
        let mut shards = fs::read_dir(&self.objects).await?;
        while let Some(shard) = shards.next_entry().await? {
            if !shard.file_type().await?.is_dir() {
                continue;
            }
            let mut entries = fs::read_dir(shard.path()).await?;
            while let Some(entry) = entries.next_entry().await? {
                // Anything not named like an object is not ours to judge; leave it alone.
                let Some(id) = entry.file_name().to_str().and_then(|n| Uuid::parse_str(n).ok()) else {
                    continue;
                };
                let modified = entry.metadata().await?.modified()?;
                found.push(BlobInfo { key: ObjectKey(id), modified });
            }
        }
        Ok(found)
    }

    async fn remove_abandoned_writes(&self, before: SystemTime) -> Result<u64, BlobError> {
        let mut removed = 0;
        let mut entries = fs::read_dir(&self.tmp).await?;
        while let Some(entry) = entries.next_entry().await? {
            let is_partial = entry.file_name().to_str().is_some_and(|n| n.ends_with(".partial"));
            if is_partial && entry.metadata().await?.modified()? < before {
                match fs::remove_file(entry.path()).await {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(removed)
    }

    async fn check(&self) -> Result<(), BlobError> {
        let probe = fs::metadata(&self.objects).await?;
        if !probe.is_dir() {
            return Err(BlobError::Unavailable(anyhow::anyhow!("{} is not a directory", self.objects.display())));
        }
        fs::metadata(&self.tmp).await?;
        Ok(())
    }
}

/// Makes `file` (written at `tmp`) durable at `to`: its data flushed, renamed into place, and the
/// rename flushed with its directory. The error says whether the rename had happened.
fn durable_rename(file: std::fs::File, tmp: &Path, to: &Path) -> Result<(), (bool, std::io::Error)> {
    file.sync_all().map_err(|e| (false, e))?;
    drop(file);
    let dir = to.parent().map(Path::to_path_buf).unwrap_or_default();
    std::fs::create_dir_all(&dir).map_err(|e| (false, e))?;
    std::fs::rename(tmp, to).map_err(|e| (false, e))?;
    std::fs::File::open(&dir).and_then(|d| d.sync_all()).map_err(|e| (true, e))
}

/// Bytes written between two background flushes of a large object.
const EARLY_SYNC_BYTES: u64 = 32 * 1024 * 1024;

/// Flushes a large object to disk in the background while it is still being written. Without
/// it the kernel holds every written byte until the commit's fsync, and a 1 GiB upload then
/// waits for a second or more of disk writes after its last byte arrived; with it the commit
/// has at most the last few MiB left to flush. The commit's own fsync is what makes the object
/// durable either way, so a background flush that fails is only logged.
struct EarlySync {
    file: Arc<std::fs::File>,
    unsynced: u64,
    running: Option<tokio::task::JoinHandle<()>>,
}

impl EarlySync {
    fn wrote(&mut self, n: usize) {
        self.unsynced += n as u64;
        if self.unsynced < EARLY_SYNC_BYTES || self.running.as_ref().is_some_and(|r| !r.is_finished()) {
            return;
        }
        self.unsynced = 0;
        let file = Arc::clone(&self.file);
        self.running = Some(tokio::task::spawn_blocking(move || {
            if let Err(e) = file.sync_data() {
                tracing::debug!(error = %e, "a background flush of an object being written failed; its commit will flush it");
            }
        }));
    }
}

struct LocalWriter {
    file: Option<fs::File>,
    early_sync: EarlySync,
    tmp_path: PathBuf,
    final_path: PathBuf,
    written: u64,
    done: bool,
}

#[async_trait]
impl BlobWriter for LocalWriter {
    async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        let file =
            self.file.as_mut().ok_or_else(|| BlobError::Unavailable(anyhow::anyhow!("writer already closed")))?;
        file.write_all(chunk).await?;
        self.written += chunk.len() as u64;
        self.early_sync.wrote(chunk.len());
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<u64, BlobError> {
        let mut file =
            self.file.take().ok_or_else(|| BlobError::Unavailable(anyhow::anyhow!("writer already closed")))?;
        file.flush().await?;
        let file = file.into_std().await;
        let (tmp_path, final_path) = (self.tmp_path.clone(), self.final_path.clone());
        // fsync, rename and the directory's fsync in one trip to the blocking pool rather than
        // one each: they are sequential anyway, and a small upload is mostly this.
        let renamed = tokio::task::spawn_blocking(move || durable_rename(file, &tmp_path, &final_path))
            .await
            .map_err(|e| BlobError::Unavailable(anyhow::anyhow!("the object commit task failed: {e}")))?;
        match renamed {
            Ok(()) => {
                self.done = true;
                Ok(self.written)
            }
            Err((renamed, e)) => {
                // Once renamed, the temporary file is gone and must not be removed on drop.
                self.done = renamed;
                Err(e.into())
            }
        }
    }

    async fn abort(mut self: Box<Self>) {
        self.file.take();
        if fs::remove_file(&self.tmp_path).await.is_ok() {
            self.done = true;
        }
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        // A request cancelled mid-upload drops its writer without abort; the temporary file
        // must not outlive it (the sweep would catch it, but only after the grace period).
        if !self.done {
            self.file.take();
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}
