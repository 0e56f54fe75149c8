//! The invented GIAS export in `tests/fixtures/gias`: a first import into an empty database, the
//! same file again, and the file a term later.

use proptest::prelude::*;

use super::{apply, dfe};
use crate::domain::gias::{
    parse_establishments, parse_links, plan_import, plan_import_files, Change, EstablishmentStatus, IgnoredReason,
    ImportPlan, ImportSummary, KnownSchool,
};

const FIRST: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gias/establishments.csv"));
const LATER: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gias/establishments-later.csv"));
const LINKS: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gias/links.csv"));
const CONVERSIONS: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gias/establishments-conversions.csv"));
const CONVERSION_LINKS: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gias/links-conversions.csv"));

fn plan(known: &[KnownSchool], establishments: &[u8]) -> ImportPlan {
    plan_import_files(known, establishments, Some(LINKS), Some(825)).unwrap()
}

/// The fixture's other LAs, refused rows, the closed school no open school carries on (Old
/// Mill), and the links that give no succession stay the same from one import to the next.
fn summary((added, added_closed, updated, closed, unchanged): (usize, usize, usize, usize, usize)) -> ImportSummary {
    ImportSummary {
        added,
        added_closed,
        updated,
        closed,
        unchanged,
        linked: 4,
        other_la: 4,
        rejected: 3,
        closed_not_added: 1,
        links_ignored: 5,
    }
}

#[test]
fn first_import_into_an_empty_database() {
    let first = plan(&[], FIRST);
    assert_eq!(first.summary(), summary((16, 3, 0, 0, 0)));
    assert_eq!(
        first.summary().to_string(),
        "added 16, added closed 3, updated 0, closed 0, unchanged 0, linked 4, other LAs 4, \
         rejected 3, closed and not added 1, links ignored 5"
    );
    // Fernhill Junior and the Elmwood schools closed before Pigeonpost came, but an open school
    // carries each on: they are added as closed so that their numbers forward.
    let added_closed: Vec<String> = first
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Add(e) if e.status == EstablishmentStatus::Closed => Some(e.dfe.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(added_closed, ["825/2005", "825/2030", "825/2031"]);
    let left_out: Vec<String> = first.closed_not_added.iter().map(|e| e.dfe.to_string()).collect();
    assert_eq!(left_out, ["825/2010"], "Old Mill's only link names a school before it");
    // The academy is added under its open row; its old URN is kept as its predecessor.
    let ridgeway = first.changes.iter().find(|c| c.dfe() == dfe("825/2020"));
    assert!(matches!(ridgeway, Some(Change::Add(e)) if e.urn == 990016));
    let s = &first.successions[0];
    assert_eq!((s.predecessor_urn, s.successor_urn), (990015, 990016));
    let pairs: Vec<String> =
        first.successions.iter().map(|s| format!("{} -> {}", s.predecessor_dfe, s.successor_dfe)).collect();
    assert_eq!(pairs, ["825/2020 -> 825/2020", "825/2030 -> 825/2032", "825/2031 -> 825/2032", "825/2005 -> 825/4005"]);
    assert_eq!((s.predecessor_dfe, s.successor_dfe), (dfe("825/2020"), dfe("825/2020")));
    assert_eq!(s.link_type, "Predecessor");
    let pennfield = first.changes.iter().find(|c| c.dfe() == dfe("825/2011"));
    assert!(matches!(pennfield, Some(Change::Add(e)) if e.status == EstablishmentStatus::OpenProposedToClose));
    // Changes come in DfE number order; refusals of other LAs are counted, not listed.
    let order: Vec<_> = first.changes.iter().map(Change::dfe).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]));
    let lines: Vec<_> = first.rejected.iter().map(|r| (r.file, r.line)).collect();
    assert_eq!(lines, [("establishments", 23), ("establishments", 24), ("links", 15)]);
}

#[test]
fn the_same_file_again_changes_nothing() {
    let first = plan(&[], FIRST);
    let db = apply(&[], &first);
    assert_eq!(db.len(), 19);
    let again = plan(&db, FIRST);
    assert_eq!(again.summary(), summary((0, 0, 0, 0, 19)));
    assert_eq!(again.successions, first.successions);
}

#[test]
fn a_term_later_one_closed_one_renamed_one_added() {
    let db = apply(&[], &plan(&[], FIRST));
    let later = plan(&db, LATER);
    assert_eq!(later.summary(), summary((1, 0, 1, 1, 17)));
    let described: Vec<String> = later
        .changes
        .iter()
        .map(|c| match c {
            Change::Add(e) => format!("add {} {}", e.dfe, e.name),
            Change::Update { dfe, to, fields } => {
                format!("update {dfe} {} to {}", fields.join("+"), to.name)
            }
            Change::Close { dfe, to } => format!("close {dfe} {:?}", to.close_date),
        })
        .collect();
    assert_eq!(
        described,
        [
            "update 825/2003 name to Oakfield Infant and Nursery School",
            "close 825/2011 Some(2025-08-31)",
            "add 825/2041 Kingfisher Primary School",
        ]
    );
    let db = apply(&db, &later);
    assert_eq!(plan(&db, LATER).summary(), summary((0, 0, 0, 0, 20)));
}

#[test]
fn schools_known_before_their_successors_hand_over_their_history() {
    let (rows, _) = parse_establishments(FIRST).unwrap();
    let (links, _) = parse_links(LINKS).unwrap();
    let was_open = |urn: u32| {
        let e = rows.iter().find(|e| e.urn == urn).unwrap();
        KnownSchool { status: EstablishmentStatus::Open, ..KnownSchool::from(e) }
    };
    // Fernhill Junior, Elmwood Infant and Junior, and Ridgeway before it became an academy.
    let known: Vec<KnownSchool> = [990017, 990019, 990020, 990015].map(was_open).to_vec();
    let plan = plan_import(&known, &rows, &links, Some(825));
    let s = plan.summary();
    assert_eq!((s.added, s.updated, s.closed, s.linked, s.links_ignored), (15, 1, 3, 4, 5));
    let ridgeway = plan.changes.iter().find(|c| c.dfe() == dfe("825/2020"));
    assert!(matches!(ridgeway, Some(Change::Update { fields, .. }) if fields == &["name", "urn", "type"]));
    let pairs: Vec<String> =
        plan.successions.iter().map(|s| format!("{} -> {}", s.predecessor_dfe, s.successor_dfe)).collect();
    assert_eq!(
        pairs,
        ["825/2020 -> 825/2020", "825/2030 -> 825/2032", "825/2031 -> 825/2032", "825/2005 -> 825/4005",]
    );
    let again = plan_import(&apply(&known, &plan), &rows, &links, Some(825));
    assert_eq!((again.changes.len(), again.successions.len()), (0, 4));
}

#[test]
fn a_first_import_of_recent_conversions_adds_the_closed_schools_open_ones_carry_on() {
    let first = plan_import_files(&[], CONVERSIONS, Some(CONVERSION_LINKS), Some(825)).unwrap();
    assert_eq!(
        first.summary().to_string(),
        "added 7, added closed 5, updated 0, closed 0, unchanged 0, linked 6, other LAs 2, \
         rejected 1, closed and not added 3, links ignored 10"
    );
    let added_closed: Vec<String> = first
        .changes
        .iter()
        .filter_map(|c| match c {
            Change::Add(e) if e.status == EstablishmentStatus::Closed => Some(e.dfe.to_string()),
            _ => None,
        })
        .collect();
    // A conversion, a chain (amalgamated, then converted), and a split.
    assert_eq!(added_closed, ["825/2400", "825/2410", "825/2411", "825/2412", "825/2450"]);
    let left_out: Vec<String> = first.closed_not_added.iter().map(|e| e.dfe.to_string()).collect();
    assert_eq!(left_out, ["825/2420", "825/2421", "825/2430"]);
    let pairs: Vec<String> =
        first.successions.iter().map(|s| format!("{} -> {}", s.predecessor_dfe, s.successor_dfe)).collect();
    assert_eq!(
        pairs,
        [
            "825/2410 -> 825/2412",
            "825/2411 -> 825/2412",
            "825/2450 -> 825/2451",
            "825/2450 -> 825/2452",
            "825/2400 -> 825/4020",
            "825/2412 -> 825/4021",
        ]
    );

    let counts: Vec<(IgnoredReason, usize)> = first.ignored_link_counts();
    assert_eq!(
        counts,
        [
            (IgnoredReason::NotASuccession, 2),
            (IgnoredReason::PredecessorOpen, 1),
            (IgnoredReason::OtherLa, 2),
            (IgnoredReason::ClosedLeftOut, 2),
            (IgnoredReason::Refused, 2),
            (IgnoredReason::NotInExport, 1),
        ]
    );
    let listed: Vec<String> = first.ignored_links.iter().map(ToString::to_string).collect();
    assert_eq!(listed[0], "links line 10: URN 990321 Successor - amalgamated 990322: URN 990321 is a closed establishment that no open school carries on, not added");
    assert_eq!(listed[2], "links line 12: URN 990341 Predecessor 970001: URN 970001 is in neither the establishment export nor Pigeonpost");
    assert_eq!(listed[5], "links line 15: URN 990343 Predecessor - Split School 990342: the predecessor is still open and keeps its own mail");
    assert_eq!(
        listed[6],
        "links line 20: URN 990371 Successor - merged 990341: URN 990371 is an establishment whose row was refused"
    );

    let again = plan_import_files(&apply(&[], &first), CONVERSIONS, Some(CONVERSION_LINKS), Some(825)).unwrap();
    assert_eq!((again.changes.len(), again.unchanged), (0, 12));
    assert_eq!(again.successions, first.successions);
}

#[test]
fn without_an_la_filter_every_la_is_imported() {
    let plan = plan_import_files(&[], FIRST, None, None).unwrap();
    let s = plan.summary();
    assert_eq!((s.added, s.other_la, s.rejected, s.linked), (18, 0, 3, 1));
}

fn status() -> impl Strategy<Value = EstablishmentStatus> {
    prop_oneof![
        Just(EstablishmentStatus::Open),
        Just(EstablishmentStatus::OpenProposedToClose),
        Just(EstablishmentStatus::ProposedToOpen),
        Just(EstablishmentStatus::Closed),
    ]
}

proptest! {
    /// Whatever subset of the fixture's schools the database already holds, and however stale,
    /// applying the plan and planning again changes nothing.
    #[test]
    fn plan_apply_plan_is_idempotent(
        picks in proptest::collection::vec((any::<bool>(), any::<bool>(), status()), 24),
        la in prop_oneof![Just(Some(825)), Just(None)],
    ) {
        let (rows, _) = parse_establishments(FIRST).unwrap();
        let (links, _) = parse_links(LINKS).unwrap();
        let mut known: Vec<KnownSchool> = Vec::new();
        for (e, (hold, stale, status)) in rows.iter().zip(picks) {
            if !hold || known.iter().any(|k| k.dfe == e.dfe) {
                continue;
            }
            let mut k = KnownSchool::from(e);
            if stale {
                k.name.push_str(" (old name)");
                k.urn = None;
                k.phase = None;
            }
            k.status = status;
            known.push(k);
        }
        let first = plan_import(&known, &rows, &links, la);
        let after = apply(&known, &first);
        let again = plan_import(&after, &rows, &links, la);
        prop_assert_eq!(again.changes, vec![]);
        prop_assert_eq!(again.successions, first.successions);
    }
}
