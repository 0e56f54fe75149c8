//! The GIAS links export (`links_edubasealldata*.csv`): how establishments follow one another.
//!
//! GIAS gives most links from both sides: the old school's row says "Successor" and the new
//! school's row says "Predecessor". The plan merges the two.

use time::Date;

use super::input::{decode, parse_date, parse_urn, Table};
use super::{GiasError, Rejected};

const FILE: &str = "links";

const COLUMNS: [&str; 5] = ["URN", "LinkURN", "LinkName", "LinkType", "LinkEstablishedDate"];

/// One row of the links export, from the point of view of `urn`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The line in the links file, counting the header as line 1.
    pub line: u64,
    pub urn: u32,
    pub link_urn: u32,
    pub link_name: String,
    /// As GIAS words it, e.g. "Predecessor - amalgamated", "Successor - merged".
    pub link_type: String,
    pub direction: LinkDirection,
    pub established: Option<Date>,
}

impl Link {
    /// The predecessor's and the successor's URNs, when the link is a succession.
    pub fn succession(&self) -> Option<(u32, u32)> {
        match self.direction {
            LinkDirection::Predecessor => Some((self.link_urn, self.urn)),
            LinkDirection::Successor => Some((self.urn, self.link_urn)),
            LinkDirection::Other => None,
        }
    }
}

/// What `link_urn` is to `urn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkDirection {
    /// `link_urn` came before `urn` (LinkType starts with "Predecessor").
    Predecessor,
    /// `link_urn` came after `urn` (LinkType starts with "Successor").
    Successor,
    /// Any other link, such as "Sixth Form Centre Link": not a succession, so ignored.
    Other,
}

impl LinkDirection {
    fn of(link_type: &str) -> Self {
        let starts = |prefix: &str| link_type.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix));
        if starts("Predecessor") {
            Self::Predecessor
        } else if starts("Successor") {
            Self::Successor
        } else {
            Self::Other
        }
    }
}

/// Reads a links export. Rows that cannot be a link are refused one by one with their line and
/// the reason; `Err` only when the file is not a GIAS links export.
pub fn parse_links(bytes: &[u8]) -> Result<(Vec<Link>, Vec<Rejected>), GiasError> {
    let text = decode(bytes);
    let table = Table::open(FILE, &text, &COLUMNS)?;
    let mut links = Vec::new();
    let mut rejected = Vec::new();
    for row in table.rows() {
        let f = &row.fields;
        let reject = |reason: String| Rejected {
            file: FILE,
            line: row.line,
            urn: (!f[0].is_empty()).then(|| f[0].clone()),
            reason,
        };
        if let Some(problem) = &row.problem {
            rejected.push(reject(problem.clone()));
            continue;
        }
        let urn = parse_urn("URN", &f[0]);
        let link_urn = parse_urn("LinkURN", &f[1]);
        let established = parse_date("LinkEstablishedDate", &f[4]);
        match (urn, link_urn, established) {
            (Ok(urn), Ok(link_urn), _) if urn == link_urn => {
                rejected.push(reject(format!("LinkURN is the row's own URN {urn}: a school cannot follow itself")))
            }
            (Ok(urn), Ok(link_urn), Ok(established)) => links.push(Link {
                line: row.line,
                urn,
                link_urn,
                link_name: f[2].clone(),
                link_type: f[3].clone(),
                direction: LinkDirection::of(&f[3]),
                established,
            }),
            (urn, link_urn, established) => {
                let problems: Vec<String> =
                    [urn.err(), link_urn.err(), established.err()].into_iter().flatten().collect();
                rejected.push(reject(problems.join("; ")));
            }
        }
    }
    Ok((links, rejected))
}
