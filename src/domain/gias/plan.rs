//! Planning an import: what to add, update and close so the schools match GIAS, and which
//! schools succeed which.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use super::forwarding::carried_on;
use super::succession::{implied_succession, successions};
use super::{Establishment, EstablishmentStatus, IgnoredLink, IgnoredReason, Link, Rejected, Succession};
use crate::domain::DfeNumber;

/// What the database holds now about a school (the caller loads these).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownSchool {
    pub dfe: DfeNumber,
    pub urn: Option<u32>,
    pub name: String,
    pub type_name: Option<String>,
    pub phase: Option<String>,
    pub status: EstablishmentStatus,
}

/// What the database holds after an `Add`, `Update` or `Close` to `e` is applied. Empty GIAS
/// fields are stored as none, so a re-import compares equal whichever way the caller stores them.
impl From<&Establishment> for KnownSchool {
    fn from(e: &Establishment) -> Self {
        KnownSchool {
            dfe: e.dfe,
            urn: Some(e.urn),
            name: e.name.clone(),
            type_name: non_empty(Some(&e.type_name)).map(str::to_owned),
            phase: non_empty(Some(&e.phase)).map(str::to_owned),
            status: e.status,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A school not known yet (no known school with this DfE number or URN): an open one, or a
    /// closed one that an open school carries on, added as closed so that its numbers forward.
    Add(Establishment),
    /// A known school (matched by DfE number) whose details changed; `fields` names them
    /// ("name", "urn", "phase", "type", "status"), in that order.
    Update { dfe: DfeNumber, to: Establishment, fields: Vec<&'static str> },
    /// A known school now closed in GIAS (and not carried on under the same DfE number by an
    /// open successor). Keeps its history; can no longer log in or receive. `to` is the closed
    /// row: store all of it, as for an update.
    Close { dfe: DfeNumber, to: Establishment },
}

impl Change {
    pub fn dfe(&self) -> DfeNumber {
        match self {
            Change::Add(e) => e.dfe,
            Change::Update { dfe, .. } | Change::Close { dfe, .. } => *dfe,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportPlan {
    /// At most one per DfE number, ordered by DfE number.
    pub changes: Vec<Change>,
    /// Ordered by successor, then predecessor.
    pub successions: Vec<Succession>,
    pub unchanged: usize,
    /// Rows of other LAs, left out by the LA filter.
    pub other_la: usize,
    pub rejected: Vec<Rejected>,
    /// DfE numbers whose rows are all closed, that Pigeonpost never knew and that no open
    /// school carries on: nothing would ever reach them, so they are not added. One row each
    /// (the one that would have spoken for it), in DfE number order.
    pub closed_not_added: Vec<Establishment>,
    /// Link rows that gave no succession, in file order, each with its reason.
    pub ignored_links: Vec<IgnoredLink>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportSummary {
    /// Open schools added.
    pub added: usize,
    /// Closed schools added because an open school carries them on.
    pub added_closed: usize,
    pub updated: usize,
    pub closed: usize,
    pub unchanged: usize,
    pub linked: usize,
    pub other_la: usize,
    pub rejected: usize,
    pub closed_not_added: usize,
    pub links_ignored: usize,
}

impl ImportPlan {
    pub fn summary(&self) -> ImportSummary {
        let count = |f: fn(&Change) -> bool| self.changes.iter().filter(|c| f(c)).count();
        ImportSummary {
            added: count(|c| matches!(c, Change::Add(e) if e.status != EstablishmentStatus::Closed)),
            added_closed: count(|c| matches!(c, Change::Add(e) if e.status == EstablishmentStatus::Closed)),
            updated: count(|c| matches!(c, Change::Update { .. })),
            closed: count(|c| matches!(c, Change::Close { .. })),
            unchanged: self.unchanged,
            linked: self.successions.len(),
            other_la: self.other_la,
            rejected: self.rejected.len(),
            closed_not_added: self.closed_not_added.len(),
            links_ignored: self.ignored_links.len(),
        }
    }

    /// How many link rows were ignored for each reason, in the reasons' order.
    pub fn ignored_link_counts(&self) -> Vec<(IgnoredReason, usize)> {
        let mut counts: BTreeMap<IgnoredReason, usize> = BTreeMap::new();
        for i in &self.ignored_links {
            *counts.entry(i.reason).or_default() += 1;
        }
        counts.into_iter().collect()
    }
}

impl fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "added {}, added closed {}, updated {}, closed {}, unchanged {}, linked {}, other LAs {}, \
             rejected {}, closed and not added {}, links ignored {}",
            self.added,
            self.added_closed,
            self.updated,
            self.closed,
            self.unchanged,
            self.linked,
            self.other_la,
            self.rejected,
            self.closed_not_added,
            self.links_ignored
        )
    }
}

/// Decides what to change. `la`: only establishments of that LA code (others are counted in
/// `other_la`). Pure and deterministic; applying the plan and planning again with the same files
/// gives no changes.
///
/// Known schools absent from the file are left alone: GIAS exports can be filtered, so absence
/// says nothing about a school.
pub fn plan_import(
    known: &[KnownSchool],
    establishments: &[Establishment],
    links: &[Link],
    la: Option<u16>,
) -> ImportPlan {
    let in_la = |dfe: DfeNumber| la.is_none_or(|l| dfe.la_code() == l);
    let mut plan = ImportPlan::default();

    // One organisation per DfE number, however many URNs GIAS has had for it.
    let mut groups: BTreeMap<DfeNumber, Vec<&Establishment>> = BTreeMap::new();
    for e in establishments {
        if in_la(e.dfe) {
            groups.entry(e.dfe).or_default().push(e);
        } else {
            plan.other_la += 1;
        }
    }
    let by_dfe: HashMap<DfeNumber, &KnownSchool> = known.iter().map(|k| (k.dfe, k)).collect();
    let by_urn: HashMap<u32, &KnownSchool> = known.iter().filter_map(|k| k.urn.map(|u| (u, k))).collect();

    // After the plan: which DfE number each URN belongs to, and each school's status.
    let mut school_of: HashMap<u32, DfeNumber> = HashMap::new();
    let mut status_after: HashMap<DfeNumber, EstablishmentStatus> = HashMap::new();
    let mut conflicted: HashSet<u32> = HashSet::new();
    let mut implied = Vec::new();
    // Closed and never known: added only if an open school carries them on.
    let mut closed_unknown: Vec<&Establishment> = Vec::new();
    let mut closed_urns: HashMap<u32, DfeNumber> = HashMap::new();

    for (&dfe, rows) in &groups {
        let Some(row) = representative(rows) else {
            continue;
        };
        if let Some(other) = by_urn.get(&row.urn).filter(|k| k.dfe != dfe) {
            conflicted.extend(rows.iter().map(|r| r.urn));
            plan.rejected.push(urn_conflict(row, other));
            continue;
        }
        match by_dfe.get(&dfe) {
            Some(k) => {
                let fields = differences(k, row);
                if fields.is_empty() {
                    plan.unchanged += 1;
                } else if fields.contains(&"status") && row.status == EstablishmentStatus::Closed {
                    let to = row.clone();
                    plan.changes.push(Change::Close { dfe, to });
                } else {
                    let to = row.clone();
                    plan.changes.push(Change::Update { dfe, to, fields });
                }
            }
            None if row.status == EstablishmentStatus::Closed => {
                closed_unknown.push(row);
                closed_urns.extend(rows.iter().map(|r| (r.urn, dfe)));
                continue;
            }
            None => plan.changes.push(Change::Add(row.clone())),
        }
        school_of.extend(rows.iter().map(|r| (r.urn, dfe)));
        status_after.insert(dfe, row.status);
        implied.extend(implied_succession(rows, row));
    }
    for k in known.iter().filter(|k| in_la(k.dfe)) {
        status_after.entry(k.dfe).or_insert(k.status);
        if let Some(urn) = k.urn.filter(|u| !conflicted.contains(u)) {
            school_of.entry(urn).or_insert(k.dfe);
        }
    }

    let carried = carried_on(&closed_urns, links, &school_of, &status_after);
    for row in closed_unknown {
        if carried.contains(&row.dfe) {
            plan.changes.push(Change::Add(row.clone()));
            school_of.extend(closed_urns.iter().filter(|(_, d)| **d == row.dfe).map(|(&u, &d)| (u, d)));
            status_after.insert(row.dfe, EstablishmentStatus::Closed);
        } else {
            plan.closed_not_added.push(row.clone());
        }
    }

    let other_la: HashSet<u32> = establishments.iter().filter(|e| !in_la(e.dfe)).map(|e| e.urn).collect();
    let missing = |urn: u32| {
        if other_la.contains(&urn) {
            IgnoredReason::OtherLa
        } else if closed_urns.contains_key(&urn) {
            IgnoredReason::ClosedLeftOut
        } else if conflicted.contains(&urn) {
            IgnoredReason::Refused
        } else {
            IgnoredReason::NotInExport
        }
    };
    let (successions, ignored) = successions(links, implied, &school_of, &status_after, missing);
    plan.successions = successions;
    plan.ignored_links = ignored;
    plan.changes.sort_by_key(Change::dfe);
    plan
}

/// The row that speaks for a DfE number: an open one over one proposed to open over a closed
/// one (an academy's open row over its closed predecessor's), then the latest opened, then the
/// highest URN, so that the choice never depends on the order of the file.
fn representative<'a>(rows: &[&'a Establishment]) -> Option<&'a Establishment> {
    let rank = |s: EstablishmentStatus| match s {
        EstablishmentStatus::Open | EstablishmentStatus::OpenProposedToClose => 2,
        EstablishmentStatus::ProposedToOpen => 1,
        EstablishmentStatus::Closed => 0,
    };
    rows.iter().copied().max_by_key(|e| (rank(e.status), e.open_date, e.urn))
}

/// The kept fields in which `row` differs from `k`.
fn differences(k: &KnownSchool, row: &Establishment) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if k.name != row.name {
        fields.push("name");
    }
    if k.urn != Some(row.urn) {
        fields.push("urn");
    }
    if non_empty(k.phase.as_deref()) != non_empty(Some(&row.phase)) {
        fields.push("phase");
    }
    if non_empty(k.type_name.as_deref()) != non_empty(Some(&row.type_name)) {
        fields.push("type");
    }
    if k.status != row.status {
        fields.push("status");
    }
    fields
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// GIAS gives a URN that Pigeonpost holds under another DfE number (an LA reorganisation, or a
/// number corrected in GIAS). Two mailboxes cannot share a URN and moving mail between DfE
/// numbers is not for an import to decide, so the row waits for an administrator.
fn urn_conflict(row: &Establishment, other: &KnownSchool) -> Rejected {
    Rejected {
        file: "establishments",
        line: 0,
        urn: Some(row.urn.to_string()),
        reason: format!(
            "GIAS gives URN {} to {} '{}', but Pigeonpost holds it for {} '{}': if the DfE \
             number changed, change it in Pigeonpost first, then import again",
            row.urn, row.dfe, row.name, other.dfe, other.name
        ),
    }
}
