//! Keeping schools in step with the national register (GIAS): openings, closures, academy
//! conversions and amalgamations.

use time::OffsetDateTime;
use tracing::info;

use super::ServiceError;
use crate::audit::{Actor, AuditEvent};
use crate::domain::gias::{plan_import_files, ImportPlan, KnownSchool};
use crate::domain::organisation::OrgStatus;
use crate::domain::{OrgKind, OrgRef, Organisation};
use crate::store::Repository;

/// Plans the import against the schools known now and, unless `dry_run`, applies it in one
/// transaction. Running it again with the same files changes nothing.
pub async fn import_gias(
    repo: &dyn Repository,
    now: OffsetDateTime,
    actor: Actor,
    establishments_csv: &[u8],
    links_csv: Option<&[u8]>,
    la: Option<u16>,
    dry_run: bool,
) -> Result<ImportPlan, ServiceError> {
    let known: Vec<KnownSchool> = repo
        .list_organisations()
        .await?
        .into_iter()
        .filter(|o| o.kind == OrgKind::School)
        .filter_map(|o| {
            let OrgRef::School(dfe) = o.reference else { return None };
            Some(KnownSchool {
                dfe,
                urn: o.urn,
                name: o.name,
                type_name: o.establishment_type,
                phase: o.phase,
                status: o.status,
            })
        })
        .collect();
    let plan = plan_import_files(&known, establishments_csv, links_csv, la)
        .map_err(|e| ServiceError::bad_request("invalid_register_file", e.to_string()))?;
    if !dry_run {
        let audit = AuditEvent::new(now, actor, "register.import").detail("summary", plan.summary().to_string());
        repo.apply_register_import(&plan, now, &audit).await?;
        info!(summary = %plan.summary(), "register import applied");
    }
    Ok(plan)
}

/// Which organisations a listing of the register shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    /// Every organisation that has not closed (including those proposed to open or to close).
    Open,
    Closed,
    All,
}

impl StatusFilter {
    fn admits(self, status: OrgStatus) -> bool {
        match self {
            StatusFilter::Open => status != OrgStatus::Closed,
            StatusFilter::Closed => status == OrgStatus::Closed,
            StatusFilter::All => true,
        }
    }
}

/// An organisation as the register lists it: a closed one with the organisations that carry it
/// on (one, or several after a split; none when it simply closed).
#[derive(Debug, Clone)]
pub struct RegisterEntry {
    pub org: Organisation,
    pub successors: Vec<Organisation>,
}

/// The organisations `filter` admits, schools by DfE number then teams, each closed one with its
/// successors.
pub async fn list(repo: &dyn Repository, filter: StatusFilter) -> Result<Vec<RegisterEntry>, ServiceError> {
    let mut entries = Vec::new();
    for org in repo.list_organisations().await?.into_iter().filter(|o| filter.admits(o.status)) {
        let successors = if org.status == OrgStatus::Closed { repo.successors(org.id).await? } else { Vec::new() };
        entries.push(RegisterEntry { org, successors });
    }
    Ok(entries)
}
