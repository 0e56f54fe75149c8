//! `/api/v1/channels`: what each channel is for, what it accepts, and whether the caller may
//! send on it, so a client can say so before an upload fails.

use axum::extract::State;
use axum::http::Method;
use axum::routing::get;
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::views::TransferView;
use super::Endpoint;
use crate::policy::Principal;
use crate::service::channels::{self, ChannelOffer};
use crate::service::reports;
use crate::service::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(list, turnaround))]
pub(super) struct Api;

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, "/api/v1/channels", get(list)),
        Endpoint::new(Method::GET, "/api/v1/reports/turnaround", get(turnaround)),
    ]
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TurnaroundParams {
    /// The request channel, e.g. `fsm`.
    channel: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct OpenRequestView {
    #[serde(flatten)]
    transfer: TransferView,
    age_business_days: u32,
    overdue: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
struct TurnaroundView {
    channel: String,
    target_business_days: Option<u32>,
    open: usize,
    overdue: usize,
    requests: Vec<OpenRequestView>,
}

/// Requests on a channel with a turnaround target that are still unanswered, oldest first.
#[utoipa::path(get, path = "/api/v1/reports/turnaround", tag = "reports", params(TurnaroundParams), responses(
    (status = 200, description = "The open requests", body = TurnaroundView),
    (status = 400, description = "`missing_parameter`: say which channel\n\n`unknown_channel`: there is no such channel"),
    (status = 403, description = "`forbidden`: only the LA sees this report"),
))]
async fn turnaround(
    State(state): State<AppState>,
    who: Principal,
    params: Result<axum::extract::Query<TurnaroundParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<TurnaroundView>, ApiError> {
    let axum::extract::Query(params) =
        params.map_err(|_| ApiError::bad_request("missing_parameter", "say which channel: ?channel=fsm"))?;
    let report = reports::turnaround(&state, &who, &params.channel).await?;
    let overdue = report.requests.iter().filter(|r| r.overdue).count();
    Ok(Json(TurnaroundView {
        channel: report.channel,
        target_business_days: report.target_business_days,
        open: report.requests.len(),
        overdue,
        requests: report
            .requests
            .iter()
            .map(|r| OpenRequestView {
                transfer: TransferView::new(state.keys(), &r.transfer, None),
                age_business_days: r.age_business_days,
                overdue: r.overdue,
            })
            .collect(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
struct ChannelView {
    slug: String,
    name: String,
    description: String,
    enabled: bool,
    can_send: bool,
    /// Where the caller's files go on this channel, when they may send on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    sends_to: Option<String>,
    /// Why the caller may not send on it, when they may not.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    extensions: Vec<String>,
    max_size_bytes: u64,
    messages: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    name_rule: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    function: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    turnaround_business_days: Option<u32>,
    unclaimed_after_days: u32,
}

impl From<ChannelOffer> for ChannelView {
    fn from(o: ChannelOffer) -> Self {
        let c = o.channel;
        Self {
            enabled: c.enabled,
            can_send: o.route.is_some(),
            sends_to: o.route.map(|r| String::from(r.to)),
            reason: o.refusal,
            max_size_bytes: o.max_size_bytes,
            messages: c.messages,
            name_rule: (c.name_rule == crate::domain::channel::NameRule::OwnDfeNumber).then_some("own_dfe_number"),
            turnaround_business_days: c.turnaround_business_days,
            unclaimed_after_days: c.unclaimed_threshold_days(),
            slug: c.slug,
            name: c.name,
            description: c.description,
            extensions: c.extensions,
            function: c.function,
        }
    }
}

/// The channels, what each accepts, and whether the caller may send on it.
#[utoipa::path(get, path = "/api/v1/channels", tag = "channels", responses(
    (status = 200, description = "Every channel, with what the caller may do on it", body = Vec<ChannelView>),
))]
async fn list(State(state): State<AppState>, who: Principal) -> Result<Json<Vec<ChannelView>>, ApiError> {
    Ok(Json(channels::offered(&state, &who)?.into_iter().map(Into::into).collect()))
}
