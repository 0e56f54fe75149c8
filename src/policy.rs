//! The one place that answers "may this principal do this to that". Handlers and use cases
//! never compare roles or organisations themselves; they ask here.

use crate::domain::{OrgId, Organisation};
use crate::store::meta::TransferRecord;

/// Who is asking: resolved once per request from its credentials.
#[derive(Debug, Clone)]
pub struct Principal {
    pub org: Organisation,
    pub credential: Credential,
}

#[derive(Debug, Clone)]
pub enum Credential {
    ApiKey { key_id: String },
}

impl Principal {
    pub fn org_id(&self) -> OrgId {
        self.org.id
    }

    pub fn key_id(&self) -> Option<&str> {
        match &self.credential {
            Credential::ApiKey { key_id } => Some(key_id),
        }
    }

    /// A short, non-secret description for logs and spans.
    pub fn describe(&self) -> String {
        match &self.credential {
            Credential::ApiKey { key_id } => format!("key:{key_id}@{}", self.org.reference),
        }
    }
}

pub enum Action<'a> {
    Send {
        channel: &'a str,
        to: &'a Organisation,
    },
    ReadTransfer(&'a TransferRecord),
    DownloadTransfer(&'a TransferRecord),
    WithdrawTransfer(&'a TransferRecord),
    RemoveFromInbox(&'a TransferRecord),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused, and the caller must not learn that the resource exists.
    Hidden,
    /// Refused openly: the caller may know the resource exists.
    Forbidden,
    /// Refused because the request itself breaks a rule (e.g. sending to yourself).
    Invalid(&'static str),
}

pub fn decide(who: &Principal, action: Action<'_>) -> Decision {
    let me = who.org_id();
    match action {
        Action::Send { channel, to } => {
            if channel != crate::domain::ChannelSlug::GENERAL {
                Decision::Invalid("unknown_channel")
            } else if to.id == me {
                Decision::Invalid("own_organisation")
            } else {
                Decision::Allow
            }
        }
        Action::ReadTransfer(t) | Action::DownloadTransfer(t) => {
            if t.is_sent_by(me)
                || (t.is_delivered_to(me) && t.state == crate::domain::TransferState::Available)
            {
                Decision::Allow
            } else {
                Decision::Hidden
            }
        }
        Action::WithdrawTransfer(t) => {
            if t.is_sent_by(me) {
                Decision::Allow
            } else {
                Decision::Hidden
            }
        }
        Action::RemoveFromInbox(t) => {
            if t.is_delivered_to(me) {
                Decision::Allow
            } else {
                Decision::Hidden
            }
        }
    }
}
