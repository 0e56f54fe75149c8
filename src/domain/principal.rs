//! Who is asking: a person through a login session, or an automated job through an API key,
//! and the organisation they act for. The policy decides what a principal may do; the audit
//! trail records who acted.

use super::records::KeyScope;
use super::{FunctionSlug, OrgId, Organisation, Role, UserId, Username};

/// Who is asking: resolved once per request from its credentials.
#[derive(Debug, Clone)]
pub struct Principal {
    pub org: Organisation,
    /// Organisations this one carries on from (an academy conversion, an amalgamation): their
    /// mailbox history belongs to it.
    pub predecessors: Vec<OrgId>,
    pub credential: Credential,
    /// The address the request came from, for the audit trail.
    pub client_addr: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Credential {
    /// An automated job.
    ApiKey { key_id: String, scope: KeyScope },
    /// A person, through a login session.
    Session(SessionPrincipal),
}

#[derive(Debug, Clone)]
pub struct SessionPrincipal {
    pub user_id: UserId,
    pub username: Username,
    pub role: Role,
    pub session_id: String,
    pub functions: Vec<FunctionSlug>,
    /// Steps the person must take before anything else (accept terms, enrol a second factor).
    pub pending: Vec<PendingStep>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PendingStep {
    /// The password was chosen for the person (generated): only changing it is allowed.
    ChangePassword,
    AcceptTerms,
    EnrolTotp,
}

impl Principal {
    pub fn org_id(&self) -> OrgId {
        self.org.id
    }

    /// The organisation's own mailbox and those of its predecessors.
    pub fn mailboxes(&self) -> Vec<OrgId> {
        std::iter::once(self.org.id).chain(self.predecessors.iter().copied()).collect()
    }

    pub(crate) fn owns(&self, org: OrgId) -> bool {
        org == self.org.id || self.predecessors.contains(&org)
    }

    pub fn key_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::ApiKey { key_id, .. } => Some(key_id),
            Credential::Session(_) => None,
        }
    }

    pub fn user(&self) -> Option<&SessionPrincipal> {
        match &self.credential {
            Credential::Session(s) => Some(s),
            Credential::ApiKey { .. } => None,
        }
    }

    pub fn user_id(&self) -> Option<UserId> {
        self.user().map(|s| s.user_id)
    }

    pub fn role(&self) -> Option<Role> {
        self.user().map(|s| s.role)
    }

    /// A short, non-secret description for logs and spans.
    pub fn describe(&self) -> String {
        match &self.credential {
            Credential::ApiKey { key_id, .. } => format!("key:{key_id}@{}", self.org.reference),
            Credential::Session(s) => format!("user:{}@{}", s.username, self.org.reference),
        }
    }

    /// Channels a key is confined to; None for people and for keys scoped to every channel.
    pub fn channel_scope(&self) -> Option<&[String]> {
        match &self.credential {
            Credential::ApiKey { scope, .. } if !scope.channels.iter().any(|c| c == "*") => Some(&scope.channels),
            _ => None,
        }
    }

    pub(crate) fn may_use_channel(&self, channel: &str) -> bool {
        self.channel_scope().is_none_or(|channels| channels.iter().any(|c| c == channel))
    }

    /// Whether a person sees files limited to `function` in their organisation: holders of the
    /// function and the organisation's administrators do. Keys act for the organisation as a
    /// whole and are limited by their channel scope instead.
    pub fn holds_function(&self, function: &str) -> bool {
        match &self.credential {
            Credential::ApiKey { .. } => true,
            Credential::Session(s) => {
                matches!(s.role, Role::SchoolAdmin | Role::LaAdmin | Role::SystemAdmin)
                    || s.functions.iter().any(|f| f.as_str() == function)
            }
        }
    }

    pub(crate) fn is_la_admin(&self) -> bool {
        self.role().is_some_and(|r| r.is_la_admin())
    }

    pub(crate) fn is_system_admin(&self) -> bool {
        self.role() == Some(Role::SystemAdmin)
    }
}
