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

use super::addressing::{address, Addressing};
use super::authority::enforce;
use super::ServiceError;
use crate::app::AppState;
use crate::crypto::segment::{Sealer, SEGMENT_SIZE};
use crate::crypto::DataKey;
use crate::domain::sniff::{self, HEAD_LEN};
use crate::domain::{ChannelSlug, FileName, Sha256Digest, TransferId};
use crate::policy::{self, Action, Decision, Principal};
use crate::store::meta::{NewTransfer, TransferRecord};
use crate::store::{BlobWriter, ObjectKey};

pub struct UploadRequest {
    pub channel: ChannelSlug,
    /// The `to` parameter; whether it is needed depends on the channel's route.
    pub to: Option<String>,
    pub filename: FileName,
    /// A short note shown to recipients beside the file.
    pub message: Option<String>,
    /// The request this answers.
    pub reply_to: Option<TransferId>,
    /// From `Content-Digest`, when the client sent one.
    pub expected_sha256: Option<[u8; 32]>,
    /// From `Content-Length`, when the client sent one.
    pub declared_len: Option<u64>,
}

pub const MAX_MESSAGE_CHARS: usize = 2000;

fn check_message(message: Option<String>) -> Result<Option<String>, ServiceError> {
    let Some(m) = message.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty()) else { return Ok(None) };
    if m.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ServiceError::bad_request(
            "message_too_long",
            format!("keep the message under {MAX_MESSAGE_CHARS} characters"),
        ));
    }
    if m.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(ServiceError::bad_request(
            "invalid_message",
            "the message may hold plain text and line breaks only",
        ));
    }
    Ok(Some(m))
}

#[instrument(skip_all, fields(channel = %req.channel))]
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
    let catalogue = state.channels();
    let Some(channel) = catalogue.get(req.channel.as_str()) else {
        return Err(ServiceError::unprocessable(
            "unknown_channel",
            format!("there is no channel '{}': GET /api/v1/channels lists the ones you may use", req.channel),
        ));
    };
    match policy::decide(who, Action::SendOn(channel)) {
        Decision::Forbidden => {
            return Err(ServiceError::Forbidden);
        }
        decision => enforce(decision)?,
    }
    let route = channel.route_for(&who.org).ok_or(ServiceError::Forbidden)?;
    if !channel.accepts_extension(&req.filename) {
        return Err(ServiceError::UnsupportedType(format!(
            "{} accepts only .{} files: save the file in one of those formats",
            channel.name,
            channel.extensions.join(", .")
        )));
    }
    let limit = channel.max_size_bytes.unwrap_or(u64::MAX).min(state.settings().transfers.max_upload_bytes);
    if req.declared_len.is_some_and(|n| n > limit) {
        return Err(ServiceError::TooLarge { limit });
    }
    let message = check_message(req.message)?;
    let addressing = Addressing { to: req.to.as_deref(), reply_to: req.reply_to };
    let addressed = address(state, who, channel, route, &req.filename, addressing).await?;
    let sniff = channel.sniff.then(|| req.filename.extension()).flatten();

    let object_id = Uuid::new_v4();
    let dek = DataKey::generate();
    let writer = state.blobs().begin(ObjectKey(object_id)).await?;
    let mut pipeline = SealingPipeline::new(writer, &dek, object_id, limit, sniff);
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
        recipients: addressed.recipients.iter().map(|r| r.id).collect(),
        content_type: content_type_for(&addressed.file_name).to_owned(),
        filename: addressed.file_name,
        size,
        sha256: Sha256Digest(sha256),
        wrapped_key: state.keys().wrap(&dek, object_id.as_bytes()),
        created_at: state.now(),
        message,
        reply_to: req.reply_to,
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
    /// The extension whose look the first bytes must have, until they have been checked.
    sniff: Option<String>,
    head: Vec<u8>,
}

type Sealed = (Box<dyn BlobWriter>, u64, [u8; 32]);

impl SealingPipeline {
    fn new(writer: Box<dyn BlobWriter>, dek: &DataKey, object_id: Uuid, limit: u64, sniff: Option<String>) -> Self {
        Self {
            writer: Some(writer),
            sealer: Sealer::new(dek, object_id.as_bytes()),
            plain: Vec::with_capacity(SEGMENT_SIZE),
            sealed: Vec::with_capacity(SEGMENT_SIZE + 16),
            hasher: Sha256::new(),
            len: 0,
            limit,
            header_written: false,
            sniff,
            head: Vec::new(),
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
        if self.sniff.is_some() {
            let take = (HEAD_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
            if self.head.len() == HEAD_LEN {
                self.check_content()?;
            }
        }
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

    fn check_content(&mut self) -> Result<(), ServiceError> {
        if let Some(ext) = self.sniff.take() {
            sniff::check(&ext, &self.head)
                .map_err(|m| ServiceError::unprocessable("content_mismatch", m.to_string()))?;
            self.head = Vec::new();
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(u64, [u8; 32]), ServiceError> {
        self.check_content()?;
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
