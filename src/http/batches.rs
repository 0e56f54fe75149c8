//! `/api/v1/batches`: many files at once, each routed by the school its name starts with; as a
//! multipart form (one part per file) or as one zip archive.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Method};
use axum::routing::{get, post};
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::transfers::{query, required};
use super::Endpoint;
use crate::domain::ChannelSlug;
use crate::policy::Principal;
use crate::service::batch::{self, Batch, BatchForm, BatchReport};
use crate::service::AppState;
use crate::service::ServiceError;

#[derive(utoipa::OpenApi)]
#[openapi(paths(create, show))]
pub(super) struct Api;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::POST, "/api/v1/batches", post(create)),
        Endpoint::new(Method::GET, "/api/v1/batches/{id}", get(show)),
    ]
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct BatchParams {
    /// The channel, e.g. `checking-files` (required).
    #[param(required = true)]
    channel: Option<String>,
}

const ZIP_TYPES: &[&str] = &["application/zip", "application/x-zip-compressed", "application/octet-stream"];

/// Many files at once, each routed to the school whose DfE number starts its name; a file that
/// cannot be routed is held in the sender's quarantine with the reason.
#[utoipa::path(post, path = "/api/v1/batches", tag = "batches", params(BatchParams),
    request_body(description = "One part per file (a form whose first file is a `.zip` is read as that archive), or one zip archive", content(
        (super::openapi::FileBytes = "multipart/form-data"),
        (super::openapi::FileBytes = "application/zip"),
    )),
    responses(
        (status = 200, description = "What became of each file", body = BatchReport),
        (status = 400, description = "`invalid_query`, `missing_parameter`, `invalid_channel`: a parameter is not valid\n\n`invalid_multipart`: the form has no boundary"),
        (status = 403, description = "`channel_not_for_sender`: your organisation does not send on this channel\n\n`key_lacks_channel`: the API key is not scoped to this channel\n\n`key_cannot_send`: the API key may only receive\n\n`forbidden`: the caller may not send on this channel\n\n`channel_off`: the channel is switched off for now"),
        (status = 413, description = "`too_large`: the archive is larger than a batch may be"),
        (status = 415, description = "`type_not_allowed`: neither multipart/form-data nor a zip archive"),
        (status = 422, description = "`empty_batch`, `not_a_zip`, `too_many_entries`: the batch cannot be read, or holds too many files\n\n`batches_not_supported`: the channel is not routed by file name\n\n`unknown_channel`: there is no such channel"),
))]
async fn create(
    State(state): State<AppState>,
    who: Principal,
    params: Result<Query<BatchParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<BatchReport>, ApiError> {
    let params = query(params)?;
    let raw = required(&params.channel, "channel", "checking-files")?;
    let slug = ChannelSlug::parse(raw).ok_or_else(|| {
        ApiError::bad_request("invalid_channel", format!("'{raw}' is not a channel name: use channel=checking-files"))
    })?;
    let batch = Batch::begin(&state, &who, slug)?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let report = if media_type == "multipart/form-data" {
        let boundary = multer::parse_boundary(content_type).map_err(|_| {
            ApiError::bad_request("invalid_multipart", "the multipart/form-data Content-Type carries no boundary")
        })?;
        BatchForm::open(&state, body.into_data_stream(), boundary, &[]).place(&batch).await?.ok_or_else(|| {
            ServiceError::unprocessable(
                "empty_batch",
                "the form holds no files: add one part per file, each with a file name",
            )
        })?
    } else if ZIP_TYPES.contains(&media_type.as_str()) {
        batch::place_zip(batch, body.into_data_stream()).await?
    } else {
        return Err(ServiceError::UnsupportedType(
            "send the files as multipart/form-data (one part per file), or as one zip archive with \
             'Content-Type: application/zip'"
                .to_owned(),
        )
        .into());
    };
    Ok(Json(report))
}

/// The report of an earlier batch.
#[utoipa::path(get, path = "/api/v1/batches/{id}", tag = "batches", params(("id" = String, Path, description = "The batch's id (a UUID)")), responses(
    (status = 200, description = "The batch's report (for a batch not read to its end: `batch`, `channel`, `complete: false` and a `message`)", body = BatchReport),
    (status = 404, description = "`not_found`: no such batch, or not the caller's"),
))]
async fn show(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let id = uuid::Uuid::parse_str(&id).map_err(|_| ApiError::from(ServiceError::NotFound))?;
    Ok(Json(batch::report(&state, &who, id).await?))
}
