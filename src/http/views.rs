//! JSON shapes of the API's answers.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::crypto::KeyringHandle;
use crate::domain::records::TransferRecord;
use crate::domain::Organisation;
use crate::service::messages::text_of;
use crate::store::meta::DownloadRecord;

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrgView {
    #[serde(rename = "ref")]
    pub reference: String,
    pub name: String,
}

impl From<&Organisation> for OrgView {
    fn from(o: &Organisation) -> Self {
        Self { reference: o.reference.to_string(), name: o.name.clone() }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TransferView {
    pub id: String,
    pub channel: String,
    pub sender: OrgView,
    pub recipient: Option<OrgView>,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    pub created_at: String,
    pub state: &'static str,
    /// How many organisations it was delivered to (more than one for a distribution).
    pub recipient_count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downloads: Option<Vec<DownloadView>>,
    /// For the sender: how many of the recipient organisations have downloaded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downloaded_by: Option<usize>,
    /// False for a message sent without a file.
    pub has_file: bool,
    /// Why the file is held in its sender's quarantine, delivered to nobody.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<QuarantineView>,
    /// How it was routed, when not as addressed (an old number forwarded, sent from the quarantine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing_note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<String>,
    /// The answers to it, on the detail of a request.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub replies: Option<Vec<TransferView>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct QuarantineView {
    pub code: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DownloadView {
    pub org: String,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<String>,
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

impl TransferView {
    pub fn new(keys: &KeyringHandle, t: &TransferRecord, downloads: Option<&[DownloadRecord]>) -> Self {
        Self {
            id: t.id.to_string(),
            channel: t.channel.clone(),
            sender: (&t.sender).into(),
            recipient: t.recipients.first().map(|d| (&d.org).into()),
            filename: t.filename.clone(),
            content_type: t.content_type.clone(),
            size: t.size,
            sha256: t.sha256.to_hex(),
            created_at: rfc3339(t.created_at),
            state: t.state.as_str(),
            recipient_count: t.recipients.len(),
            message: text_of(keys, t),
            reply_to: t.reply_to.map(|r| r.to_string()),
            downloaded_by: downloads
                .map(|ds| t.recipients.iter().filter(|r| ds.iter().any(|d| d.org.id == r.org.id)).count()),
            has_file: t.has_file,
            quarantine: t.quarantine.as_ref().filter(|_| t.is_quarantined()).map(|q| QuarantineView {
                code: q.code.clone(),
                reason: q.reason.clone(),
                since: t.quarantined_at.map(rfc3339),
            }),
            routing_note: t.routing_note.clone(),
            batch: t.batch.map(|b| b.to_string()),
            replies: None,
            downloads: downloads.map(|ds| {
                ds.iter()
                    .map(|d| DownloadView {
                        org: d.org.reference.to_string(),
                        at: rfc3339(d.at),
                        range: d.range.map(|(a, b)| format!("{a}-{b}")),
                    })
                    .collect()
            }),
        }
    }
}

impl TransferView {
    pub fn with_replies(mut self, keys: &KeyringHandle, replies: &[TransferRecord]) -> Self {
        self.replies = Some(replies.iter().map(|r| TransferView::new(keys, r, None)).collect());
        self
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PageView {
    pub items: Vec<TransferView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct OrgDetailView {
    pub kind: &'static str,
    #[serde(rename = "ref")]
    pub reference: String,
    pub name: String,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urn: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub establishment_type: Option<String>,
    pub totp_required: bool,
}

impl From<&Organisation> for OrgDetailView {
    fn from(o: &Organisation) -> Self {
        Self {
            kind: o.kind.as_str(),
            reference: o.reference.to_string(),
            name: o.name.clone(),
            status: o.status.as_str(),
            urn: o.urn,
            phase: o.phase.clone(),
            establishment_type: o.establishment_type.clone(),
            totp_required: o.totp_required,
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: &'static str,
    pub org: OrgView,
    pub status: &'static str,
    pub totp_enrolled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaves_on: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_login_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub functions: Option<Vec<FunctionView>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FunctionView {
    pub function: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

impl UserView {
    pub fn new(
        u: &crate::domain::records::UserRecord,
        functions: Option<&[crate::domain::records::UserFunction]>,
    ) -> Self {
        Self {
            id: u.id.0,
            username: u.username.to_string(),
            display_name: u.display_name.clone(),
            role: u.role.as_str(),
            org: (&u.org).into(),
            status: u.status.as_str(),
            totp_enrolled: u.totp_confirmed,
            leaves_on: u.disable_on.map(rfc3339),
            last_login_at: u.last_login_at.map(rfc3339),
            functions: functions.map(|fs| {
                fs.iter()
                    .map(|f| FunctionView { function: f.function.to_string(), until: f.until.map(rfc3339) })
                    .collect()
            }),
        }
    }
}

/// Who the caller is, as the server sees them.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PrincipalView {
    pub kind: &'static str,
    pub org: OrgView,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub functions: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<crate::policy::PendingStep>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<ScopeView>,
}

impl PrincipalView {
    pub fn new(p: &crate::policy::Principal) -> Self {
        use crate::policy::Credential;
        match &p.credential {
            Credential::Session(s) => Self {
                kind: "user",
                org: (&p.org).into(),
                username: Some(s.username.to_string()),
                role: Some(s.role.as_str()),
                functions: Some(s.functions.iter().map(|f| f.to_string()).collect()),
                pending: Some(s.pending.clone()),
                key_id: None,
                scope: None,
            },
            Credential::ApiKey { key_id, scope } => Self {
                kind: "api_key",
                org: (&p.org).into(),
                username: None,
                role: None,
                functions: None,
                pending: None,
                key_id: Some(key_id.clone()),
                scope: Some(scope.into()),
            },
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ScopeView {
    pub channels: Vec<String>,
    pub send: bool,
    pub receive: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl From<&crate::domain::records::KeyScope> for ScopeView {
    fn from(s: &crate::domain::records::KeyScope) -> Self {
        Self {
            channels: s.channels.clone(),
            send: s.can_send,
            receive: s.can_receive,
            expires_at: s.expires_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub org: OrgView,
    pub scope: ScopeView,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// Set while a download alert holds the key back (`POST /api/v1/keys/{id}/resume` lets it go on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suspended_at: Option<String>,
}

impl From<&crate::store::meta::ApiKeySummary> for KeyView {
    fn from(k: &crate::store::meta::ApiKeySummary) -> Self {
        Self {
            id: k.key_id.clone(),
            name: k.name.clone(),
            org: (&k.org).into(),
            scope: (&k.scope).into(),
            created_at: rfc3339(k.created_at),
            last_used_at: k.last_used_at.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
            suspended_at: k.suspended_at.map(rfc3339),
        }
    }
}
