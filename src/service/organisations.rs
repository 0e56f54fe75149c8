//! Organisations: created by an administrator from the command line.

use super::ServiceError;
use time::OffsetDateTime;

use crate::domain::{OrgKind, OrgRef, Organisation};
use crate::store::meta::NewOrganisation;
use crate::store::Repository;

pub async fn create(
    repo: &dyn Repository,
    now: OffsetDateTime,
    kind: OrgKind,
    reference: OrgRef,
    name: &str,
) -> Result<Organisation, ServiceError> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(ServiceError::bad_request(
            "invalid_name",
            "give the organisation a name of 1 to 200 printable characters",
        ));
    }
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
    let new = NewOrganisation {
        kind,
        reference: reference.clone(),
        name: name.to_owned(),
    };
    repo.create_organisation(&new, now)
        .await
        .map_err(|e| match ServiceError::from(e) {
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
