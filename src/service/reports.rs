//! Reports for the teams that answer requests: which are still open, and for how long, in
//! working days (weekends and bank holidays do not count against a team).

use time::OffsetDateTime;

use super::authority::enforce;
use super::ServiceError;
use crate::domain::business_days::Calendar;
use crate::domain::records::TransferRecord;
use crate::policy::{self, Action, Principal};
use crate::service::AppState;

pub struct OpenRequest {
    pub transfer: TransferRecord,
    pub age_business_days: u32,
    pub overdue: bool,
}

pub struct Turnaround {
    pub channel: String,
    pub target_business_days: Option<u32>,
    pub requests: Vec<OpenRequest>,
}

/// The bank holidays in force: the shipped England and Wales list, or the administrator's copy.
pub fn calendar(state: &AppState) -> Result<Calendar, ServiceError> {
    let path = &state.settings().bank_holidays_path;
    if path.as_os_str().is_empty() {
        return Ok(Calendar::england_and_wales());
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        ServiceError::Internal(anyhow::anyhow!("could not read the bank holidays file {}: {e}", path.display()))
    })?;
    Calendar::parse(&text)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("the bank holidays file is not valid: {e}")))
}

/// Requests on `channel` sent to the caller's organisation that have no answer yet, oldest first.
pub async fn turnaround(state: &AppState, who: &Principal, channel: &str) -> Result<Turnaround, ServiceError> {
    enforce(policy::decide(who, Action::ListMailbox))?;
    let catalogue = state.channels();
    let Some(spec) = catalogue.get(channel) else {
        return Err(super::unknown_channel(channel));
    };
    let calendar = calendar(state)?;
    let today = state.now().date();
    let target = spec.turnaround_business_days;
    let open = state.repo().open_requests(&spec.slug, &who.mailboxes(), 5000).await?;
    let requests = open
        .into_iter()
        .map(|transfer| {
            let age = calendar.business_days_between(received_on(&transfer), today);
            OpenRequest { overdue: target.is_some_and(|t| age > t), age_business_days: age, transfer }
        })
        .collect();
    Ok(Turnaround { channel: spec.slug.clone(), target_business_days: target, requests })
}

fn received_on(t: &TransferRecord) -> time::Date {
    let at: OffsetDateTime = t.created_at;
    at.date()
}
