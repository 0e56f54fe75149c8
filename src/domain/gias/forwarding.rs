//! Which closed establishments an import registers although Pigeonpost never knew them: those an
//! open school carries on. An LA starts using Pigeonpost in the middle of real life, and the
//! numbers of schools that converted or merged recently are still in DfE files and in schools'
//! habits; registered as closed, with their links, those numbers forward to the open school.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{EstablishmentStatus, Link};
use crate::domain::DfeNumber;

/// How many successions away an open school may be: as far as forwarding follows a chain (a
/// school that merged, then converted).
pub const MAX_SUCCESSION_HOPS: usize = 4;

/// Of `closed` (DfE numbers never known whose rows are all closed, by their rows' URNs), those
/// with an open successor within [`MAX_SUCCESSION_HOPS`] successions through closed schools.
/// `school_of` and `status_after` describe every other school there will be after the import.
pub(super) fn carried_on(
    closed: &HashMap<u32, DfeNumber>,
    links: &[Link],
    school_of: &HashMap<u32, DfeNumber>,
    status_after: &HashMap<DfeNumber, EstablishmentStatus>,
) -> HashSet<DfeNumber> {
    let dfe_of = |urn: u32| school_of.get(&urn).or_else(|| closed.get(&urn)).copied();
    let status = |dfe: DfeNumber| status_after.get(&dfe).copied().unwrap_or(EstablishmentStatus::Closed);
    // As in the successions: only a closed school hands on its mail.
    let mut next: HashMap<DfeNumber, BTreeSet<DfeNumber>> = HashMap::new();
    for (pred, succ) in links.iter().filter_map(Link::succession) {
        if let (Some(p), Some(s)) = (dfe_of(pred), dfe_of(succ)) {
            if p != s && status(p) == EstablishmentStatus::Closed {
                next.entry(p).or_default().insert(s);
            }
        }
    }
    let starts: BTreeSet<DfeNumber> = closed.values().copied().collect();
    starts.into_iter().filter(|&start| reaches_an_open_school(start, &next, &status)).collect()
}

fn reaches_an_open_school(
    start: DfeNumber,
    next: &HashMap<DfeNumber, BTreeSet<DfeNumber>>,
    status: &impl Fn(DfeNumber) -> EstablishmentStatus,
) -> bool {
    let mut seen = HashSet::from([start]);
    let mut frontier = vec![start];
    for _ in 0..MAX_SUCCESSION_HOPS {
        let mut further = Vec::new();
        for dfe in frontier.iter().filter_map(|d| next.get(d)).flatten().copied() {
            if status(dfe).can_receive() {
                return true;
            }
            if seen.insert(dfe) {
                further.push(dfe);
            }
        }
        frontier = further;
    }
    false
}
