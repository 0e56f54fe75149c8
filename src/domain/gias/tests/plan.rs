use super::{academy, apply, closed, date, dfe, est, known, link};
use crate::domain::gias::{
    plan_import, Change, EstablishmentStatus, IgnoredReason, ImportPlan, KnownSchool, Succession, IMPLIED_LINK_TYPE,
    MAX_SUCCESSION_HOPS,
};

fn kinds(plan: &ImportPlan) -> Vec<String> {
    let dfe_of = |c: &Change| c.dfe().to_string();
    plan.changes
        .iter()
        .map(|c| match c {
            Change::Add(_) => format!("add {}", dfe_of(c)),
            Change::Update { fields, .. } => format!("update {} {}", dfe_of(c), fields.join("+")),
            Change::Close { .. } => format!("close {}", dfe_of(c)),
        })
        .collect()
}

fn succession(pred: (&str, u32), succ: (&str, u32), link_type: &str) -> Succession {
    Succession {
        predecessor_dfe: dfe(pred.0),
        predecessor_urn: pred.1,
        successor_dfe: dfe(succ.0),
        successor_urn: succ.1,
        link_type: link_type.to_owned(),
        established: None,
    }
}

fn ignored(plan: &ImportPlan) -> Vec<(IgnoredReason, Option<u32>)> {
    plan.ignored_links.iter().map(|i| (i.reason, i.about)).collect()
}

/// Closed schools 825/3001.. (URNs 100001..) each carried on by the next, ending in an open one.
fn chain(closed_links: usize) -> (Vec<super::Establishment>, Vec<super::Link>) {
    let mut rows: Vec<_> = (1..=closed_links)
        .map(|i| closed(est(100000 + i as u32, &format!("825/{}", 3000 + i), "Closed"), date(31, 8, 2020)))
        .collect();
    let last = closed_links + 1;
    rows.push(academy(est(100000 + last as u32, &format!("825/{}", 3000 + last), "Open Academy"), date(1, 9, 2024)));
    let links = (1..=closed_links).map(|i| link(100000 + i as u32, 100001 + i as u32, "Successor")).collect();
    (rows, links)
}

/// Applying the plan and planning again changes nothing, and the same successions come back.
fn assert_idempotent(known: &[KnownSchool], plan: &ImportPlan, rows: &[super::Establishment]) {
    let links = [];
    let after = apply(known, plan);
    let again = plan_import(&after, rows, &links, Some(825));
    assert_eq!(again.changes, [], "re-planning after applying");
}

#[test]
fn adds_unknown_schools_but_not_ones_already_closed() {
    let mut soon = est(100003, "825/2003", "Cedar Free School");
    soon.status = EstablishmentStatus::ProposedToOpen;
    let rows = [
        est(100001, "825/2001", "Ash Primary"),
        closed(est(100002, "825/2002", "Beech Primary"), date(31, 8, 1999)),
        soon,
    ];
    let plan = plan_import(&[], &rows, &[], Some(825));
    assert_eq!(kinds(&plan), ["add 825/2001", "add 825/2003"]);
    assert_eq!(plan.closed_not_added, [rows[1].clone()]);
    assert_idempotent(&[], &plan, &rows);
}

#[test]
fn academy_conversion_keeps_the_dfe_number_and_moves_the_urn() {
    let old = closed(est(100001, "825/2001", "Ash Primary"), date(31, 8, 2022));
    let new = academy(est(140001, "825/2001", "Ash Primary"), date(1, 9, 2022));
    let expected = Succession {
        established: Some(date(1, 9, 2022)),
        ..succession(("825/2001", 100001), ("825/2001", 140001), IMPLIED_LINK_TYPE)
    };
    for rows in [[old.clone(), new.clone()], [new.clone(), old.clone()]] {
        // Known before the conversion: an update of the one organisation, not a close.
        let before = [known(&est(100001, "825/2001", "Ash Primary"))];
        let plan = plan_import(&before, &rows, &[], Some(825));
        assert_eq!(kinds(&plan), ["update 825/2001 urn+type"]);
        assert_eq!(plan.successions, std::slice::from_ref(&expected));
        assert_idempotent(&before, &plan, &rows);
        let again = plan_import(&apply(&before, &plan), &rows, &[], Some(825));
        assert_eq!((again.unchanged, again.successions.len()), (1, 1));

        // Never known: the open row is added, and its old URN still recorded.
        let plan = plan_import(&[], &rows, &[], Some(825));
        assert!(matches!(&plan.changes[..], [Change::Add(e)] if e.urn == 140001));
        assert_eq!(plan.successions, std::slice::from_ref(&expected));
    }
}

#[test]
fn both_sides_of_a_link_make_one_succession_in_the_successors_words() {
    let rows = [
        closed(est(100001, "825/2001", "Ash Primary"), date(31, 8, 2022)),
        academy(est(140001, "825/2001", "Ash Academy"), date(1, 9, 2022)),
    ];
    let mut to_new = link(100001, 140001, "Successor - merged");
    to_new.established = Some(date(2, 9, 2022));
    let to_old = link(140001, 100001, "Predecessor - merged");
    for links in [[to_new.clone(), to_old.clone()], [to_old, to_new]] {
        let plan = plan_import(&[], &rows, &links, Some(825));
        let expected = Succession {
            established: Some(date(2, 9, 2022)),
            ..succession(("825/2001", 100001), ("825/2001", 140001), "Predecessor - merged")
        };
        assert_eq!(plan.successions, [expected]);
        assert_eq!(plan.ignored_links, []);
    }
}

#[test]
fn a_new_dfe_number_closes_the_old_school_and_links_it_to_the_new_one() {
    let old = est(100005, "825/2005", "Fern Junior");
    let rows =
        [closed(old.clone(), date(31, 12, 2021)), academy(est(140005, "825/4005", "Fern Academy"), date(1, 1, 2022))];
    let links = [link(100005, 140005, "Successor"), link(140005, 100005, "Predecessor")];
    let before = [known(&old)];
    let plan = plan_import(&before, &rows, &links, Some(825));
    assert_eq!(kinds(&plan), ["close 825/2005", "add 825/4005"]);
    let expected = succession(("825/2005", 100005), ("825/4005", 140005), "Predecessor");
    assert_eq!(plan.successions, [expected]);
    assert_idempotent(&before, &plan, &rows);

    // Without the links file two DfE numbers are two schools: nothing links them.
    let plan = plan_import(&before, &rows, &[], Some(825));
    assert_eq!(plan.successions, []);
}

#[test]
fn an_amalgamation_gives_one_succession_per_predecessor() {
    let infant = est(100030, "825/2030", "Elm Infant");
    let junior = est(100031, "825/2031", "Elm Junior");
    let rows = [
        closed(infant.clone(), date(31, 8, 2023)),
        closed(junior.clone(), date(31, 8, 2023)),
        est(100032, "825/2032", "Elm Primary"),
    ];
    let links = [
        link(100032, 100030, "Predecessor - amalgamated"),
        link(100032, 100031, "Predecessor - amalgamated"),
        link(100030, 100032, "Successor - amalgamated"),
        link(100031, 100032, "Successor - amalgamated"),
    ];
    let before = [known(&infant), known(&junior)];
    let plan = plan_import(&before, &rows, &links, Some(825));
    assert_eq!(kinds(&plan), ["close 825/2030", "close 825/2031", "add 825/2032"]);
    let t = "Predecessor - amalgamated";
    assert_eq!(
        plan.successions,
        [
            succession(("825/2030", 100030), ("825/2032", 100032), t),
            succession(("825/2031", 100031), ("825/2032", 100032), t),
        ]
    );
    assert_eq!(plan.summary().linked, 2);
    assert_idempotent(&before, &plan, &rows);
}

#[test]
fn known_schools_absent_from_the_file_are_left_alone() {
    let before = [known(&est(100009, "825/2009", "Not In This Export"))];
    let plan = plan_import(&before, &[est(100001, "825/2001", "Ash")], &[], Some(825));
    assert_eq!(kinds(&plan), ["add 825/2001"]);
    assert_eq!(plan.unchanged, 0);
}

#[test]
fn identical_rows_are_unchanged_however_empty_fields_are_stored() {
    let mut row = est(100001, "825/2001", "Ash");
    row.phase = String::new();
    let stored_as_null = known(&row);
    assert_eq!(stored_as_null.phase, None);
    let stored_as_empty = KnownSchool { phase: Some(String::new()), ..stored_as_null.clone() };
    for k in [stored_as_null, stored_as_empty] {
        let plan = plan_import(&[k], std::slice::from_ref(&row), &[], Some(825));
        assert_eq!((plan.changes.len(), plan.unchanged), (0, 1));
    }
}

#[test]
fn names_the_fields_that_changed_and_closes_only_open_schools() {
    let was = est(100001, "825/2001", "Ash");
    let mut now = was.clone();
    now.name = "Ash Church School".into();
    now.phase = "All-through".into();
    now.type_name = "Voluntary aided school".into();
    now.status = EstablishmentStatus::OpenProposedToClose;
    let plan = plan_import(&[known(&was)], std::slice::from_ref(&now), &[], None);
    assert_eq!(kinds(&plan), ["update 825/2001 name+phase+type+status"]);

    let gone = closed(was.clone(), date(31, 8, 2024));
    let plan = plan_import(&[known(&was)], std::slice::from_ref(&gone), &[], None);
    assert_eq!(kinds(&plan), ["close 825/2001"]);
    assert!(matches!(&plan.changes[0], Change::Close { to, .. } if to == &gone));

    // Already closed here: a late correction of its name is an update, not a second close.
    let mut renamed = gone.clone();
    renamed.name = "Ash (closed)".into();
    let plan = plan_import(&[known(&gone)], &[renamed], &[], None);
    assert_eq!(kinds(&plan), ["update 825/2001 name"]);

    // Reopened in GIAS: open again here.
    let plan = plan_import(&[known(&gone)], std::slice::from_ref(&was), &[], None);
    assert_eq!(kinds(&plan), ["update 825/2001 status"]);
}

#[test]
fn the_la_filter_counts_other_las_and_keeps_successions_inside_the_la() {
    let rows = [
        closed(est(100001, "825/2001", "Ash"), date(31, 8, 2020)),
        est(100002, "826/2001", "Over The Border"),
        est(100003, "826/2002", "Also Over"),
    ];
    let links = [link(100002, 100001, "Predecessor")];
    let before = [known(&est(100001, "825/2001", "Ash"))];
    let plan = plan_import(&before, &rows, &links, Some(825));
    assert_eq!(kinds(&plan), ["close 825/2001"]);
    assert_eq!((plan.other_la, plan.successions.len()), (2, 0));
    assert_eq!(ignored(&plan), [(IgnoredReason::OtherLa, Some(100002))]);

    let plan = plan_import(&before, &rows, &links, None);
    assert_eq!(kinds(&plan), ["close 825/2001", "add 826/2001", "add 826/2002"]);
    assert_eq!((plan.other_la, plan.successions.len()), (0, 1));
}

#[test]
fn ignores_links_to_unknown_schools_other_kinds_and_open_predecessors() {
    let rows = [est(100001, "825/2001", "Ash"), est(100002, "825/2002", "Ash Annexe")];
    let links = [
        link(100001, 999999, "Predecessor"),
        link(100001, 100002, "Sixth Form Centre Link"),
        // A split: the "predecessor" is still open and keeps its own mailbox.
        link(100002, 100001, "Predecessor - Split School"),
    ];
    let plan = plan_import(&[], &rows, &links, Some(825));
    assert_eq!(plan.successions, []);
    assert_eq!(
        ignored(&plan),
        [
            (IgnoredReason::NotInExport, Some(999999)),
            (IgnoredReason::NotASuccession, None),
            (IgnoredReason::PredecessorOpen, None)
        ]
    );
}

#[test]
fn a_urn_held_by_another_dfe_number_waits_for_an_administrator() {
    let before = [known(&est(100001, "825/2001", "Ash"))];
    let moved = est(100001, "839/2001", "Ash");
    let plan = plan_import(&before, &[moved], &[], None);
    assert_eq!(plan.changes, []);
    assert_eq!(
        plan.rejected[0].to_string(),
        "establishments (URN 100001): GIAS gives URN 100001 to 839/2001 'Ash', but Pigeonpost \
         holds it for 825/2001 'Ash': if the DfE number changed, change it in Pigeonpost first, \
         then import again"
    );
}

#[test]
fn of_two_open_rows_with_one_dfe_number_the_later_opened_wins_in_any_order() {
    let older = est(100001, "825/2001", "Ash");
    let newer = academy(est(140001, "825/2001", "Ash Academy"), date(1, 9, 2024));
    let a = plan_import(&[], &[older.clone(), newer.clone()], &[], None);
    let b = plan_import(&[], &[newer, older], &[], None);
    assert_eq!(a, b);
    assert!(matches!(&a.changes[..], [Change::Add(e)] if e.urn == 140001));
    assert_eq!(a.successions, []);
}

#[test]
fn the_summary_is_one_line() {
    let rows = [est(100001, "825/2001", "Ash"), est(100002, "826/2001", "Elsewhere")];
    let plan = plan_import(&[], &rows, &[], Some(825));
    assert_eq!(
        plan.summary().to_string(),
        "added 1, added closed 0, updated 0, closed 0, unchanged 0, linked 0, other LAs 1, \
         rejected 0, closed and not added 0, links ignored 0"
    );
}

#[test]
fn a_closed_school_never_known_is_added_closed_when_an_open_school_carries_it_on() {
    let old = closed(est(100005, "825/2005", "Fern Junior"), date(31, 8, 2026));
    let rows = [old.clone(), academy(est(140005, "825/4005", "Fern Academy"), date(1, 9, 2026))];
    let links = [link(100005, 140005, "Successor"), link(140005, 100005, "Predecessor")];
    let plan = plan_import(&[], &rows, &links, Some(825));
    assert_eq!(kinds(&plan), ["add 825/2005", "add 825/4005"]);
    assert!(matches!(&plan.changes[0], Change::Add(e) if e == &old), "added with its closed row");
    assert_eq!(plan.successions, [succession(("825/2005", 100005), ("825/4005", 140005), "Predecessor")]);
    let s = plan.summary();
    assert_eq!((s.added, s.added_closed, s.closed_not_added, s.links_ignored), (1, 1, 0, 0));
    assert_idempotent(&[], &plan, &rows);
    let again = plan_import(&apply(&[], &plan), &rows, &links, Some(825));
    assert_eq!((again.unchanged, again.successions), (2, plan.successions));

    // Without the links file nothing says the academy carries it on.
    let plan = plan_import(&[], &rows, &[], Some(825));
    assert_eq!(kinds(&plan), ["add 825/4005"]);
    assert_eq!(plan.closed_not_added, [old]);
}

#[test]
fn a_chain_forwards_as_far_as_forwarding_follows_it_and_no_further() {
    let (rows, links) = chain(MAX_SUCCESSION_HOPS);
    let plan = plan_import(&[], &rows, &links, Some(825));
    assert_eq!(kinds(&plan), ["add 825/3001", "add 825/3002", "add 825/3003", "add 825/3004", "add 825/3005"]);
    assert_eq!(plan.successions.len(), MAX_SUCCESSION_HOPS);
    assert_idempotent(&[], &plan, &rows);

    // One succession more: the first school is out of reach, and left out.
    let (rows, links) = chain(MAX_SUCCESSION_HOPS + 1);
    let plan = plan_import(&[], &rows, &links, Some(825));
    assert_eq!(plan.closed_not_added, [rows[0].clone()]);
    assert_eq!(plan.summary().added_closed, MAX_SUCCESSION_HOPS);
    assert_eq!(ignored(&plan), [(IgnoredReason::ClosedLeftOut, Some(100001))]);
}

#[test]
fn closed_schools_carried_on_only_by_closed_ones_or_another_las_are_left_out() {
    let rows = [
        closed(est(100001, "825/2001", "Willow First"), date(31, 8, 2015)),
        closed(est(100002, "825/2002", "Willow Middle"), date(31, 8, 2018)),
        closed(est(100003, "825/2003", "Border Infant"), date(31, 8, 2024)),
        est(100004, "826/2004", "Border Primary"),
    ];
    let links = [link(100001, 100002, "Successor - amalgamated"), link(100003, 100004, "Successor - merged")];
    let plan = plan_import(&[], &rows, &links, Some(825));
    assert_eq!(plan.changes, []);
    assert_eq!(plan.closed_not_added, rows[..3]);
    assert_eq!(
        ignored(&plan),
        [(IgnoredReason::ClosedLeftOut, Some(100001)), (IgnoredReason::ClosedLeftOut, Some(100003))]
    );
    // Without the LA filter the other LA's school is imported, and carries its predecessor on.
    let plan = plan_import(&[], &rows, &links, None);
    assert_eq!(kinds(&plan), ["add 825/2003", "add 826/2004"]);
}

#[test]
fn a_split_school_is_added_closed_with_each_of_its_successors() {
    let rows = [
        closed(est(100001, "825/2450", "Riverside Primary"), date(31, 8, 2025)),
        est(100002, "825/2451", "Riverside Infant"),
        est(100003, "825/2452", "Riverside Junior"),
    ];
    let links = [link(100001, 100002, "Successor - Split School"), link(100001, 100003, "Successor - Split School")];
    let plan = plan_import(&[], &rows, &links, Some(825));
    assert_eq!(kinds(&plan), ["add 825/2450", "add 825/2451", "add 825/2452"]);
    let t = "Successor - Split School";
    assert_eq!(
        plan.successions,
        [
            succession(("825/2450", 100001), ("825/2451", 100002), t),
            succession(("825/2450", 100001), ("825/2452", 100003), t),
        ]
    );
}
