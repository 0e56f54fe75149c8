//! `GET /send` (choose the channel, then the recipient it allows) and `POST /send`: the files of
//! a multipart form, each streamed through the same upload service as the API, each with its
//! own result. Asked with `Accept: application/json` (as the page's script asks, one file a
//! request), the same action answers each file's result as JSON.

use askama::Template;
use askama_web::WebTemplate;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::form::{FormReader, Part};
use super::rules;
use crate::domain::channel::Recipients;
use crate::domain::{ChannelSlug, FileName};
use crate::service::browse::recipients;
use crate::service::channels::{self, ChannelOffer};
use crate::service::messages::{self, MessageRequest};
use crate::service::upload::{self, UploadRequest};
use crate::service::{AppState, ServiceError};
use crate::web::chrome::{Chrome, Section};
use crate::web::error::{FieldError, PageError};
use crate::web::format::visible_name;
use crate::web::session::SignedIn;
use crate::web::Page;

pub fn pages() -> Vec<Page> {
    vec![Page::new(Method::GET, "/send", get(form)), Page::new(Method::POST, "/send", post(submit))]
}

#[derive(Deserialize, Default)]
pub struct SendQuery {
    #[serde(default)]
    channel: String,
}

struct ChannelChoice {
    slug: String,
    name: String,
    description: String,
    rules: String,
}

struct Recipient {
    value: String,
    label: String,
}

/// How the form asks for the recipient, as the channel's route for this sender says.
enum Addressee {
    /// The route names the team: nothing to choose.
    Fixed(String),
    Choose(Vec<Recipient>),
    /// A distribution: all schools, a phase, or a list of DfE numbers.
    Group,
    /// Each file's name says which school it is for.
    FromName,
    /// Answers go from the request's own page.
    ReplyOnly,
}

#[derive(Template, WebTemplate)]
#[template(path = "mail/send_choose.html")]
struct ChoosePage {
    chrome: Chrome,
    channels: Vec<ChannelChoice>,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "mail/send_form.html")]
struct FormPage {
    chrome: Chrome,
    channel: ChannelChoice,
    addressee: Addressee,
    messages: bool,
    accept: String,
}

async fn form(
    State(state): State<AppState>,
    who: SignedIn,
    q: Result<Query<SendQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let q = q.map(|Query(q)| q).unwrap_or_default();
    let offers: Vec<ChannelOffer> =
        channels::offered(&state, &who.principal)?.into_iter().filter(|o| o.route.is_some()).collect();
    let choice = |o: &ChannelOffer| ChannelChoice {
        slug: o.channel.slug.clone(),
        name: o.channel.name.clone(),
        description: o.channel.description.clone(),
        rules: rules::in_words(&o.channel, o.route.as_ref(), o.max_size_bytes, &who.principal),
    };
    let chosen = offers.iter().find(|o| o.channel.slug == q.channel);
    let (Some(offer), Some(slug)) = (chosen, ChannelSlug::parse(&q.channel)) else {
        let error = (!q.channel.is_empty()).then(|| "Choose one of the channels listed".to_owned());
        let page = ChoosePage {
            chrome: Chrome::signed_in(&state, &who, Section::Send),
            channels: offers.iter().map(choice).collect(),
            error,
        };
        return Ok(page.into_response());
    };
    let addressee = match offer.route.as_ref().map(|r| &r.to) {
        Some(Recipients::Team(slug)) => Addressee::Fixed(format!("The LA team {slug}")),
        Some(Recipients::Group) => Addressee::Group,
        Some(Recipients::NamedSchool) => Addressee::FromName,
        Some(Recipients::Reply) | None => Addressee::ReplyOnly,
        Some(_) => Addressee::Choose(
            recipients::choices(&state, &who.principal, &slug)
                .await?
                .into_iter()
                .map(|o| Recipient { value: o.reference.to_string(), label: format!("{} ({})", o.name, o.reference) })
                .collect(),
        ),
    };
    let page = FormPage {
        chrome: Chrome::signed_in(&state, &who, Section::Send),
        channel: choice(offer),
        addressee,
        messages: offer.channel.messages,
        accept: rules::accept_attribute(&offer.channel),
    };
    Ok(page.into_response())
}

/// The form's text fields, which come before its files.
#[derive(Default)]
struct Fields {
    channel: String,
    to: String,
    to_list: String,
    message: String,
}

impl Fields {
    fn set(&mut self, name: &str, value: String) {
        match name {
            "channel" => self.channel = value,
            "to" => self.to = value,
            "to_list" => self.to_list = value,
            "message" => self.message = value,
            _ => {}
        }
    }

    fn to(&self) -> Option<String> {
        [&self.to_list, &self.to].into_iter().map(|v| v.trim()).find(|v| !v.is_empty()).map(str::to_owned)
    }

    fn channel(&self) -> Result<ChannelSlug, ServiceError> {
        ChannelSlug::parse(self.channel.trim())
            .ok_or_else(|| ServiceError::bad_request("invalid_channel", "choose the channel to send on"))
    }

    fn message(&self) -> Option<String> {
        Some(self.message.clone()).filter(|m| !m.trim().is_empty())
    }
}

/// One file's result, as the page lists it and as the script reads it.
#[derive(Serialize)]
pub struct FileResult {
    /// The name as sent, made safe to show.
    filename: String,
    stored: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    href: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip)]
    status: StatusCode,
}

impl FileResult {
    fn from_outcome(name: &str, outcome: Result<crate::domain::records::TransferRecord, ServiceError>) -> Self {
        match outcome {
            Ok(t) => Self {
                filename: visible_name(if t.has_file { &t.filename } else { name }),
                stored: true,
                href: Some(format!("/transfers/{}", t.id)),
                error: None,
                status: StatusCode::CREATED,
            },
            Err(e) => {
                let e = PageError::from(e);
                Self {
                    filename: visible_name(name),
                    stored: false,
                    href: None,
                    error: Some(e.message),
                    status: e.status,
                }
            }
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "mail/send_result.html")]
struct ResultPage {
    chrome: Chrome,
    channel: String,
    results: Vec<FileResult>,
    again: String,
}

impl ResultPage {
    fn failed(&self) -> usize {
        self.results.iter().filter(|r| !r.stored).count()
    }

    /// Each file refused, linking to its row, as the script's summary lists them.
    fn failures(&self) -> Vec<FieldError> {
        let refused = self.results.iter().enumerate().filter_map(|(i, r)| r.error.as_ref().map(|e| (i, r, e)));
        refused.map(|(i, r, e)| FieldError::new(format!("file-{}", i + 1), format!("{}: {e}", r.filename))).collect()
    }

    fn failures_title(&self) -> String {
        match self.failed() {
            1 => "1 file was not sent".to_owned(),
            n => format!("{n} files were not sent"),
        }
    }
}

#[derive(Serialize)]
struct JsonAnswer {
    results: Vec<FileResult>,
}

async fn submit(State(state): State<AppState>, who: SignedIn, headers: HeaderMap, body: Body) -> Response {
    let wants_json =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("application/json"));
    let (fields, results) = match receive(&state, &who, &headers, body).await {
        Ok(done) => done,
        Err(e) if wants_json => {
            let status = e.status;
            let result =
                FileResult { filename: String::new(), stored: false, href: None, error: Some(e.message), status };
            return (status, Json(JsonAnswer { results: vec![result] })).into_response();
        }
        Err(e) => return e.into_response(),
    };
    let status = match results.iter().find(|r| !r.stored) {
        Some(refused) => refused.status,
        None => StatusCode::CREATED,
    };
    if wants_json {
        return (status, Json(JsonAnswer { results })).into_response();
    }
    let channel = state.channels().get(fields.channel.trim()).map(|c| c.name.clone()).unwrap_or_default();
    let page = ResultPage {
        chrome: Chrome::signed_in(&state, &who, Section::Send),
        channel,
        results,
        again: super::links::with_query("/send", &[("channel", fields.channel.trim())]),
    };
    // The page itself answers 200 when anything was stored, so the browser shows it as a page.
    let status = if page.failed() == page.results.len() { status } else { StatusCode::OK };
    (status, page).into_response()
}

/// Reads the form in order: token, text fields, then each file straight into the upload
/// service. A file refused does not stop the ones after it.
async fn receive(
    state: &AppState,
    who: &SignedIn,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Fields, Vec<FileResult>), PageError> {
    let mut form = FormReader::open(state, who, headers, body).await?;
    let mut fields = Fields::default();
    let mut results = Vec::new();
    while let Some(part) = form.next().await? {
        match part {
            Part::Text { name, value } => fields.set(&name, value),
            Part::File(file) => {
                let name = file.file_name().unwrap_or_default().to_owned();
                // A file input left empty still sends a part, with no name and no bytes.
                if name.is_empty() {
                    continue;
                }
                let outcome = match (fields.channel(), FileName::parse(&name)) {
                    (Err(e), _) => Err(e),
                    (_, Err(e)) => Err(ServiceError::bad_request("invalid_filename", e.to_string())),
                    (Ok(channel), Ok(filename)) => {
                        let req = UploadRequest {
                            channel,
                            to: fields.to(),
                            filename,
                            message: fields.message(),
                            reply_to: None,
                            expected_sha256: None,
                            declared_len: None,
                        };
                        upload::upload(state, &who.principal, req, file).await
                    }
                };
                results.push(FileResult::from_outcome(&name, outcome));
            }
        }
    }
    if results.is_empty() {
        let outcome = match (fields.channel(), fields.message()) {
            (Ok(channel), Some(message)) => {
                let req = MessageRequest { channel, to: fields.to(), message, reply_to: None };
                messages::send(state, &who.principal, req).await
            }
            (Err(e), _) => Err(e),
            (Ok(_), None) => Err(ServiceError::bad_request("missing_file", "choose a file to send")),
        };
        results.push(FileResult::from_outcome("Message", outcome));
    }
    Ok((fields, results))
}
