//! Every JSON body the API takes, read as its handler reads it: through the same extractor,
//! then the checks its handler (or the use case, before it touches storage) makes of the
//! fields. The `json_request_bodies` fuzz target feeds arbitrary bytes through here, so no body
//! a client can send panics a handler on its way in. A body type added to the API belongs here.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{header, Method};
use axum::response::IntoResponse;
use serde::de::DeserializeOwned;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::json::{JsonBody, OptionalJsonBody};
use super::{holds, keys, messages, organisations, quarantine, session, transfers, users};
use crate::domain::organisation::OrgRef;
use crate::domain::retention::HoldScope;
use crate::domain::{ChannelSlug, DfeNumber, FunctionSlug, TransferId};
use crate::service::{channel_admin, printable_name};

/// Reads `bytes` as the body of each request that takes JSON, and makes each handler's checks
/// of the fields of those it accepts. Refusals are rendered as the API would answer them.
pub async fn read_each(bytes: &[u8]) {
    if let Some(body) = required::<messages::MessageBody>(bytes).await {
        let _ = ChannelSlug::parse(&body.channel);
        let _ = body.to.as_deref().map(str::parse::<OrgRef>);
        let _ = body.reply_to.as_deref().map(transfers::transfer_id);
    }
    if let Some(body) = required::<users::NewUserBody>(bytes).await {
        let _ = organisations::org_ref(&body.org);
    }
    let _ = optional::<users::ReasonBody>(bytes).await;
    if let Some(body) = required::<users::LeaverBody>(bytes).await {
        let _ = users::time_param(body.on.as_deref(), "on");
    }
    if let Some(Some(body)) = optional::<users::GrantBody>(bytes).await {
        let _ = users::time_param(body.until.as_deref(), "until");
    }
    if let Some(body) = required::<users::FunctionBody>(bytes).await {
        let _ = FunctionSlug::parse(&body.slug);
    }
    if let Some(body) = required::<quarantine::RouteBody>(bytes).await {
        let _ = body.to.parse::<DfeNumber>();
    }
    if let Some(body) = required::<keys::NewKey>(bytes).await {
        let _ = body.expires_at.as_deref().map(|t| OffsetDateTime::parse(t, &Rfc3339));
        let _ = organisations::org_ref(&body.org);
    }
    if let Some(body) = required::<holds::PlaceBody>(bytes).await {
        let _ = HoldScope::parse(body.scope.trim());
        let _ = printable_name(&body.reason, crate::service::holds::MAX_REASON, "the reason for the hold");
        let target = body.target.trim();
        let _ = (target.parse::<TransferId>(), target.parse::<OrgRef>(), ChannelSlug::parse(target));
    }
    if let Some(body) = required::<organisations::NewOrg>(bytes).await {
        let _ = (body.kind == "school" || body.kind == "team", body.reference.parse::<OrgRef>());
    }
    let _ = required::<organisations::SecondFactor>(bytes).await;
    let _ = required::<session::LoginBody>(bytes).await;
    let _ = required::<session::RefreshBody>(bytes).await;
    let _ = required::<session::AcceptBody>(bytes).await;
    let _ = required::<session::CodeBody>(bytes).await;
    let _ = required::<session::PasswordBody>(bytes).await;
    if let Some(body) = required::<serde_json::Value>(bytes).await {
        let _ = channel_admin::definition("general", body);
    }
}

/// The body through [`JsonBody`], as a handler that requires one gets it.
async fn required<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    match JsonBody::<T>::from_request(request(bytes), &()).await {
        Ok(JsonBody(body)) => Some(body),
        Err(refusal) => {
            let _ = refusal.into_response();
            None
        }
    }
}

/// The body through [`OptionalJsonBody`], where an empty body means the defaults.
async fn optional<T: DeserializeOwned>(bytes: &[u8]) -> Option<Option<T>> {
    match OptionalJsonBody::<T>::from_request(request(bytes), &()).await {
        Ok(OptionalJsonBody(body)) => Some(body),
        Err(refusal) => {
            let _ = refusal.into_response();
            None
        }
    }
}

fn request(bytes: &[u8]) -> Request {
    let mut request = Request::new(Body::from(bytes.to_vec()));
    *request.method_mut() = Method::POST;
    request.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    request
}
