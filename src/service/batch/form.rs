//! A batch sent as a multipart form, by a job (`POST /api/v1/batches`) or from the browser's
//! batch page: each file part placed as it streams in, nothing spooled, the whole form capped at
//! the batch limit. A form whose first file is a `.zip` is read as that archive.

use bytes::Bytes;
use futures_util::Stream;
use multer::{Constraints, Multipart, SizeLimit};

use super::{place_zip, refused, Batch, BatchReport, FileReport};
use crate::domain::FileName;
use crate::service::{AppState, ServiceError};

/// The form's own text fields (a token, a channel) are short; anything longer is not from a form.
const TEXT_FIELD_LIMIT: u64 = 1024;

pub struct BatchForm {
    parts: Multipart<'static>,
    max_entries: usize,
    max_bytes: u64,
}

impl BatchForm {
    /// Opens the form. `text_fields` are the names of the short fields read before the files
    /// with [`BatchForm::text`]; each is capped, as the whole form is.
    pub fn open<S, E>(state: &AppState, body: S, boundary: String, text_fields: &[&str]) -> Self
    where
        S: Stream<Item = Result<Bytes, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>> + 'static,
    {
        let limits = &state.settings().batches;
        let size = text_fields.iter().fold(SizeLimit::new().whole_stream(limits.max_upload_bytes), |size, name| {
            size.for_field(name.to_string(), TEXT_FIELD_LIMIT)
        });
        let parts = Multipart::with_constraints(body, boundary, Constraints::new().size_limit(size));
        Self { parts, max_entries: limits.max_entries, max_bytes: limits.max_upload_bytes }
    }

    /// The next part's text if it is the field `name` (and not a file); None otherwise, or if
    /// the form cannot be read that far.
    pub async fn text(&mut self, name: &str) -> Option<String> {
        let field = self.parts.next_field().await.ok().flatten()?;
        if field.name() != Some(name) || field.file_name().is_some() {
            return None;
        }
        field.text().await.ok()
    }

    /// Places each file part as it arrives; parts without a file name (a note, a submit
    /// button, a file input left empty) are not files. None when the form held no file at all:
    /// then nothing was recorded.
    pub async fn place(mut self, batch: &Batch) -> Result<Option<BatchReport>, ServiceError> {
        let mut results: Vec<FileReport> = Vec::new();
        let mut recorded = false;
        loop {
            let field = match self.parts.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(e) => {
                    if !recorded {
                        batch.record().await?;
                    }
                    results.push(stopped(&e, self.max_bytes));
                    break;
                }
            };
            let Some(raw) = field.file_name().filter(|n| !n.is_empty()).map(str::to_owned) else { continue };
            if !recorded && raw.to_ascii_lowercase().ends_with(".zip") {
                return place_zip(batch.clone(), field).await.map(Some);
            }
            if !recorded {
                batch.record().await?;
                recorded = true;
            }
            if results.len() >= self.max_entries {
                results.push(refused(
                    raw,
                    "too_many_files",
                    format!("a batch holds at most {} files: send the rest in another batch", self.max_entries),
                ));
                break;
            }
            let report = match FileName::parse(&raw) {
                Ok(name) => batch.place(raw, name, field).await,
                Err(e) => refused(raw, "invalid_filename", e.to_string()),
            };
            results.push(report);
        }
        if results.is_empty() {
            return Ok(None);
        }
        batch.finish(results).await.map(Some)
    }
}

/// The last line of a report whose form could not be read to its end.
fn stopped(e: &multer::Error, limit: u64) -> FileReport {
    match e {
        multer::Error::StreamSizeExceeded { .. } => refused(
            String::new(),
            "batch_too_large",
            format!(
                "the files come to more than the {} MiB ({limit} bytes) one batch may be: the files after this \
                 point were not received; send them in another batch",
                limit / (1024 * 1024)
            ),
        ),
        other => refused(
            String::new(),
            "incomplete",
            format!(
                "the upload stopped part way ({other}): the files after this point were not received; send them again"
            ),
        ),
    }
}
