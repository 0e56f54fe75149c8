//! Download: fetch the sealed segments that cover the requested bytes, open each, trim to the
//! range and stream it on. Memory is one segment. A segment that fails authentication ends the
//! stream with an error, so the client sees a broken transfer, never wrong bytes as success.

use std::io;

use bytes::{Bytes, BytesMut};
use futures_util::{stream, Stream, StreamExt};
use tracing::error;

use super::ServiceError;
use crate::audit::AuditEvent;
use crate::crypto::segment::{sealed_segment_len, segment_count, segment_offset, Opener, HEADER_LEN, SEGMENT_SIZE};
use crate::domain::byte_range::RangeSpec;
use crate::domain::records::TransferRecord;
use crate::domain::TransferId;
use crate::policy::{self, Action, Decision, Principal};
use crate::service::AppState;
use crate::store::blob::{BlobError, BlobStream};
use crate::store::meta::NewDownload;
use crate::store::ObjectKey;

pub struct Download {
    pub transfer: TransferRecord,
    /// Inclusive byte positions, when a range was asked for.
    pub range: Option<(u64, u64)>,
    pub len: u64,
    pub body: std::pin::Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>,
}

/// Loads a transfer the principal may see; anything else is "not found".
pub async fn visible_transfer(
    state: &AppState,
    who: &Principal,
    id: TransferId,
) -> Result<TransferRecord, ServiceError> {
    let transfer = state.repo().get_transfer(id).await?.ok_or(ServiceError::NotFound)?;
    let gate = function_gate(state, &transfer);
    hidden_unless_allowed(policy::decide(who, Action::ReadTransfer(&transfer, gate.as_deref())))?;
    Ok(transfer)
}

/// The function a transfer's channel is limited to, from the catalogue in force.
pub(crate) fn function_gate(state: &AppState, transfer: &TransferRecord) -> Option<String> {
    state.channels().get(&transfer.channel).and_then(|c| c.function.clone())
}

/// A transfer the principal may not see is "not found", whatever the reason, so its existence
/// does not leak; only a pending step of the principal's own is said out loud.
pub(crate) fn hidden_unless_allowed(decision: Decision) -> Result<(), ServiceError> {
    match decision {
        Decision::Allow => Ok(()),
        Decision::StepRequired(step) => Err(ServiceError::StepRequired(step)),
        _ => Err(ServiceError::NotFound),
    }
}

pub async fn open(
    state: &AppState,
    who: &Principal,
    id: TransferId,
    range: Option<RangeSpec>,
    client_addr: Option<String>,
) -> Result<Download, ServiceError> {
    let transfer = state.repo().get_transfer(id).await?.ok_or(ServiceError::NotFound)?;
    let gate = function_gate(state, &transfer);
    hidden_unless_allowed(policy::decide(who, Action::DownloadTransfer(&transfer, gate.as_deref())))?;
    if !transfer.has_file {
        return Err(ServiceError::Conflict {
            code: "no_file",
            message: "this is a message with no file attached: its text is in the transfer's 'message'".to_owned(),
        });
    }
    let Some(wrapped) = transfer.wrapped_key.clone() else {
        return Err(ServiceError::Gone(format!(
            "this file was {} and can no longer be downloaded",
            transfer.state.as_str()
        )));
    };
    let size = transfer.size;
    let range = match range {
        None => None,
        Some(spec) => Some(spec.resolve(size).map_err(|_| ServiceError::RangeNotSatisfiable { size })?),
    };
    let (first, last) = range.unwrap_or((0, size.saturating_sub(1)));
    let len = if size == 0 { 0 } else { last - first + 1 };

    let object_id = *transfer.object_id.as_bytes();
    let dek = state.keys().unwrap(&wrapped, &object_id)?;
    let key = ObjectKey(transfer.object_id);
    let header = match state.blobs().get(key, Some(0..HEADER_LEN as u64)).await {
        Ok(body) => read_exact(body, HEADER_LEN).await?,
        Err(BlobError::NotFound(_)) => return Err(missing_object(state, id, key).await),
        Err(e) => return Err(e.into()),
    };
    let opener =
        Opener::new(&dek, &object_id, &header).map_err(|e| anyhow::anyhow!("object {key} is unreadable: {e}"))?;
    drop(dek);

    let first_segment = first / SEGMENT_SIZE as u64;
    let last_segment = if size == 0 { 0 } else { last / SEGMENT_SIZE as u64 };
    let start = segment_offset(first_segment);
    let end = segment_offset(last_segment) + sealed_segment_len(last_segment, size) as u64;
    let sealed = match state.blobs().get(key, Some(start..end)).await {
        Ok(sealed) => sealed,
        Err(BlobError::NotFound(_)) => return Err(missing_object(state, id, key).await),
        Err(e) => return Err(e.into()),
    };

    let reader = SegmentReader {
        sealed,
        opener,
        pending: BytesMut::new(),
        index: first_segment,
        last_index: last_segment,
        plaintext_len: size,
        skip: (first % SEGMENT_SIZE as u64) as usize,
        remaining: len,
        transfer: id,
    };
    // Open the first segment before answering, so a damaged object or a wrong key becomes an
    // error status rather than a 200 that breaks off.
    let (head, reader) = match reader.next_chunk().await {
        Ok(Some((chunk, reader))) => (Some(chunk), Some(reader)),
        Ok(None) => (None, None),
        Err(e) => return Err(ServiceError::Internal(anyhow::anyhow!("transfer {id} cannot be decrypted: {e}"))),
    };
    let rest = stream::unfold(reader, move |reader| async move {
        match reader?.next_chunk().await {
            Ok(Some((chunk, reader))) => Some((Ok(chunk), Some(reader))),
            Ok(None) => None,
            Err(e) => {
                error!(transfer = %id, error = %e, "download aborted: the stored object failed authentication");
                Some((Err(e), None))
            }
        }
    });
    let body = stream::iter(head.map(Ok)).chain(rest);

    let audit = AuditEvent::by(who, state.now(), "transfer.download")
        .target("transfer", id)
        .concerning(&who.org.reference)
        .detail("channel", &transfer.channel)
        .detail("sender", transfer.sender.reference.to_string())
        .detail("bytes", len)
        .detail("range", range.map(|(a, b)| format!("{a}-{b}")));
    let download = NewDownload {
        transfer: id,
        org: who.org_id(),
        key_id: who.key_id().map(str::to_owned),
        client_addr,
        range,
        at: state.now(),
    };
    state.repo().record_download(&download, &audit).await?;
    super::audit::watch_downloads(state, who).await;
    Ok(Download { transfer, range, len, body: Box::pin(body) })
}

async fn read_exact(mut s: BlobStream, n: usize) -> Result<Vec<u8>, ServiceError> {
    let mut buf = Vec::with_capacity(n);
    while buf.len() < n {
        match s.next().await {
            Some(chunk) => buf.extend_from_slice(&chunk.map_err(|e| ServiceError::Unavailable(e.into()))?),
            None => break,
        }
    }
    if buf.len() < n {
        return Err(ServiceError::Internal(anyhow::anyhow!("stored object is shorter than its header")));
    }
    buf.truncate(n);
    Ok(buf)
}

struct SegmentReader {
    sealed: BlobStream,
    opener: Opener,
    pending: BytesMut,
    index: u64,
    last_index: u64,
    plaintext_len: u64,
    skip: usize,
    remaining: u64,
    transfer: TransferId,
}

impl SegmentReader {
    async fn next_chunk(mut self) -> io::Result<Option<(Bytes, Self)>> {
        if self.index > self.last_index || (self.remaining == 0 && self.plaintext_len > 0) {
            return Ok(None);
        }
        let need = sealed_segment_len(self.index, self.plaintext_len);
        while self.pending.len() < need {
            match self.sealed.next().await {
                Some(chunk) => self.pending.extend_from_slice(&chunk?),
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("object of transfer {} is truncated", self.transfer),
                    ))
                }
            }
        }
        let sealed = self.pending.split_to(need);
        let is_last = self.index + 1 == segment_count(self.plaintext_len);
        let plain = self
            .opener
            .open_segment(self.index, &sealed, is_last)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let start = std::mem::take(&mut self.skip).min(plain.len());
        let take = ((plain.len() - start) as u64).min(self.remaining) as usize;
        self.remaining -= take as u64;
        self.index += 1;
        let chunk = Bytes::from(plain).slice(start..start + take);
        Ok(Some((chunk, self)))
    }
}

/// A download that read the transfer just before a purge or withdrawal committed finds its
/// object deleted: that is the 410 any later download gets. An object missing under a transfer
/// that still has its key stays an internal error.
async fn missing_object(state: &AppState, id: TransferId, key: ObjectKey) -> ServiceError {
    match state.repo().get_transfer(id).await {
        Ok(Some(now)) if now.wrapped_key.is_none() => {
            ServiceError::Gone(format!("this file was {} and can no longer be downloaded", now.state.as_str()))
        }
        Ok(_) => BlobError::NotFound(key).into(),
        Err(e) => e.into(),
    }
}
