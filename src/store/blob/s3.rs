//! Objects in an S3-compatible bucket (AWS S3, SeaweedFS, MinIO, Garage), stored as
//! `PREFIX/<object id>`.
//!
//! A write is buffered up to one part. If it ends within the first part it becomes one
//! PutObject; otherwise it becomes a multipart upload, created when the first part is full, with
//! each part sent before more is read, so an upload holds at most one part in memory. Parts
//! start at 8 MiB and double every 1,000 parts: a 50 GiB object fits in 3,000 parts of at most
//! 32 MiB, far inside S3's limit of 10,000. The object appears only when the upload is
//! completed; an upload aborted, or dropped before commit, is aborted on the store, and the
//! orphan sweep aborts any that a crash left behind.

use std::ops::Range;
use std::time::{Duration, SystemTime};

use anyhow::anyhow;
use async_trait::async_trait;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use bytes::BytesMut;
use futures_util::stream;
use tokio_util::io::ReaderStream;
use tracing::warn;
use uuid::Uuid;

use super::{BlobError, BlobInfo, BlobStore, BlobStream, BlobWriter, ObjectKey};
use crate::config::S3Settings;

const READ_CHUNK: usize = 64 * 1024 + 16;
const MIN_PART: usize = 8 * 1024 * 1024;
const PARTS_PER_STEP: usize = 1000;
/// 8 MiB << 9 = 4 GiB, under S3's 5 GiB largest part.
const MAX_DOUBLINGS: usize = 9;

/// The size of the part after `parts_sent` parts have gone.
pub fn part_size(parts_sent: usize) -> usize {
    MIN_PART << (parts_sent / PARTS_PER_STEP).min(MAX_DOUBLINGS)
}

pub struct S3BlobStore {
    client: Client,
    bucket: String,
    /// `PREFIX/`, or empty for the top of the bucket.
    prefix: String,
}

impl S3BlobStore {
    /// Builds the client. Nothing is contacted here: a store that is down at start-up makes the
    /// server unready (see `check`), not unable to start.
    pub async fn connect(settings: &S3Settings) -> anyhow::Result<Self> {
        if settings.bucket.trim().is_empty() {
            anyhow::bail!("storage.s3.bucket is empty: name the bucket to store objects in (it must exist already)");
        }
        let region = if settings.region.is_empty() {
            std::env::var("AWS_REGION")
                .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|_| "us-east-1".to_owned())
        } else {
            settings.region.clone()
        };
        // ring, as the rest of the server uses, rather than the SDK's default aws-lc build.
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(settings.connect_timeout_secs.max(1)))
            .operation_attempt_timeout(Duration::from_secs(settings.request_timeout_secs.max(1)))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region))
            .http_client(http)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(settings.max_attempts.max(1)));
        if !settings.endpoint.is_empty() {
            loader = loader.endpoint_url(settings.endpoint.clone());
        }
        let shared = loader.load().await;
        let config = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.force_path_style)
            // Objects are sealed with an AEAD per segment; extra checksums add CPU, not safety,
            // and several S3-compatible stores do not support the newer ones.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        let prefix = settings.prefix.trim_matches('/');
        let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix}/") };
        Ok(Self { client: Client::from_conf(config), bucket: settings.bucket.clone(), prefix })
    }

    fn key_of(&self, key: ObjectKey) -> String {
        format!("{}{}", self.prefix, key.0.hyphenated())
    }

    /// The object id a stored key names, or `None` for keys that are not ours to judge.
    fn id_of(&self, stored: &str) -> Option<Uuid> {
        stored.strip_prefix(&self.prefix).and_then(|rest| Uuid::parse_str(rest).ok())
    }

    async fn exists(&self, key: ObjectKey) -> Result<(), BlobError> {
        match self.client.head_object().bucket(&self.bucket).key(self.key_of(key)).send().await {
            Ok(_) => Ok(()),
            Err(e) => Err(classify(e, "HeadObject").into_blob_error(key)),
        }
    }
}

/// What went wrong with one request, as far as the store's callers care.
enum Failure {
    Missing,
    RangeNotSatisfiable,
    Other(anyhow::Error),
}

impl Failure {
    fn into_blob_error(self, key: ObjectKey) -> BlobError {
        match self {
            Failure::Missing => BlobError::NotFound(key),
            Failure::RangeNotSatisfiable => BlobError::Unavailable(anyhow!("the store refused a byte range")),
            Failure::Other(e) => BlobError::Unavailable(e),
        }
    }
}

fn classify<E>(err: SdkError<E, HttpResponse>, operation: &str) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    match (status, code.as_deref()) {
        (_, Some("NoSuchKey" | "NotFound")) | (Some(404), None) => return Failure::Missing,
        (Some(416), _) | (_, Some("InvalidRange")) => return Failure::RangeNotSatisfiable,
        _ => {}
    }
    let hint = match (status, code.as_deref()) {
        (_, Some("NoSuchBucket")) => "; create the bucket, or correct storage.s3.bucket",
        (Some(401 | 403), _) => {
            "; check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) and the bucket policy"
        }
        (None, _) => "; check that the store is running and storage.s3.endpoint is right",
        _ => "",
    };
    Failure::Other(anyhow!("S3 {operation} failed{hint}: {}", DisplayErrorContext(&err)))
}

fn unavailable<E>(err: SdkError<E, HttpResponse>, operation: &str) -> BlobError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match classify(err, operation) {
        Failure::Other(e) => BlobError::Unavailable(e),
        Failure::Missing => BlobError::Unavailable(anyhow!("S3 {operation} failed: not found")),
        Failure::RangeNotSatisfiable => BlobError::Unavailable(anyhow!("S3 {operation} failed: bad range")),
    }
}

fn system_time(t: &aws_sdk_s3::primitives::DateTime) -> SystemTime {
    SystemTime::try_from(*t).unwrap_or(SystemTime::UNIX_EPOCH)
}

fn empty_stream() -> BlobStream {
    Box::pin(stream::empty())
}

#[async_trait]
impl BlobStore for S3BlobStore {
    async fn begin(&self, key: ObjectKey) -> Result<Box<dyn BlobWriter>, BlobError> {
        Ok(Box::new(S3Writer {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: self.key_of(key),
            buf: BytesMut::new(),
            upload_id: None,
            parts: Vec::new(),
            written: 0,
            finished: false,
        }))
    }

    async fn get(&self, key: ObjectKey, range: Option<Range<u64>>) -> Result<BlobStream, BlobError> {
        let mut request = self.client.get_object().bucket(&self.bucket).key(self.key_of(key));
        if let Some(r) = &range {
            // HTTP cannot ask for no bytes; answer as the local store does, after making sure
            // the object is there.
            if r.start >= r.end {
                self.exists(key).await?;
                return Ok(empty_stream());
            }
            request = request.range(format!("bytes={}-{}", r.start, r.end - 1));
        }
        match request.send().await {
            Ok(out) => Ok(Box::pin(ReaderStream::with_capacity(out.body.into_async_read(), READ_CHUNK))),
            // A range that starts past the end: the object is there, it just has no such bytes.
            Err(e) => match classify(e, "GetObject") {
                Failure::RangeNotSatisfiable => Ok(empty_stream()),
                other => Err(other.into_blob_error(key)),
            },
        }
    }

    async fn delete(&self, key: ObjectKey) -> Result<(), BlobError> {
        match self.client.delete_object().bucket(&self.bucket).key(self.key_of(key)).send().await {
            Ok(_) => Ok(()),
            Err(e) => match classify(e, "DeleteObject") {
                Failure::Missing => Ok(()),
                other => Err(other.into_blob_error(key)),
            },
        }
    }

    async fn list(&self) -> Result<Vec<BlobInfo>, BlobError> {
        let mut found = Vec::new();
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(&self.prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| unavailable(e, "ListObjectsV2"))?;
            for object in page.contents() {
                let Some(id) = object.key().and_then(|k| self.id_of(k)) else { continue };
                let modified = object.last_modified().map(system_time).unwrap_or(SystemTime::UNIX_EPOCH);
                found.push(BlobInfo { key: ObjectKey(id), modified });
            }
        }
        Ok(found)
    }

    async fn remove_abandoned_writes(&self, before: SystemTime) -> Result<u64, BlobError> {
        let mut stale = Vec::new();
        let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(&self.prefix)
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(id_marker.take())
                .send()
                .await
                .map_err(|e| unavailable(e, "ListMultipartUploads"))?;
            for upload in page.uploads() {
                let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else { continue };
                let started = upload.initiated().map(system_time).unwrap_or(SystemTime::UNIX_EPOCH);
                if self.id_of(key).is_some() && started < before {
                    stale.push((key.to_owned(), id.to_owned()));
                }
            }
            if !page.is_truncated().unwrap_or(false) {
                break;
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            id_marker = page.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() && id_marker.is_none() {
                break;
            }
        }
        let mut removed = 0;
        for (key, id) in stale {
            match self.client.abort_multipart_upload().bucket(&self.bucket).key(&key).upload_id(&id).send().await {
                Ok(_) => removed += 1,
                // Another node's sweep got there first.
                Err(e) if e.code() == Some("NoSuchUpload") => {}
                Err(e) => return Err(unavailable(e, "AbortMultipartUpload")),
            }
        }
        Ok(removed)
    }

    async fn check(&self) -> Result<(), BlobError> {
        self.client.head_bucket().bucket(&self.bucket).send().await.map_err(|e| unavailable(e, "HeadBucket"))?;
        Ok(())
    }
}

struct S3Writer {
    client: Client,
    bucket: String,
    key: String,
    /// The part being filled; never more than one part.
    buf: BytesMut,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    written: u64,
    /// Committed or aborted: nothing left to clean up on drop.
    finished: bool,
}

impl S3Writer {
    async fn send_part(&mut self) -> Result<(), BlobError> {
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let created = self
                    .client
                    .create_multipart_upload()
                    .bucket(&self.bucket)
                    .key(&self.key)
                    .send()
                    .await
                    .map_err(|e| unavailable(e, "CreateMultipartUpload"))?;
                let id = created
                    .upload_id()
                    .ok_or_else(|| BlobError::Unavailable(anyhow!("S3 CreateMultipartUpload returned no upload id")))?
                    .to_owned();
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = i32::try_from(self.parts.len() + 1)
            .map_err(|_| BlobError::Unavailable(anyhow!("too many parts for one upload")))?;
        let body = self.buf.split().freeze();
        let sent = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .content_length(body.len() as i64)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| unavailable(e, "UploadPart"))?;
        self.parts
            .push(CompletedPart::builder().part_number(number).set_e_tag(sent.e_tag().map(str::to_owned)).build());
        Ok(())
    }

    async fn abort_upload(&mut self) {
        self.finished = true;
        if let Some(id) = self.upload_id.take() {
            abort_upload(&self.client, &self.bucket, &self.key, &id).await;
        }
    }
}

async fn abort_upload(client: &Client, bucket: &str, key: &str, upload_id: &str) {
    if let Err(e) = client.abort_multipart_upload().bucket(bucket).key(key).upload_id(upload_id).send().await {
        warn!(key, error = %DisplayErrorContext(&e), "could not abort a multipart upload; the orphan sweep will");
    }
}

#[async_trait]
impl BlobWriter for S3Writer {
    async fn write(&mut self, mut chunk: &[u8]) -> Result<(), BlobError> {
        if self.finished {
            return Err(BlobError::Unavailable(anyhow!("writer already closed")));
        }
        while !chunk.is_empty() {
            let part = part_size(self.parts.len());
            let take = chunk.len().min(part - self.buf.len());
            if self.buf.capacity() - self.buf.len() < take {
                // Grow by doubling, but never past one part, so small objects stay small.
                // A fresh exact allocation: BytesMut's own growth could overshoot the part.
                let want = (self.buf.capacity() * 2).max(self.buf.len() + take).min(part);
                let mut bigger = BytesMut::with_capacity(want);
                bigger.extend_from_slice(&self.buf);
                self.buf = bigger;
            }
            self.buf.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            self.written += take as u64;
            if self.buf.len() == part {
                self.send_part().await?;
                // The object is large: take the whole next part at once, not by growing to it.
                self.buf = BytesMut::with_capacity(part_size(self.parts.len()));
            }
        }
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<u64, BlobError> {
        if self.finished {
            return Err(BlobError::Unavailable(anyhow!("writer already closed")));
        }
        let Some(upload_id) = self.upload_id.clone() else {
            let body = self.buf.split().freeze();
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_length(body.len() as i64)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(|e| unavailable(e, "PutObject"))?;
            self.finished = true;
            return Ok(self.written);
        };
        let result = async {
            if !self.buf.is_empty() {
                self.send_part().await?;
            }
            let done = CompletedMultipartUpload::builder().set_parts(Some(std::mem::take(&mut self.parts))).build();
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(&upload_id)
                .multipart_upload(done)
                .send()
                .await
                .map_err(|e| unavailable(e, "CompleteMultipartUpload"))
        }
        .await;
        match result {
            Ok(_) => {
                self.finished = true;
                Ok(self.written)
            }
            Err(e) => {
                self.abort_upload().await;
                Err(e)
            }
        }
    }

    async fn abort(mut self: Box<Self>) {
        self.abort_upload().await;
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        // A request cancelled mid-upload drops its writer without abort. Abort on the store in
        // the background so the parts do not linger until the sweep's grace period is over.
        if self.finished {
            return;
        }
        let Some(upload_id) = self.upload_id.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let (client, bucket, key) = (self.client.clone(), self.bucket.clone(), self.key.clone());
        runtime.spawn(async move { abort_upload(&client, &bucket, &key, &upload_id).await });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_50_gib_object_fits_in_s3s_part_limit_with_parts_of_at_most_32_mib() {
        let target: u64 = 50 * 1024 * 1024 * 1024;
        let (mut total, mut parts, mut largest) = (0u64, 0usize, 0usize);
        while total < target {
            let size = part_size(parts);
            largest = largest.max(size);
            total += size as u64;
            parts += 1;
        }
        assert!(parts <= 10_000, "{parts} parts");
        assert_eq!(largest, 32 * 1024 * 1024);
    }

    #[test]
    fn parts_never_exceed_s3s_largest_part() {
        assert!(part_size(9_999) <= 5 * 1024 * 1024 * 1024);
        assert_eq!(part_size(0), 8 * 1024 * 1024);
    }
}
