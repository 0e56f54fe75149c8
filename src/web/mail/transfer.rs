//! `GET /transfers/{id}`: one transfer, its whole thread (the request and every answer in it,
//! replies to replies too, oldest first), its receipts per recipient for the sender, how it was
//! routed, and the forms to reply, withdraw it or remove it.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::routing::get;
use serde::Deserialize;

use super::rows::{org_label, Row};
use crate::domain::{TransferId, TransferState};
use crate::service::browse::{self, receipts};
use crate::service::{channels, mailbox, AppState};
use crate::web::chrome::{Chrome, Section};
use crate::web::error::PageError;
use crate::web::format;
use crate::web::session::SignedIn;
use crate::web::Page;

pub fn pages() -> Vec<Page> {
    vec![Page::new(Method::GET, "/transfers/{id}", get(show))]
}

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    #[serde(default)]
    done: String,
}

struct Step {
    row: Row,
    current: bool,
}

struct ReceiptLine {
    recipient: String,
    status: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "mail/transfer.html")]
struct TransferPage {
    chrome: Chrome,
    row: Row,
    sha256: String,
    mine: bool,
    box_name: &'static str,
    box_href: &'static str,
    routing_note: Option<String>,
    quarantine: Option<String>,
    thread: Vec<Step>,
    receipts: Vec<ReceiptLine>,
    can_withdraw: bool,
    can_remove: bool,
    can_reply: bool,
    action: String,
    replied: bool,
}

async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    q: Result<Query<ShowQuery>, QueryRejection>,
) -> Result<TransferPage, PageError> {
    let id = super::transfer_id(&id)?;
    let detail = mailbox::get(&state, &who.principal, id).await?;
    let t = &detail.transfer;
    let mine = t.is_sent_by(who.principal.org_id());
    let receipt = receipts::for_transfers(&state, &who.principal, &[t]).await?;
    let row = Row::new(&state, t, receipt[0]);

    let thread = thread(&state, &who, id).await?;

    let receipts = match &detail.downloads {
        Some(downloads) => t
            .recipients
            .iter()
            .map(|r| {
                let first = downloads.iter().filter(|d| d.org.id == r.org.id).map(|d| d.at).min();
                let status = match (first, r.removed_at) {
                    (Some(at), _) => format!("Downloaded {}", format::uk_time(at)),
                    (None, Some(_)) => "Removed from their inbox without downloading".to_owned(),
                    (None, None) => "Not downloaded yet".to_owned(),
                };
                ReceiptLine { recipient: org_label(&r.org), status }
            })
            .collect(),
        None => Vec::new(),
    };
    let available = t.state == TransferState::Available;
    let may_send_here =
        channels::offered(&state, &who.principal)?.iter().any(|o| o.channel.slug == t.channel && o.route.is_some());
    let (box_name, box_href) = if mine { ("Sent", "/sent") } else { ("Inbox", "/inbox") };
    Ok(TransferPage {
        chrome: Chrome::signed_in(&state, &who, if mine { Section::Sent } else { Section::Inbox }),
        sha256: if t.has_file { t.sha256.to_hex() } else { String::new() },
        mine,
        box_name,
        box_href,
        routing_note: t.routing_note.clone(),
        quarantine: t.quarantine.as_ref().filter(|_| t.is_quarantined()).map(|q| q.reason.clone()),
        thread,
        receipts,
        can_withdraw: mine && available,
        can_remove: !mine && available && t.is_delivered_to(who.principal.org_id()),
        can_reply: !mine && available && may_send_here,
        action: format!("/transfers/{id}"),
        replied: q.is_ok_and(|Query(q)| q.done == "replied"),
        row,
    })
}

/// The whole thread, oldest first, with this transfer marked; nothing when it stands alone.
async fn thread(state: &AppState, who: &SignedIn, current: TransferId) -> Result<Vec<Step>, PageError> {
    let records = browse::thread::of(state, &who.principal, current).await?;
    if records.len() < 2 {
        return Ok(Vec::new());
    }
    let records: Vec<_> = records.iter().collect();
    let found = receipts::for_transfers(state, &who.principal, &records).await?;
    Ok(records.iter().zip(found).map(|(t, r)| Step { row: Row::new(state, t, r), current: t.id == current }).collect())
}
