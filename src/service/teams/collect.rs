//! Collecting many files as one zip archive, written as it is sent. Each file is opened through
//! the download use case when the archive reaches it, so the policy is asked, every segment is
//! authenticated and the download is recorded exactly as an API download of that file would
//! be. Memory is one decrypted segment and the archive bytes made from it: entries are stored
//! (the files are compressed already or small) with data descriptors, so nothing needs to be
//! known before its bytes have gone.

use std::io::{self, Write};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::{stream, Stream, StreamExt};
use tracing::error;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

use super::zip_names::entry_names;
use crate::domain::records::TransferRecord;
use crate::domain::TransferId;
use crate::policy::{self, Action, Principal};
use crate::service::authority::enforce;
use crate::service::download::{self, visible_transfer};
use crate::service::{AppState, ServiceError};

/// The most files one archive collects: a whole LA's census return is about 300.
pub const MAX_FILES: usize = 1000;

pub type ArchiveStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Whether the caller may collect many files at once: the LA's teams, not schools.
pub fn may_collect(who: &Principal) -> Result<(), ServiceError> {
    enforce(policy::decide(who, Action::CollectMany))
}

/// The files the caller asked for, each one they may see and that still has its file, in the
/// order asked, each once. Anything else refuses the whole selection, before a byte is sent.
pub async fn select(
    state: &AppState,
    who: &Principal,
    ids: &[TransferId],
) -> Result<Vec<TransferRecord>, ServiceError> {
    may_collect(who)?;
    if ids.len() > MAX_FILES {
        return Err(ServiceError::bad_request(
            "too_many_files",
            format!("one archive holds up to {MAX_FILES} files: choose fewer and collect the rest next"),
        ));
    }
    let mut chosen: Vec<TransferRecord> = Vec::with_capacity(ids.len());
    for id in ids {
        if chosen.iter().any(|t| t.id == *id) {
            continue;
        }
        let transfer = visible_transfer(state, who, *id).await?;
        if !transfer.has_file || transfer.wrapped_key.is_none() {
            return Err(ServiceError::Gone(format!(
                "{} can no longer be downloaded: it is {}",
                transfer.filename,
                transfer.state.as_str()
            )));
        }
        chosen.push(transfer);
    }
    Ok(chosen)
}

/// The archive of `files` (from [`select`]), entry names made safe and unique. A file that
/// cannot be opened or fails authentication ends the stream with an error, so the browser
/// reports a broken download rather than saving a short archive as complete.
pub fn archive(state: AppState, who: Principal, files: Vec<TransferRecord>, client: Option<String>) -> ArchiveStream {
    let names = entry_names(files.iter().map(|t| t.filename.as_str()));
    let spool = Spool::default();
    let zipper = Zipper {
        state,
        who,
        client,
        pending: files.into_iter().map(|t| t.id).zip(names).collect::<Vec<_>>().into_iter(),
        current: None,
        zip: Some(ZipWriter::new_stream(spool.clone())),
        spool,
    };
    Box::pin(stream::unfold(Some(zipper), |zipper| async move {
        let mut zipper = zipper?;
        match zipper.next_bytes().await {
            Ok(Some(bytes)) => Some((Ok(bytes), Some(zipper))),
            Ok(None) => None,
            Err(e) => {
                error!(error = %e, "a collected archive was cut short");
                Some((Err(e), None))
            }
        }
    }))
}

/// Where the archive writer puts its bytes until the stream hands them on: never more than one
/// segment and an entry's headers.
#[derive(Clone, Default)]
struct Spool(Arc<Mutex<Vec<u8>>>);

impl Spool {
    fn take(&self) -> Bytes {
        let mut buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Bytes::from(std::mem::take(&mut *buf))
    }
}

impl Write for Spool {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Zipper {
    state: AppState,
    who: Principal,
    client: Option<String>,
    pending: std::vec::IntoIter<(TransferId, String)>,
    current: Option<download::Download>,
    zip: Option<ZipWriter<StreamWriter<Spool>>>,
    spool: Spool,
}

impl Zipper {
    /// The next bytes of the archive; None once its end has been sent.
    async fn next_bytes(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            let Some(zip) = self.zip.as_mut() else { return Ok(None) };
            if let Some(file) = self.current.as_mut() {
                match file.body.next().await {
                    Some(chunk) => zip.write_all(&chunk?)?,
                    None => self.current = None,
                }
            } else if let Some((id, name)) = self.pending.next() {
                let file = download::open(&self.state, &self.who, id, None, self.client.clone())
                    .await
                    .map_err(|e| io::Error::other(format!("transfer {id} could not be opened: {e}")))?;
                let options = SimpleFileOptions::default()
                    .compression_method(CompressionMethod::Stored)
                    .large_file(file.len >= u64::from(u32::MAX))
                    .last_modified_time(zip_time(file.transfer.created_at));
                zip.start_file(name, options).map_err(io::Error::other)?;
                self.current = Some(file);
            } else if let Some(zip) = self.zip.take() {
                zip.finish().map_err(io::Error::other)?;
            }
            let bytes = self.spool.take();
            if !bytes.is_empty() {
                return Ok(Some(bytes));
            }
        }
    }
}

/// The time a file arrived, as an archive entry's date (which has no time zone: UTC here).
fn zip_time(at: time::OffsetDateTime) -> zip::DateTime {
    let at = at.to_offset(time::UtcOffset::UTC);
    zip::DateTime::from_date_and_time(
        at.year().clamp(1980, 2107) as u16,
        at.month() as u8,
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
    )
    .unwrap_or_default()
}
