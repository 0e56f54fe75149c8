//! `/api/v1/reports/collection`: which schools have sent on a channel since a date and which
//! have not, for the team that collects it and LA administrators; JSON or CSV.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::csv_export::{attachment, write_row};
use super::error::ApiError;
use super::since::since_param;
use super::transfers::required;
use super::views::rfc3339;
use super::Endpoint;
use crate::domain::OrgRef;
use crate::policy::Principal;
use crate::service::collection::{self, Report, SchoolLine};
use crate::service::AppState;
use crate::service::ServiceError;

#[derive(utoipa::OpenApi)]
#[openapi(paths(report))]
pub(super) struct Api;

pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::new(Method::GET, "/api/v1/reports/collection", get(report))]
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Params {
    /// The channel collected, e.g. `census`.
    channel: Option<String>,
    /// A date (its midnight UTC) or an RFC 3339 time; the start of the current term if absent.
    since: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = CollectionSchool)]
struct SchoolView {
    dfe_number: String,
    urn: Option<u32>,
    name: String,
    files_since: u64,
    /// The school's latest file on the channel, whenever it was; null if it never sent one.
    last_file_at: Option<String>,
}

impl From<&SchoolLine> for SchoolView {
    fn from(line: &SchoolLine) -> Self {
        Self {
            dfe_number: dfe_number(line),
            urn: line.school.urn,
            name: line.school.name.clone(),
            files_since: line.files_since,
            last_file_at: line.last_file_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = CollectionCounts)]
struct Counts {
    expected: usize,
    sent: usize,
    not_sent: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = CollectionReport)]
struct ReportView {
    channel: String,
    since: String,
    counts: Counts,
    not_sent: Vec<SchoolView>,
    sent: Vec<SchoolView>,
}

impl From<&Report> for ReportView {
    fn from(r: &Report) -> Self {
        Self {
            channel: r.channel.clone(),
            since: rfc3339(r.since),
            counts: Counts {
                expected: r.sent.len() + r.not_sent.len(),
                sent: r.sent.len(),
                not_sent: r.not_sent.len(),
            },
            not_sent: r.not_sent.iter().map(Into::into).collect(),
            sent: r.sent.iter().map(Into::into).collect(),
        }
    }
}

fn dfe_number(line: &SchoolLine) -> String {
    match &line.school.reference {
        OrgRef::School(n) => n.to_string(),
        OrgRef::Team(_) => String::new(),
    }
}

/// Which open schools expected to send on a channel have sent since a date, and which have not.
#[utoipa::path(get, path = "/api/v1/reports/collection", tag = "reports", params(Params), responses(
    (status = 200, description = "The report as JSON, or with `format=csv` as a CSV attachment (one line per school, those that have not sent first)", body = ReportView),
    (status = 400, description = "`invalid_query`, `missing_parameter`, `invalid_channel`, `unknown_channel`, `invalid_since`, `invalid_format`: a parameter is missing or not valid"),
    (status = 403, description = "`forbidden`: only the team that collects the channel and LA administrators see this report"),
))]
async fn report(
    State(state): State<AppState>,
    who: Principal,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| {
        ApiError::bad_request(
            "invalid_query",
            format!("{}: use channel, since (a date or an RFC 3339 time) and format (json or csv)", e.body_text()),
        )
    })?;
    let channel = required(&params.channel, "channel", "census")?.to_owned();
    let since = since_param(params.since.as_deref())?;
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request("invalid_format", format!("format '{other}' is not json or csv")))
        }
    };
    let report = collection::report(&state, &who, collection::Query { channel, since }).await?;
    if csv {
        return as_csv(&report);
    }
    Ok(Json(ReportView::from(&report)).into_response())
}

/// One line per school, those that have not sent first, each part in DfE number order.
fn as_csv(report: &Report) -> Result<Response, ApiError> {
    let failed = |e: csv::Error| ApiError::from(ServiceError::Internal(e.into()));
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(["dfe_number", "urn", "name", "sent", "files_since", "last_file_at"]).map_err(failed)?;
    let lines = report.not_sent.iter().map(|l| (l, "no")).chain(report.sent.iter().map(|l| (l, "yes")));
    for (line, sent) in lines {
        let urn = line.school.urn.map(|u| u.to_string()).unwrap_or_default();
        let last = line.last_file_at.map(rfc3339).unwrap_or_default();
        let files = line.files_since.to_string();
        let dfe = dfe_number(line);
        let cells = [dfe.as_str(), urn.as_str(), line.school.name.as_str(), sent, files.as_str(), last.as_str()];
        write_row(&mut out, cells).map_err(failed)?;
    }
    let bytes = out.into_inner().map_err(|e| failed(e.into_error().into()))?;
    Ok(attachment(bytes, "pigeonpost-collection.csv"))
}
