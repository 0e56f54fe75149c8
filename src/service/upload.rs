//! Upload: request body -> SHA-256 and byte count -> seal segment by segment -> object store.
//! Memory per upload is two batches of plaintext and one of ciphertext (a batch is four
//! segments), whatever the file's size. The transfer row is committed only after the object is
//! durable; anything refused on the way (too large, digest mismatch, client gone) aborts the
//! object so nothing is kept.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tracing::{info, instrument, warn};
use uuid::Uuid;

use super::addressing::{address, Addressing};
use super::authority::enforce;
use super::ServiceError;
use crate::audit::AuditEvent;
use crate::crypto::segment::{Sealer, HEADER_LEN, SEGMENT_SIZE};
use crate::crypto::DataKey;
use crate::crypto::{SealedText, WrappedKey};
use crate::domain::channel::{Catalogue, Channel, Route};
use crate::domain::records::{NewTransfer, TransferRecord};
use crate::domain::sniff::{self, HEAD_LEN};
use crate::domain::{ChannelSlug, FileName, OrgId, Sha256Digest, TransferId};
use crate::policy::{self, Action, Decision, Principal};
use crate::service::AppState;
use crate::store::meta::StoreError;
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

pub(crate) fn check_message(message: Option<String>) -> Result<Option<String>, ServiceError> {
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

/// Seals the sender's message under the transfer's data key, so that it is never plain at rest
/// and is shredded with the file.
pub(crate) fn seal_message(
    state: &AppState,
    new: &NewTransfer,
    text: Option<String>,
) -> Result<Option<SealedText>, ServiceError> {
    let Some(text) = text else { return Ok(None) };
    let wrapped = new.wrapped_key.as_ref().ok_or_else(|| anyhow::anyhow!("a message needs a data key to seal it"))?;
    Ok(Some(state.keys().seal_text(wrapped, new.object_id.as_bytes(), &text)?))
}

/// The channel `slug` and the route the principal's files take on it, if they may send there.
pub(crate) fn sending_on<'c>(
    catalogue: &'c Catalogue,
    who: &Principal,
    slug: &ChannelSlug,
) -> Result<(&'c Channel, &'c Route), ServiceError> {
    let Some(channel) = catalogue.get(slug.as_str()) else {
        return Err(ServiceError::unprocessable(
            "unknown_channel",
            format!("there is no channel '{slug}': GET /api/v1/channels lists the ones you may use"),
        ));
    };
    match policy::decide(who, Action::SendOn(channel)) {
        Decision::Forbidden => return Err(ServiceError::Forbidden),
        decision => enforce(decision)?,
    }
    let route = channel.route_for(&who.org).ok_or(ServiceError::Forbidden)?;
    Ok((channel, route))
}

/// Why a file of the wrong type is refused, and what to do instead.
pub(crate) fn type_refused(channel: &Channel) -> String {
    format!(
        "{} accepts only .{} files: save the file in one of those formats",
        channel.name,
        channel.extensions.join(", .")
    )
}

/// The largest file the channel takes, within the server-wide limit.
pub(crate) fn size_limit(state: &AppState, channel: &Channel) -> u64 {
    channel.max_size_bytes.unwrap_or(u64::MAX).min(state.settings().transfers.max_upload_bytes)
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
    let (channel, route) = sending_on(&catalogue, who, &req.channel)?;
    if !channel.accepts_extension(&req.filename) {
        return Err(ServiceError::UnsupportedType(type_refused(channel)));
    }
    let limit = size_limit(state, channel);
    if req.declared_len.is_some_and(|n| n > limit) {
        return Err(ServiceError::TooLarge { limit });
    }
    let message = check_message(req.message)?;
    let addressing = Addressing { to: req.to.as_deref(), reply_to: req.reply_to };
    let addressed = address(state, who, channel, route, Some(&req.filename), addressing).await?;
    let file_name = addressed.file_name.unwrap_or(req.filename);
    let sniff = channel.sniff.then(|| file_name.extension()).flatten();
    let stored = store_object(state, body, limit, Sniffing::Enforce(sniff), req.expected_sha256).await?;
    let recipients = addressed.recipients.iter().map(|r| r.id);
    let mut new = stored.into_transfer(state, who, req.channel, file_name, recipients);
    new.reply_to = req.reply_to;
    new.message = seal_message(state, &new, message)?;
    new.routing_note = addressed.note;
    let mut audit = AuditEvent::by(who, state.now(), "transfer.upload")
        .detail("to", addressed.recipients.iter().map(|r| r.reference.to_string()).collect::<Vec<_>>());
    if let [only] = addressed.recipients.as_slice() {
        audit = audit.concerning(&only.reference);
    }
    commit_transfer(state, new, audit).await
}

/// What the trail keeps of a new transfer: where it went and how it got there, never its content.
fn transfer_event(audit: AuditEvent, new: &NewTransfer) -> AuditEvent {
    let mut audit = audit
        .target("transfer", new.id)
        .detail("channel", new.channel.as_str())
        .detail("filename", new.filename.as_ref().map(|f| f.as_str()))
        .detail("size", new.size)
        .detail("sha256", new.sha256.to_hex())
        .detail("recipients", new.recipients.len());
    if let Some(note) = &new.routing_note {
        audit = audit.detail("routing", note);
    }
    if let Some(q) = &new.quarantine {
        audit = audit.detail("quarantined", &q.code).detail("reason", &q.reason);
    }
    if let Some(r) = new.reply_to {
        audit = audit.detail("reply_to", r.to_string());
    }
    if let Some(b) = new.batch {
        audit = audit.detail("batch", b.to_string());
    }
    audit
}

/// How an upload's first bytes are checked against its extension.
pub(crate) enum Sniffing {
    /// Refuse the upload as soon as the first bytes do not look like the extension (if any).
    Enforce(Option<String>),
    /// Keep the first bytes so the caller can judge them once the object is stored.
    Keep,
}

/// A sealed object in the store with no row yet: commit it with [`commit_transfer`] or it is
/// collected by the orphan sweep.
pub(crate) struct StoredObject {
    pub object_id: Uuid,
    pub wrapped_key: WrappedKey,
    pub size: u64,
    pub sha256: [u8; 32],
    /// Up to [`HEAD_LEN`] first bytes, with [`Sniffing::Keep`].
    pub head: Vec<u8>,
}

impl StoredObject {
    /// The row for this object, delivered to `recipients` (none: held in quarantine).
    pub fn into_transfer(
        self,
        state: &AppState,
        who: &Principal,
        channel: ChannelSlug,
        filename: FileName,
        recipients: impl IntoIterator<Item = OrgId>,
    ) -> NewTransfer {
        NewTransfer {
            id: TransferId::new_random(),
            object_id: self.object_id,
            channel,
            sender: who.org_id(),
            sender_key_id: who.key_id().map(str::to_owned),
            recipients: recipients.into_iter().collect(),
            content_type: content_type_for(&filename).to_owned(),
            filename: Some(filename),
            size: self.size,
            sha256: Sha256Digest(self.sha256),
            wrapped_key: Some(self.wrapped_key),
            created_at: state.now(),
            message: None,
            reply_to: None,
            quarantine: None,
            routing_note: None,
            batch: None,
        }
    }
}

/// Streams a body into a new sealed object under a fresh data key. Nothing is left in the store
/// when this fails: too large, digest mismatch, content refused, client gone.
pub(crate) async fn store_object<S, E>(
    state: &AppState,
    body: S,
    limit: u64,
    sniffing: Sniffing,
    expected_sha256: Option<[u8; 32]>,
) -> Result<StoredObject, ServiceError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let object_id = Uuid::new_v4();
    let dek = DataKey::generate();
    let writer = state.blobs().begin(ObjectKey(object_id)).await?;
    let (sniff, keep_head) = match sniffing {
        Sniffing::Enforce(ext) => (ext, false),
        Sniffing::Keep => (None, true),
    };
    let mut pipeline = SealingPipeline::new(writer, &dek, object_id, limit, sniff, keep_head);
    let idle = Duration::from_secs(state.settings().transfers.body_idle_timeout_secs.max(1));
    let sealed = pipeline.run(body, idle).await;
    let (writer, size, sha256) = match sealed {
        Ok(done) => done,
        Err((writer, e)) => {
            writer.abort().await;
            return Err(e);
        }
    };
    if let Some(expected) = expected_sha256 {
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
    Ok(StoredObject {
        object_id,
        wrapped_key: state.keys().wrap(&dek, object_id.as_bytes()),
        size,
        sha256,
        head: std::mem::take(&mut pipeline.head),
    })
}

/// Inserts the row that makes a stored object visible. If that fails the object is deleted
/// (or, failing that too, left to the orphan sweep), so nothing half-kept remains.
///
/// When the database went away mid-commit the outcome is unknown: the commit may have landed
/// with only its reply lost. Then the object stays, and the orphan sweep, which deletes only
/// objects that no row names once their grace has passed, settles it either way; deleting it
/// here could leave a committed transfer without its file.
pub(crate) async fn commit_transfer(
    state: &AppState,
    new: NewTransfer,
    audit: AuditEvent,
) -> Result<TransferRecord, ServiceError> {
    let audit = transfer_event(audit, &new);
    match state.repo().insert_transfer(&new, &audit).await {
        Ok(record) => {
            info!(transfer = %record.id, size = record.size, "transfer stored");
            crate::metrics::global().transfer_stored(record.size);
            Ok(record)
        }
        Err(e) => {
            if matches!(e, StoreError::Unavailable(_)) {
                warn!(object = %new.object_id, "the database failed during the commit; the orphan sweep settles the object");
            } else if new.filename.is_some() {
                if let Err(del) = state.blobs().delete(ObjectKey(new.object_id)).await {
                    warn!(object = %new.object_id, error = %del, "could not delete the object of a failed upload; the orphan sweep will");
                }
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

/// Segments handed to a blocking thread at a time. Each hand-off wakes a thread (and, on a
/// virtual machine, often a halted virtual CPU), so they are made a few segments at a time;
/// the batch is also what reaches the object store in one write.
const SEGMENTS_PER_BATCH: usize = 4;
const BATCH_SIZE: usize = SEGMENTS_PER_BATCH * SEGMENT_SIZE;

/// The sealer, the running digest and one batch's buffers. While a full batch is hashed and
/// sealed they are on a blocking thread, so the request's task goes on taking the next batch
/// off the connection (TLS decryption, HTTP framing) in the meantime: the two halves of an
/// upload's CPU work overlap instead of taking turns.
struct SegmentWork {
    sealer: Sealer,
    hasher: Sha256,
    plain: Vec<u8>,
    sealed: Vec<u8>,
}

impl SegmentWork {
    /// Hashes and seals every segment in `plain`; with `last`, its final segment ends the object.
    fn hash_and_seal(&mut self, last: bool) -> Result<(), ServiceError> {
        self.hasher.update(&self.plain);
        self.sealed.clear();
        let sealing_failed = |e| ServiceError::Internal(anyhow::anyhow!("sealing failed: {e}"));
        if self.plain.is_empty() {
            // The empty object: one empty final segment.
            return self.sealer.seal_next(&[], last, &mut self.sealed).map_err(sealing_failed);
        }
        let count = self.plain.len().div_ceil(SEGMENT_SIZE);
        for (i, segment) in self.plain.chunks(SEGMENT_SIZE).enumerate() {
            self.sealer.seal_next(segment, last && i + 1 == count, &mut self.sealed).map_err(sealing_failed)?;
        }
        Ok(())
    }
}

type SealJob = tokio::task::JoinHandle<(Box<SegmentWork>, Result<(), ServiceError>)>;

enum Segments {
    /// Between segments: nothing sealed is waiting to be written.
    Ready(Box<SegmentWork>),
    /// A full batch is being sealed; its ciphertext is written once it is done.
    Sealing(SealJob),
    /// Only while the pipeline moves its work between the two states above.
    Moving,
}

struct SealingPipeline {
    writer: Option<Box<dyn BlobWriter>>,
    /// The object's header, until it is written before the first segment.
    header: Option<[u8; HEADER_LEN]>,
    segments: Segments,
    /// The batch being filled from the body. At most two batches of plaintext (this one and the
    /// one being sealed) and one of ciphertext are held per upload, whatever its size.
    filling: Vec<u8>,
    len: u64,
    limit: u64,
    /// The extension whose look the first bytes must have, until they have been checked.
    sniff: Option<String>,
    /// Keep the first bytes for the caller even when not checking them here.
    keep_head: bool,
    head: Vec<u8>,
}

type Sealed = (Box<dyn BlobWriter>, u64, [u8; 32]);

impl SealingPipeline {
    fn new(
        writer: Box<dyn BlobWriter>,
        dek: &DataKey,
        object_id: Uuid,
        limit: u64,
        sniff: Option<String>,
        keep_head: bool,
    ) -> Self {
        let sealer = Sealer::new(dek, object_id.as_bytes());
        Self {
            writer: Some(writer),
            header: Some(sealer.header()),
            segments: Segments::Ready(Box::new(SegmentWork {
                sealer,
                hasher: Sha256::new(),
                plain: Vec::new(),
                sealed: Vec::new(),
            })),
            filling: Vec::new(),
            len: 0,
            limit,
            sniff,
            keep_head,
            head: Vec::new(),
        }
    }

    /// Consumes the body. On failure hands the writer back so the caller can abort it.
    async fn run<S, E>(&mut self, mut body: S, idle: Duration) -> Result<Sealed, (Box<dyn BlobWriter>, ServiceError)>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
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
        if self.sniff.is_some() || (self.keep_head && self.head.len() < HEAD_LEN) {
            let take = (HEAD_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
            if self.head.len() == HEAD_LEN && self.sniff.is_some() {
                self.check_content()?;
            }
        }
        while !chunk.is_empty() {
            // A full batch is sealed only once more data shows its last segment is not the
            // object's last.
            if self.filling.len() == BATCH_SIZE {
                self.seal_full().await?;
            }
            let take = (BATCH_SIZE - self.filling.len()).min(chunk.len());
            self.filling.extend_from_slice(&chunk[..take]);
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

    /// Hands the full batch being filled to a blocking thread, once the one before it is
    /// written.
    async fn seal_full(&mut self) -> Result<(), ServiceError> {
        let mut work = self.settle().await?;
        std::mem::swap(&mut work.plain, &mut self.filling);
        self.filling.clear();
        self.segments = Segments::Sealing(tokio::task::spawn_blocking(move || {
            let sealed = work.hash_and_seal(false);
            (work, sealed)
        }));
        Ok(())
    }

    /// Waits for the batch being sealed, if any, and writes it.
    async fn settle(&mut self) -> Result<Box<SegmentWork>, ServiceError> {
        match std::mem::replace(&mut self.segments, Segments::Moving) {
            Segments::Ready(work) => Ok(work),
            Segments::Sealing(job) => {
                let (work, sealed) =
                    job.await.map_err(|e| ServiceError::Internal(anyhow::anyhow!("the sealing task failed: {e}")))?;
                sealed?;
                self.write_sealed(&work.sealed).await?;
                Ok(work)
            }
            Segments::Moving => Err(ServiceError::Internal(anyhow::anyhow!("the upload was sealed after a failure"))),
        }
    }

    async fn write_sealed(&mut self, sealed: &[u8]) -> Result<(), ServiceError> {
        let writer = self.writer.as_mut().expect("writer present while sealing");
        if let Some(header) = self.header.take() {
            writer.write(&header).await?;
        }
        writer.write(sealed).await?;
        Ok(())
    }

    /// Seals the last batch here: there is nothing left to overlap it with.
    async fn finish(&mut self) -> Result<(u64, [u8; 32]), ServiceError> {
        self.check_content()?;
        let mut work = self.settle().await?;
        std::mem::swap(&mut work.plain, &mut self.filling);
        work.hash_and_seal(true)?;
        self.write_sealed(&work.sealed).await?;
        let sha = std::mem::take(&mut work.hasher).finalize().into();
        Ok((self.len, sha))
    }
}
