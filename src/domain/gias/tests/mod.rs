//! Tests of the GIAS import, with small builders and [`apply`], which plays the caller's part.

mod establishments;
mod fixtures;
mod links;
mod plan;

use time::{Date, Month};

use super::{Change, Establishment, EstablishmentStatus, ImportPlan, KnownSchool, Link};
use super::{LinkDirection, Rejected};
use crate::domain::DfeNumber;

/// What the database holds after applying `plan` to `known`, as the caller does.
fn apply(known: &[KnownSchool], plan: &ImportPlan) -> Vec<KnownSchool> {
    let mut after = known.to_vec();
    for change in &plan.changes {
        match change {
            Change::Add(e) => {
                assert!(!after.iter().any(|k| k.dfe == e.dfe), "Add of a known school {}", e.dfe);
                after.push(KnownSchool::from(e));
            }
            Change::Update { dfe, to, .. } | Change::Close { dfe, to } => {
                let k = after.iter_mut().find(|k| k.dfe == *dfe);
                let k = k.unwrap_or_else(|| panic!("change to unknown school {dfe}"));
                *k = KnownSchool::from(to);
            }
        }
    }
    after.sort_by_key(|k| k.dfe);
    after
}

fn dfe(s: &str) -> DfeNumber {
    s.parse().unwrap()
}

fn date(day: u8, month: u8, year: i32) -> Date {
    Date::from_calendar_date(year, Month::try_from(month).unwrap(), day).unwrap()
}

/// An open community primary school.
fn est(urn: u32, number: &str, name: &str) -> Establishment {
    Establishment {
        urn,
        dfe: dfe(number),
        name: name.to_owned(),
        type_name: "Community school".to_owned(),
        type_group: "Local authority maintained schools".to_owned(),
        phase: "Primary".to_owned(),
        status: EstablishmentStatus::Open,
        open_date: None,
        close_date: None,
    }
}

fn closed(mut e: Establishment, on: Date) -> Establishment {
    e.status = EstablishmentStatus::Closed;
    e.close_date = Some(on);
    e
}

fn academy(mut e: Establishment, opened: Date) -> Establishment {
    e.type_name = "Academy converter".to_owned();
    e.type_group = "Academies".to_owned();
    e.open_date = Some(opened);
    e
}

fn known(e: &Establishment) -> KnownSchool {
    KnownSchool::from(e)
}

fn link(urn: u32, link_urn: u32, link_type: &str) -> Link {
    let direction = if link_type.starts_with("Predecessor") {
        LinkDirection::Predecessor
    } else if link_type.starts_with("Successor") {
        LinkDirection::Successor
    } else {
        LinkDirection::Other
    };
    Link {
        line: 0,
        urn,
        link_urn,
        link_name: String::new(),
        link_type: link_type.to_owned(),
        direction,
        established: None,
    }
}

fn reasons(rejected: &[Rejected]) -> Vec<String> {
    rejected.iter().map(ToString::to_string).collect()
}
