//! The census collection: for a channel schools return files on, which of the schools expected
//! have sent since the start of the term and which have not, with each school's last return.
//! Straight from the collection report, which asks the policy (the collecting team and LA
//! administrators only).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::Method;
use axum::routing::get;
use serde::Deserialize;

use super::collect::bad_address;
use crate::domain::{OrgKind, OrgRef};
use crate::service::collection::{self, SchoolLine};
use crate::service::AppState;
use crate::web::chrome::{Chrome, Section};
use crate::web::error::PageError;
use crate::web::format::{uk_date, uk_time};
use crate::web::session::SignedIn;
use crate::web::Page;

pub fn pages() -> Vec<Page> {
    vec![Page::new(Method::GET, "/collection", get(show))]
}

#[derive(Deserialize)]
struct Params {
    channel: Option<String>,
    phase: Option<String>,
}

struct Line {
    dfe: String,
    name: String,
    phase: String,
    files: u64,
    last: String,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "la/collection.html")]
struct CollectionPage {
    chrome: Chrome,
    channel_name: String,
    since: String,
    channels: Vec<Choice>,
    phases: Vec<Choice>,
    expected: usize,
    sent_count: usize,
    not_sent_count: usize,
    /// Those that have not sent first: they are who the team chases.
    tables: Vec<Table>,
}

struct Table {
    title: &'static str,
    lines: Vec<Line>,
}

async fn show(
    State(state): State<AppState>,
    who: SignedIn,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<CollectionPage, PageError> {
    let Query(params) = params.map_err(|_| bad_address())?;
    let catalogue = state.channels();
    // The channels someone collects, the caller's own team's first.
    let own_team = match (&who.principal.org.kind, &who.principal.org.reference) {
        (OrgKind::Team, OrgRef::Team(t)) => Some(t.to_string()),
        _ => None,
    };
    let mut collected: Vec<_> = catalogue.channels.iter().filter(|c| c.collecting_team().is_some()).collect();
    collected.sort_by_key(|c| c.collecting_team() != own_team.as_deref());
    let channel = params
        .channel
        .filter(|c| !c.is_empty())
        .or_else(|| collected.first().map(|c| c.slug.clone()))
        .unwrap_or_else(|| "census".to_owned());
    let query = collection::Query { channel: channel.clone(), since: None };
    let report = collection::report(&state, &who.principal, query).await?;
    let channel_name = catalogue.get(&report.channel).map_or_else(|| report.channel.clone(), |c| c.name.clone());
    let channels = collected
        .iter()
        .map(|c| Choice { value: c.slug.clone(), label: c.name.clone(), selected: c.slug == report.channel })
        .collect();

    let phase = params.phase.filter(|p| !p.is_empty());
    let mut all_phases: Vec<String> =
        report.sent.iter().chain(&report.not_sent).filter_map(|l| l.school.phase.clone()).collect();
    all_phases.sort();
    all_phases.dedup();
    let phases = all_phases
        .into_iter()
        .map(|p| Choice { selected: phase.as_deref() == Some(p.as_str()), label: p.clone(), value: p })
        .collect();
    let keep = |l: &&SchoolLine| phase.is_none() || l.school.phase == phase;
    let not_sent: Vec<Line> = report.not_sent.iter().filter(keep).map(line).collect();
    let sent: Vec<Line> = report.sent.iter().filter(keep).map(line).collect();
    Ok(CollectionPage {
        chrome: Chrome::signed_in(&state, &who, Section::Collection),
        channel_name,
        since: uk_time(report.since),
        channels,
        phases,
        expected: not_sent.len() + sent.len(),
        sent_count: sent.len(),
        not_sent_count: not_sent.len(),
        tables: vec![Table { title: "Not sent yet", lines: not_sent }, Table { title: "Sent", lines: sent }],
    })
}

fn line(l: &SchoolLine) -> Line {
    Line {
        dfe: l.school.reference.to_string(),
        name: l.school.name.clone(),
        phase: l.school.phase.clone().unwrap_or_default(),
        files: l.files_since,
        last: l.last_file_at.map(uk_date).unwrap_or_else(|| "Never".to_owned()),
    }
}
