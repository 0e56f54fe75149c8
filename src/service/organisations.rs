//! The register of organisations: schools (by DfE number) and LA teams (by slug).

use time::OffsetDateTime;
use tracing::info;

use super::authority::enforce;
use super::ServiceError;
use crate::audit::{Actor, AuditEvent};
use crate::domain::organisation::OrgStatus;
use crate::domain::{OrgKind, OrgRef, Organisation};
use crate::policy::{self, Action, Principal};
use crate::service::AppState;
use crate::store::meta::NewOrganisation;
use crate::store::Repository;

pub async fn create(
    repo: &dyn Repository,
    now: OffsetDateTime,
    actor: Actor,
    kind: OrgKind,
    reference: OrgRef,
    name: &str,
) -> Result<Organisation, ServiceError> {
    let name = super::printable_name(name, 200, "the organisation a name")?;
    let consistent = matches!(
        (kind, &reference),
        (OrgKind::School, OrgRef::School(_)) | (OrgKind::Team | OrgKind::System, OrgRef::Team(_))
    );
    if !consistent {
        return Err(ServiceError::bad_request(
            "invalid_reference",
            "a school is identified by its DfE number (--dfe 825/2001) and a team by a slug (--slug smst)",
        ));
    }
    let new = NewOrganisation { kind, reference: reference.clone(), name: name.to_owned() };
    let audit = AuditEvent::new(now, actor, "organisation.create")
        .target("organisation", &reference)
        .concerning(&reference)
        .detail("kind", kind.as_str())
        .detail("name", name);
    repo.create_organisation(&new, now, &audit).await.map_err(|e| match ServiceError::from(e) {
        ServiceError::Conflict { .. } => ServiceError::Conflict {
            code: "duplicate_organisation",
            message: format!("an organisation {reference} already exists"),
        },
        other => other,
    })
}

pub async fn list(repo: &dyn Repository) -> Result<Vec<Organisation>, ServiceError> {
    Ok(repo.list_organisations().await?)
}

pub async fn list_as(state: &AppState, who: &Principal) -> Result<Vec<Organisation>, ServiceError> {
    enforce(policy::decide(who, Action::ListOrganisations))?;
    list(state.repo()).await
}

pub async fn show(state: &AppState, who: &Principal, reference: &OrgRef) -> Result<Organisation, ServiceError> {
    let org = state.repo().find_organisation(reference).await?.ok_or(ServiceError::NotFound)?;
    super::download::hidden_unless_allowed(policy::decide(who, Action::ViewOrganisation(&org)))?;
    Ok(org)
}

pub async fn create_as(
    state: &AppState,
    who: &Principal,
    kind: OrgKind,
    reference: OrgRef,
    name: &str,
) -> Result<Organisation, ServiceError> {
    enforce(policy::decide(who, Action::ManageOrganisations))?;
    create(state.repo(), state.now(), Actor::of(who, who.client_addr.clone()), kind, reference, name).await
}

/// Closes an organisation: its history stays, its people and keys can no longer get in, and
/// nothing more can be sent to it.
pub async fn close(
    repo: &dyn Repository,
    now: OffsetDateTime,
    who: Option<&Principal>,
    reference: &OrgRef,
) -> Result<Organisation, ServiceError> {
    if let Some(who) = who {
        enforce(policy::decide(who, Action::ManageOrganisations))?;
    }
    let org = repo.find_organisation(reference).await?.ok_or(ServiceError::NotFound)?;
    let audit = AuditEvent::new(now, Actor::of_opt(who), "organisation.close")
        .target("organisation", &org.reference)
        .concerning(&org.reference);
    repo.set_organisation_status(org.id, OrgStatus::Closed, now, &audit).await?;
    info!(org = %org.reference, "organisation closed");
    repo.get_organisation(org.id).await?.ok_or(ServiceError::NotFound)
}

/// A school can switch a second factor on for all its people.
pub async fn require_totp(
    state: &AppState,
    who: Option<&Principal>,
    reference: &OrgRef,
    required: bool,
) -> Result<(), ServiceError> {
    let org = state.repo().find_organisation(reference).await?.ok_or(ServiceError::NotFound)?;
    if let Some(who) = who {
        enforce(policy::decide(who, Action::RequireSecondFactor(&org)))?;
    }
    let audit = AuditEvent::new(state.now(), Actor::of_opt(who), "organisation.require_second_factor")
        .target("organisation", &org.reference)
        .concerning(&org.reference)
        .detail("required", required);
    state.repo().set_totp_required(org.id, required, &audit).await?;
    Ok(())
}
