//! `/api/v1/channels/{slug}`: LA administrators read a channel's whole definition, change it,
//! or remove their change.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::json::JsonBody;
use super::views::rfc3339;
use super::Endpoint;
use crate::domain::channel::Channel;
use crate::policy::Principal;
use crate::service::channel_admin::{self, ChannelDetail};
use crate::service::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(show, put, revert))]
pub(super) struct Api;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, "/api/v1/channels/{slug}", get(show)),
        Endpoint::new(Method::PUT, "/api/v1/channels/{slug}", axum::routing::put(put)),
        Endpoint::new(Method::DELETE, "/api/v1/channels/{slug}", axum::routing::delete(revert)),
    ]
}

#[derive(Serialize, utoipa::ToSchema)]
struct ChannelDetailView {
    /// The definition in force, in the fields of channels.toml.
    channel: Channel,
    /// Where it comes from: `file` (channels.toml as shipped or configured), `changed` (the
    /// file's channel as an administrator changed it) or `api` (only defined through the API).
    source: &'static str,
    overridden: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    updated_by: Option<String>,
    warnings: Vec<String>,
}

impl From<ChannelDetail> for ChannelDetailView {
    fn from(d: ChannelDetail) -> Self {
        let source = match (d.in_file, d.change.is_some()) {
            (true, false) => "file",
            (true, true) => "changed",
            (false, _) => "api",
        };
        Self {
            channel: d.channel,
            source,
            overridden: d.change.is_some(),
            updated_at: d.change.as_ref().map(|c| rfc3339(c.updated_at)),
            updated_by: d.change.and_then(|c| c.updated_by),
            warnings: d.warnings,
        }
    }
}

/// A channel's whole definition, and where it comes from.
#[utoipa::path(get, path = "/api/v1/channels/{slug}", tag = "channels", params(("slug" = String, Path, description = "The channel, e.g. `census`")), responses(
    (status = 200, description = "The definition in force", body = ChannelDetailView),
    (status = 403, description = "`forbidden`: only LA administrators manage channels"),
    (status = 404, description = "`not_found`: no such channel"),
))]
async fn show(
    State(state): State<AppState>,
    who: Principal,
    Path(slug): Path<String>,
) -> Result<Json<ChannelDetailView>, ApiError> {
    Ok(Json(channel_admin::show(&state, &who, &slug).await?.into()))
}

/// Defines a channel, or changes one from channels.toml; the body has the fields of channels.toml.
#[utoipa::path(put, path = "/api/v1/channels/{slug}", tag = "channels", params(("slug" = String, Path, description = "The channel, e.g. `census`")),
    request_body = Channel,
    responses(
        (status = 200, description = "Changed", body = ChannelDetailView),
        (status = 201, description = "A new channel", body = ChannelDetailView),
        (status = 400, description = "`invalid_body`: the body is not JSON\n\n`slug_mismatch`: the body's slug is not the address's"),
        (status = 403, description = "`forbidden`: only LA administrators manage channels"),
        (status = 422, description = "`invalid_channel`: the definition is not valid, or leaves the catalogue inconsistent"),
))]
async fn put(
    State(state): State<AppState>,
    who: Principal,
    Path(slug): Path<String>,
    JsonBody(body): JsonBody<serde_json::Value>,
) -> Result<(StatusCode, Json<ChannelDetailView>), ApiError> {
    let (detail, is_new) = channel_admin::put(&state, &who, &slug, body).await?;
    Ok((if is_new { StatusCode::CREATED } else { StatusCode::OK }, Json(detail.into())))
}

/// The file's definition, back in force; 204 when the channel existed only through the API.
#[utoipa::path(delete, path = "/api/v1/channels/{slug}", tag = "channels", params(("slug" = String, Path, description = "The channel, e.g. `census`")), responses(
    (status = 200, description = "The file's definition, in force again", body = ChannelDetailView),
    (status = 204, description = "The channel existed only through the API and is gone"),
    (status = 403, description = "`forbidden`: only LA administrators manage channels"),
    (status = 404, description = "`not_found`: no such channel, or it was never changed"),
))]
async fn revert(State(state): State<AppState>, who: Principal, Path(slug): Path<String>) -> Result<Response, ApiError> {
    Ok(match channel_admin::revert(&state, &who, &slug).await? {
        Some(detail) => Json(ChannelDetailView::from(detail)).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}
