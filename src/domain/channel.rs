//! Channels: each kind of traffic between schools and LA teams with its own rules: who may
//! send, where it goes, what it may contain. The catalogue is configuration
//! (`config/channels.toml`); this module reads it and answers questions about it, with no I/O.

use serde::{Deserialize, Serialize};

use super::organisation::{OrgKind, Organisation};
use super::{ChannelSlug, FileName, OrgRef};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    #[serde(rename = "channel")]
    pub channels: Vec<Channel>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    pub slug: String,
    pub name: String,
    pub description: String,
    /// Who may send and where their files go; the first route whose `from` matches applies.
    #[serde(rename = "route")]
    pub routes: Vec<Route>,
    /// Allowed extensions, lower case, without the dot; empty allows any.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Check that the content looks like its extension says.
    #[serde(default = "yes")]
    pub sniff: bool,
    /// Largest file, in bytes; the server-wide limit applies too.
    pub max_size_bytes: Option<u64>,
    #[serde(default)]
    pub name_rule: NameRule,
    /// Routed by the number at the start of the name: the recipient sees the name without it.
    #[serde(default)]
    pub strip_number_prefix: bool,
    /// When set, only holders of this function in the recipient organisation (and its
    /// administrators) see the channel's files.
    pub function: Option<String>,
    /// Whether a message may be sent without a file.
    #[serde(default)]
    pub messages: bool,
    /// Working days within which a request on this channel should be answered.
    pub turnaround_business_days: Option<u32>,
    #[serde(default)]
    pub retention: Retention,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub purge_after_upload_days: Option<u32>,
    pub purge_after_download_days: Option<u32>,
    pub warn_days_before_expiry: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameRule {
    #[default]
    None,
    /// The file name must carry the sending school's own DfE number, and no other.
    OwnDfeNumber,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub from: Sender,
    pub to: Recipients,
}

/// Who a route accepts as sender: `schools`, `teams`, `any`, or `team:<slug>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Sender {
    Schools,
    Teams,
    Any,
    Team(String),
}

/// Where a route's files go: a fixed `team:<slug>`; the `to` parameter naming a school
/// (`explicit_school`), a team (`explicit_team`) or either (`explicit`); the school whose
/// number starts the file name (`named_school`); a `group` of schools (all, a phase, a list);
/// or the sender of the original transfer (`reply`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum Recipients {
    Team(String),
    ExplicitSchool,
    ExplicitTeam,
    Explicit,
    NamedSchool,
    Group,
    Reply,
}

impl TryFrom<String> for Sender {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "schools" => Ok(Sender::Schools),
            "teams" => Ok(Sender::Teams),
            "any" => Ok(Sender::Any),
            other => match other.strip_prefix("team:") {
                Some(slug) if !slug.is_empty() => Ok(Sender::Team(slug.to_owned())),
                _ => Err(format!("'{s}' is not a sender: use schools, teams, any or team:<slug>")),
            },
        }
    }
}

impl From<Sender> for String {
    fn from(s: Sender) -> Self {
        match s {
            Sender::Schools => "schools".into(),
            Sender::Teams => "teams".into(),
            Sender::Any => "any".into(),
            Sender::Team(slug) => format!("team:{slug}"),
        }
    }
}

impl TryFrom<String> for Recipients {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Ok(match s.as_str() {
            "explicit_school" => Recipients::ExplicitSchool,
            "explicit_team" => Recipients::ExplicitTeam,
            "explicit" => Recipients::Explicit,
            "named_school" => Recipients::NamedSchool,
            "group" => Recipients::Group,
            "reply" => Recipients::Reply,
            other => match other.strip_prefix("team:") {
                Some(slug) if !slug.is_empty() => Recipients::Team(slug.to_owned()),
                _ => {
                    return Err(format!(
                        "'{s}' is not a recipient rule: use team:<slug>, explicit_school, explicit_team, explicit, named_school, group or reply"
                    ))
                }
            },
        })
    }
}

impl From<Recipients> for String {
    fn from(r: Recipients) -> Self {
        match r {
            Recipients::Team(slug) => format!("team:{slug}"),
            Recipients::ExplicitSchool => "explicit_school".into(),
            Recipients::ExplicitTeam => "explicit_team".into(),
            Recipients::Explicit => "explicit".into(),
            Recipients::NamedSchool => "named_school".into(),
            Recipients::Group => "group".into(),
            Recipients::Reply => "reply".into(),
        }
    }
}

impl Sender {
    pub fn matches(&self, org: &Organisation) -> bool {
        match (self, org.kind) {
            (Sender::Any, OrgKind::School | OrgKind::Team) => true,
            (Sender::Schools, OrgKind::School) => true,
            (Sender::Teams, OrgKind::Team) => true,
            (Sender::Team(slug), OrgKind::Team) => matches!(&org.reference, OrgRef::Team(t) if t.as_str() == slug),
            _ => false,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CatalogueError {
    #[error("channel '{0}' is defined twice")]
    Duplicate(String),
    #[error("channel '{0}' is not a valid slug: use lower-case letters, digits and hyphens")]
    BadSlug(String),
    #[error("channel '{0}' has no route: say who may send on it")]
    NoRoute(String),
}

impl Catalogue {
    /// Checks what serde cannot: unique, well-formed slugs, and at least one route each.
    pub fn validate(&self) -> Result<(), CatalogueError> {
        let mut seen = std::collections::HashSet::new();
        for c in &self.channels {
            if ChannelSlug::parse(&c.slug).is_none() {
                return Err(CatalogueError::BadSlug(c.slug.clone()));
            }
            if !seen.insert(c.slug.as_str()) {
                return Err(CatalogueError::Duplicate(c.slug.clone()));
            }
            if c.routes.is_empty() {
                return Err(CatalogueError::NoRoute(c.slug.clone()));
            }
        }
        Ok(())
    }

    pub fn get(&self, slug: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.slug == slug)
    }
}

impl Channel {
    /// The route that applies to this sender, if any.
    pub fn route_for(&self, sender: &Organisation) -> Option<&Route> {
        self.routes.iter().find(|r| r.from.matches(sender))
    }

    pub fn accepts_extension(&self, name: &FileName) -> bool {
        self.extensions.is_empty() || name.extension().is_some_and(|e| self.extensions.contains(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../config/channels.toml");

    #[test]
    fn the_shipped_catalogue_is_valid_and_has_the_seeded_channels() {
        let c: Catalogue = toml_parse(SHIPPED);
        c.validate().unwrap();
        for slug in [
            "census",
            "workforce-census",
            "ctf",
            "checking-files",
            "fsm",
            "distribution",
            "finance",
            "admissions",
            "general",
        ] {
            assert!(c.get(slug).is_some(), "{slug} missing");
        }
        assert_eq!(c.get("fsm").unwrap().turnaround_business_days, Some(3));
        assert_eq!(c.get("finance").unwrap().function.as_deref(), Some("finance"));
    }

    #[test]
    fn rules_read_back_as_written() {
        assert_eq!(Sender::try_from("team:smst".to_owned()), Ok(Sender::Team("smst".into())));
        assert!(Sender::try_from("team:".to_owned()).is_err());
        assert_eq!(Recipients::try_from("named_school".to_owned()), Ok(Recipients::NamedSchool));
        assert!(Recipients::try_from("everyone".to_owned()).is_err());
        let dup: Catalogue = toml_parse(
            "[[channel]]\nslug='a'\nname='A'\ndescription=''\n[[channel.route]]\nfrom='any'\nto='explicit'\n\
             [[channel]]\nslug='a'\nname='A'\ndescription=''\n[[channel.route]]\nfrom='any'\nto='explicit'\n",
        );
        assert_eq!(dup.validate(), Err(CatalogueError::Duplicate("a".into())));
    }

    fn toml_parse(s: &str) -> Catalogue {
        use figment::providers::{Format, Toml};
        figment::Figment::from(Toml::string(s)).extract().unwrap()
    }
}
