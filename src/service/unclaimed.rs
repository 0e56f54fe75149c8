//! Files nobody has collected: for LA administrators, so nothing sits unread for months.

use std::collections::BTreeMap;

use super::authority::enforce;
use super::ServiceError;
use crate::domain::{unclaimed, OrgRef, Organisation};
use crate::policy::{self, Action, Principal};
use crate::service::AppState;
use crate::store::meta::{UnclaimedDelivery, UnclaimedFilter};

/// The most deliveries one report lists; totals then count only those listed.
const LIMIT: u32 = 5000;

pub struct Query {
    pub older_than_days: Option<u32>,
    pub channel: Option<String>,
    pub recipient: Option<OrgRef>,
}

pub struct Item {
    pub delivery: UnclaimedDelivery,
    pub age_days: u32,
}

pub struct Report {
    pub items: Vec<Item>,
    /// More were unclaimed than the report lists.
    pub truncated: bool,
    pub by_channel: Vec<(String, usize)>,
    pub by_recipient: Vec<(Organisation, usize)>,
}

pub async fn report(state: &AppState, who: &Principal, query: Query) -> Result<Report, ServiceError> {
    enforce(policy::decide(who, Action::ViewUnclaimedReport))?;
    let catalogue = state.channels();
    if let Some(channel) = query.channel.as_deref() {
        if catalogue.get(channel).is_none() {
            return Err(super::unknown_channel(channel));
        }
    }
    let recipient = match &query.recipient {
        Some(reference) => Some(state.repo().find_organisation(reference).await?.ok_or_else(|| {
            ServiceError::unprocessable("unknown_organisation", format!("there is no organisation {reference}"))
        })?),
        None => None,
    };
    let now = state.now();
    let cutoffs = unclaimed::cutoffs(&catalogue, query.channel.as_deref(), query.older_than_days, now);
    let filter = UnclaimedFilter {
        cutoffs: cutoffs.by_channel,
        otherwise: cutoffs.otherwise,
        recipient: recipient.map(|o| o.id),
        limit: LIMIT + 1,
    };
    let mut found = state.repo().unclaimed_deliveries(&filter).await?;
    let truncated = found.len() > LIMIT as usize;
    found.truncate(LIMIT as usize);
    let items: Vec<Item> = found
        .into_iter()
        .map(|delivery| Item { age_days: unclaimed::age_days(delivery.created_at, now), delivery })
        .collect();
    Ok(with_totals(items, truncated))
}

/// The report with counts per channel (by slug) and per recipient (by reference), each in a
/// stable order.
fn with_totals(items: Vec<Item>, truncated: bool) -> Report {
    let mut by_channel: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_recipient: BTreeMap<String, (&Organisation, usize)> = BTreeMap::new();
    for item in &items {
        *by_channel.entry(item.delivery.channel.as_str()).or_default() += 1;
        let recipient = &item.delivery.recipient;
        by_recipient.entry(recipient.reference.to_string()).or_insert((recipient, 0)).1 += 1;
    }
    let by_channel = by_channel.into_iter().map(|(c, n)| (c.to_owned(), n)).collect();
    let by_recipient = by_recipient.into_values().map(|(org, n)| (org.clone(), n)).collect();
    Report { items, truncated, by_channel, by_recipient }
}
