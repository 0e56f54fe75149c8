//! A transfer as a row of a list or a step of a thread: who, when, how large, and its receipt,
//! every value already written for a person to read.

use crate::domain::records::TransferRecord;
use crate::domain::{Organisation, TransferState};
use crate::service::browse::receipts::Receipt;
use crate::service::messages::text_of;
use crate::service::AppState;
use crate::web::format;

use crate::web::format::visible_name;

pub struct Row {
    pub href: String,
    pub download: Option<String>,
    /// The file's name, or "Message" for a message with no file.
    pub name: String,
    pub channel: String,
    pub from: String,
    pub to: String,
    pub when: String,
    pub size: String,
    pub receipt: String,
    pub receipt_class: &'static str,
    /// "withdrawn", "expired"...: set when it can no longer be downloaded.
    pub state: Option<&'static str>,
    pub message: Option<String>,
}

pub fn org_label(o: &Organisation) -> String {
    format!("{} ({})", o.name, o.reference)
}

/// The recipients in a few words: the one named, or how many.
pub fn recipients_label(t: &TransferRecord) -> String {
    match t.recipients.as_slice() {
        [] => "nobody yet (held in quarantine)".to_owned(),
        [one] => org_label(&one.org),
        many => format!("{} {}", many.len(), plural_kind(t)),
    }
}

fn plural_kind(t: &TransferRecord) -> &'static str {
    if t.recipients.iter().all(|r| r.org.kind == crate::domain::OrgKind::School) {
        "schools"
    } else {
        "organisations"
    }
}

impl Row {
    pub fn new(state: &AppState, t: &TransferRecord, receipt: Receipt) -> Self {
        let (text, class) = receipt_words(t, receipt);
        let downloadable = t.has_file && t.state == TransferState::Available && t.wrapped_key.is_some();
        Self {
            href: format!("/transfers/{}", t.id),
            download: downloadable.then(|| format!("/transfers/{}/download", t.id)),
            name: if t.has_file { visible_name(&t.filename) } else { "Message".to_owned() },
            channel: state.channels().get(&t.channel).map(|c| c.name.clone()).unwrap_or_else(|| t.channel.clone()),
            from: org_label(&t.sender),
            to: recipients_label(t),
            when: format::uk_time(t.created_at),
            size: if t.has_file { format::size(t.size) } else { String::new() },
            receipt: text,
            receipt_class: class,
            state: (t.state != TransferState::Available).then(|| t.state.as_str()),
            message: text_of(state.keys(), t),
        }
    }
}

fn receipt_words(t: &TransferRecord, receipt: Receipt) -> (String, &'static str) {
    if !t.has_file {
        return ("Message".to_owned(), "govuk-tag--grey");
    }
    match receipt {
        Receipt::Received { downloaded: true } => ("Downloaded".to_owned(), "govuk-tag--grey"),
        Receipt::Received { downloaded: false } => ("New".to_owned(), "govuk-tag--blue"),
        Receipt::Sent { downloaded: 1, recipients: 1 } => ("Downloaded".to_owned(), "govuk-tag--green"),
        Receipt::Sent { recipients: 0 | 1, .. } => ("Not downloaded yet".to_owned(), "govuk-tag--yellow"),
        Receipt::Sent { downloaded, recipients } => {
            (format!("Downloaded by {downloaded} of {recipients} {}", plural_kind(t)), "govuk-tag--blue")
        }
    }
}
