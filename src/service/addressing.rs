//! Where an upload goes: the recipients its channel's route gives, checked against the rules a
//! person would otherwise have to apply by hand (the census file carries the school's own
//! number, checking files go to the school named in the file name, a reply goes to whoever
//! asked).

use super::download::visible_transfer;
use super::ServiceError;
use crate::domain::channel::{Channel, NameRule, Recipients, Route};
use crate::domain::routing::{check_own_number, route_by_name, EstablishmentKey};
use crate::domain::{FileName, OrgKind, OrgRef, Organisation, TransferId};
use crate::policy::Principal;
use crate::service::AppState;

pub struct Addressing<'a> {
    /// The `to` parameter, when given.
    pub to: Option<&'a str>,
    pub reply_to: Option<TransferId>,
}

pub struct Addressed {
    pub recipients: Vec<Organisation>,
    /// The name recipients see (a routing prefix can be stripped); None for a message.
    pub file_name: Option<FileName>,
    /// How the recipients were reached, when it was not as addressed (an old number forwarded).
    pub note: Option<String>,
}

/// How far a chain of successions is followed (a school that converted, then merged): as far
/// as a first import registers closed predecessors, so the two agree.
use crate::domain::gias::MAX_SUCCESSION_HOPS;

/// A school or team as addressed, or, when it has closed and one open organisation carries it
/// on (an academy conversion keeps the pupils and gets a new DfE number and URN), that one,
/// with a note saying so. A closed school with no successor, or split between two, is returned
/// as it is, for the caller to refuse.
pub(crate) async fn forwarded(
    state: &AppState,
    org: Organisation,
) -> Result<(Organisation, Option<String>), ServiceError> {
    let mut current = org.clone();
    for _ in 0..MAX_SUCCESSION_HOPS {
        if current.status.can_receive() {
            break;
        }
        let mut next = state.repo().successors(current.id).await?;
        if next.len() != 1 {
            break;
        }
        current = next.remove(0);
    }
    if current.id == org.id || !current.status.can_receive() {
        return Ok((org, None));
    }
    let note = format!(
        "{} ({}) has closed; delivered to {} ({}), which carries it on",
        org.reference, org.name, current.reference, current.name
    );
    Ok((current, Some(note)))
}

fn unprocessable(code: &'static str, message: String) -> ServiceError {
    ServiceError::unprocessable(code, message)
}

pub(crate) async fn org_named(state: &AppState, raw: &str) -> Result<Organisation, ServiceError> {
    let reference: OrgRef = raw.trim().parse().map_err(|e: crate::domain::organisation::InvalidOrgRef| {
        ServiceError::bad_request("invalid_recipient", e.to_string())
    })?;
    state.repo().find_organisation(&reference).await?.ok_or_else(|| {
        unprocessable(
            "unknown_recipient",
            format!("there is no organisation {reference}: check the DfE number or team name in 'to'"),
        )
    })
}

pub(crate) async fn school_by_key(
    state: &AppState,
    key: EstablishmentKey,
) -> Result<Option<Organisation>, ServiceError> {
    Ok(match key {
        EstablishmentKey::Dfe(dfe) => state.repo().find_organisation(&OrgRef::School(dfe)).await?,
        EstablishmentKey::Urn(urn) => state.repo().find_organisation_by_urn(urn).await?,
    })
}

/// Applies the channel's file-name rule and route. Closed or own-organisation recipients are
/// refused here too, so the caller stores nothing for an upload that cannot be delivered.
pub async fn address(
    state: &AppState,
    who: &Principal,
    channel: &Channel,
    route: &Route,
    name: Option<&FileName>,
    addressing: Addressing<'_>,
) -> Result<Addressed, ServiceError> {
    if channel.name_rule == NameRule::OwnDfeNumber {
        let name = name.ok_or_else(|| needs_a_file(channel))?;
        check_name_rule(who, channel, name)?;
    }
    // Whatever the route, an upload that says it answers something must answer a request its
    // sender was sent on this channel.
    let request = match addressing.reply_to {
        Some(original) => {
            let request = visible_transfer(state, who, original).await?;
            if request.channel != channel.slug || request.is_sent_by(who.org_id()) {
                return Err(unprocessable(
                    "not_a_request",
                    format!("{original} is not a request sent to you on {}", channel.slug),
                ));
            }
            Some(request)
        }
        None => None,
    };
    let mut file_name = name.cloned();
    let mut notes = Vec::new();
    let recipients = match &route.to {
        Recipients::Team(slug) => {
            let team = org_named(state, slug).await.map_err(|_| {
                unprocessable(
                    "channel_misconfigured",
                    format!("channel {} sends to team {slug}, which is not set up: tell the LA", channel.slug),
                )
            })?;
            if let Some(to) = addressing.to {
                if org_named(state, to).await?.id != team.id {
                    return Err(unprocessable(
                        "fixed_recipient",
                        format!("files on {} always go to {slug}: leave out 'to'", channel.slug),
                    ));
                }
            }
            vec![team]
        }
        Recipients::ExplicitSchool | Recipients::ExplicitTeam | Recipients::Explicit => {
            let to = addressing.to.ok_or_else(|| {
                ServiceError::bad_request(
                    "missing_parameter",
                    format!("channel {} needs a recipient: add 'to'", channel.slug),
                )
            })?;
            let (org, note) = forwarded(state, org_named(state, to).await?).await?;
            notes.extend(note);
            let kind_ok = match route.to {
                Recipients::ExplicitSchool => org.kind == OrgKind::School,
                Recipients::ExplicitTeam => org.kind == OrgKind::Team,
                _ => org.kind != OrgKind::System,
            };
            if !kind_ok {
                let wanted = if route.to == Recipients::ExplicitSchool { "a school" } else { "an LA team" };
                return Err(unprocessable(
                    "wrong_recipient_kind",
                    format!("on {} you can send only to {wanted}", channel.slug),
                ));
            }
            vec![org]
        }
        Recipients::NamedSchool => {
            let name = name.ok_or_else(|| needs_a_file(channel))?;
            let routed = route_by_name(name.as_str()).map_err(|e| {
                unprocessable(
                    "unroutable_name",
                    format!("{e}; name the file after the school, such as 8252001_checking.pdf"),
                )
            })?;
            let school = school_by_key(state, routed.key).await?.ok_or_else(|| {
                unprocessable(
                    "unknown_school",
                    format!("the file name names {}, which is not a school here", routed.key),
                )
            })?;
            let (school, note) = forwarded(state, school).await?;
            notes.extend(note);
            if let Some(to) = addressing.to {
                if forwarded(state, org_named(state, to).await?).await?.0.id != school.id {
                    return Err(unprocessable(
                        "recipient_mismatch",
                        format!("'to' says {to} but the file name names {}", school.reference),
                    ));
                }
            }
            if channel.strip_number_prefix {
                file_name = FileName::parse(&routed.stripped_name).ok().or(file_name);
            }
            vec![school]
        }
        Recipients::Group => group(state, channel, addressing.to, &mut notes).await?,
        Recipients::Reply => {
            let request = request.ok_or_else(|| {
                ServiceError::bad_request(
                    "missing_parameter",
                    format!("on {} an answer goes back to a request: add 'reply_to' with its id", channel.slug),
                )
            })?;
            vec![request.sender]
        }
    };
    for r in &recipients {
        if r.id == who.org_id() {
            return Err(unprocessable(
                "own_organisation",
                "you cannot send a file to your own organisation: choose another recipient".into(),
            ));
        }
        if !r.status.can_receive() {
            return Err(unprocessable(
                "recipient_closed",
                format!("{} is closed and cannot receive files: check the register for its successor", r.reference),
            ));
        }
    }
    let note = (!notes.is_empty()).then(|| notes.join("; "));
    Ok(Addressed { recipients, file_name, note })
}

fn needs_a_file(channel: &Channel) -> ServiceError {
    unprocessable(
        "file_required",
        format!("on {} the file name says where it goes, so a message needs a file attached", channel.slug),
    )
}

fn check_name_rule(who: &Principal, channel: &Channel, name: &FileName) -> Result<(), ServiceError> {
    let OrgRef::School(own) = who.org.reference else {
        return Err(unprocessable("schools_only", format!("only schools send on {}", channel.slug)));
    };
    check_own_number(name.as_str(), own).map_err(|found| {
        let found = if found.is_empty() {
            "no DfE number".to_owned()
        } else {
            found.iter().map(ToString::to_string).collect::<Vec<_>>().join(" and ")
        };
        unprocessable(
            "wrong_school_in_name",
            format!("the file name carries {found} but this is {own}'s return: send the file your MIS exported for {own} (its name carries {})", own.compact()),
        )
    })
}

/// A distribution's schools: `to=all`, `to=phase:<phase>` (as the register spells it, e.g.
/// primary, secondary, special) or a comma-separated list of DfE numbers.
async fn group(
    state: &AppState,
    channel: &Channel,
    to: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<Vec<Organisation>, ServiceError> {
    let to = to.ok_or_else(|| {
        ServiceError::bad_request(
            "missing_parameter",
            format!(
                "say which schools get it: to=all, to=phase:primary, or to=825/2001,825/2002 (channel {})",
                channel.slug
            ),
        )
    })?;
    let schools: Vec<Organisation> = state
        .repo()
        .list_organisations()
        .await?
        .into_iter()
        .filter(|o| o.kind == OrgKind::School && o.status.can_receive())
        .collect();
    let chosen: Vec<Organisation> = if to == "all" {
        schools
    } else if let Some(phase) = to.strip_prefix("phase:") {
        let phase = phase.to_ascii_lowercase();
        schools.into_iter().filter(|o| in_phase(o, &phase)).collect()
    } else {
        let mut chosen = Vec::new();
        for part in to.split(',').filter(|p| !p.trim().is_empty()) {
            let (org, note) = forwarded(state, org_named(state, part).await?).await?;
            notes.extend(note);
            if org.kind != OrgKind::School {
                return Err(unprocessable("wrong_recipient_kind", format!("{} is not a school", org.reference)));
            }
            if !chosen.iter().any(|c: &Organisation| c.id == org.id) {
                chosen.push(org);
            }
        }
        chosen
    };
    if chosen.is_empty() {
        return Err(unprocessable("empty_group", format!("no open school matches '{to}'")));
    }
    Ok(chosen)
}

/// Phases as LAs group them: "special" is a type of school rather than a phase in the register.
fn in_phase(org: &Organisation, phase: &str) -> bool {
    let p = org.phase.as_deref().unwrap_or_default().to_ascii_lowercase();
    let t = org.establishment_type.as_deref().unwrap_or_default().to_ascii_lowercase();
    match phase {
        "special" => t.contains("special"),
        "primary" => p == "primary" || p == "middle deemed primary" || p == "all-through",
        "secondary" => p == "secondary" || p == "middle deemed secondary" || p == "all-through",
        other => p == other,
    }
}
