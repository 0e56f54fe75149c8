use std::fmt;
use std::str::FromStr;

use super::dfe::DfeNumber;

/// Database identity of an organisation. Internal only: the outside world names organisations
/// by [`OrgRef`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgId(pub i64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrgKind {
    School,
    Team,
    System,
}

impl OrgKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            OrgKind::School => "school",
            OrgKind::Team => "team",
            OrgKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "school" => Some(OrgKind::School),
            "team" => Some(OrgKind::Team),
            "system" => Some(OrgKind::System),
            _ => None,
        }
    }
}

/// How people and jobs name an organisation: a school by its DfE number, an LA team by its slug.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OrgRef {
    School(DfeNumber),
    Team(TeamSlug),
}

impl fmt::Display for OrgRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrgRef::School(n) => n.fmt(f),
            OrgRef::Team(s) => s.fmt(f),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' names no organisation: use a school's DfE number (825/2001 or 8252001) or a team's slug (such as smst)")]
pub struct InvalidOrgRef(pub String);

impl FromStr for OrgRef {
    type Err = InvalidOrgRef;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let starts_with_digit = s.trim().starts_with(|c: char| c.is_ascii_digit());
        if starts_with_digit {
            s.parse().map(OrgRef::School).map_err(|_| InvalidOrgRef(s.to_owned()))
        } else {
            s.parse().map(OrgRef::Team).map_err(|_| InvalidOrgRef(s.to_owned()))
        }
    }
}

/// A team's short name: lower-case ASCII letters, digits and hyphens, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TeamSlug(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a team slug: use 2 to 40 lower-case letters, digits or hyphens, starting with a letter")]
pub struct InvalidTeamSlug(pub String);

impl TeamSlug {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for TeamSlug {
    type Err = InvalidTeamSlug;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = (2..=40).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidTeamSlug(s.to_owned()))
        }
    }
}

impl fmt::Display for TeamSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: OrgId,
    pub kind: OrgKind,
    pub reference: OrgRef,
    pub name: String,
    pub status: OrgStatus,
    /// Schools only, from the register.
    pub urn: Option<u32>,
    pub phase: Option<String>,
    pub establishment_type: Option<String>,
    /// A school that has switched a second factor on for all its people.
    pub totp_required: bool,
}

impl Organisation {
    pub fn is_school(&self) -> bool {
        self.kind == OrgKind::School
    }
}

/// Whether an organisation is in business. Schools follow the register's statuses; a closed
/// organisation keeps its history but can no longer log in or receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrgStatus {
    Open,
    OpenProposedToClose,
    ProposedToOpen,
    Closed,
}

impl OrgStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            OrgStatus::Open => "open",
            OrgStatus::OpenProposedToClose => "open_proposed_to_close",
            OrgStatus::ProposedToOpen => "proposed_to_open",
            OrgStatus::Closed => "closed",
        }
    }

    pub fn parse_stored(s: &str) -> Option<Self> {
        [Self::Open, Self::OpenProposedToClose, Self::ProposedToOpen, Self::Closed]
            .into_iter()
            .find(|x| x.as_str() == s)
    }

    /// Can log in, send and receive.
    pub fn can_receive(&self) -> bool {
        matches!(self, OrgStatus::Open | OrgStatus::OpenProposedToClose)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schools_are_named_by_number_and_teams_by_slug() {
        assert_eq!("8252001".parse::<OrgRef>().unwrap().to_string(), "825/2001");
        assert_eq!("smst".parse::<OrgRef>().unwrap().to_string(), "smst");
        assert!("SMST".parse::<OrgRef>().is_err());
        assert!("825/20".parse::<OrgRef>().is_err());
        assert!("smst/../x".parse::<OrgRef>().is_err());
        assert!("s".parse::<OrgRef>().is_err());
    }
}
