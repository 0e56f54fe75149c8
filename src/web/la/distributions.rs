//! A team's distributions (files sent to a group of schools) with their receipts, and for
//! each one the schools that have downloaded it and when. Read through the sender's own
//! mailbox (`service::teams::distributions`), so only the sender sees them.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::routing::get;
use serde::Deserialize;

use super::collect::bad_address;
use crate::domain::TransferId;
use crate::service::teams::distributions;
use crate::service::{AppState, ServiceError};
use crate::web::chrome::{Chrome, Section};
use crate::web::error::PageError;
use crate::web::format::{size, uk_time, visible_name};
use crate::web::session::SignedIn;
use crate::web::Page;

pub fn pages() -> Vec<Page> {
    vec![Page::new(Method::GET, "/distributions", get(list)), Page::new(Method::GET, "/distributions/{id}", get(show))]
}

#[derive(Deserialize)]
struct Params {
    cursor: Option<i64>,
}

struct Row {
    id: String,
    filename: String,
    channel: String,
    sent: String,
    receipts: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "la/distributions.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<Row>,
    next: Option<String>,
}

/// "downloaded by 10 of 253 schools".
fn receipts(downloaded: usize, of: usize) -> String {
    let noun = if of == 1 { "school" } else { "schools" };
    format!("downloaded by {downloaded} of {of} {noun}")
}

async fn list(
    State(state): State<AppState>,
    who: SignedIn,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<ListPage, PageError> {
    let Query(params) = params.map_err(|_| bad_address())?;
    let page = distributions::list(&state, &who.principal, params.cursor).await?;
    let catalogue = state.channels();
    let rows = page
        .items
        .iter()
        .map(|d| {
            let t = &d.transfer;
            Row {
                id: t.id.to_string(),
                filename: visible_name(&t.filename),
                channel: catalogue.get(&t.channel).map_or_else(|| t.channel.clone(), |c| c.name.clone()),
                sent: uk_time(t.created_at),
                receipts: receipts(d.downloaded_by, t.recipients.len()),
            }
        })
        .collect();
    Ok(ListPage {
        chrome: Chrome::signed_in(&state, &who, Section::Sent),
        rows,
        next: page.next_cursor.map(|c| format!("/distributions?cursor={c}")),
    })
}

struct Receipt {
    dfe: String,
    school: String,
    downloaded: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "la/distributions_show.html")]
struct ShowPage {
    chrome: Chrome,
    filename: String,
    channel: String,
    sent: String,
    size: String,
    summary: String,
    receipts: Vec<Receipt>,
}

async fn show(State(state): State<AppState>, who: SignedIn, Path(id): Path<String>) -> Result<ShowPage, PageError> {
    let id: TransferId = id.parse().map_err(|_| PageError::from(ServiceError::NotFound))?;
    let detail = distributions::get(&state, &who.principal, id).await?;
    let t = &detail.transfer;
    let catalogue = state.channels();
    Ok(ShowPage {
        chrome: Chrome::signed_in(&state, &who, Section::Sent),
        filename: visible_name(&t.filename),
        channel: catalogue.get(&t.channel).map_or_else(|| t.channel.clone(), |c| c.name.clone()),
        sent: uk_time(t.created_at),
        size: size(t.size),
        summary: receipts(detail.downloaded_by(), detail.receipts.len()),
        receipts: detail
            .receipts
            .iter()
            .map(|r| Receipt {
                dfe: r.school.reference.to_string(),
                school: r.school.name.clone(),
                downloaded: r.first_download.map(uk_time),
            })
            .collect(),
    })
}
