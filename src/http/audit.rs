//! `GET /api/v1/audit`: search and export the audit trail (LA administrators; a school
//! administrator sees their own school's events).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::csv_export::{attachment, write_row};
use super::error::ApiError;
use super::transfers::query;
use super::views::rfc3339;
use super::Endpoint;
use crate::policy::Principal;
use crate::service::audit;
use crate::service::AppState;
use crate::store::meta::{AuditFilter, AuditRecord};

#[derive(utoipa::OpenApi)]
#[openapi(paths(search))]
pub(super) struct Api;

pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::new(Method::GET, "/api/v1/audit", get(search))]
}

/// Most rows one CSV export holds; narrow the filters for more.
const EXPORT_LIMIT: usize = 100_000;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct Params {
    org: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    /// A transfer's (or any target's) id.
    target: Option<String>,
    /// RFC 3339 times.
    from: Option<String>,
    until: Option<String>,
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    cursor: Option<u64>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ActorView {
    kind: &'static str,
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    org: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_addr: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct EventView {
    seq: u64,
    at: String,
    actor: ActorView,
    action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    org: Option<String>,
    outcome: &'static str,
    #[schema(value_type = Object)]
    details: serde_json::Value,
    hash: String,
}

impl From<&AuditRecord> for EventView {
    fn from(r: &AuditRecord) -> Self {
        let e = &r.stored.event;
        Self {
            seq: r.stored.seq,
            at: rfc3339(e.at),
            actor: ActorView {
                kind: e.actor.kind,
                id: e.actor.id.clone(),
                org: e.actor.org.clone(),
                client_addr: e.actor.client_addr.clone(),
            },
            action: e.action.clone(),
            target_kind: e.target_kind.clone(),
            target_id: e.target_id.clone(),
            org: e.org.clone(),
            outcome: e.outcome.as_str(),
            details: e.details.clone(),
            hash: hex::encode(r.stored.hash),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AuditPage)]
struct PageView {
    items: Vec<EventView>,
    next_cursor: Option<u64>,
}

fn time_param(raw: Option<&str>, name: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|t| {
        OffsetDateTime::parse(t, &Rfc3339).map_err(|_| {
            ApiError::bad_request(
                "invalid_time",
                format!("'{name}' must be an RFC 3339 time such as 2026-03-02T09:00:00Z"),
            )
        })
    })
    .transpose()
}

/// Searches the audit trail, newest first: a page of JSON, or every match as CSV.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(Params), responses(
    (status = 200, description = "A page of events (`format=json`), or all of them as CSV (`format=csv`)", content(
        (PageView = "application/json"),
        (String = "text/csv"),
    )),
    (status = 400, description = "`invalid_query`, `invalid_time`, `invalid_format`, `invalid_cursor`: a parameter is not valid"),
    (status = 403, description = "`forbidden`: only administrators read the audit trail"),
))]
async fn search(
    State(state): State<AppState>,
    who: Principal,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Response, ApiError> {
    let p = query(params)?;
    let filter = AuditFilter {
        org: p.org,
        actor: p.actor,
        action: p.action,
        target: p.target,
        from: time_param(p.from.as_deref(), "from")?,
        until: time_param(p.until.as_deref(), "until")?,
    };
    match p.format.as_deref() {
        None | Some("json") => {
            let limit = p.limit.unwrap_or(100);
            let items = audit::search(&state, &who, filter, p.cursor, limit).await?;
            let next_cursor = (items.len() == limit.clamp(1, audit::MAX_PAGE) as usize)
                .then(|| items.last().map(|r| r.stored.seq))
                .flatten();
            Ok(Json(PageView { items: items.iter().map(EventView::from).collect(), next_cursor }).into_response())
        }
        Some("csv") => export_csv(&state, &who, filter, p.cursor).await,
        Some(other) => Err(ApiError::bad_request("invalid_format", format!("format '{other}' is not json or csv"))),
    }
}

/// Every matching event, newest first, as CSV, read page by page.
async fn export_csv(
    state: &AppState,
    who: &Principal,
    filter: AuditFilter,
    mut before: Option<u64>,
) -> Result<Response, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let header = [
        "seq",
        "at",
        "actor_kind",
        "actor_id",
        "actor_org",
        "client_addr",
        "action",
        "target_kind",
        "target_id",
        "org",
        "outcome",
        "details",
        "hash",
    ];
    let write_failed = |e: csv::Error| ApiError::from(crate::service::ServiceError::Internal(e.into()));
    out.write_record(header).map_err(write_failed)?;
    let mut rows = 0;
    while rows < EXPORT_LIMIT {
        let page = audit::search(state, who, filter.clone(), before, audit::MAX_PAGE).await?;
        for r in &page {
            let e = &r.stored.event;
            let opt = |v: &Option<String>| v.clone().unwrap_or_default();
            write_row(
                &mut out,
                [
                    r.stored.seq.to_string(),
                    rfc3339(e.at),
                    e.actor.kind.to_owned(),
                    e.actor.id.clone(),
                    opt(&e.actor.org),
                    opt(&e.actor.client_addr),
                    e.action.clone(),
                    opt(&e.target_kind),
                    opt(&e.target_id),
                    opt(&e.org),
                    e.outcome.as_str().to_owned(),
                    r.details_json.clone(),
                    hex::encode(r.stored.hash),
                ],
            )
            .map_err(write_failed)?;
        }
        rows += page.len();
        match page.last() {
            Some(last) if page.len() == audit::MAX_PAGE as usize => before = Some(last.stored.seq),
            _ => break,
        }
    }
    let bytes = out.into_inner().map_err(|e| write_failed(e.into_error().into()))?;
    Ok(attachment(bytes, "pigeonpost-audit.csv"))
}
