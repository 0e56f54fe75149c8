//! Dropping a batch of checking files (one zip, or many files) and reading what became of each:
//! the same batch use case the API's `POST /api/v1/batches` uses, streamed part by part.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::domain::channel::Channel;
use crate::domain::ChannelSlug;
use crate::service::batch::{self, Batch, BatchForm, RecentBatch, SentBy};
use crate::service::{routing_desk, AppState, ServiceError};
use crate::web::chrome::{Chrome, Section};
use crate::web::error::PageError;
use crate::web::format::{uk_time, visible_name};
use crate::web::session::SignedIn;
use crate::web::Page;

pub fn pages() -> Vec<Page> {
    vec![
        Page::new(Method::GET, "/batches", get(form)),
        Page::new(Method::POST, "/batches", axum::routing::post(drop_batch)),
        Page::new(Method::GET, "/batches/{id}", get(report)),
    ]
}

struct ChannelChoice {
    slug: String,
    name: String,
    extensions: String,
}

/// One of the team's recent batches, in words.
struct Recent {
    id: String,
    when: String,
    who: String,
    channel: String,
    outcome: String,
}

impl Recent {
    fn new(state: &AppState, b: RecentBatch) -> Self {
        let outcome = match b.counts {
            Some(c) => format!(
                "{} {}: {} delivered, {} in the quarantine, {} not accepted",
                c.files,
                if c.files == 1 { "file" } else { "files" },
                c.delivered,
                c.quarantined,
                c.refused
            ),
            None => "Not read to its end".to_owned(),
        };
        Recent {
            id: b.id.to_string(),
            when: uk_time(b.created_at),
            who: match b.sent_by {
                SentBy::User(name) => name,
                SentBy::Key(key) => format!("API key {key}"),
                SentBy::Unknown => "Not recorded".to_owned(),
            },
            channel: state.channels().get(&b.channel).map(|c| c.name.clone()).unwrap_or(b.channel),
            outcome,
        }
    }
}

/// How many recent batches the page lists at a time.
const RECENT_PAGE: u32 = 20;

#[derive(Deserialize, Default)]
struct RecentQuery {
    before: Option<i64>,
}

#[derive(Template, WebTemplate)]
#[template(path = "la/batch_form.html")]
struct FormPage {
    chrome: Chrome,
    channels: Vec<ChannelChoice>,
    error: Option<String>,
    recent: Vec<Recent>,
    /// The cursor of the next, older, page of recent batches.
    older: Option<i64>,
    first_page: bool,
}

async fn form_page(
    state: &AppState,
    who: &SignedIn,
    channels: &[Channel],
    error: Option<String>,
    before: Option<i64>,
) -> Result<FormPage, PageError> {
    let recent = batch::recent(state, &who.principal, before, Some(RECENT_PAGE)).await?;
    Ok(FormPage {
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
        recent: recent.items.into_iter().map(|b| Recent::new(state, b)).collect(),
        older: recent.next_cursor,
        first_page: before.is_none(),
    })
}

async fn form(
    State(state): State<AppState>,
    who: SignedIn,
    query: Result<Query<RecentQuery>, QueryRejection>,
) -> Result<FormPage, PageError> {
    let before = query.map(|Query(q)| q).unwrap_or_default().before;
    let channels = routing_desk::batch_channels(&state, &who.principal)?;
    form_page(&state, &who, &channels, None, before).await
}

fn unreadable(message: impl Into<String>) -> PageError {
    PageError::new(StatusCode::BAD_REQUEST, "The files could not be read", message)
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
    let mut form = BatchForm::open(&state, body.into_data_stream(), boundary, &["csrf", "channel"]);
    who.check_form_token(&state, form.text("csrf").await.as_deref())?;
    let raw = form.text("channel").await.unwrap_or_default();
    let slug = ChannelSlug::parse(raw.trim())
        .filter(|s| channels.iter().any(|c| c.slug == s.as_str()))
        .ok_or_else(|| unreadable("Choose the channel the files are for, then send them again."))?;
    let batch = Batch::begin(&state, &who.principal, slug)?;
    let Some(report) = form.place(&batch).await? else {
        let page = form_page(&state, &who, &channels, Some("Choose the files to send".to_owned()), None).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    Ok(Redirect::to(&format!("/batches/{}", report.batch)).into_response())
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
