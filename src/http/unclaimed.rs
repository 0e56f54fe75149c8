//! `/api/v1/reports/unclaimed`: files their recipients have not collected, for LA administrators.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::routing::get;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::views::{rfc3339, OrgView};
use super::Endpoint;
use crate::domain::OrgRef;
use crate::policy::Principal;
use crate::service::unclaimed::{self, Item, Report};
use crate::service::AppState;

#[derive(utoipa::OpenApi)]
#[openapi(paths(report))]
pub(super) struct Api;

pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::new(Method::GET, "/api/v1/reports/unclaimed", get(report))]
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Params {
    older_than_days: Option<u32>,
    channel: Option<String>,
    org: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = UnclaimedItem)]
struct ItemView {
    transfer_id: String,
    channel: String,
    filename: String,
    sender: OrgView,
    recipient: OrgView,
    created_at: String,
    age_days: u32,
}

impl From<&Item> for ItemView {
    fn from(i: &Item) -> Self {
        let d = &i.delivery;
        Self {
            transfer_id: d.transfer.to_string(),
            channel: d.channel.clone(),
            filename: d.filename.clone(),
            sender: (&d.sender).into(),
            recipient: (&d.recipient).into(),
            created_at: rfc3339(d.created_at),
            age_days: i.age_days,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct ChannelTotal {
    channel: String,
    unclaimed: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RecipientTotal {
    recipient: OrgView,
    unclaimed: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = UnclaimedReport)]
struct ReportView {
    total: usize,
    /// More files are unclaimed than listed: narrow the report by channel or organisation.
    truncated: bool,
    by_channel: Vec<ChannelTotal>,
    by_recipient: Vec<RecipientTotal>,
    items: Vec<ItemView>,
}

impl From<Report> for ReportView {
    fn from(r: Report) -> Self {
        Self {
            total: r.items.len(),
            truncated: r.truncated,
            by_channel: r
                .by_channel
                .into_iter()
                .map(|(channel, unclaimed)| ChannelTotal { channel, unclaimed })
                .collect(),
            by_recipient: r
                .by_recipient
                .iter()
                .map(|(org, unclaimed)| RecipientTotal { recipient: org.into(), unclaimed: *unclaimed })
                .collect(),
            items: r.items.iter().map(Into::into).collect(),
        }
    }
}

/// Files their recipients have not downloaded, by channel and by recipient.
#[utoipa::path(get, path = "/api/v1/reports/unclaimed", tag = "reports", params(Params), responses(
    (status = 200, description = "The unclaimed files", body = ReportView),
    (status = 400, description = "`invalid_query`: a parameter is not valid, or not one of these\n\n`unknown_channel`: there is no such channel"),
    (status = 422, description = "`unknown_organisation`: there is no such organisation"),
    (status = 403, description = "`forbidden`: only LA administrators see this report"),
))]
async fn report(
    State(state): State<AppState>,
    who: Principal,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Json<ReportView>, ApiError> {
    let Query(params) = params.map_err(|e| {
        ApiError::bad_request(
            "invalid_query",
            format!(
                "{}: use older_than_days (a whole number), channel and org (825/2001 or a team slug)",
                e.body_text()
            ),
        )
    })?;
    let recipient = params
        .org
        .as_deref()
        .map(|raw| {
            raw.parse::<OrgRef>().map_err(|_| {
                ApiError::bad_request(
                    "invalid_query",
                    format!("'{raw}' is not an organisation: give a DfE number such as 825/2001, or a team slug"),
                )
            })
        })
        .transpose()?;
    let query = unclaimed::Query { older_than_days: params.older_than_days, channel: params.channel, recipient };
    Ok(Json(unclaimed::report(&state, &who, query).await?.into()))
}
