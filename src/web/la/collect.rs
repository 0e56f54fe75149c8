//! Collecting many files at once: the new files in the team's inbox, channel by channel, with
//! a box to tick for each and a button that takes everything new on a channel; the files chosen
//! come back as one zip archive, written as it is sent (see `service::teams::collect`).

use askama::Template;
use askama_web::WebTemplate;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Extension;
use serde::Deserialize;

use crate::domain::{ChannelSlug, Mailbox, TransferId};
use crate::http::request_context::ClientAddr;
use crate::service::mailbox::{self, ListFilter};
use crate::service::teams::collect;
use crate::service::{AppState, ServiceError};
use crate::store::meta::DownloadState;
use crate::web::chrome::{Chrome, Section};
use crate::web::error::PageError;
use crate::web::form;
use crate::web::format::{size, uk_time, visible_name};
use crate::web::session::SignedIn;
use crate::web::Page;

pub fn pages() -> Vec<Page> {
    vec![Page::new(Method::GET, "/collect", get(show)), Page::new(Method::POST, "/collect", post(download))]
}

#[derive(Deserialize, Default)]
struct Params {
    channel: Option<String>,
    cursor: Option<i64>,
}

struct Row {
    id: String,
    filename: String,
    sender: String,
    received: String,
    size: String,
}

struct ChannelGroup {
    slug: String,
    name: String,
    rows: Vec<Row>,
}

#[derive(Template, WebTemplate)]
#[template(path = "la/collect.html")]
struct CollectPage {
    chrome: Chrome,
    error: Option<String>,
    channel: Option<String>,
    groups: Vec<ChannelGroup>,
    next: Option<String>,
}

async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<CollectPage, PageError> {
    let Query(params) = params.map_err(|_| bad_address())?;
    render(&state, &who, params, None).await
}

/// The new files of the inbox, a page at a time, grouped by channel in the order they came.
async fn render(
    state: &AppState,
    who: &SignedIn,
    params: Params,
    error: Option<String>,
) -> Result<CollectPage, PageError> {
    collect::may_collect(&who.principal)?;
    let channel = params.channel.filter(|c| !c.is_empty());
    let filter = ListFilter { channel: channel_slug(channel.as_deref())?, ..new_files() };
    let page =
        mailbox::list(state, &who.principal, Mailbox::Inbox, filter, params.cursor, Some(mailbox::MAX_PAGE)).await?;
    let catalogue = state.channels();
    let mut groups: Vec<ChannelGroup> = Vec::new();
    for entry in page.items {
        let t = entry.transfer;
        if !t.has_file {
            continue;
        }
        let row = Row {
            id: t.id.to_string(),
            filename: visible_name(&t.filename),
            sender: format!("{} ({})", t.sender.name, t.sender.reference),
            received: uk_time(t.created_at),
            size: size(t.size),
        };
        match groups.iter_mut().find(|g| g.slug == t.channel) {
            Some(group) => group.rows.push(row),
            None => groups.push(ChannelGroup {
                name: catalogue.get(&t.channel).map_or_else(|| t.channel.clone(), |c| c.name.clone()),
                slug: t.channel,
                rows: vec![row],
            }),
        }
    }
    let next = page.next_cursor.map(|c| match &channel {
        Some(ch) => format!(
            "/collect?channel={}&cursor={c}",
            percent_encoding::utf8_percent_encode(ch, percent_encoding::NON_ALPHANUMERIC)
        ),
        None => format!("/collect?cursor={c}"),
    });
    Ok(CollectPage { chrome: Chrome::signed_in(state, who, Section::Collect), error, channel, groups, next })
}

/// A query string the pages never make: someone edited the address.
pub(super) fn bad_address() -> PageError {
    PageError::new(
        StatusCode::BAD_REQUEST,
        "This address is not right",
        "Go back and follow a link on the page instead.",
    )
}

fn new_files() -> ListFilter {
    ListFilter { download_state: Some(DownloadState::New), ..ListFilter::default() }
}

fn channel_slug(raw: Option<&str>) -> Result<Option<ChannelSlug>, PageError> {
    raw.map(|c| {
        ChannelSlug::parse(c).ok_or_else(|| {
            PageError::new(
                StatusCode::BAD_REQUEST,
                "There is no such channel",
                "Choose a channel from the list on the Collect page.",
            )
        })
    })
    .transpose()
}

async fn download(
    State(state): State<AppState>,
    who: SignedIn,
    client: Option<Extension<ClientAddr>>,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = form::parse(&body);
    who.check_form_token(&state, form::first(&fields, "csrf"))?;
    collect::may_collect(&who.principal)?;
    let ids = match form::first(&fields, "all_channel") {
        Some(channel) => all_new_on(&state, &who, channel).await?,
        None => form::all(&fields, "file")
            .map(|raw| raw.parse::<TransferId>().map_err(|_| PageError::from(ServiceError::NotFound)))
            .collect::<Result<Vec<_>, _>>()?,
    };
    if ids.is_empty() {
        let params = Params { channel: form::first(&fields, "channel").map(str::to_owned), cursor: None };
        let page = render(&state, &who, params, Some("Select at least one file to download".to_owned())).await?;
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    let files = collect::select(&state, &who.principal, &ids).await?;
    let client = client.map(|Extension(addr)| addr.ip());
    let archive = collect::archive(state.clone(), who.principal, files, client);
    let date = state.now().date();
    let label = form::first(&fields, "all_channel").and_then(ChannelSlug::parse);
    let name = match label {
        Some(slug) => format!("pigeonpost-{}-{date}.zip", slug.as_str()),
        None => format!("pigeonpost-files-{date}.zip"),
    };
    let mut response = Response::new(Body::from_stream(archive));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// Every new file on `channel` in the caller's inbox, up to what one archive holds.
async fn all_new_on(state: &AppState, who: &SignedIn, channel: &str) -> Result<Vec<TransferId>, PageError> {
    let filter = ListFilter { channel: channel_slug(Some(channel))?, ..new_files() };
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page =
            mailbox::list(state, &who.principal, Mailbox::Inbox, filter.clone(), cursor, Some(mailbox::MAX_PAGE))
                .await?;
        ids.extend(page.items.iter().filter(|e| e.transfer.has_file).map(|e| e.transfer.id));
        match page.next_cursor {
            Some(c) if ids.len() < collect::MAX_FILES => cursor = Some(c),
            _ => break,
        }
    }
    ids.truncate(collect::MAX_FILES);
    Ok(ids)
}
