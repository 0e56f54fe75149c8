//! The GIAS establishment export (`edubasealldata*.csv`): one row per establishment (URN).

use std::collections::HashMap;

use time::Date;

use super::input::{decode, digits, parse_date, parse_urn, Table};
use super::{GiasError, Rejected};
use crate::domain::DfeNumber;

const FILE: &str = "establishments";

/// The columns read, by their exact GIAS header names; the export has some 130 more.
const COLUMNS: [&str; 11] = [
    "URN",
    "LA (code)",
    "LA (name)",
    "EstablishmentNumber",
    "EstablishmentName",
    "TypeOfEstablishment (name)",
    "EstablishmentTypeGroup (name)",
    "PhaseOfEducation (name)",
    "EstablishmentStatus (name)",
    "OpenDate",
    "CloseDate",
];

/// One GIAS row that can be a school in Pigeonpost: it has a DfE number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Establishment {
    pub urn: u32,
    pub dfe: DfeNumber,
    pub name: String,
    /// `TypeOfEstablishment (name)`, e.g. "Academy converter", "Community special school".
    pub type_name: String,
    /// `EstablishmentTypeGroup (name)`, e.g. "Academies", "Local authority maintained schools".
    pub type_group: String,
    /// `PhaseOfEducation (name)`, e.g. "Primary", "16 plus", "Not applicable".
    pub phase: String,
    pub status: EstablishmentStatus,
    pub open_date: Option<Date>,
    pub close_date: Option<Date>,
}

/// `EstablishmentStatus (name)` in GIAS: the same four states Pigeonpost keeps for a school.
pub use crate::domain::organisation::OrgStatus as EstablishmentStatus;

/// Reads GIAS's own wording of a status.
fn parse_gias_status(s: &str) -> Option<EstablishmentStatus> {
    match s.to_ascii_lowercase().as_str() {
        "open" => Some(EstablishmentStatus::Open),
        "open, but proposed to close" => Some(EstablishmentStatus::OpenProposedToClose),
        "proposed to open" => Some(EstablishmentStatus::ProposedToOpen),
        "closed" => Some(EstablishmentStatus::Closed),
        _ => None,
    }
}

/// Reads an establishment export. Rows that cannot become a school are refused one by one with
/// their line and the reason; `Err` only when the file is not a GIAS establishment export.
pub fn parse_establishments(bytes: &[u8]) -> Result<(Vec<Establishment>, Vec<Rejected>), GiasError> {
    let (rows, rejected) = parse_with_la(bytes)?;
    Ok((rows, rejected.into_iter().map(|(r, _)| r).collect()))
}

/// A refused row and its LA code, when that could be read.
pub(super) type RejectedIn = (Rejected, Option<u16>);

/// As [`parse_establishments`], with the LA code of each refused row when it could be read, so
/// that refusals of other LAs can be left out of an LA's report.
pub(super) fn parse_with_la(bytes: &[u8]) -> Result<(Vec<Establishment>, Vec<RejectedIn>), GiasError> {
    let text = decode(bytes);
    let table = Table::open(FILE, &text, &COLUMNS)?;
    let mut parsed = Vec::new();
    let mut rejected = Vec::new();
    let mut first_line_of: HashMap<u32, u64> = HashMap::new();
    for row in table.rows() {
        let raw_urn = (!row.fields[0].is_empty()).then(|| row.fields[0].clone());
        let la = digits(&row.fields[1], 3).and_then(|v| u16::try_from(v).ok());
        let reject = |reason: String| {
            let r = Rejected { file: FILE, line: row.line, urn: raw_urn.clone(), reason };
            (r, la)
        };
        if let Some(problem) = &row.problem {
            rejected.push(reject(problem.clone()));
            continue;
        }
        match establishment(&row.fields) {
            Err(problems) => rejected.push(reject(problems.join("; "))),
            Ok(e) => match first_line_of.get(&e.urn) {
                Some(first) => rejected.push(reject(format!(
                    "URN {} is also on line {first}: GIAS gives each establishment one row, \
                     so this file may be two exports joined together",
                    e.urn
                ))),
                None => {
                    first_line_of.insert(e.urn, row.line);
                    parsed.push(e);
                }
            },
        }
    }
    Ok((parsed, rejected))
}

/// One row, in the order of [`COLUMNS`]; every problem found, so one pass fixes the row.
fn establishment(f: &[String]) -> Result<Establishment, Vec<String>> {
    let urn = parse_urn("URN", &f[0]);
    let dfe = dfe_number(&f[1], &f[2], &f[3]);
    let name = if f[4].is_empty() { Err("EstablishmentName is empty".to_owned()) } else { Ok(f[4].clone()) };
    let status = parse_gias_status(&f[8]).ok_or_else(|| {
        format!(
            "EstablishmentStatus (name) '{}' is not one of Open, Closed, \
             'Open, but proposed to close', 'Proposed to open'",
            f[8]
        )
    });
    let open_date = parse_date("OpenDate", &f[9]);
    let close_date = parse_date("CloseDate", &f[10]);
    match (urn, dfe, name, status, open_date, close_date) {
        (Ok(urn), Ok(dfe), Ok(name), Ok(status), Ok(open_date), Ok(close_date)) => Ok(Establishment {
            urn,
            dfe,
            name,
            type_name: f[5].clone(),
            type_group: f[6].clone(),
            phase: f[7].clone(),
            status,
            open_date,
            close_date,
        }),
        (urn, dfe, name, status, open_date, close_date) => {
            Err([urn.err(), dfe.err(), name.err(), status.err(), open_date.err(), close_date.err()]
                .into_iter()
                .flatten()
                .collect())
        }
    }
}

/// The DfE number from `LA (code)` and `EstablishmentNumber`.
fn dfe_number(la: &str, la_name: &str, number: &str) -> Result<DfeNumber, String> {
    let named = if la_name.is_empty() { String::new() } else { format!(" ({la_name})") };
    let la_code = if la.is_empty() {
        return Err("LA (code) is empty: a DfE number starts with the LA code".to_owned());
    } else {
        digits(la, 3).and_then(|v| u16::try_from(v).ok()).filter(|v| (100..=999).contains(v)).ok_or_else(|| {
            format!(
                "LA (code) '{la}'{named} is not a three-digit LA code (100 to 999), \
                     so the establishment has no DfE number"
            )
        })?
    };
    if number.is_empty() {
        return Err("EstablishmentNumber is empty: establishments without a DfE number \
                    cannot have a mailbox"
            .to_owned());
    }
    digits(number, 4)
        .and_then(|v| u16::try_from(v).ok())
        .and_then(|n| DfeNumber::new(la_code, n))
        .ok_or_else(|| format!("EstablishmentNumber '{number}' is not a number of up to four digits"))
}
