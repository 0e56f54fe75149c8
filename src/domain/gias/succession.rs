//! Which school carries on which: from the links export, and from one DfE number with one
//! closed and one open URN (an academy conversion, whether or not a links file was given).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

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

/// Why a link row gave no succession. The order is the order of the import's summary lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IgnoredReason {
    /// Not a succession at all: a sixth form centre link and the like.
    NotASuccession,
    /// The predecessor is still open: it keeps its own mail (a split school, say).
    PredecessorOpen,
    /// One side is an establishment of another LA, which this LA does not import.
    OtherLa,
    /// One side is closed and no open school carries it on, so it was not added.
    ClosedLeftOut,
    /// One side's row in the establishment export was refused (see the refused rows).
    Refused,
    /// One side is neither in the establishment export nor in Pigeonpost.
    NotInExport,
    /// Both sides are the same establishment.
    ToItself,
}

impl fmt::Display for IgnoredReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotASuccession => "not a succession (such as a sixth form centre link)",
            Self::PredecessorOpen => "the predecessor is still open and keeps its own mail",
            Self::OtherLa => "an establishment of another LA",
            Self::ClosedLeftOut => "a closed establishment that no open school carries on, not added",
            Self::Refused => "an establishment whose row was refused",
            Self::NotInExport => "in neither the establishment export nor Pigeonpost",
            Self::ToItself => "an establishment linked to itself",
        })
    }
}

/// A link row that gave no succession, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredLink {
    /// The line in the links file (0 for a link not read from a file).
    pub line: u64,
    pub urn: u32,
    pub link_urn: u32,
    pub link_type: String,
    pub reason: IgnoredReason,
    /// The URN the reason is about, when it is about one side.
    pub about: Option<u32>,
}

impl fmt::Display for IgnoredLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "links line {}: URN {} {} {}: ", self.line, self.urn, self.link_type, self.link_urn)?;
        match self.about {
            Some(urn) => write!(f, "URN {urn} is {}", self.reason),
            None => write!(f, "{}", self.reason),
        }
    }
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
/// and new, to their DfE numbers), ordered by successor then predecessor, and the link rows that
/// gave none, in file order; `missing` says why a URN is not in `school_of`. Links win over
/// `implied` for the same pair.
pub(super) fn successions(
    links: &[Link],
    implied: Vec<Succession>,
    school_of: &HashMap<u32, DfeNumber>,
    status_after: &HashMap<DfeNumber, EstablishmentStatus>,
    missing: impl Fn(u32) -> IgnoredReason,
) -> (Vec<Succession>, Vec<IgnoredLink>) {
    let mut found: BTreeMap<(DfeNumber, u32, DfeNumber, u32), Succession> = BTreeMap::new();
    let mut ignored = Vec::new();
    for link in links {
        let ignore = |reason: IgnoredReason, about: Option<u32>| IgnoredLink {
            line: link.line,
            urn: link.urn,
            link_urn: link.link_urn,
            link_type: link.link_type.clone(),
            reason,
            about,
        };
        let Some((pred, succ)) = link.succession() else {
            ignored.push(ignore(IgnoredReason::NotASuccession, None));
            continue;
        };
        let (pred_dfe, succ_dfe) = match (school_of.get(&pred), school_of.get(&succ)) {
            (Some(&p), Some(&s)) => (p, s),
            (None, _) => {
                ignored.push(ignore(missing(pred), Some(pred)));
                continue;
            }
            (_, None) => {
                ignored.push(ignore(missing(succ), Some(succ)));
                continue;
            }
        };
        if pred == succ {
            ignored.push(ignore(IgnoredReason::ToItself, None));
            continue;
        }
        // An open school keeps its own mail: a GIAS link naming an open school as another's
        // predecessor (a split school, say) must not hand its mailbox over.
        let pred_open = status_after.get(&pred_dfe) != Some(&EstablishmentStatus::Closed);
        if pred_dfe != succ_dfe && pred_open {
            ignored.push(ignore(IgnoredReason::PredecessorOpen, None));
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
    ignored.sort_by_key(|i| i.line);
    (found.into_values().collect(), ignored)
}
