//! A batch sent as one zip archive. A zip's directory is at its end, so the upload is first
//! spooled (sealed, under a key that lives only in memory: see [`crate::crypto::spool`]), then
//! read entry by entry on a blocking thread, each entry streamed into its own stored object.

use std::io::{self, Read};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

use super::{refused, Batch, BatchReport, FileReport};
use crate::crypto::spool::{SpoolReader, SpoolWriter};
use crate::domain::batch::{BatchError, BatchReader, EntryInfoOrName};
use crate::service::ServiceError;

/// Bytes handed from the request to the spool writer at a time, and how many may wait.
const SPOOL_QUEUE: usize = 8;
const READ_CHUNK: usize = 64 * 1024;

/// Spools the archive, then places each of its files. A file that is not a zip, that holds more
/// entries than allowed, or whose entries overlap, is refused whole by [`BatchReader::open`],
/// before the batch is recorded or any file stored, and nothing of it is kept.
pub async fn place_zip<S, E>(batch: Batch, body: S) -> Result<BatchReport, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    let settings = batch.state.settings();
    let spool = spool(settings.data_dir.clone(), body, settings.batches.max_upload_bytes, idle(&batch)).await?;
    let limits = settings.batches.limits();
    let placer = batch.clone();
    let handle = tokio::runtime::Handle::current();
    let results = tokio::task::spawn_blocking(move || -> Result<Vec<FileReport>, ServiceError> {
        let mut reader = BatchReader::open(spool, limits).map_err(refuse_archive)?;
        handle.block_on(placer.record())?;
        let outcomes = reader
            .for_each(|info, entry| {
                let body = futures_util::stream::iter(ReadChunks::new(entry));
                Ok(handle.block_on(placer.place(info.raw_name.clone(), info.file_name.clone(), body)))
            })
            .map_err(refuse_archive)?;
        Ok(outcomes
            .into_iter()
            .map(|(label, outcome)| match outcome {
                Ok(report) => report,
                Err(refusal) => refused(shown_name(&label), refusal.code(), refusal.to_string()),
            })
            .collect())
    })
    .await
    .map_err(|e| ServiceError::Internal(anyhow::anyhow!("the batch reader stopped: {e}")))??;
    if results.is_empty() {
        return Err(ServiceError::unprocessable(
            "empty_batch",
            "the archive holds no files: put the files in the zip and send it again",
        ));
    }
    batch.finish(results).await
}

fn idle(batch: &Batch) -> Duration {
    Duration::from_secs(batch.state.settings().transfers.body_idle_timeout_secs.max(1))
}

/// The name an entry is reported under: its path in the archive, as stored.
fn shown_name(label: &EntryInfoOrName) -> String {
    label.raw_name().to_owned()
}

fn refuse_archive(e: BatchError) -> ServiceError {
    match e {
        BatchError::NotAZip(_) => ServiceError::unprocessable("not_a_zip", e.to_string()),
        BatchError::TooManyEntries { .. } => ServiceError::unprocessable("too_many_entries", e.to_string()),
        BatchError::OverlappingEntries(_) => ServiceError::unprocessable("overlapping_entries", e.to_string()),
        BatchError::Io(io) => ServiceError::Internal(anyhow::Error::new(io).context("reading a spooled batch")),
    }
}

/// Copies the request body into a new spool on a blocking thread, refusing it past `limit`.
async fn spool<S, E>(
    dir: std::path::PathBuf,
    mut body: S,
    limit: u64,
    idle: Duration,
) -> Result<SpoolReader, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    let (tx, mut rx) = mpsc::channel::<Bytes>(SPOOL_QUEUE);
    let writer = tokio::task::spawn_blocking(move || -> io::Result<SpoolReader> {
        let mut spool = SpoolWriter::create(&dir)?;
        while let Some(chunk) = rx.blocking_recv() {
            spool.write(&chunk)?;
        }
        spool.finish()
    });
    let mut seen = 0u64;
    let received = async {
        loop {
            let next = tokio::time::timeout(idle, body.next())
                .await
                .map_err(|_| ServiceError::BodyAborted(format!("no data arrived for {} seconds", idle.as_secs())))?;
            match next {
                None => return Ok(()),
                Some(Err(e)) => return Err(ServiceError::BodyAborted(e.to_string())),
                Some(Ok(chunk)) => {
                    seen += chunk.len() as u64;
                    if seen > limit {
                        return Err(ServiceError::TooLarge { limit });
                    }
                    // The writer only stops early on a disk error, reported below.
                    if tx.send(chunk).await.is_err() {
                        return Ok(());
                    }
                }
            }
        }
    }
    .await;
    drop(tx);
    let written = writer.await.map_err(|e| ServiceError::Internal(anyhow::anyhow!("the spool writer stopped: {e}")));
    // Dropping a spool (on any refusal) frees it: its file was unlinked when it was made.
    received?;
    written?.map_err(|e| ServiceError::Internal(anyhow::Error::new(e).context("could not spool the batch")))
}

/// A blocking reader as a stream of chunks, for a blocking thread that drives the upload
/// pipeline with `block_on`. Ends after the first error.
struct ReadChunks<'a> {
    reader: &'a mut dyn Read,
    failed: bool,
}

impl<'a> ReadChunks<'a> {
    fn new(reader: &'a mut dyn Read) -> Self {
        Self { reader, failed: false }
    }
}

impl Iterator for ReadChunks<'_> {
    type Item = io::Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let mut buf = vec![0u8; READ_CHUNK];
        match self.reader.read(&mut buf) {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some(Ok(Bytes::from(buf)))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
