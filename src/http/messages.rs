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
use crate::domain::ChannelSlug;
use crate::policy::Principal;
use crate::service::messages::{self, MessageRequest};
use crate::service::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(create))]
pub(super) struct Api;

pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::new(Method::POST, "/api/v1/messages", post(create))]
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = NewMessage, examples(json!({"channel": "general", "to": "smst", "message": "Our census return will be a day late: the office is closed on Thursday."})))]
pub(super) struct MessageBody {
    /// A channel that takes messages without a file, e.g. `general`.
    pub(super) channel: String,
    /// The recipient, on channels that ask for one: a DfE number or a team slug.
    pub(super) to: Option<String>,
    message: String,
    /// The id of the transfer this answers.
    pub(super) reply_to: Option<String>,
}

/// Sends a message with no file, on a channel that allows it.
#[utoipa::path(post, path = "/api/v1/messages", tag = "transfers", request_body = MessageBody, responses(
    (status = 201, description = "Sent", body = TransferView),
    (status = 400, description = "`invalid_body`: the body is not a message\n\n`invalid_channel`, `invalid_reply_to`, `invalid_recipient`, `empty_message`, `invalid_message`, `message_too_long`: a field is not valid\n\n`missing_parameter`: the channel needs a recipient in `to`"),
    (status = 403, description = "`channel_not_for_sender`: your organisation does not send on this channel\n\n`key_lacks_channel`: the API key is not scoped to this channel\n\n`key_cannot_send`: the API key may only receive\n\n`forbidden`: the caller may not send to this recipient\n\n`channel_off`: the channel is switched off for now"),
    (status = 404, description = "`not_found`: the recipient, or the transfer answered, does not exist"),
    (status = 422, description = "`messages_not_allowed`, `file_required`: the channel carries files\n\n`unknown_channel`: there is no such channel\n\n`unknown_recipient`, `unknown_school`, `recipient_closed`, `own_organisation`: the recipient cannot take it\n\n`schools_only`, `wrong_school_in_name`, `wrong_recipient_kind`, `fixed_recipient`, `recipient_mismatch`, `unroutable_name`, `not_a_request`, `empty_group`, `channel_misconfigured`: the channel does not route it this way"),
))]
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
    Ok((StatusCode::CREATED, Json(TransferView::new(state.keys(), &record, None))))
}
