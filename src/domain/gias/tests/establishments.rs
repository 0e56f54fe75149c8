use proptest::prelude::*;

use super::{date, dfe, reasons};
use crate::domain::gias::{parse_establishments, EstablishmentStatus, GiasError};

const FIXTURE: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gias/establishments.csv"));

const HEADER: &str = "URN,LA (code),LA (name),EstablishmentNumber,EstablishmentName,\
    TypeOfEstablishment (name),EstablishmentTypeGroup (name),PhaseOfEducation (name),\
    EstablishmentStatus (name),OpenDate,CloseDate";

fn csv(rows: &[&str]) -> String {
    let mut text = HEADER.to_owned();
    for row in rows {
        text.push('\n');
        text.push_str(row);
    }
    text
}

const GOOD: &str = "100001,825,Buckinghamshire,2001,Ash Primary,Community school,\
    Local authority maintained schools,Primary,Open,01-09-2001,";

#[test]
fn reads_the_windows_1252_fixture() {
    let (rows, rejected) = parse_establishments(FIXTURE).unwrap();
    assert_eq!(rows.len(), 24);
    let by_urn = |urn: u32| rows.iter().find(|e| e.urn == urn).unwrap();
    assert_eq!(by_urn(990002).name, "St Mary\u{2019}s C of E Primary School");
    assert_eq!(by_urn(990010).name, "\u{c9}cole Fran\u{e7}aise de Chiltern Vale");
    assert_eq!(by_urn(990011).name, "Holy Cross, Amberleigh Catholic Primary School");
    let academy = by_urn(990016);
    assert_eq!(academy.dfe, dfe("825/2020"));
    assert_eq!(academy.type_name, "Academy converter");
    assert_eq!(academy.type_group, "Academies");
    assert_eq!(academy.phase, "Primary");
    assert_eq!(academy.status, EstablishmentStatus::Open);
    assert_eq!(academy.open_date, Some(date(1, 9, 2022)));
    assert_eq!(academy.close_date, None);
    assert_eq!(by_urn(990015).close_date, Some(date(31, 8, 2022)));
    assert_eq!(by_urn(990013).status, EstablishmentStatus::OpenProposedToClose);
    assert_eq!(by_urn(990007).type_name, "Foundation special school");
    assert_eq!(by_urn(990201).dfe, dfe("673/2001"));

    assert_eq!(
        reasons(&rejected),
        [
            "establishments line 23 (URN 990022): EstablishmentNumber is empty: establishments \
             without a DfE number cannot have a mailbox",
            "establishments line 24 (URN 99O023): URN '99O023' is not a URN (a whole number \
             such as 100001)",
            "establishments line 27 (URN 990103): EstablishmentNumber is empty: establishments \
             without a DfE number cannot have a mailbox",
        ]
    );
}

#[test]
fn reads_utf8_with_bom_lf_and_columns_in_any_order() {
    let text = "\u{feff}Extra,CloseDate,OpenDate,EstablishmentStatus (name),\
        PhaseOfEducation (name),EstablishmentTypeGroup (name),TypeOfEstablishment (name),\
        EstablishmentName,EstablishmentNumber,LA (name),LA (code),URN\n\
        x,,01/09/2001,\"Open, but proposed to close\",Primary,Academies,Academy converter,\
        \"Saint Zo\u{eb}, Ash\",0042,Buckinghamshire,825,100001\n";
    let (rows, rejected) = parse_establishments(text.as_bytes()).unwrap();
    assert_eq!(rejected, []);
    assert_eq!(rows.len(), 1);
    let e = &rows[0];
    assert_eq!((e.urn, e.dfe), (100001, dfe("825/0042")));
    assert_eq!(e.name, "Saint Zo\u{eb}, Ash");
    assert_eq!(e.status, EstablishmentStatus::OpenProposedToClose);
    assert_eq!(e.open_date, Some(date(1, 9, 2001)));
}

#[test]
fn names_every_missing_column() {
    let text = "URN,LA (code),LA (name),EstablishmentName,TypeOfEstablishment (name),\
        EstablishmentTypeGroup (name),PhaseOfEducation (name),EstablishmentStatus (name),OpenDate\n";
    let err = parse_establishments(text.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        GiasError::MissingColumns {
            file: "establishments",
            missing: vec!["EstablishmentNumber".into(), "CloseDate".into()],
        }
    );
    assert_eq!(
        err.to_string(),
        "the establishments file has no column 'EstablishmentNumber', 'CloseDate': is it the \
         GIAS establishments export (edubasealldata*.csv)?"
    );
    let links_by_mistake = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/gias/links.csv"));
    assert!(matches!(parse_establishments(links_by_mistake), Err(GiasError::MissingColumns { .. })));
    assert_eq!(parse_establishments(b" \r\n"), Err(GiasError::Empty { file: "establishments" }));
}

#[test]
fn refuses_bad_rows_with_line_and_every_reason() {
    let text = csv(&[
        GOOD,
        "100002,000,Does not apply,2002,Offshore School,Other,Other,Primary,Open,,",
        "100003,825,Buckinghamshire,20031,Big Number School,Community school,x,Primary,Open,,",
        "100004,825,Buckinghamshire,2004,Date School,Community school,x,Primary,Closed,,31-02-2020",
        "100005,825,Buckinghamshire,2005,,Community school,x,Primary,Shut,2001-09-01,",
        "100006,825,Buckinghamshire,2006,St Ann, Ash,Community school,x,Primary,Open,,",
        "100001,825,Buckinghamshire,2001,Ash Primary again,Community school,x,Primary,Open,,",
        "100007,,,,Centre,Children's centre,x,Not applicable,Open,,",
    ]);
    let (rows, rejected) = parse_establishments(text.as_bytes()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        reasons(&rejected),
        [
            "establishments line 3 (URN 100002): LA (code) '000' (Does not apply) is not a \
             three-digit LA code (100 to 999), so the establishment has no DfE number",
            "establishments line 4 (URN 100003): EstablishmentNumber '20031' is not a number of \
             up to four digits",
            "establishments line 5 (URN 100004): CloseDate '31-02-2020' is not a date written \
             dd-mm-yyyy",
            "establishments line 6 (URN 100005): EstablishmentName is empty; EstablishmentStatus \
             (name) 'Shut' is not one of Open, Closed, 'Open, but proposed to close', 'Proposed \
             to open'; OpenDate '2001-09-01' is not a date written dd-mm-yyyy",
            "establishments line 7 (URN 100006): the row has 12 fields but the header has 11: a \
             field with a comma in it is probably not in quotes",
            "establishments line 8 (URN 100001): URN 100001 is also on line 2: GIAS gives each \
             establishment one row, so this file may be two exports joined together",
            "establishments line 9 (URN 100007): LA (code) is empty: a DfE number starts with \
             the LA code",
        ]
    );
}

#[test]
fn counts_lines_as_an_editor_does_with_crlf_and_quoted_line_breaks() {
    let text = csv(&[
        "100001,825,B,2001,\"Ash\nPrimary\",Community school,x,Primary,Open,,",
        "",
        "x100002,825,B,2002,Elm,Community school,x,Primary,Open,,",
    ])
    .replace('\n', "\r\n");
    let (rows, rejected) = parse_establishments(text.as_bytes()).unwrap();
    assert_eq!(rows[0].name, "Ash\r\nPrimary");
    assert_eq!(rejected[0].line, 5);
}

#[test]
fn stored_status_round_trips() {
    use EstablishmentStatus::*;
    for s in [Open, OpenProposedToClose, ProposedToOpen, Closed] {
        assert_eq!(EstablishmentStatus::parse_stored(s.as_str()), Some(s));
    }
    assert_eq!(EstablishmentStatus::parse_stored("Open"), None);
    let receiving: Vec<bool> =
        [Open, OpenProposedToClose, ProposedToOpen, Closed].iter().map(EstablishmentStatus::can_receive).collect();
    assert_eq!(receiving, [true, true, false, false]);
}

proptest! {
    #[test]
    fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_establishments(&bytes);
    }

    #[test]
    fn every_row_is_either_parsed_or_rejected(rows in proptest::collection::vec(
        "[0-9A-Za-z ,\"/-]{0,12}(,[0-9A-Za-z ,/-]{0,10}){10}", 1..8)) {
        let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
        let text = csv(&refs);
        let (parsed, rejected) = parse_establishments(text.as_bytes()).unwrap();
        let records = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes()).records().count();
        prop_assert_eq!(parsed.len() + rejected.len(), records);
    }
}
