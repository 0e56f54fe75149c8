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

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "slug": "governors",
    "name": "Governors",
    "description": "Papers for governing boards, from the LA's governor services to schools.",
    "route": [{"from": "team:smst", "to": "explicit_school"}],
    "extensions": ["pdf", "docx"],
    "max_size_bytes": 20971520,
    "retention": {"purge_after_upload_days": 60}
})))]
pub struct Channel {
    pub slug: String,
    /// Switched off, nobody may send on it (the census outside its window); files already
    /// delivered stay where they are.
    #[serde(default = "yes")]
    pub enabled: bool,
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
    /// Days after which a file nobody in the recipient organisation has downloaded is listed
    /// as unclaimed; [`DEFAULT_UNCLAIMED_AFTER_DAYS`] when not set.
    pub unclaimed_after_days: Option<u32>,
    #[serde(default)]
    pub retention: Retention,
}

/// How long a file may wait for its recipient before the LA hears about it, unless the
/// channel says otherwise.
pub const DEFAULT_UNCLAIMED_AFTER_DAYS: u32 = 14;

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub purge_after_upload_days: Option<u32>,
    pub purge_after_download_days: Option<u32>,
    pub warn_days_before_expiry: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NameRule {
    #[default]
    None,
    /// The file name must carry the sending school's own DfE number, and no other.
    OwnDfeNumber,
}

#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// `schools`, `teams`, `any`, or `team:<slug>`.
    #[schema(value_type = String)]
    pub from: Sender,
    /// `team:<slug>`, `explicit_school`, `explicit_team`, `explicit`, `named_school`, `group` or `reply`.
    #[schema(value_type = String)]
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
    #[error("channel '{0}' has no name: give the name people will see")]
    NoName(String),
    #[error("channel '{slug}' lists the extension '{extension}': write extensions in lower case without the dot, e.g. \"csv\"")]
    BadExtension { slug: String, extension: String },
    #[error("channel '{slug}' sets {field} to 0: leave it out for the default, or give a positive number")]
    Zero { slug: String, field: &'static str },
    #[error("channel '{slug}' names '{team}' as a team: {reason}")]
    BadTeam { slug: String, team: String, reason: String },
}

impl Catalogue {
    /// Checks what serde cannot: unique slugs, and every channel usable on its own.
    pub fn validate(&self) -> Result<(), CatalogueError> {
        let mut seen = std::collections::HashSet::new();
        for c in &self.channels {
            c.validate()?;
            if !seen.insert(c.slug.as_str()) {
                return Err(CatalogueError::Duplicate(c.slug.clone()));
            }
        }
        Ok(())
    }

    pub fn get(&self, slug: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.slug == slug)
    }

    /// This catalogue with `overrides` in force: each replaces the channel of the same slug,
    /// or is added after the others when there is none.
    pub fn overlaid(&self, overrides: impl IntoIterator<Item = Channel>) -> Catalogue {
        let mut channels = self.channels.clone();
        for o in overrides {
            match channels.iter_mut().find(|c| c.slug == o.slug) {
                Some(slot) => *slot = o,
                None => channels.push(o),
            }
        }
        Catalogue { channels }
    }
}

impl Channel {
    /// Checks one definition: a slug that can be named, a name, a route, extensions written as
    /// they are compared, no zero where zero would make the channel useless, team slugs that
    /// could ever match.
    pub fn validate(&self) -> Result<(), CatalogueError> {
        let slug = || self.slug.clone();
        if ChannelSlug::parse(&self.slug).is_none() {
            return Err(CatalogueError::BadSlug(slug()));
        }
        if self.name.trim().is_empty() {
            return Err(CatalogueError::NoName(slug()));
        }
        if self.routes.is_empty() {
            return Err(CatalogueError::NoRoute(slug()));
        }
        if let Some(bad) = self
            .extensions
            .iter()
            .find(|e| e.is_empty() || !e.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        {
            return Err(CatalogueError::BadExtension { slug: slug(), extension: bad.clone() });
        }
        for (field, value) in [
            ("max_size_bytes", self.max_size_bytes.map(|n| n == 0)),
            ("unclaimed_after_days", self.unclaimed_after_days.map(|n| n == 0)),
            ("turnaround_business_days", self.turnaround_business_days.map(|n| n == 0)),
        ] {
            if value == Some(true) {
                return Err(CatalogueError::Zero { slug: slug(), field });
            }
        }
        for team in self.teams() {
            if let Err(e) = team.parse::<super::organisation::TeamSlug>() {
                return Err(CatalogueError::BadTeam { slug: slug(), team: team.to_owned(), reason: e.to_string() });
            }
        }
        Ok(())
    }

    /// Every team named by a route, as sender or as recipient.
    pub fn teams(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().flat_map(|r| {
            let from = match &r.from {
                Sender::Team(t) => Some(t.as_str()),
                _ => None,
            };
            let to = match &r.to {
                Recipients::Team(t) => Some(t.as_str()),
                _ => None,
            };
            from.into_iter().chain(to)
        })
    }

    /// The route that applies to this sender, if any; none while the channel is switched off.
    pub fn route_for(&self, sender: &Organisation) -> Option<&Route> {
        self.enabled.then(|| self.route_matching(sender)).flatten()
    }

    /// The route that would apply to this sender were the channel switched on.
    pub fn route_matching(&self, sender: &Organisation) -> Option<&Route> {
        self.routes.iter().find(|r| r.from.matches(sender))
    }

    /// The team that receives what schools send on this channel (the `to` of the first route
    /// schools may send on, when it is a fixed team): the team that collects its returns.
    pub fn collecting_team(&self) -> Option<&str> {
        let route = self.routes.iter().find(|r| matches!(r.from, Sender::Schools | Sender::Any))?;
        match &route.to {
            Recipients::Team(team) => Some(team),
            _ => None,
        }
    }

    pub fn unclaimed_threshold_days(&self) -> u32 {
        self.unclaimed_after_days.unwrap_or(DEFAULT_UNCLAIMED_AFTER_DAYS)
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

    fn one(extra: &str) -> Channel {
        let mut c: Catalogue = toml_parse(&format!(
            "[[channel]]\nslug='a'\nname='A'\ndescription=''\n{extra}\n[[channel.route]]\nfrom='schools'\nto='team:smst'\n"
        ));
        c.channels.remove(0)
    }

    #[test]
    fn a_switched_off_channel_routes_nobody_but_still_knows_its_route() {
        let school = Organisation {
            id: crate::domain::OrgId(1),
            kind: OrgKind::School,
            reference: OrgRef::School("825/2001".parse().unwrap()),
            name: "School".into(),
            status: crate::domain::organisation::OrgStatus::Open,
            urn: None,
            phase: None,
            establishment_type: None,
            totp_required: false,
        };
        let on = one("");
        assert!(on.enabled, "channels are on unless switched off");
        assert!(on.route_for(&school).is_some());
        let off = one("enabled=false");
        assert!(off.route_for(&school).is_none());
        assert!(off.route_matching(&school).is_some());
    }

    #[test]
    fn definitions_that_could_not_work_are_refused_with_what_to_fix() {
        assert_eq!(one("").validate(), Ok(()));
        assert_eq!(one("unclaimed_after_days=5").unclaimed_threshold_days(), 5);
        assert_eq!(one("").unclaimed_threshold_days(), DEFAULT_UNCLAIMED_AFTER_DAYS);
        let upper = one("extensions=['CSV']").validate().unwrap_err();
        assert!(upper.to_string().contains("lower case"), "{upper}");
        assert!(matches!(one("extensions=['.csv']").validate(), Err(CatalogueError::BadExtension { .. })));
        assert!(matches!(
            one("max_size_bytes=0").validate(),
            Err(CatalogueError::Zero { field: "max_size_bytes", .. })
        ));
        assert!(matches!(one("unclaimed_after_days=0").validate(), Err(CatalogueError::Zero { .. })));
        let mut nameless = one("");
        nameless.name = " ".into();
        assert_eq!(nameless.validate(), Err(CatalogueError::NoName("a".into())));
        let mut bad_team = one("");
        bad_team.routes[0].to = Recipients::Team("Finance Team".into());
        assert!(matches!(bad_team.validate(), Err(CatalogueError::BadTeam { .. })));
        let mut bad_slug = one("");
        bad_slug.slug = "Census 2026".into();
        assert_eq!(bad_slug.validate(), Err(CatalogueError::BadSlug("Census 2026".into())));
    }

    #[test]
    fn the_collecting_team_is_where_schools_send() {
        let base: Catalogue = toml_parse(SHIPPED);
        assert_eq!(base.get("census").unwrap().collecting_team(), Some("smst"));
        assert_eq!(base.get("fsm").unwrap().collecting_team(), Some("smst"), "the school's route, not the reply");
        assert_eq!(base.get("checking-files").unwrap().collecting_team(), None, "schools do not send on it");
        assert_eq!(base.get("general").unwrap().collecting_team(), None, "schools choose the team");
    }

    #[test]
    fn an_overlay_replaces_by_slug_and_appends_new_channels() {
        let base: Catalogue = toml_parse(SHIPPED);
        let mut census = base.get("census").unwrap().clone();
        census.extensions = vec!["xml".into()];
        let mut extra = one("");
        extra.slug = "sen".into();
        let c = base.overlaid([census, extra]);
        assert_eq!(c.get("census").unwrap().extensions, ["xml"]);
        assert_eq!(c.channels.len(), base.channels.len() + 1);
        assert_eq!(c.channels.last().unwrap().slug, "sen");
        assert_eq!(c.channels[0].slug, base.channels[0].slug, "the file's order is kept");
        c.validate().unwrap();
    }

    fn toml_parse(s: &str) -> Catalogue {
        use figment::providers::{Format, Toml};
        figment::Figment::from(Toml::string(s)).extract().unwrap()
    }
}
