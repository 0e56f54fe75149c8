//! `/api/v1/transfers`: upload, list, read, download, withdraw.

use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use futures_util::StreamExt;
use serde::Deserialize;

use super::error::ApiError;
use super::headers::{content_disposition, parse_content_digest, sha256_digest_field, DigestHeader};
use super::request_context::ClientAddr;
use super::since::since_param;
use super::views::{PageView, TransferView};
use super::Endpoint;
use crate::domain::byte_range::RangeSpec;
use crate::domain::{ChannelSlug, FileName, Mailbox, OrgRef, TransferId};
use crate::policy::Principal;
use crate::service::upload::UploadRequest;
use crate::service::AppState;
use crate::service::{download, mailbox, upload};
use crate::store::meta::DownloadState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(create, list, show, remove, content))]
pub(super) struct Api;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::POST, "/api/v1/transfers", post(create)),
        Endpoint::new(Method::GET, "/api/v1/transfers", get(list)),
        Endpoint::new(Method::GET, "/api/v1/transfers/{id}", get(show)),
        Endpoint::new(Method::DELETE, "/api/v1/transfers/{id}", delete(remove)),
        Endpoint::new(Method::GET, "/api/v1/transfers/{id}/content", get(content)),
    ]
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct UploadParams {
    /// The channel, e.g. `census` (required).
    #[param(required = true)]
    channel: Option<String>,
    /// The recipient, on channels that ask for one: a DfE number (`825/2001`), a team slug, or a group.
    to: Option<String>,
    /// The file's name, kept as metadata only (required).
    #[param(required = true)]
    filename: Option<String>,
    /// A note for the recipient.
    message: Option<String>,
    /// The id of the transfer this answers.
    reply_to: Option<String>,
}

pub(super) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(t)| t).map_err(|e| {
        ApiError::bad_request("invalid_query", format!("the query string is not valid: {}", e.body_text()))
    })
}

pub(super) fn required<'a>(value: &'a Option<String>, name: &str, example: &str) -> Result<&'a str, ApiError> {
    value.as_deref().ok_or_else(|| {
        ApiError::bad_request("missing_parameter", format!("add the '{name}' parameter, for example {name}={example}"))
    })
}

/// Uploads one file as the request body, streamed and encrypted as it arrives.
#[utoipa::path(post, path = "/api/v1/transfers", tag = "transfers", params(UploadParams,
        ("Content-Digest" = Option<String>, Header, description = "`sha-256=:<base64>:` (RFC 9530): the server checks the file against it"),
    ),
    request_body(content = super::openapi::FileBytes, content_type = "application/octet-stream", description = "The file's bytes"),
    responses(
        (status = 201, description = "Stored and delivered (or held in the sender's quarantine)", body = TransferView),
    (status = 400, description = "`invalid_query`, `missing_parameter`, `invalid_channel`, `invalid_filename`, `invalid_reply_to`, `invalid_digest`, `invalid_recipient`, `invalid_message`, `message_too_long`: a parameter or header is not valid\n\n`upload_incomplete`: the body ended early; nothing was kept"),
    (status = 403, description = "`channel_not_for_sender`: your organisation does not send on this channel\n\n`key_lacks_channel`: the API key is not scoped to this channel\n\n`key_cannot_send`: the API key may only receive\n\n`forbidden`: the caller may not send to this recipient\n\n`channel_off`: the channel is switched off for now"),
    (status = 404, description = "`not_found`: the recipient, or the transfer answered, does not exist"),
    (status = 413, description = "`too_large`: larger than the channel's limit; nothing was kept"),
    (status = 415, description = "`type_not_allowed`: the channel does not take this kind of file"),
    (status = 422, description = "`content_mismatch`, `digest_mismatch`: the content is not what its name says, or does not match Content-Digest\n\n`unknown_channel`: there is no such channel\n\n`unknown_recipient`, `unknown_school`, `recipient_closed`, `own_organisation`: the recipient cannot take it\n\n`schools_only`, `wrong_school_in_name`, `wrong_recipient_kind`, `fixed_recipient`, `recipient_mismatch`, `unroutable_name`, `not_a_request`, `empty_group`, `channel_misconfigured`: the channel does not route it this way"),
))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    version: Version,
    params: Result<Query<UploadParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<TransferView>), Response> {
    let mut stream = body.into_data_stream();
    match receive(&state, &who, params, &headers, &mut stream).await {
        Ok(created) => Ok(created),
        Err(e) => Err(refuse_upload(e, version, &headers, stream).await),
    }
}

/// How much of a refused HTTP/1.1 upload is read and thrown away so that the client, still
/// sending, gets to read the answer: closing a socket with unread data makes the kernel reset
/// the connection, and most clients then report a broken pipe instead of the 413.
const DRAIN_BYTES: u64 = 64 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(10);

async fn refuse_upload(error: ApiError, version: Version, headers: &HeaderMap, mut rest: BodyDataStream) -> Response {
    let expects_continue = headers
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    // HTTP/2 streams are finished by the server (see `server::unread_body`); a client waiting
    // for 100-continue sends nothing.
    if version >= Version::HTTP_2 || expects_continue {
        return error.into_response();
    }
    let drained = tokio::time::timeout(DRAIN_TIME, async {
        let mut seen = 0u64;
        while let Some(Ok(chunk)) = rest.next().await {
            seen += chunk.len() as u64;
            if seen > DRAIN_BYTES {
                return false;
            }
        }
        true
    })
    .await
    .unwrap_or(false);
    let mut response = error.into_response();
    if !drained {
        response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn receive(
    state: &AppState,
    who: &Principal,
    params: Result<Query<UploadParams>, QueryRejection>,
    headers: &HeaderMap,
    stream: &mut BodyDataStream,
) -> Result<(StatusCode, Json<TransferView>), ApiError> {
    let params = query(params)?;
    let channel = required(&params.channel, "channel", "general")?;
    let channel = ChannelSlug::parse(channel).ok_or_else(|| {
        ApiError::bad_request("invalid_channel", format!("'{channel}' is not a channel name: use channel=general"))
    })?;
    let reply_to = match params.reply_to.as_deref() {
        None => None,
        Some(raw) => Some(raw.parse().map_err(|_| {
            ApiError::bad_request("invalid_reply_to", "reply_to must be the id of the transfer you answer")
        })?),
    };
    let filename = FileName::parse(required(&params.filename, "filename", "census.xml")?)
        .map_err(|e| ApiError::bad_request("invalid_filename", e.to_string()))?;
    let expected_sha256 = match headers.get("content-digest").map(|v| v.to_str().map(parse_content_digest)) {
        None | Some(Ok(DigestHeader::NoneWeCheck)) => None,
        Some(Ok(DigestHeader::Sha256(d))) => Some(d),
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_digest",
                "Content-Digest must look like sha-256=:<base64 of the SHA-256>: (RFC 9530)",
            ))
        }
    };
    let declared_len = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let req = UploadRequest {
        channel,
        to: params.to,
        filename,
        message: params.message,
        reply_to,
        expected_sha256,
        declared_len,
    };
    let record = upload::upload(state, who, req, stream).await?;
    Ok((StatusCode::CREATED, Json(TransferView::new(state.keys(), &record, None))))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// `inbox` (default) or `sent`.
    #[serde(rename = "box")]
    #[param(inline)]
    mailbox: Option<Mailbox>,
    /// Items per page, 1 to 200.
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only this channel.
    channel: Option<String>,
    /// Only from this sender: a DfE number (825/2001 or 8252001) or a team slug. Inbox only.
    from: Option<String>,
    /// Only to this recipient: a DfE number (825/2001 or 8252001) or a team slug. Sent only.
    to: Option<String>,
    /// Only created at or after this: a date (its midnight UTC) or an RFC 3339 time.
    since: Option<String>,
    /// `new` (nobody in your organisation has downloaded it yet) or `downloaded`. Inbox only.
    state: Option<String>,
}

impl ListParams {
    fn filter(&self) -> Result<mailbox::ListFilter, ApiError> {
        let channel = self
            .channel
            .as_deref()
            .map(|raw| {
                ChannelSlug::parse(raw).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_channel",
                        format!("'{raw}' is not a channel name: use channel=census"),
                    )
                })
            })
            .transpose()?;
        let org = |raw: Option<&str>, code| {
            raw.map(|raw| raw.parse::<OrgRef>().map_err(|e| ApiError::bad_request(code, e.to_string()))).transpose()
        };
        let (from, to) = (org(self.from.as_deref(), "invalid_from")?, org(self.to.as_deref(), "invalid_to")?);
        let download_state = match self.state.as_deref() {
            None => None,
            Some("new") => Some(DownloadState::New),
            Some("downloaded") => Some(DownloadState::Downloaded),
            Some(other) => {
                return Err(ApiError::bad_request(
                    "invalid_state",
                    format!("state='{other}' is not a state: use state=new or state=downloaded"),
                ))
            }
        };
        Ok(mailbox::ListFilter { channel, from, to, since: since_param(self.since.as_deref())?, download_state })
    }
}

pub(super) fn encode_cursor(c: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("v1:{c}"))
}

/// The position a `cursor` parameter stands for, if one was given.
pub(super) fn cursor_param(cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    cursor
        .map(|c| {
            decode_cursor(c).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_cursor",
                    "the cursor is not one this server gave out: start again without it",
                )
            })
        })
        .transpose()
}

fn decode_cursor(s: &str) -> Option<i64> {
    let raw = URL_SAFE_NO_PAD.decode(s).ok()?;
    std::str::from_utf8(&raw).ok()?.strip_prefix("v1:")?.parse().ok()
}

/// The caller's inbox or sent items, newest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/transfers", tag = "transfers", params(ListParams), responses(
    (status = 200, description = "A page of transfers", body = PageView),
    (status = 400, description = "`invalid_query`, `invalid_cursor`, `invalid_limit`: a parameter is not valid\n\n`invalid_filter`, `invalid_channel`, `unknown_channel`, `invalid_from`, `invalid_to`, `unknown_organisation`, `invalid_since`, `invalid_state`: a filter is not valid, or not for this mailbox"),
    (status = 403, description = "`key_cannot_receive`: the API key may only send\n\n`forbidden`: this credential may not read the mailbox"),
))]
async fn list(
    State(state): State<AppState>,
    who: Principal,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<PageView>, ApiError> {
    let params = query(params)?;
    let before = cursor_param(params.cursor.as_deref())?;
    let filter = params.filter()?;
    let page =
        mailbox::list(&state, &who, params.mailbox.unwrap_or(Mailbox::Inbox), filter, before, params.limit).await?;
    Ok(Json(PageView {
        items: page.items.iter().map(|e| TransferView::new(state.keys(), &e.transfer, None)).collect(),
        next_cursor: page.next_cursor.map(encode_cursor),
    }))
}

/// An id that is not a UUID names nothing; say so the same way as for an unknown one.
pub(super) fn transfer_id(raw: &str) -> Result<TransferId, ApiError> {
    raw.parse().map_err(|_| crate::service::ServiceError::NotFound.into())
}

/// One transfer, with its receipts for the sender and its replies.
#[utoipa::path(get, path = "/api/v1/transfers/{id}", tag = "transfers", params(("id" = String, Path, description = "The transfer's id (a UUID)")), responses(
    (status = 200, description = "The transfer", body = TransferView),
    (status = 404, description = "`not_found`: no such transfer, or not one the caller may see"),
))]
async fn show(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<TransferView>, ApiError> {
    let detail = mailbox::get(&state, &who, transfer_id(&id)?).await?;
    Ok(Json(
        TransferView::new(state.keys(), &detail.transfer, detail.downloads.as_deref())
            .with_replies(state.keys(), &detail.replies),
    ))
}

/// Withdraws a transfer (its sender) or removes it from an inbox.
#[utoipa::path(delete, path = "/api/v1/transfers/{id}", tag = "transfers", params(("id" = String, Path, description = "The transfer's id (a UUID)")), responses(
    (status = 204, description = "Done"),
    (status = 403, description = "`forbidden`: the caller may not remove it"),
    (status = 404, description = "`not_found`: no such transfer, or not one the caller may see"),
    (status = 410, description = "`gone`: it is withdrawn, expired or purged already"),
))]
async fn remove(State(state): State<AppState>, who: Principal, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    mailbox::delete(&state, &who, transfer_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The file itself, streamed; `Range` resumes a download (`If-Range` with the ETag).
#[utoipa::path(get, path = "/api/v1/transfers/{id}/content", tag = "transfers", params(
        ("id" = String, Path, description = "The transfer's id (a UUID)"),
        ("Range" = Option<String>, Header, description = "`bytes=<first>-<last>`: one range"),
        ("If-Range" = Option<String>, Header, description = "The ETag the download started with"),
    ),
    responses(
        (status = 200, description = "The whole file, with Content-Digest and an ETag of its SHA-256", content_type = "application/octet-stream", body = super::openapi::FileBytes),
        (status = 206, description = "The range asked for, with Repr-Digest of the whole file", content_type = "application/octet-stream", body = super::openapi::FileBytes),
        (status = 403, description = "`forbidden`: this credential may not download it"),
        (status = 404, description = "`not_found`: no such transfer, or not one the caller may see"),
        (status = 409, description = "`no_file`: a message without a file"),
        (status = 410, description = "`gone`: it is withdrawn, expired or purged"),
        (status = 416, description = "`range_not_satisfiable`: the range is outside the file"),
))]
async fn content(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    client: Option<Extension<ClientAddr>>,
) -> Result<Response, ApiError> {
    let id = transfer_id(&id)?;
    let mut range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(RangeSpec::parse);
    if range.is_some() {
        // If-Range: resume only if the file is still the one the client started with.
        if let Some(if_range) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
            let current = download::visible_transfer(&state, &who, id).await?;
            if if_range.trim() != format!("\"{}\"", current.sha256.to_hex()) {
                range = None;
            }
        }
    }
    let client = client.map(|Extension(addr)| addr.ip());
    let dl = download::open(&state, &who, id, range, client).await?;
    Ok(file_response(dl))
}

/// A download as the answer to send: the file streamed under its original name, with its
/// digest, its ETag for resuming, and the range when one was asked for. The pages' download
/// answers the same way.
pub fn file_response(dl: download::Download) -> Response {
    let t = &dl.transfer;
    let mut response = Response::new(Body::from_stream(dl.body));
    let h = response.headers_mut();
    let put = |h: &mut HeaderMap, name: header::HeaderName, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    put(h, header::CONTENT_TYPE, t.content_type.clone());
    put(h, header::CONTENT_LENGTH, dl.len.to_string());
    put(h, header::CONTENT_DISPOSITION, content_disposition(&t.filename));
    put(h, header::ETAG, format!("\"{}\"", t.sha256.to_hex()));
    put(h, header::ACCEPT_RANGES, "bytes".into());
    match dl.range {
        None => put(h, header::HeaderName::from_static("content-digest"), sha256_digest_field(&t.sha256.0)),
        Some((a, b)) => {
            // The digest of the whole representation; the part's own digest is not known in advance.
            put(h, header::HeaderName::from_static("repr-digest"), sha256_digest_field(&t.sha256.0));
            put(h, header::CONTENT_RANGE, format!("bytes {a}-{b}/{}", t.size));
            *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        }
    }
    response.into_response()
}
