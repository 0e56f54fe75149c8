//! Dropping a batch of checking files (one zip, or many files) and reading what became of each:
//! the same batch use case the API's `POST /api/v1/batches` uses, streamed part by part.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::domain::channel::Channel;
use crate::domain::{ChannelSlug, FileName};
use crate::service::batch::{self, refused, Batch, BatchReport, FileReport};
use crate::service::{routing_desk, AppState, ServiceError};
use crate::web::chrome::{Chrome, Section};
use crate::web::error::PageError;
use crate::web::format::visible_name;
use crate::web::session::SignedIn;
use crate::web::Page;

pub fn pages() -> Vec<Page> {
    vec![
        Page::new(Method::GET, "/batches", get(form)),
        Page::new(Method::POST, "/batches", axum::routing::post(drop_batch)),
        Page::new(Method::GET, "/batches/{id}", get(report)),
    ]
}

/// The form's own fields are short; anything longer is not from this form.
const FIELD_LIMIT: u64 = 1024;

struct ChannelChoice {
    slug: String,
    name: String,
    extensions: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "la/batch_form.html")]
struct FormPage {
    chrome: Chrome,
    channels: Vec<ChannelChoice>,
    error: Option<String>,
}

fn form_page(state: &AppState, who: &SignedIn, channels: &[Channel], error: Option<String>) -> FormPage {
    FormPage {
        chrome: Chrome::signed_in(state, who, Section::Batches),
        channels: channels
            .iter()
            .map(|c| ChannelChoice {
                slug: c.slug.clone(),
                name: c.name.clone(),
                extensions: c.extensions.iter().map(|e| format!(".{e}")).collect::<Vec<_>>().join(", "),
            })
            .collect(),
        error,
    }
}

async fn form(State(state): State<AppState>, who: SignedIn) -> Result<FormPage, PageError> {
    let channels = routing_desk::batch_channels(&state, &who.principal)?;
    Ok(form_page(&state, &who, &channels, None))
}

fn unreadable(message: impl Into<String>) -> PageError {
    PageError::new(StatusCode::BAD_REQUEST, "The files could not be read", message)
}

async fn text_field(field: Option<multer::Field<'static>>, name: &str) -> Option<String> {
    let field = field.filter(|f| f.name() == Some(name) && f.file_name().is_none())?;
    field.text().await.ok()
}

/// Reads the form as it arrives: the form token first (nothing else is read when it is
/// wrong), then the channel, then each file, placed as it streams in.
async fn drop_batch(
    State(state): State<AppState>,
    who: SignedIn,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    // Who may drop a batch is decided before the body is read: the same refusal whatever was sent.
    let channels = routing_desk::batch_channels(&state, &who.principal)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| unreadable("The form was not sent as a file upload. Go back and choose the files again."))?;
    let limits = &state.settings().batches;
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(limits.max_upload_bytes)
            .for_field("csrf", FIELD_LIMIT)
            .for_field("channel", FIELD_LIMIT),
    );
    let mut form = multer::Multipart::with_constraints(body.into_data_stream(), boundary, constraints);
    let token = text_field(form.next_field().await.ok().flatten(), "csrf").await;
    who.check_form_token(&state, token.as_deref())?;
    let raw = text_field(form.next_field().await.ok().flatten(), "channel").await.unwrap_or_default();
    let slug = ChannelSlug::parse(raw.trim())
        .filter(|s| channels.iter().any(|c| c.slug == s.as_str()))
        .ok_or_else(|| unreadable("Choose the channel the files are for, then send them again."))?;
    let batch = Batch::begin(&state, &who.principal, slug)?;
    let report = match place(&state, &batch, &mut form).await {
        Ok(Some(report)) => report,
        Ok(None) => {
            let page = form_page(&state, &who, &channels, Some("Choose the files to send".to_owned()));
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Redirect::to(&format!("/batches/{}", report.batch)).into_response())
}

/// Places the form's files; a single `.zip` is read as an archive of files. None when the form
/// held no file at all.
async fn place(
    state: &AppState,
    batch: &Batch,
    form: &mut multer::Multipart<'static>,
) -> Result<Option<BatchReport>, ServiceError> {
    let limits = &state.settings().batches;
    let mut results: Vec<FileReport> = Vec::new();
    let mut recorded = false;
    loop {
        let field = match form.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                if !recorded {
                    batch.record().await?;
                }
                results.push(stopped(&e, limits.max_upload_bytes));
                break;
            }
        };
        // A file input left empty still sends a part, with an empty name.
        let Some(raw) = field.file_name().filter(|n| !n.is_empty()).map(str::to_owned) else { continue };
        if !recorded && raw.to_ascii_lowercase().ends_with(".zip") {
            return batch::place_zip(batch.clone(), field).await.map(Some);
        }
        if !recorded {
            batch.record().await?;
            recorded = true;
        }
        if results.len() >= limits.max_entries {
            results.push(refused(
                raw,
                "too_many_files",
                format!("a batch holds at most {} files: send the rest in another batch", limits.max_entries),
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

/// The last line of a report whose form could not be read to its end.
fn stopped(e: &multer::Error, limit: u64) -> FileReport {
    match e {
        multer::Error::StreamSizeExceeded { .. } => refused(
            String::new(),
            "batch_too_large",
            format!(
                "the files come to more than the {} one batch may be: the files after this point were not received; \
                 send them in another batch",
                crate::web::format::size(limit)
            ),
        ),
        _ => refused(
            String::new(),
            "incomplete",
            "the upload stopped part way: the files after this point were not received; send them again",
        ),
    }
}

/// A stored report as the API gives it; only what the page shows is read.
#[derive(Deserialize)]
struct StoredReport {
    channel: String,
    #[serde(default)]
    files: usize,
    #[serde(default)]
    delivered: usize,
    #[serde(default)]
    quarantined: usize,
    #[serde(default)]
    refused: usize,
    #[serde(default)]
    results: Vec<StoredResult>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct StoredResult {
    name: String,
    outcome: String,
    transfer: Option<String>,
    to: Option<String>,
    to_name: Option<String>,
    filename: Option<String>,
    note: Option<String>,
    reason: Option<String>,
}

/// One line of the report, in words.
struct Line {
    name: String,
    tag: &'static str,
    tag_class: &'static str,
    what: String,
    note: Option<String>,
    /// Where to act on a held file.
    link: Option<String>,
}

impl From<StoredResult> for Line {
    fn from(r: StoredResult) -> Self {
        let name = if r.name.is_empty() { "(the rest of the upload)".to_owned() } else { visible_name(&r.name) };
        let reason = r.reason.unwrap_or_default();
        match r.outcome.as_str() {
            "delivered" => Line {
                name,
                tag: "Delivered",
                tag_class: "govuk-tag--green",
                what: format!(
                    "Delivered to {} ({}) as {}.",
                    r.to_name.unwrap_or_default(),
                    r.to.unwrap_or_default(),
                    r.filename.unwrap_or_default()
                ),
                note: r.note.map(|n| format!("Forwarded: {n}.")),
                link: None,
            },
            "quarantined" => Line {
                name,
                tag: "In quarantine",
                tag_class: "govuk-tag--yellow",
                what: format!("Held in the quarantine, sent to nobody yet: {reason}."),
                note: None,
                link: r.transfer.map(|t| format!("/quarantine/{t}")),
            },
            _ => Line {
                name,
                tag: "Not accepted",
                tag_class: "govuk-tag--red",
                what: format!("Not accepted and not kept: {reason}."),
                note: None,
                link: None,
            },
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "la/batch_report.html")]
struct ReportPage {
    chrome: Chrome,
    channel: String,
    files: usize,
    delivered: usize,
    quarantined: usize,
    refused: usize,
    lines: Vec<Line>,
    message: Option<String>,
}

async fn report(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>) -> Result<ReportPage, PageError> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| PageError::from(ServiceError::NotFound))?;
    let stored = batch::report(&state, &who.principal, id).await?;
    let stored: StoredReport = serde_json::from_value(stored)
        .map_err(|e| PageError::from(ServiceError::Internal(anyhow::anyhow!("a stored batch report: {e}"))))?;
    let channel = state.channels().get(&stored.channel).map(|c| c.name.clone()).unwrap_or(stored.channel);
    Ok(ReportPage {
        chrome: Chrome::signed_in(&state, &who, Section::Batches),
        channel,
        files: stored.files,
        delivered: stored.delivered,
        quarantined: stored.quarantined,
        refused: stored.refused,
        lines: stored.results.into_iter().map(Line::from).collect(),
        message: stored.message,
    })
}
