//! What one audit event says: who did what to which thing, with what outcome.

use serde::Serialize;
use time::OffsetDateTime;

use crate::domain::principal::{Credential, Principal};

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// `user`, `key`, `system` (the server itself: workers, start-up) or `anonymous` (a failed
    /// login names the username it tried in the details, never as the actor).
    pub kind: &'static str,
    /// The user's username, the key's id, or the worker's name.
    pub id: String,
    /// The actor's organisation (`825/2001`, `smst`), when it has one.
    pub org: Option<String>,
    pub client_addr: Option<String>,
}

impl Actor {
    pub fn of(who: &Principal, client_addr: Option<String>) -> Actor {
        let (kind, id) = match &who.credential {
            Credential::ApiKey { key_id, .. } => ("key", key_id.clone()),
            Credential::Session(s) => ("user", s.username.to_string()),
        };
        Actor { kind, id, org: Some(who.org.reference.to_string()), client_addr }
    }

    /// The server acting on its own (a worker, a command-line tool run by the operator).
    pub fn system(name: &str) -> Actor {
        Actor { kind: "system", id: name.to_owned(), org: None, client_addr: None }
    }

    /// The operator, through the command-line tool on a server.
    pub fn operator() -> Actor {
        Actor::system("operator")
    }

    /// `who`, or the operator when the call comes from the command line.
    pub fn of_opt(who: Option<&Principal>) -> Actor {
        who.map_or_else(Actor::operator, |w| Actor::of(w, w.client_addr.clone()))
    }

    pub fn anonymous(client_addr: Option<String>) -> Actor {
        Actor { kind: "anonymous", id: String::new(), org: None, client_addr }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The change was made.
    Ok,
    /// The policy or a rule of the exchange refused it.
    Refused,
    /// It was attempted and failed (a backend error).
    Failed,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(Outcome::Ok),
            "refused" => Some(Outcome::Refused),
            "failed" => Some(Outcome::Failed),
            _ => None,
        }
    }
}

/// An event before it is appended: the store gives it its sequence number and hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub at: OffsetDateTime,
    pub actor: Actor,
    /// Dotted and stable: `transfer.upload`, `session.login`, `quarantine.route` ...
    pub action: String,
    /// What it was done to: a kind (`transfer`, `user`, `key`, `organisation`, `channel` ...)
    /// and its public id.
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    /// The organisation the event concerns, so a school administrator can be shown their own
    /// school's events: the recipient of a download, the school whose user changed, ...
    pub org: Option<String>,
    pub outcome: Outcome,
    /// Anything else worth keeping, as a JSON object. Never a secret or file content.
    pub details: serde_json::Value,
}

impl AuditEvent {
    /// An event of `who`'s doing, from the address their request came from.
    pub fn by(who: &Principal, at: OffsetDateTime, action: &str) -> AuditEvent {
        AuditEvent::new(at, Actor::of(who, who.client_addr.clone()), action)
    }

    pub fn new(at: OffsetDateTime, actor: Actor, action: &str) -> AuditEvent {
        AuditEvent {
            at,
            actor,
            action: action.to_owned(),
            target_kind: None,
            target_id: None,
            org: None,
            outcome: Outcome::Ok,
            details: serde_json::Value::Object(Default::default()),
        }
    }

    pub fn target(mut self, kind: &str, id: impl ToString) -> Self {
        self.target_kind = Some(kind.to_owned());
        self.target_id = Some(id.to_string());
        self
    }

    pub fn concerning(mut self, org: impl ToString) -> Self {
        self.org = Some(org.to_string());
        self
    }

    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    /// Adds one detail; values that do not serialise are left out rather than failing the change.
    pub fn detail(mut self, key: &str, value: impl Serialize) -> Self {
        if let (serde_json::Value::Object(map), Ok(v)) = (&mut self.details, serde_json::to_value(value)) {
            map.insert(key.to_owned(), v);
        }
        self
    }
}

/// An event as stored, with its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: u64,
    pub event: AuditEvent,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}
