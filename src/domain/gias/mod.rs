//! Schools from "Get Information About Schools" (GIAS), the DfE register of establishments.
//!
//! `pigeonpost admin org import-gias` reads the GIAS establishment export
//! (`edubasealldata*.csv`) and, optionally, its links export (`links_edubasealldata*.csv`).
//! This module is the pure part of that command: it parses the bytes the caller read and plans
//! the changes against the schools the caller loaded, so every rule can be tested without a
//! file system or a database. The caller applies the plan.
//!
//! A school's identity here is its DfE number (one mailbox per DfE number), not its URN: an
//! academy conversion gives a school a new URN but usually keeps its DfE number, and its mail
//! must stay where it is.
//!
//! A closed establishment Pigeonpost never knew is added only when an open school carries it on
//! (through the links export), so that its old numbers forward; see `forwarding`.

mod establishments;
mod forwarding;
mod input;
mod links;
mod plan;
mod succession;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;

pub use establishments::{parse_establishments, Establishment, EstablishmentStatus};
pub use forwarding::MAX_SUCCESSION_HOPS;
pub use links::{parse_links, Link, LinkDirection};
pub use plan::{plan_import, Change, ImportPlan, ImportSummary, KnownSchool};
pub use succession::{IgnoredLink, IgnoredReason, Succession, IMPLIED_LINK_TYPE};

/// A GIAS file that cannot be read as a GIAS export at all. Problems with single rows are
/// [`Rejected`] rows instead, so one bad row never stops an import.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GiasError {
    #[error("the {file} file is empty: export it again from GIAS")]
    Empty { file: &'static str },
    #[error(
        "the {file} file has no column {}: is it the GIAS {} export ({})?",
        .missing.iter().map(|c| format!("'{c}'")).collect::<Vec<_>>().join(", "),
        file,
        expected_file_name(file)
    )]
    MissingColumns { file: &'static str, missing: Vec<String> },
    #[error("the {file} file cannot be read as CSV: {message}")]
    Unreadable { file: &'static str, message: String },
}

fn expected_file_name(file: &str) -> &'static str {
    match file {
        "links" => "links_edubasealldata*.csv",
        _ => "edubasealldata*.csv",
    }
}

/// A row that was not imported, with what a person needs to find and fix it.
///
/// `file` is "establishments" or "links"; `line` counts from 1 for the header, as a text editor
/// does. Line 0 means a conflict found while planning (between a row and what Pigeonpost already
/// holds) rather than a problem in one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub file: &'static str,
    pub line: u64,
    /// The URN as written in the row, even when it is not a valid URN.
    pub urn: Option<String>,
    pub reason: String,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file)?;
        if self.line > 0 {
            write!(f, " line {}", self.line)?;
        }
        if let Some(urn) = &self.urn {
            write!(f, " (URN {urn})")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Parses both exports and plans the import, as `import-gias` does.
///
/// Unlike [`plan_import`] on already parsed rows, this also carries the rows refused while
/// parsing into the plan's `rejected`, keeping only those that concern the LA: a national export
/// holds thousands of establishments of other LAs without a DfE number, and listing them would
/// hide the few an LA officer can act on. Refused rows of another LA are counted in `other_la`.
pub fn plan_import_files(
    known: &[KnownSchool],
    establishments_csv: &[u8],
    links_csv: Option<&[u8]>,
    la: Option<u16>,
) -> Result<ImportPlan, GiasError> {
    let in_la = |code: u16| la.is_none_or(|l| l == code);
    let (rows, row_rejections) = establishments::parse_with_la(establishments_csv)?;
    let (links, link_rejections) = match links_csv {
        Some(bytes) => parse_links(bytes)?,
        None => (Vec::new(), Vec::new()),
    };
    let mut plan = plan_import(known, &rows, &links, la);

    let mut rejected = Vec::new();
    for (r, row_la) in row_rejections {
        match row_la {
            Some(code) if !in_la(code) => plan.other_la += 1,
            _ => rejected.push(r),
        }
    }
    // A link to a row refused above is not a link to an unknown establishment.
    let refused: HashSet<u32> = rejected.iter().filter_map(|r| r.urn.as_deref()?.parse().ok()).collect();
    for ignored in &mut plan.ignored_links {
        if ignored.reason == IgnoredReason::NotInExport && ignored.about.is_some_and(|u| refused.contains(&u)) {
            ignored.reason = IgnoredReason::Refused;
        }
    }
    let la_urns: HashSet<u32> = rows.iter().filter(|e| in_la(e.dfe.la_code())).map(|e| e.urn).collect();
    rejected.extend(link_rejections.into_iter().filter(
        |r| match r.urn.as_deref().and_then(|u| u.parse::<u32>().ok()) {
            Some(urn) => la.is_none() || la_urns.contains(&urn),
            None => true,
        },
    ));
    rejected.append(&mut plan.rejected);
    plan.rejected = rejected;
    Ok(plan)
}
