//! `POST /api/v1/messages`: a message with no file, on channels that allow it.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::post;
use axum::Json;
use serde::Deserialize;

use super::error::ApiError;
use super::json::JsonBody;
use super::views::TransferView;
use super::Endpoint;
use crate::app::AppState;
use crate::domain::ChannelSlug;
use crate::policy::Principal;
use crate::service::messages::{self, MessageRequest};

pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::new(Method::POST, "/api/v1/messages", post(create))]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    channel: String,
    to: Option<String>,
    message: String,
    reply_to: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    who: Principal,
    JsonBody(body): JsonBody<MessageBody>,
) -> Result<(StatusCode, Json<TransferView>), ApiError> {
    let channel = ChannelSlug::parse(&body.channel).ok_or_else(|| {
        ApiError::bad_request("invalid_channel", format!("'{}' is not a channel name: use \"general\"", body.channel))
    })?;
    let reply_to = body
        .reply_to
        .as_deref()
        .map(|raw| {
            raw.parse().map_err(|_| {
                ApiError::bad_request("invalid_reply_to", "reply_to must be the id of the transfer you answer")
            })
        })
        .transpose()?;
    let req = MessageRequest { channel, to: body.to, message: body.message, reply_to };
    let record = messages::send(&state, &who, req).await?;
    Ok((StatusCode::CREATED, Json(TransferView::new(&record, None))))
}
