//! JSON shapes of the API's answers.

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::domain::Organisation;
use crate::store::meta::{DownloadRecord, TransferRecord};

#[derive(Serialize)]
pub struct OrgView {
    #[serde(rename = "ref")]
    pub reference: String,
    pub name: String,
}

impl From<&Organisation> for OrgView {
    fn from(o: &Organisation) -> Self {
        Self {
            reference: o.reference.to_string(),
            name: o.name.clone(),
        }
    }
}

#[derive(Serialize)]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub downloads: Option<Vec<DownloadView>>,
}

#[derive(Serialize)]
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
    pub fn new(t: &TransferRecord, downloads: Option<&[DownloadRecord]>) -> Self {
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

#[derive(Serialize)]
pub struct PageView {
    pub items: Vec<TransferView>,
    pub next_cursor: Option<String>,
}
