//! The quarantine: batch files that could not be routed, each with why, a school picker that
//! searches by name, DfE number or URN (a plain GET form, so no script is needed), and discard
//! after a confirmation step.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::web::form;

use crate::domain::records::TransferRecord;
use crate::domain::TransferId;
use crate::service::{quarantine, routing_desk, AppState, ServiceError};
use crate::web::chrome::{Chrome, Section};
use crate::web::error::PageError;
use crate::web::format::{size, uk_time, visible_name};
use crate::web::session::SignedIn;
use crate::web::Page;

pub fn pages() -> Vec<Page> {
    vec![
        Page::new(Method::GET, "/quarantine", get(list)),
        Page::new(Method::GET, "/quarantine/{id}", get(picker)),
        Page::new(Method::POST, "/quarantine/{id}/route", post(route)),
        Page::new(Method::GET, "/quarantine/{id}/discard", get(confirm_discard)),
        Page::new(Method::POST, "/quarantine/{id}/discard", post(discard)),
    ]
}

/// Reasons a held file cannot be sent to any school (the use case refuses them too).
const NOT_REROUTABLE: &[&str] = &["type_not_allowed", "content_mismatch"];

const PAGE_SIZE: u32 = 50;

/// A held file as the pages show it.
struct Held {
    id: String,
    name: String,
    channel: String,
    size: String,
    held_since: String,
    why: String,
    reroutable: bool,
}

impl Held {
    fn new(state: &AppState, t: &TransferRecord) -> Self {
        let channel = state.channels().get(&t.channel).map(|c| c.name.clone()).unwrap_or_else(|| t.channel.clone());
        let code = t.quarantine.as_ref().map(|q| q.code.as_str()).unwrap_or_default();
        Held {
            id: t.id.0.to_string(),
            name: visible_name(&t.filename),
            channel,
            size: size(t.size),
            held_since: uk_time(t.quarantined_at.unwrap_or(t.created_at)),
            why: t.quarantine.as_ref().map(|q| q.reason.clone()).unwrap_or_default(),
            reroutable: !NOT_REROUTABLE.contains(&code),
        }
    }
}

fn transfer_id(raw: &str) -> Result<TransferId, PageError> {
    uuid::Uuid::parse_str(raw).map(TransferId).map_err(|_| PageError::from(ServiceError::NotFound))
}

#[derive(Deserialize)]
struct ListQuery {
    before: Option<i64>,
}

#[derive(Template, WebTemplate)]
#[template(path = "la/quarantine_list.html")]
struct ListPage {
    chrome: Chrome,
    held: Vec<Held>,
    next: Option<i64>,
    first_page: bool,
}

async fn list(
    State(state): State<AppState>,
    who: SignedIn,
    Query(query): Query<ListQuery>,
) -> Result<ListPage, PageError> {
    routing_desk::batch_channels(&state, &who.principal)?;
    let page = quarantine::list(&state, &who.principal, query.before, Some(PAGE_SIZE)).await?;
    Ok(ListPage {
        chrome: Chrome::signed_in(&state, &who, Section::Quarantine),
        held: page.items.iter().map(|e| Held::new(&state, &e.transfer)).collect(),
        next: page.next_cursor,
        first_page: query.before.is_none(),
    })
}

#[derive(Deserialize)]
struct PickerQuery {
    q: Option<String>,
}

struct Match {
    dfe: String,
    name: String,
    urn: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "la/quarantine_picker.html")]
struct PickerPage {
    chrome: Chrome,
    file: Held,
    q: String,
    searched: bool,
    matches: Vec<Match>,
    error: Option<String>,
}

async fn picker_page(
    state: &AppState,
    who: &SignedIn,
    id: TransferId,
    q: Option<String>,
    error: Option<String>,
) -> Result<PickerPage, PageError> {
    let file = routing_desk::held(state, &who.principal, id).await?;
    let q = q.unwrap_or_default();
    let searched = !q.trim().is_empty();
    let matches = routing_desk::find_schools(state, &who.principal, &q)
        .await?
        .into_iter()
        .map(|o| Match {
            dfe: o.reference.to_string(),
            name: o.name,
            urn: o.urn.map(|u| u.to_string()).unwrap_or_default(),
        })
        .collect();
    Ok(PickerPage {
        chrome: Chrome::signed_in(state, who, Section::Quarantine),
        file: Held::new(state, &file),
        q,
        searched,
        matches,
        error,
    })
}

async fn picker(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    Query(query): Query<PickerQuery>,
) -> Result<PickerPage, PageError> {
    picker_page(&state, &who, transfer_id(&id)?, query.q, None).await
}

#[derive(Template, WebTemplate)]
#[template(path = "la/quarantine_done.html")]
struct DonePage {
    chrome: Chrome,
    heading: String,
    body: String,
}

async fn route(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    let fields = form::parse(&body);
    who.check_form_token(&state, form::first(&fields, "csrf"))?;
    let id = transfer_id(&id)?;
    let Some(to) = form::first(&fields, "to").filter(|t| !t.trim().is_empty()) else {
        let q = form::first(&fields, "q").map(str::to_owned);
        let page = picker_page(&state, &who, id, q, Some("Choose the school to send the file to".into())).await?;
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    };
    let sent = quarantine::route(&state, &who.principal, id, to).await?;
    let to = sent.recipients.first().map(|d| format!("{} ({})", d.org.name, d.org.reference)).unwrap_or(to.to_owned());
    Ok(DonePage {
        chrome: Chrome::signed_in(&state, &who, Section::Quarantine),
        heading: "File sent".to_owned(),
        body: format!("{} was sent to {to}. It is in the school's inbox now.", visible_name(&sent.filename)),
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "la/quarantine_discard.html")]
struct ConfirmPage {
    chrome: Chrome,
    file: Held,
}

async fn confirm_discard(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
) -> Result<ConfirmPage, PageError> {
    let file = routing_desk::held(&state, &who.principal, transfer_id(&id)?).await?;
    Ok(ConfirmPage { chrome: Chrome::signed_in(&state, &who, Section::Quarantine), file: Held::new(&state, &file) })
}

async fn discard(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<DonePage, PageError> {
    let fields = form::parse(&body);
    who.check_form_token(&state, form::first(&fields, "csrf"))?;
    let id = transfer_id(&id)?;
    let file = routing_desk::held(&state, &who.principal, id).await?;
    quarantine::discard(&state, &who.principal, id).await?;
    Ok(DonePage {
        chrome: Chrome::signed_in(&state, &who, Section::Quarantine),
        heading: "File discarded".to_owned(),
        body: format!("{} was discarded and can no longer be read by anyone.", visible_name(&file.filename)),
    })
}
