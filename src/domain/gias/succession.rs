//! Which school carries on which: from the links export, and from one DfE number with one
//! closed and one open URN (an academy conversion, whether or not a links file was given).

use std::collections::{BTreeMap, HashMap};

use time::Date;

use super::{Establishment, EstablishmentStatus, Link, LinkDirection};
use crate::domain::DfeNumber;

/// A school's predecessor: mail and history of the predecessor belong to the successor.
/// `predecessor_dfe == successor_dfe` records a new URN of the same school (academy conversion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Succession {
    pub predecessor_dfe: DfeNumber,
    pub predecessor_urn: u32,
    pub successor_dfe: DfeNumber,
    pub successor_urn: u32,
    /// GIAS's LinkType, or [`IMPLIED_LINK_TYPE`] when no link row gave it.
    pub link_type: String,
    pub established: Option<Date>,
}

/// `link_type` of a succession inferred from one closed and one open row with one DfE number.
pub const IMPLIED_LINK_TYPE: &str = "Same DfE number";

/// One closed and one open row with one DfE number: the open one carries on the closed one.
/// With more rows (a number reused over the decades) only the links file can say.
pub(super) fn implied_succession(rows: &[&Establishment], current: &Establishment) -> Option<Succession> {
    let [a, b] = rows else { return None };
    let old = if current.urn == a.urn { b } else { a };
    (old.status == EstablishmentStatus::Closed && current.status != EstablishmentStatus::Closed).then(|| Succession {
        predecessor_dfe: old.dfe,
        predecessor_urn: old.urn,
        successor_dfe: current.dfe,
        successor_urn: current.urn,
        link_type: IMPLIED_LINK_TYPE.to_owned(),
        established: current.open_date.or(old.close_date),
    })
}

/// The successions between schools that exist after the plan (`school_of` maps their URNs, old
/// and new, to their DfE numbers), ordered by successor then predecessor, and the number of
/// link rows that gave none. Links win over `implied` for the same pair.
pub(super) fn successions(
    links: &[Link],
    implied: Vec<Succession>,
    school_of: &HashMap<u32, DfeNumber>,
    status_after: &HashMap<DfeNumber, EstablishmentStatus>,
) -> (Vec<Succession>, usize) {
    let mut found: BTreeMap<(DfeNumber, u32, DfeNumber, u32), Succession> = BTreeMap::new();
    let mut ignored = 0;
    for link in links {
        let (pred, succ) = match link.direction {
            LinkDirection::Predecessor => (link.link_urn, link.urn),
            LinkDirection::Successor => (link.urn, link.link_urn),
            LinkDirection::Other => {
                ignored += 1;
                continue;
            }
        };
        let (Some(&pred_dfe), Some(&succ_dfe)) = (school_of.get(&pred), school_of.get(&succ)) else {
            ignored += 1;
            continue;
        };
        // An open school keeps its own mail: a GIAS link naming an open school as another's
        // predecessor (a split school, say) must not hand its mailbox over.
        let pred_open = status_after.get(&pred_dfe) != Some(&EstablishmentStatus::Closed);
        if pred == succ || (pred_dfe != succ_dfe && pred_open) {
            ignored += 1;
            continue;
        }
        let from_successor = link.direction == LinkDirection::Predecessor;
        match found.get_mut(&(succ_dfe, succ, pred_dfe, pred)) {
            // The other side of a link already seen: keep the successor's wording, and a date
            // if either side has one.
            Some(s) if from_successor => {
                s.link_type.clone_from(&link.link_type);
                s.established = link.established.or(s.established);
            }
            Some(s) => s.established = s.established.or(link.established),
            None => {
                let s = Succession {
                    predecessor_dfe: pred_dfe,
                    predecessor_urn: pred,
                    successor_dfe: succ_dfe,
                    successor_urn: succ,
                    link_type: link.link_type.clone(),
                    established: link.established,
                };
                found.insert((succ_dfe, succ, pred_dfe, pred), s);
            }
        }
    }
    for s in implied {
        let key = (s.successor_dfe, s.successor_urn, s.predecessor_dfe, s.predecessor_urn);
        found.entry(key).or_insert(s);
    }
    (found.into_values().collect(), ignored)
}
