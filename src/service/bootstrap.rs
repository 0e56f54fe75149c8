//! The first-start work of an installation: the system organisation and its first
//! administrator, and the functions the channels route by. Done once, in one transaction under
//! the installation's lock, by whichever node gets there first; the others find it done. Only
//! the node that created the administrator has its one-time password to show.

use secrecy::SecretString;
use tracing::info;

use super::startup::database_refusal;
use super::users::SYSTEM_ORG;
use crate::audit::{Actor, AuditEvent};
use crate::domain::channel::Catalogue;
use crate::domain::{FunctionSlug, OrgRef, Role, Username};
use crate::identity::password::{generate_password, hash_password};
use crate::service::AppState;
use crate::store::meta::{BootstrapAdmin, BootstrapPlan, BOOTSTRAP_VERSION};

const ADMIN_USERNAME: &str = "admin";

/// What each function the shipped channels route by is for, as its stored name says.
const SHIPPED_FUNCTIONS: &[(&str, &str)] = &[
    ("data", "Data and statutory returns: School Census, School Workforce Census and CTFs"),
    ("assessment", "Assessment: DfE checking files for EYFSP, Phonics, KS1 and KS2"),
    ("finance", "Finance: month-end files, VAT and reconciliations"),
    ("admissions", "Admissions: allocation lists and admissions correspondence"),
];

/// Does what is left of the first-start work. Returns the first administrator's name and
/// one-time password when this node created the account, for the caller to print once.
pub async fn run(state: &AppState) -> anyhow::Result<Option<(Username, SecretString)>> {
    let repo = state.repo();
    let done = repo.bootstrap_version().await.map_err(database_refusal("read whether the first start is done"))?;
    if done >= BOOTSTRAP_VERSION {
        return Ok(None);
    }
    let password = generate_password();
    let plan = plan(state, &password)?;
    let outcome = repo.bootstrap(&plan).await.map_err(database_refusal("do the first-start set-up"))?;
    if !outcome.functions_added.is_empty() {
        info!(functions = outcome.functions_added.join(","), "defined the functions the channels route by");
    }
    Ok(outcome.admin_created.then(|| (plan.admin.username.clone(), password)))
}

fn plan(state: &AppState, password: &SecretString) -> anyhow::Result<BootstrapPlan> {
    let now = state.now();
    let actor = || Actor::system("start-up");
    let system: OrgRef = OrgRef::Team(SYSTEM_ORG.parse().map_err(|e| anyhow::anyhow!("{e}"))?);
    let username: Username = ADMIN_USERNAME.parse()?;
    let admin_audit = AuditEvent::new(now, actor(), "user.create")
        .concerning(&system)
        .detail("username", username.as_str())
        .detail("role", Role::SystemAdmin.as_str())
        .detail("status", "active");
    let functions = functions_of(&state.channels())
        .into_iter()
        .map(|(slug, name)| {
            let audit =
                AuditEvent::new(now, actor(), "function.define").target("function", &slug).detail("name", &name);
            (slug, name, audit)
        })
        .collect();
    Ok(BootstrapPlan {
        version: BOOTSTRAP_VERSION,
        at: now,
        system_org_audit: AuditEvent::new(now, actor(), "organisation.create").target("organisation", &system),
        system_org: system,
        system_org_name: "Pigeonpost administration".into(),
        admin: BootstrapAdmin {
            username,
            display_name: "System administrator".into(),
            password_hash: hash_password(password)?,
            audit: admin_audit,
        },
        functions,
    })
}

/// The functions `catalogue` routes by, once each, named as the shipped ones are, or by their
/// slug when the LA's own catalogue brings one of its own.
fn functions_of(catalogue: &Catalogue) -> Vec<(FunctionSlug, String)> {
    let mut out: Vec<(FunctionSlug, String)> = Vec::new();
    for slug in catalogue.channels.iter().filter_map(|c| c.function.as_deref()) {
        let Some(slug) = FunctionSlug::parse(slug) else {
            tracing::warn!(function = slug, "a channel names a function that is not a valid slug; not defined");
            continue;
        };
        if out.iter().any(|(s, _)| *s == slug) {
            continue;
        }
        let name = SHIPPED_FUNCTIONS
            .iter()
            .find(|(s, _)| *s == slug.as_str())
            .map_or_else(|| slug.as_str().to_owned(), |(_, name)| (*name).to_owned());
        out.push((slug, name));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalogue_routes_by_four_functions_each_with_its_purpose() {
        let catalogue = crate::service::startup::parse_channels(crate::service::startup::DEFAULT_CHANNELS)
            .expect("the shipped catalogue");
        let found = functions_of(&catalogue);
        let slugs: Vec<&str> = found.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(slugs, ["data", "assessment", "finance", "admissions"]);
        for (slug, name) in &found {
            assert_ne!(name, slug.as_str(), "{slug} has no description");
        }
    }
}
