//! `GET /inbox` and `GET /sent`: a mailbox a page at a time, newest first, with its filters.
//! Paging is the service's keyset paging: the next link carries the cursor the service gave,
//! and a short trail of the cursors before it so a previous link needs no query of its own.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::routing::get;
use serde::Deserialize;
use time::{Date, OffsetDateTime};

use super::links::with_query;
use super::rows::Row;
use crate::domain::{ChannelSlug, Mailbox, OrgRef};
use crate::service::browse::receipts;
use crate::service::mailbox::{self, ListFilter};
use crate::service::{channels, AppState, ServiceError};
use crate::store::meta::DownloadState;
use crate::web::chrome::{Chrome, Section};
use crate::web::error::PageError;
use crate::web::format;
use crate::web::session::SignedIn;
use crate::web::Page;

/// Rows a page shows.
pub const PAGE_SIZE: u32 = 25;
/// How many earlier pages the previous links remember; beyond that, previous goes to the start.
const TRAIL: usize = 40;

pub fn pages() -> Vec<Page> {
    vec![Page::new(Method::GET, "/inbox", get(inbox)), Page::new(Method::GET, "/sent", get(sent))]
}

#[derive(Deserialize, Default)]
pub struct BoxQuery {
    #[serde(default)]
    channel: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    trail: String,
    #[serde(default)]
    done: String,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "mail/box.html")]
struct BoxPage {
    chrome: Chrome,
    inbox: bool,
    title: &'static str,
    path: &'static str,
    channels: Vec<Choice>,
    states: Vec<Choice>,
    from: String,
    to: String,
    since: String,
    error: Option<String>,
    notice: Option<&'static str>,
    rows: Vec<Row>,
    next: Option<String>,
    previous: Option<String>,
    filtered: bool,
}

async fn inbox(
    State(state): State<AppState>,
    who: SignedIn,
    q: Result<Query<BoxQuery>, QueryRejection>,
) -> Result<BoxPage, PageError> {
    show(state, who, Mailbox::Inbox, q.map(|Query(q)| q).unwrap_or_default()).await
}

async fn sent(
    State(state): State<AppState>,
    who: SignedIn,
    q: Result<Query<BoxQuery>, QueryRejection>,
) -> Result<BoxPage, PageError> {
    show(state, who, Mailbox::Sent, q.map(|Query(q)| q).unwrap_or_default()).await
}

async fn show(state: AppState, who: SignedIn, mailbox: Mailbox, q: BoxQuery) -> Result<BoxPage, PageError> {
    let inbox = mailbox == Mailbox::Inbox;
    let (title, path, section) =
        if inbox { ("Inbox", "/inbox", Section::Inbox) } else { ("Sent", "/sent", Section::Sent) };
    let channels = channels::offered(&state, &who.principal)?
        .into_iter()
        .map(|o| Choice { selected: o.channel.slug == q.channel, value: o.channel.slug, label: o.channel.name })
        .collect();
    let states = [("new", "New"), ("downloaded", "Downloaded")]
        .into_iter()
        .map(|(v, l)| Choice { value: v.into(), label: l.into(), selected: q.state == v })
        .collect();
    let mut page = BoxPage {
        chrome: Chrome::signed_in(&state, &who, section),
        inbox,
        title,
        path,
        channels,
        states,
        from: q.from.clone(),
        to: q.to.clone(),
        since: q.since.clone(),
        error: None,
        notice: notice(&q.done),
        rows: Vec::new(),
        next: None,
        previous: None,
        filtered: [&q.channel, &q.from, &q.to, &q.state, &q.since].iter().any(|v| !v.trim().is_empty()),
    };
    let filter = match filter(&q, inbox) {
        Ok(f) => f,
        Err(message) => {
            page.error = Some(message);
            return Ok(page);
        }
    };
    let cursor = q.cursor.trim().parse::<i64>().ok();
    let listed = mailbox::list(&state, &who.principal, mailbox, filter, cursor, Some(PAGE_SIZE)).await;
    let listed = match listed {
        Ok(l) => l,
        Err(e @ ServiceError::BadRequest { .. }) => {
            page.error = Some(PageError::from(e).message);
            return Ok(page);
        }
        Err(e) => return Err(e.into()),
    };
    let records: Vec<_> = listed.items.iter().map(|e| &e.transfer).collect();
    let found = receipts::for_transfers(&state, &who.principal, &records).await?;
    page.rows = records.iter().zip(found).map(|(t, r)| Row::new(&state, t, r)).collect();

    let trail: Vec<&str> = q.trail.split(',').filter(|c| c.parse::<i64>().is_ok()).collect();
    let filters =
        [("channel", q.channel.as_str()), ("from", &q.from), ("to", &q.to), ("state", &q.state), ("since", &q.since)];
    let link = |cursor: &str, trail: &[&str]| {
        let trail = trail.join(",");
        let mut pairs = filters.to_vec();
        pairs.extend([("cursor", cursor), ("trail", trail.as_str())]);
        with_query(path, &pairs)
    };
    let current = cursor.map(|c| c.to_string());
    let mut next_trail = trail.clone();
    if let Some(current) = &current {
        let mut earlier = trail.clone();
        let back = earlier.pop().unwrap_or_default();
        page.previous = Some(link(back, &earlier));
        next_trail.push(current);
        if next_trail.len() > TRAIL {
            next_trail.remove(0);
        }
    }
    page.next = listed.next_cursor.map(|n| link(&n.to_string(), &next_trail));
    Ok(page)
}

/// The filters as the service takes them; a value that names nothing is said so in words.
fn filter(q: &BoxQuery, inbox: bool) -> Result<ListFilter, String> {
    let channel = match q.channel.trim() {
        "" => None,
        raw => Some(ChannelSlug::parse(raw).ok_or_else(|| format!("There is no channel called {raw}."))?),
    };
    // Each box has its own correspondent filter; the other's field is not on its page.
    let (from, to) = if inbox { (organisation(&q.from)?, None) } else { (None, organisation(&q.to)?) };
    let download_state = match q.state.as_str() {
        "new" if inbox => Some(DownloadState::New),
        "downloaded" if inbox => Some(DownloadState::Downloaded),
        _ => None,
    };
    let since = match q.since.trim() {
        "" => None,
        raw => Some(start_of_day(raw).ok_or("Enter the date as year-month-day, for example 2026-12-07.")?),
    };
    Ok(ListFilter { channel, from, to, since, download_state })
}

/// A school by DfE number or a team by name, as typed in a filter.
fn organisation(raw: &str) -> Result<Option<OrgRef>, String> {
    match raw.trim() {
        "" => Ok(None),
        raw => raw.parse().map(Some).map_err(|e| format!("Enter a DfE number such as 825/2001 or a team name: {e}.")),
    }
}

/// Midnight at the start of that day in London.
fn start_of_day(raw: &str) -> Option<OffsetDateTime> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(raw, &format).ok()?;
    let utc_midnight = date.midnight().assume_utc();
    let offset = i64::from(format::london_offset(utc_midnight).whole_seconds());
    Some(utc_midnight - time::Duration::seconds(offset))
}

fn notice(done: &str) -> Option<&'static str> {
    match done {
        "removed" => Some("The transfer was removed from your inbox."),
        "withdrawn" => Some("The transfer was withdrawn: nobody can download it now."),
        _ => None,
    }
}
