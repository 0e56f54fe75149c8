//! Batch drops: many files at once (an automated job's 300 checking files, as a multipart form
//! or one zip), each routed on its own to the school its name starts with.
//!
//! Nothing is dropped and nothing is guessed. Every file ends in exactly one of three places,
//! and the report says which and why:
//! - delivered to the school named at the start of its file name (or to the school that carries
//!   a closed one on);
//! - held in the sender's quarantine, stored but delivered to nobody, when it cannot be routed
//!   (no number, an ambiguous name, an unknown or closed school, a type or content the channel
//!   refuses), until the sender chooses a school for it or discards it;
//! - refused, when it cannot be kept safely at all (an unsafe name, a zip bomb, too large):
//!   then nothing of it is stored.

mod form;
mod recent;
mod zip_batch;

use futures_util::Stream;
use serde::Serialize;
use tracing::{instrument, warn};

use super::addressing::{forwarded, school_by_key};
use super::upload::{commit_transfer, sending_on, size_limit, store_object, type_refused, Sniffing};
use super::ServiceError;
use crate::audit::AuditEvent;
use crate::domain::channel::{Channel, Recipients};
use crate::domain::records::{BatchId, Quarantine};
use crate::domain::routing::{route_by_name, Unroutable};
use crate::domain::{sniff, ChannelSlug, FileName, OrgKind, Organisation};
use crate::policy::Principal;
use crate::service::AppState;
use crate::store::meta::NewBatch;

pub use crate::store::meta::SentBy;
pub use form::BatchForm;
pub use recent::{recent, Counts, RecentBatch, RecentPage};
pub use zip_batch::place_zip;

/// Where one file of a batch went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, PartialEq, Eq)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Placement {
    Delivered {
        transfer: String,
        /// The school's DfE number.
        to: String,
        to_name: String,
        /// The name the school sees.
        filename: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Quarantined {
        transfer: String,
        code: String,
        reason: String,
    },
    Refused {
        code: String,
        reason: String,
    },
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FileReport {
    /// The file's name as sent (for a zip, its path inside the archive).
    pub name: String,
    #[serde(flatten)]
    pub placement: Placement,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BatchReport {
    pub batch: String,
    pub channel: String,
    pub files: usize,
    pub delivered: usize,
    pub quarantined: usize,
    pub refused: usize,
    pub results: Vec<FileReport>,
}

/// One batch being placed, file by file. Cheap to clone: a zip is read on a blocking thread.
#[derive(Clone)]
pub struct Batch {
    state: AppState,
    who: Principal,
    channel: Channel,
    slug: ChannelSlug,
    id: BatchId,
    limit: u64,
}

/// Where a file is to go, decided from its name before its bytes are read.
enum Destination {
    School { org: Organisation, filename: FileName, note: Option<String> },
    Quarantine(Quarantine),
}

fn quarantine(code: &str, reason: impl Into<String>) -> Destination {
    Destination::Quarantine(Quarantine { code: code.to_owned(), reason: reason.into() })
}

pub fn refused(name: String, code: &str, reason: impl Into<String>) -> FileReport {
    FileReport { name, placement: Placement::Refused { code: code.to_owned(), reason: reason.into() } }
}

impl Batch {
    /// Checks that the principal may send on the channel and that its files are routed by name.
    pub fn begin(state: &AppState, who: &Principal, slug: ChannelSlug) -> Result<Batch, ServiceError> {
        let catalogue = state.channels();
        let (channel, route) = sending_on(&catalogue, who, &slug)?;
        if route.to != Recipients::NamedSchool {
            return Err(ServiceError::unprocessable(
                "batches_not_supported",
                format!(
                    "{} is not routed by file name, so it takes no batches: send its files one at a time \
                     with POST /api/v1/transfers (batches are for channels such as checking-files)",
                    channel.name
                ),
            ));
        }
        Ok(Batch {
            state: state.clone(),
            who: who.clone(),
            limit: size_limit(state, channel),
            channel: channel.clone(),
            slug,
            id: uuid::Uuid::new_v4(),
        })
    }

    pub fn id(&self) -> BatchId {
        self.id
    }

    /// Records the batch, before its first file is placed.
    pub async fn record(&self) -> Result<(), ServiceError> {
        let new = NewBatch {
            id: self.id,
            channel: self.slug.clone(),
            sender: self.who.org_id(),
            sender_key_id: self.who.key_id().map(str::to_owned),
            sender_user: self.who.user_id(),
            created_at: self.state.now(),
        };
        Ok(self.state.repo().create_batch(&new).await?)
    }

    /// Stores one file and delivers or quarantines it. Failures are part of the report, never
    /// an error: one bad file does not stop the others.
    #[instrument(skip_all, fields(batch = %self.id))]
    pub async fn place<S, E>(&self, name: String, file_name: FileName, body: S) -> FileReport
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let destination = match self.destination(&file_name).await {
            Ok(d) => d,
            Err(e) => return self.failed(name, e),
        };
        let stored = match store_object(&self.state, body, self.limit, Sniffing::Keep, None).await {
            Ok(stored) => stored,
            Err(e) => return self.failed(name, e),
        };
        let mut destination = destination;
        if let (Destination::School { .. }, Some(ext), true) = (&destination, file_name.extension(), self.channel.sniff)
        {
            if let Err(mismatch) = sniff::check(&ext, &stored.head) {
                destination = quarantine("content_mismatch", mismatch.to_string());
            }
        }
        let mut concerning = None;
        let (mut new, quarantined) = match destination {
            Destination::School { org, filename, note } => {
                concerning = Some(org.reference.to_string());
                let mut new = stored.into_transfer(&self.state, &self.who, self.slug.clone(), filename, [org.id]);
                new.routing_note = note;
                (new, false)
            }
            Destination::Quarantine(q) => {
                let mut new = stored.into_transfer(&self.state, &self.who, self.slug.clone(), file_name, []);
                new.quarantine = Some(q);
                (new, true)
            }
        };
        new.batch = Some(self.id);
        let action = if quarantined { "batch.quarantine_file" } else { "batch.deliver_file" };
        let mut audit = AuditEvent::by(&self.who, self.state.now(), action);
        if let Some(org) = concerning {
            audit = audit.concerning(org);
        }
        let record = match commit_transfer(&self.state, new, audit).await {
            Ok(record) => record,
            Err(e) => return self.failed(name, e),
        };
        let transfer = record.id.to_string();
        let placement = match (quarantined, record.quarantine, record.recipients.first()) {
            (true, Some(q), _) => Placement::Quarantined { transfer, code: q.code, reason: q.reason },
            (_, _, Some(d)) => Placement::Delivered {
                transfer,
                to: d.org.reference.to_string(),
                to_name: d.org.name.clone(),
                filename: record.filename,
                note: record.routing_note,
            },
            _ => return self.failed(name, ServiceError::Internal(anyhow::anyhow!("stored transfer lost its place"))),
        };
        FileReport { name, placement }
    }

    async fn destination(&self, name: &FileName) -> Result<Destination, ServiceError> {
        if !self.channel.accepts_extension(name) {
            return Ok(quarantine("type_not_allowed", type_refused(&self.channel)));
        }
        let routed = match route_by_name(name.as_str()) {
            Ok(routed) => routed,
            Err(e @ Unroutable::NoNumber) => return Ok(quarantine("no_number", e.to_string())),
            Err(e @ Unroutable::Ambiguous { .. }) => return Ok(quarantine("ambiguous_name", e.to_string())),
        };
        let Some(school) = school_by_key(&self.state, routed.key).await?.filter(|o| o.kind == OrgKind::School) else {
            return Ok(quarantine(
                "unknown_school",
                format!(
                    "the name starts with {}, which is not a school here: check the number, or choose the school \
                     for this file from the quarantine",
                    routed.key
                ),
            ));
        };
        let (org, note) = forwarded(&self.state, school).await?;
        if !org.status.can_receive() {
            return Ok(quarantine(
                "school_closed",
                format!(
                    "{} ({}) is closed and no one school carries it on: choose the school for this file from the \
                     quarantine, or discard it",
                    org.reference, org.name
                ),
            ));
        }
        let filename = if self.channel.strip_number_prefix {
            FileName::parse(&routed.stripped_name).unwrap_or_else(|_| name.clone())
        } else {
            name.clone()
        };
        Ok(Destination::School { org, filename, note })
    }

    fn failed(&self, name: String, e: ServiceError) -> FileReport {
        let (code, reason) = match &e {
            ServiceError::TooLarge { .. } => ("too_large", format!("{e}: send it on its own, or split it")),
            ServiceError::BodyAborted(_) => ("incomplete", format!("{e}: send the batch again")),
            ServiceError::Unavailable(_) | ServiceError::Internal(_) => {
                warn!(batch = %self.id, error = format!("{e:#}"), "a batch file could not be stored");
                ("not_stored", "the service could not store this file just now: send it again".to_owned())
            }
            other => ("refused", other.to_string()),
        };
        refused(name, code, reason)
    }

    /// Stores the report with the batch and returns it.
    pub async fn finish(&self, results: Vec<FileReport>) -> Result<BatchReport, ServiceError> {
        let count = |f: fn(&Placement) -> bool| results.iter().filter(|r| f(&r.placement)).count();
        let report = BatchReport {
            batch: self.id.to_string(),
            channel: self.slug.to_string(),
            files: results.len(),
            delivered: count(|p| matches!(p, Placement::Delivered { .. })),
            quarantined: count(|p| matches!(p, Placement::Quarantined { .. })),
            refused: count(|p| matches!(p, Placement::Refused { .. })),
            results,
        };
        let json = serde_json::to_string(&report).map_err(|e| ServiceError::Internal(e.into()))?;
        let audit = AuditEvent::by(&self.who, self.state.now(), "batch.receive")
            .target("batch", self.id)
            .detail("channel", self.slug.as_str())
            .detail("files", report.files)
            .detail("delivered", report.delivered)
            .detail("quarantined", report.quarantined)
            .detail("refused", report.refused);
        self.state.repo().finish_batch(self.id, &json, self.state.now(), &audit).await?;
        Ok(report)
    }
}

/// A batch's stored report, for its sender.
pub async fn report(state: &AppState, who: &Principal, id: BatchId) -> Result<serde_json::Value, ServiceError> {
    let batch = state.repo().get_batch(id).await?.ok_or(ServiceError::NotFound)?;
    super::authority::enforce(crate::policy::decide(who, crate::policy::Action::ViewBatch { sender: batch.sender }))?;
    match batch.report {
        Some(json) => serde_json::from_str(&json).map_err(|e| ServiceError::Internal(e.into())),
        None => Ok(serde_json::json!({
            "batch": batch.id.to_string(),
            "channel": batch.channel,
            "complete": false,
            "message": "this batch was not read to its end; its files that were placed are in your sent items and quarantine",
        })),
    }
}
