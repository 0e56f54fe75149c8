//! LA administrators change channels: a new definition, read back in full, or the change
//! removed. A definition is checked whole before it is stored, and applied on this node at
//! once (the others pick it up on their next refresh).

use serde_json::Value;
use time::OffsetDateTime;
use tracing::info;

use super::authority::enforce;
use super::channel_overrides::{self, parse_stored};
use super::ServiceError;
use crate::audit::AuditEvent;
use crate::domain::channel::{Channel, Sender};
use crate::domain::organisation::TeamSlug;
use crate::domain::OrgRef;
use crate::policy::{self, Action, Principal};
use crate::service::AppState;
use crate::store::meta::ChannelOverrideRecord;

/// A channel as an administrator sees it: its definition in force and where it comes from.
pub struct ChannelDetail {
    pub channel: Channel,
    /// `channels.toml` defines this slug (so removing the change reverts to the file).
    pub in_file: bool,
    /// The stored change in force, if any.
    pub change: Option<ChangeInfo>,
    /// What makes the definition less useful than it looks (a team not set up yet), for the
    /// administrator to fix or accept.
    pub warnings: Vec<String>,
}

pub struct ChangeInfo {
    pub updated_at: OffsetDateTime,
    pub updated_by: Option<String>,
}

impl From<&ChannelOverrideRecord> for ChangeInfo {
    fn from(r: &ChannelOverrideRecord) -> Self {
        Self { updated_at: r.updated_at, updated_by: r.updated_by_username.clone() }
    }
}

fn no_channel(slug: &str) -> ServiceError {
    ServiceError::Unknown(format!("there is no channel '{slug}': GET /api/v1/channels lists them"))
}

pub async fn show(state: &AppState, who: &Principal, slug: &str) -> Result<ChannelDetail, ServiceError> {
    enforce(policy::decide(who, Action::ManageChannels))?;
    let catalogue = state.channels();
    let channel = catalogue.get(slug).cloned().ok_or_else(|| no_channel(slug))?;
    let record = state.repo().channel_override(slug).await?;
    let mut warnings = warnings(state, &channel).await?;
    let change = match &record {
        Some(r) => match parse_stored(r) {
            Ok(_) => Some(ChangeInfo::from(r)),
            Err(problem) => {
                warnings.push(format!(
                    "a stored change to this channel cannot be read ({problem}) and is not in force: PUT the channel again, or DELETE the change"
                ));
                None
            }
        },
        None => None,
    };
    Ok(ChannelDetail { in_file: state.file_channels().get(slug).is_some(), channel, change, warnings })
}

/// Stores `body` as the definition of `slug`. Answers the definition now in force and whether
/// the channel is new.
pub async fn put(
    state: &AppState,
    who: &Principal,
    slug: &str,
    body: Value,
) -> Result<(ChannelDetail, bool), ServiceError> {
    enforce(policy::decide(who, Action::ManageChannels))?;
    let channel = definition(slug, body)?;
    let before = state.channels();
    let is_new = before.get(slug).is_none();
    before.overlaid([channel.clone()]).validate().map_err(invalid)?;
    let stored = serde_json::to_string(&channel)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("could not write the channel as JSON: {e}")))?;
    let audit =
        AuditEvent::by(who, state.now(), "channel.change").target("channel", slug).detail("definition", &channel);
    state.repo().put_channel_override(slug, &stored, who.user_id(), state.now(), &audit).await?;
    info!(channel = slug, by = %who.describe(), enabled = channel.enabled, new = is_new, "channel definition changed");
    channel_overrides::refresh(state).await?;
    Ok((show(state, who, slug).await?, is_new))
}

/// Removes the stored change to `slug`. Answers the file's definition, back in force, or None
/// when the channel existed only through the API and is now gone.
pub async fn revert(state: &AppState, who: &Principal, slug: &str) -> Result<Option<ChannelDetail>, ServiceError> {
    enforce(policy::decide(who, Action::ManageChannels))?;
    let audit = AuditEvent::by(who, state.now(), "channel.revert").target("channel", slug);
    if !state.repo().delete_channel_override(slug, &audit).await? {
        if state.channels().get(slug).is_none() {
            return Err(no_channel(slug));
        }
        return Err(ServiceError::Unknown(format!(
            "channel '{slug}' has no change to remove: it is as channels.toml defines it"
        )));
    }
    info!(channel = slug, by = %who.describe(), "channel change removed");
    channel_overrides::refresh(state).await?;
    if state.file_channels().get(slug).is_none() {
        return Ok(None);
    }
    show(state, who, slug).await.map(Some)
}

fn invalid(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::unprocessable("invalid_channel", e.to_string())
}

/// The channel a request body describes; its `slug` may be left out, and must otherwise be
/// the one in the path.
pub fn definition(slug: &str, mut body: Value) -> Result<Channel, ServiceError> {
    let Some(fields) = body.as_object_mut() else {
        return Err(invalid("send the channel as a JSON object with the same fields as channels.toml"));
    };
    match fields.get("slug") {
        None => {
            fields.insert("slug".into(), Value::String(slug.to_owned()));
        }
        Some(Value::String(s)) if s == slug => {}
        Some(other) => {
            return Err(ServiceError::bad_request(
                "slug_mismatch",
                format!("the body's slug {other} is not the '{slug}' of the address: leave it out or make them match"),
            ))
        }
    }
    let channel: Channel =
        serde_json::from_value(body).map_err(|e| invalid(format!("the channel is not valid: {e}")))?;
    channel.validate().map_err(invalid)?;
    Ok(channel)
}

/// What would surprise the administrator later: teams and functions the definition names that
/// are not set up, and a channel nobody can use.
async fn warnings(state: &AppState, channel: &Channel) -> Result<Vec<String>, ServiceError> {
    let mut out = Vec::new();
    if !channel.enabled {
        out.push("the channel is switched off: nobody can send on it until \"enabled\" is true".to_owned());
    }
    let mut teams: Vec<&str> = channel.teams().collect();
    teams.sort_unstable();
    teams.dedup();
    for team in teams {
        let Ok(slug) = team.parse::<TeamSlug>() else { continue };
        let found = state.repo().find_organisation(&OrgRef::Team(slug)).await?;
        let sends = channel.routes.iter().any(|r| r.from == Sender::Team(team.to_owned()));
        let consequence = if sends {
            "its routes refuse every file until it is"
        } else {
            "files routed to it are refused until it is"
        };
        match found {
            None => out.push(format!(
                "there is no team '{team}' yet: {consequence} set up (pigeonpost admin org add --kind team --slug {team})"
            )),
            Some(org) if !org.status.can_receive() => {
                out.push(format!("the team '{team}' is closed: {consequence} open again"))
            }
            Some(_) => {}
        }
    }
    if let Some(function) = &channel.function {
        let defined = state.repo().list_functions().await?;
        if !defined.iter().any(|(f, _)| f.as_str() == function) {
            out.push(format!(
                "the function '{function}' is not defined: until it is (POST /api/v1/functions), only administrators of the receiving organisation see this channel's files"
            ));
        }
    }
    Ok(out)
}
