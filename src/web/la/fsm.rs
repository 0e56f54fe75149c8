//! FSM turnaround: the eligibility requests the team has not answered, in working days
//! (weekends and bank holidays do not count), overdue first, each linking to its thread.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::Method;
use axum::routing::get;
use time::{Date, Time};

use crate::service::messages::text_of;
use crate::service::routing_desk::{self, Due};
use crate::service::AppState;
use crate::web::chrome::{Chrome, Section};
use crate::web::error::PageError;
use crate::web::format::{uk_date, uk_time, visible_name};
use crate::web::session::SignedIn;
use crate::web::Page;

pub fn pages() -> Vec<Page> {
    vec![Page::new(Method::GET, "/fsm", get(turnaround))]
}

struct Row {
    id: String,
    school: String,
    subject: String,
    received: String,
    used: u32,
    left: String,
    due: String,
    tag: &'static str,
    tag_class: &'static str,
}

#[derive(Template, WebTemplate)]
#[template(path = "la/fsm_turnaround.html")]
struct TurnaroundPage {
    chrome: Chrome,
    channel: String,
    target: Option<u32>,
    overdue: usize,
    rows: Vec<Row>,
}

/// A calendar date as the pages write dates (noon keeps it the same day in UK time).
fn day(d: Date) -> String {
    uk_date(d.with_time(Time::from_hms(12, 0, 0).unwrap_or(Time::MIDNIGHT)).assume_utc())
}

fn plural(n: u32) -> String {
    if n == 1 {
        "1 working day".to_owned()
    } else {
        format!("{n} working days")
    }
}

fn row(state: &AppState, due: &Due) -> Row {
    let t = &due.request.transfer;
    let (tag, tag_class) = match (due.request.overdue, due.days_left) {
        (true, _) => ("Overdue", "govuk-tag--red"),
        (false, Some(0)) => ("Due today", "govuk-tag--yellow"),
        _ => ("Open", "govuk-tag--blue"),
    };
    let left = match (due.request.overdue, due.days_left, due.due_on) {
        (true, _, Some(_)) => "None: overdue".to_owned(),
        (_, Some(left), _) => plural(left),
        _ => "No target".to_owned(),
    };
    let subject = if t.has_file { visible_name(&t.filename) } else { text_of(state.keys(), t).unwrap_or_default() };
    Row {
        id: t.id.0.to_string(),
        school: format!("{} ({})", t.sender.name, t.sender.reference),
        subject,
        received: uk_time(t.created_at),
        used: due.request.age_business_days,
        left,
        due: due.due_on.map(day).unwrap_or_default(),
        tag,
        tag_class,
    }
}

async fn turnaround(State(state): State<AppState>, who: SignedIn) -> Result<TurnaroundPage, PageError> {
    let report = routing_desk::fsm_turnaround(&state, &who.principal).await?;
    Ok(TurnaroundPage {
        chrome: Chrome::signed_in(&state, &who, Section::Fsm),
        channel: report.channel.name.clone(),
        target: report.target_business_days,
        overdue: report.requests.iter().filter(|r| r.request.overdue).count(),
        rows: report.requests.iter().map(|due| row(&state, due)).collect(),
    })
}
