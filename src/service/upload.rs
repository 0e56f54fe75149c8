//! Upload: request body -> SHA-256 and byte count -> seal segment by segment -> object store.
//! Memory per upload is one segment of plaintext and one of ciphertext, whatever the file's
//! size. The transfer row is committed only after the object is durable; anything refused on
//! the way (too large, digest mismatch, client gone) aborts the object so nothing is kept.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tracing::{info, instrument, warn};
use uuid::Uuid;

use super::authority::enforce;
use super::ServiceError;
use crate::app::AppState;
use crate::crypto::segment::{Sealer, SEGMENT_SIZE};
use crate::crypto::DataKey;
use crate::domain::{ChannelSlug, FileName, OrgRef, Sha256Digest, TransferId};
use crate::policy::{self, Action, Decision, Principal};
use crate::store::meta::{NewTransfer, TransferRecord};
use crate::store::{BlobWriter, ObjectKey};

pub struct UploadRequest {
    pub channel: ChannelSlug,
    pub to: OrgRef,
    pub filename: FileName,
    /// From `Content-Digest`, when the client sent one.
    pub expected_sha256: Option<[u8; 32]>,
    /// From `Content-Length`, when the client sent one.
    pub declared_len: Option<u64>,
}

#[instrument(skip_all, fields(channel = %req.channel, to = %req.to))]
pub async fn upload<S, E>(
    state: &AppState,
    who: &Principal,
    req: UploadRequest,
    body: S,
) -> Result<TransferRecord, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: std::fmt::Display,
{
    let limit = state.settings().transfers.max_upload_bytes;
    if req.declared_len.is_some_and(|n| n > limit) {
        return Err(ServiceError::TooLarge { limit });
    }
    let Some(recipient) = state.repo().find_organisation(&req.to).await? else {
        return Err(ServiceError::unprocessable(
            "unknown_recipient",
            format!("there is no organisation {}: check the DfE number or team name in 'to'", req.to),
        ));
    };
    match policy::decide(who, Action::Send { channel: req.channel.as_str(), to: &recipient }) {
        Decision::Invalid("unknown_channel") => {
            return Err(ServiceError::unprocessable(
                "unknown_channel",
                format!("there is no channel '{}': use channel=general", req.channel),
            ))
        }
        Decision::Invalid("own_organisation") => {
            return Err(ServiceError::unprocessable(
                "own_organisation",
                "you cannot send a file to your own organisation: choose another recipient in 'to'",
            ))
        }
        Decision::Invalid("recipient_closed") => {
            return Err(ServiceError::unprocessable(
                "recipient_closed",
                format!("{} is closed and cannot receive files: check the register for its successor", req.to),
            ))
        }
        decision => enforce(decision)?,
    }

    let object_id = Uuid::new_v4();
    let dek = DataKey::generate();
    let writer = state.blobs().begin(ObjectKey(object_id)).await?;
    let mut pipeline = SealingPipeline::new(writer, &dek, object_id, limit);
    let idle = Duration::from_secs(state.settings().transfers.body_idle_timeout_secs.max(1));
    let sealed = pipeline.run(body, idle).await;
    let (writer, size, sha256) = match sealed {
        Ok(done) => done,
        Err((writer, e)) => {
            writer.abort().await;
            return Err(e);
        }
    };
    if let Some(expected) = req.expected_sha256 {
        if expected != sha256 {
            writer.abort().await;
            return Err(ServiceError::unprocessable(
                "digest_mismatch",
                format!(
                    "the file's SHA-256 is {} but Content-Digest says {}: the file changed or was damaged on the way; send it again",
                    hex::encode(sha256),
                    hex::encode(expected)
                ),
            ));
        }
    }
    writer.commit().await?;

    let new = NewTransfer {
        id: TransferId::new_random(),
        object_id,
        channel: req.channel,
        sender: who.org_id(),
        sender_key_id: who.key_id().map(str::to_owned),
        recipients: vec![recipient.id],
        content_type: content_type_for(&req.filename).to_owned(),
        filename: req.filename,
        size,
        sha256: Sha256Digest(sha256),
        wrapped_key: state.keys().wrap(&dek, object_id.as_bytes()),
        created_at: state.now(),
    };
    match state.repo().insert_transfer(&new).await {
        Ok(record) => {
            info!(transfer = %record.id, size, "transfer stored");
            Ok(record)
        }
        Err(e) => {
            // The object is durable but has no row: delete it now, and if that fails too the
            // orphan sweep will.
            if let Err(del) = state.blobs().delete(ObjectKey(object_id)).await {
                warn!(object = %object_id, error = %del, "could not delete the object of a failed upload; the orphan sweep will");
            }
            Err(e.into())
        }
    }
}

/// The media type recorded for a file, from its extension only: what a client claims in
/// `Content-Type` is not trusted (curl, for one, labels every raw upload as a form).
pub fn content_type_for(name: &FileName) -> &'static str {
    match name.extension().as_deref() {
        Some("xml") => "application/xml",
        Some("csv") => "text/csv",
        Some("txt") => "text/plain",
        Some("pdf") => "application/pdf",
        Some("zip") => "application/zip",
        Some("json") => "application/json",
        Some("xlsx") => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        Some("xls") => "application/vnd.ms-excel",
        Some("docx") => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        _ => "application/octet-stream",
    }
}

struct SealingPipeline {
    writer: Option<Box<dyn BlobWriter>>,
    sealer: Sealer,
    plain: Vec<u8>,
    sealed: Vec<u8>,
    hasher: Sha256,
    len: u64,
    limit: u64,
    header_written: bool,
}

type Sealed = (Box<dyn BlobWriter>, u64, [u8; 32]);

impl SealingPipeline {
    fn new(writer: Box<dyn BlobWriter>, dek: &DataKey, object_id: Uuid, limit: u64) -> Self {
        Self {
            writer: Some(writer),
            sealer: Sealer::new(dek, object_id.as_bytes()),
            plain: Vec::with_capacity(SEGMENT_SIZE),
            sealed: Vec::with_capacity(SEGMENT_SIZE + 16),
            hasher: Sha256::new(),
            len: 0,
            limit,
            header_written: false,
        }
    }

    /// Consumes the body. On failure hands the writer back so the caller can abort it.
    async fn run<S, E>(&mut self, mut body: S, idle: Duration) -> Result<Sealed, (Box<dyn BlobWriter>, ServiceError)>
    where
        S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
        E: std::fmt::Display,
    {
        let outcome = async {
            loop {
                let next = tokio::time::timeout(idle, body.next()).await.map_err(|_| {
                    ServiceError::BodyAborted(format!("no data arrived for {} seconds", idle.as_secs()))
                })?;
                match next {
                    Some(Ok(chunk)) => self.feed(&chunk).await?,
                    Some(Err(e)) => return Err(ServiceError::BodyAborted(e.to_string())),
                    None => return self.finish().await,
                }
            }
        }
        .await;
        let writer = self.writer.take().expect("writer present until run returns");
        match outcome {
            Ok((len, sha)) => Ok((writer, len, sha)),
            Err(e) => Err((writer, e)),
        }
    }

    async fn feed(&mut self, mut chunk: &[u8]) -> Result<(), ServiceError> {
        self.len += chunk.len() as u64;
        if self.len > self.limit {
            return Err(ServiceError::TooLarge { limit: self.limit });
        }
        self.hasher.update(chunk);
        while !chunk.is_empty() {
            // A full segment is sealed only once more data shows it is not the last one.
            if self.plain.len() == SEGMENT_SIZE {
                self.seal(false).await?;
            }
            let take = (SEGMENT_SIZE - self.plain.len()).min(chunk.len());
            self.plain.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(u64, [u8; 32]), ServiceError> {
        self.seal(true).await?;
        let sha = std::mem::take(&mut self.hasher).finalize().into();
        Ok((self.len, sha))
    }

    async fn seal(&mut self, last: bool) -> Result<(), ServiceError> {
        let writer = self.writer.as_mut().expect("writer present while sealing");
        if !self.header_written {
            writer.write(&self.sealer.header()).await?;
            self.header_written = true;
        }
        self.sealed.clear();
        self.sealer
            .seal_next(&self.plain, last, &mut self.sealed)
            .map_err(|e| ServiceError::Internal(anyhow::anyhow!("sealing failed: {e}")))?;
        writer.write(&self.sealed).await?;
        self.plain.clear();
        Ok(())
    }
}
