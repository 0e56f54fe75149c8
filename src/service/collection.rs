//! The collection report: for a channel schools send returns on (the School Census), which of
//! the schools expected to send have done so since a date, and which have not yet.
//!
//! The schools expected are the open ones in the register that the channel lets send (its
//! routes), so a school that has closed, or is only proposed to open, is not chased. By default
//! the report looks back to the start of the current school term
//! ([`crate::domain::school_terms`]).

use std::collections::HashMap;

use time::OffsetDateTime;

use super::authority::enforce;
use super::ServiceError;
use crate::domain::{school_terms, Organisation};
use crate::policy::{self, Action, Principal};
use crate::service::AppState;

pub struct Query {
    pub channel: String,
    /// From when files count; the start of the current term when None.
    pub since: Option<OffsetDateTime>,
}

pub struct SchoolLine {
    pub school: Organisation,
    pub files_since: u64,
    /// The school's latest file on the channel, whenever it was; None if it never sent one.
    pub last_file_at: Option<OffsetDateTime>,
}

pub struct Report {
    pub channel: String,
    pub since: OffsetDateTime,
    /// Schools with at least one file since `since`, by DfE number.
    pub sent: Vec<SchoolLine>,
    /// Schools with none, by DfE number.
    pub not_sent: Vec<SchoolLine>,
}

pub async fn report(state: &AppState, who: &Principal, query: Query) -> Result<Report, ServiceError> {
    let catalogue = state.channels();
    let channel = catalogue.get(&query.channel).ok_or_else(|| super::unknown_channel(&query.channel))?;
    enforce(policy::decide(who, Action::ViewCollectionReport(channel)))?;
    let since = query.since.unwrap_or_else(|| school_terms::term_start_at(state.now()));
    let tallies: HashMap<_, _> =
        state.repo().sender_tallies(&channel.slug, since).await?.into_iter().map(|t| (t.sender, t)).collect();
    let mut expected: Vec<Organisation> = state
        .repo()
        .list_organisations()
        .await?
        .into_iter()
        .filter(|o| o.is_school() && o.status.can_receive() && channel.route_matching(o).is_some())
        .collect();
    expected.sort_by_cached_key(|o| o.reference.to_string());
    let (sent, not_sent) = expected
        .into_iter()
        .map(|school| {
            let tally = tallies.get(&school.id);
            SchoolLine {
                files_since: tally.map_or(0, |t| t.files_since),
                last_file_at: tally.map(|t| t.last_file_at),
                school,
            }
        })
        .partition(|line| line.files_since > 0);
    Ok(Report { channel: channel.slug.clone(), since, sent, not_sent })
}
