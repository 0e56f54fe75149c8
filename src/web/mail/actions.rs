//! What a person does to a transfer from its page or a list: download it (the API's own
//! streamed answer), withdraw it (its sender), remove it from an inbox, and reply to it with
//! a message or a file.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Extension;

use super::form::{FormReader, Part};
use crate::domain::channel::Recipients;
use crate::domain::{ChannelSlug, FileName};
use crate::http::request_context::ClientAddr;
use crate::service::messages::{self, MessageRequest};
use crate::service::upload::{self, UploadRequest};
use crate::service::{channels, download, mailbox, AppState, ServiceError};
use crate::web::error::PageError;
use crate::web::form;
use crate::web::session::SignedIn;
use crate::web::Page;

pub fn pages() -> Vec<Page> {
    vec![
        Page::new(Method::GET, "/transfers/{id}/download", get(fetch)),
        Page::new(Method::POST, "/transfers/{id}/withdraw", post(withdraw)),
        Page::new(Method::POST, "/transfers/{id}/remove", post(remove)),
        Page::new(Method::POST, "/transfers/{id}/reply", post(reply)),
    ]
}

async fn fetch(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    client: Option<Extension<ClientAddr>>,
) -> Result<Response, PageError> {
    let id = super::transfer_id(&id)?;
    let client = client.map(|Extension(addr)| addr.ip());
    let dl = download::open(&state, &who.principal, id, None, client).await?;
    Ok(crate::http::file_response(dl))
}

/// The two ways a transfer leaves a list, each from its own form: its sender withdraws it
/// from everyone; a recipient removes it from their own inbox. The service decides between
/// them by who asks, so each form checks it is the one asked for: a sender's "remove" never
/// withdraws a file from everyone.
#[derive(Clone, Copy)]
enum TakeAway {
    Withdraw,
    Remove,
}

async fn withdraw(state: State<AppState>, who: SignedIn, id: Path<String>, body: Bytes) -> Result<Response, PageError> {
    take_away(state, who, id, body, TakeAway::Withdraw).await
}

async fn remove(state: State<AppState>, who: SignedIn, id: Path<String>, body: Bytes) -> Result<Response, PageError> {
    take_away(state, who, id, body, TakeAway::Remove).await
}

async fn take_away(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    body: Bytes,
    how: TakeAway,
) -> Result<Response, PageError> {
    who.check_form_token(&state, form::first(&form::parse(&body), "csrf"))?;
    let id = super::transfer_id(&id)?;
    let transfer = mailbox::get(&state, &who.principal, id).await?.transfer;
    let (as_sender, done) = match how {
        TakeAway::Withdraw => (true, "/sent?done=withdrawn"),
        TakeAway::Remove => (false, "/inbox?done=removed"),
    };
    if transfer.is_sent_by(who.principal.org_id()) != as_sender {
        return Err(ServiceError::NotFound.into());
    }
    mailbox::delete(&state, &who.principal, id).await?;
    Ok(Redirect::to(done).into_response())
}

async fn reply(
    State(state): State<AppState>,
    who: SignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, PageError> {
    // The transfer is looked up before the body is read, so a transfer the person may not see
    // is not found whatever was posted.
    let id = super::transfer_id(&id)?;
    let original = mailbox::get(&state, &who.principal, id).await?.transfer;
    let mut form = FormReader::open(&state, &who, &headers, body).await?;
    let channel = ChannelSlug::parse(&original.channel).ok_or(ServiceError::NotFound)?;
    // A fixed route or a reply route finds the recipient itself; otherwise the answer goes to
    // whoever sent the original.
    let route = channels::offered(&state, &who.principal)?
        .into_iter()
        .find(|o| o.channel.slug == original.channel)
        .and_then(|o| o.route)
        .ok_or(ServiceError::Forbidden)?;
    let to = match route.to {
        Recipients::Team(_) | Recipients::Reply => None,
        _ => Some(original.sender.reference.to_string()),
    };
    let mut message = String::new();
    let mut sent = None;
    while let Some(part) = form.next().await? {
        match part {
            Part::Text { name, value } if name == "message" => message = value,
            Part::Text { .. } => {}
            Part::File(file) => {
                let name = file.file_name().unwrap_or_default().to_owned();
                if name.is_empty() || sent.is_some() {
                    continue;
                }
                let filename = FileName::parse(&name)
                    .map_err(|e| PageError::from(ServiceError::bad_request("invalid_filename", e.to_string())))?;
                let req = UploadRequest {
                    channel: channel.clone(),
                    to: to.clone(),
                    filename,
                    message: Some(message.clone()).filter(|m| !m.trim().is_empty()),
                    reply_to: Some(id),
                    expected_sha256: None,
                    declared_len: None,
                };
                sent = Some(upload::upload(&state, &who.principal, req, file).await?);
            }
        }
    }
    if sent.is_none() {
        let req = MessageRequest { channel, to, message, reply_to: Some(id) };
        messages::send(&state, &who.principal, req).await?;
    }
    Ok(Redirect::to(&format!("/transfers/{id}?done=replied")).into_response())
}
