//! Files nobody has collected, from the unclaimed report (LA administrators only: the report
//! asks the policy), with totals by channel and a table of the files, oldest first.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::Method;
use axum::routing::get;

use crate::service::unclaimed;
use crate::service::AppState;
use crate::web::chrome::{Chrome, Section};
use crate::web::error::PageError;
use crate::web::format::{uk_time, visible_name};
use crate::web::session::SignedIn;
use crate::web::Page;

pub fn pages() -> Vec<Page> {
    vec![Page::new(Method::GET, "/unclaimed", get(show))]
}

struct Row {
    filename: String,
    channel: String,
    sender: String,
    recipient: String,
    sent: String,
    age_days: u32,
}

#[derive(Template, WebTemplate)]
#[template(path = "la/unclaimed.html")]
struct UnclaimedPage {
    chrome: Chrome,
    truncated: bool,
    by_channel: Vec<(String, usize)>,
    rows: Vec<Row>,
}

async fn show(State(state): State<AppState>, who: SignedIn) -> Result<UnclaimedPage, PageError> {
    let query = unclaimed::Query { older_than_days: None, channel: None, recipient: None };
    let report = unclaimed::report(&state, &who.principal, query).await?;
    let catalogue = state.channels();
    let channel_name = |slug: &str| catalogue.get(slug).map_or_else(|| slug.to_owned(), |c| c.name.clone());
    let mut rows: Vec<Row> = report
        .items
        .iter()
        .map(|i| {
            let d = &i.delivery;
            Row {
                filename: visible_name(&d.filename),
                channel: channel_name(&d.channel),
                sender: format!("{} ({})", d.sender.name, d.sender.reference),
                recipient: format!("{} ({})", d.recipient.name, d.recipient.reference),
                sent: uk_time(d.created_at),
                age_days: i.age_days,
            }
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.age_days));
    Ok(UnclaimedPage {
        chrome: Chrome::signed_in(&state, &who, Section::Unclaimed),
        truncated: report.truncated,
        by_channel: report.by_channel.iter().map(|(c, n)| (channel_name(c), *n)).collect(),
        rows,
    })
}
