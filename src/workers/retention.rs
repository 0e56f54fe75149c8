//! The retention purge: files go when their channel's rule says so (see
//! [`crate::domain::retention::expiry`]), unless a legal hold covers them, and the recipients of
//! files about to expire unread are recorded as to be warned.
//!
//! Purging is crypto-shredding first: one transaction marks the transfers purged, destroys their
//! wrapped data keys and records an audit event for each, so from its commit no copy of their
//! objects anywhere can be decrypted. Deleting the objects comes after and may fail (the store
//! is down): that never undoes or blocks the purge, and the orphan sweep deletes objects whose
//! key is gone. Transfers are purged [`PURGE_CHUNK`] to a transaction, so a run stopped part way
//! (a crash, a lost lease) leaves every transfer either purged or untouched, and the next run
//! carries on.

use anyhow::Context;
use futures_util::StreamExt;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::{info, warn};

use super::lease::{self, Exclusive};
use crate::audit::{Actor, AuditEvent};
use crate::domain::retention::{self, ExpiryReason};
use crate::domain::TransferId;
use crate::service::AppState;
use crate::store::meta::{HoldId, HoldRecord, RetentionCandidate};
use crate::store::ObjectKey;

/// The lease that keeps the purge to one node at a time.
pub const LEASE: &str = "retention";

/// Who the audit trail says purged a file.
pub const ACTOR: &str = "retention";

/// Transfers purged per transaction. One commit per transfer made 100,000 purges take minutes
/// on a disk whose fsync costs ~2 ms. A chunk is one `UPDATE` and one batched audit append, a
/// few milliseconds of work, so five hundred per commit keeps each write transaction short
/// (uploads are not held up for long) while paying for one fsync per five hundred.
const PURGE_CHUNK: usize = 500;

/// Object deletes in flight at once after a chunk's commit: a local directory unlinks on the
/// blocking pool, an object store answers over the network, and neither needs them in order.
const CONCURRENT_DELETES: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Purge,
    /// Work out what a run would do and change nothing: no purge, no warning, no lease.
    DryRun,
}

/// A transfer whose time is up.
#[derive(Debug, Clone)]
pub struct Expired {
    pub transfer: TransferId,
    pub channel: String,
    pub filename: String,
    pub sender: String,
    pub expired_at: OffsetDateTime,
    pub reason: ExpiryReason,
}

#[derive(Debug, Clone)]
pub struct Warning {
    pub transfer: TransferId,
    pub channel: String,
    pub expires_at: OffsetDateTime,
    /// The recipient organisations that have not downloaded it.
    pub recipients: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct RetentionReport {
    /// Available transfers looked at.
    pub examined: u64,
    /// Purged (in a dry run: would be purged).
    pub purged: Vec<Expired>,
    /// Expired, but kept by these holds.
    pub held: Vec<(Expired, Vec<HoldId>)>,
    /// Expiry warnings recorded (in a dry run: that would be).
    pub warned: Vec<Warning>,
    /// Purged, but the object could not be deleted yet; the orphan sweep will.
    pub objects_left: Vec<TransferId>,
    /// Expired, but changed by someone else before the purge (withdrawn, purged by another
    /// node, or a hold placed a moment ago).
    pub skipped: u64,
    /// The run stopped at `retention.batch_size` purges; more are due and the next run takes them.
    pub more: bool,
}

impl RetentionReport {
    /// Nothing done and nothing due.
    pub fn is_quiet(&self) -> bool {
        self.purged.is_empty() && self.held.is_empty() && self.warned.is_empty() && self.skipped == 0
    }

    /// The report as lines for a person: what went (or would go) and why, what a hold kept, which
    /// warnings were recorded.
    pub fn describe(&self, mode: Mode) -> String {
        let r = self;
        let dry = mode == Mode::DryRun;
        let when = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        let mut out = String::new();
        if dry {
            out.push_str("dry run: nothing was changed\n");
        }
        out.push_str(&format!(
            "{} {} transfer(s) of {} examined\n",
            if dry { "would purge" } else { "purged" },
            r.purged.len(),
            r.examined
        ));
        for e in &r.purged {
            out.push_str(&format!(
                "  {}  {}  from {}  \"{}\"  expired {} ({})\n",
                e.transfer,
                e.channel,
                e.sender,
                e.filename,
                when(e.expired_at),
                e.reason
            ));
        }
        if !r.held.is_empty() {
            out.push_str(&format!("kept by a legal hold: {} expired transfer(s)\n", r.held.len()));
            for (e, holds) in &r.held {
                let ids: Vec<String> = holds.iter().map(|h| h.to_string()).collect();
                out.push_str(&format!(
                    "  {}  {}  expired {} ({}), held by {}\n",
                    e.transfer,
                    e.channel,
                    when(e.expired_at),
                    e.reason,
                    ids.join(", ")
                ));
            }
        }
        if !r.warned.is_empty() {
            out.push_str(&format!(
                "{} {} expiry warning(s)\n",
                if dry { "would record" } else { "recorded" },
                r.warned.len()
            ));
            for w in &r.warned {
                out.push_str(&format!(
                    "  {}  {}  expires {}, not yet downloaded by {}\n",
                    w.transfer,
                    w.channel,
                    when(w.expires_at),
                    w.recipients.join(", ")
                ));
            }
        }
        if !r.objects_left.is_empty() {
            out.push_str(&format!(
                "{} purged file(s) could not be deleted from the object store yet (they are unreadable already); \
                 the orphan sweep deletes them once the store answers\n",
                r.objects_left.len()
            ));
        }
        if r.skipped > 0 {
            out.push_str(&format!(
                "{} changed meanwhile (withdrawn, purged elsewhere or just held) and were left\n",
                r.skipped
            ));
        }
        if r.more {
            out.push_str("stopped at retention.batch_size; more are due and the next run takes them\n");
        }
        out
    }
}

/// One run as this node: takes the lease (unless a dry run), purges what is due, records the
/// warnings that are due, and gives the lease back.
pub async fn run_once(state: &AppState, mode: Mode) -> anyhow::Result<Exclusive<RetentionReport>> {
    run_once_as(state, lease::node_id(), mode).await
}

/// One purge run for a caller that holds the lease already (the worker of a serving node).
pub async fn run_held(state: &AppState) -> anyhow::Result<RetentionReport> {
    pass(state, Mode::Purge).await
}

/// [`run_once`] as the node `holder` (tests stand in for several nodes this way).
pub async fn run_once_as(state: &AppState, holder: &str, mode: Mode) -> anyhow::Result<Exclusive<RetentionReport>> {
    match mode {
        // A dry run changes nothing, so it needs no lease and may run beside a real one.
        Mode::DryRun => Ok(Exclusive::Ran(pass(state, mode).await?)),
        Mode::Purge => lease::run_exclusive(state, LEASE, holder, pass(state, mode)).await,
    }
}

fn covering<'a>(holds: &'a [HoldRecord], c: &RetentionCandidate) -> Vec<&'a HoldRecord> {
    use crate::domain::retention::HoldScope;
    let id = c.id.to_string();
    holds
        .iter()
        .filter(|h| match h.scope {
            HoldScope::Transfer => h.target == id,
            HoldScope::Channel => h.target == c.channel,
            HoldScope::Organisation => {
                h.org.is_some_and(|o| o == c.sender.id || c.recipients.iter().any(|r| r.org.id == o))
            }
        })
        .collect()
}

async fn pass(state: &AppState, mode: Mode) -> anyhow::Result<RetentionReport> {
    let now = state.now();
    let catalogue = state.channels();
    let holds = state.repo().list_holds(false).await.context("listing legal holds")?;
    let batch = state.settings().retention.batch_size.max(1);
    let mut report = RetentionReport::default();
    let mut after = None;
    let mut due: Vec<(RetentionCandidate, Expired)> = Vec::new();
    'pages: loop {
        let page = state.repo().retention_candidates(after, batch).await.context("listing transfers")?;
        let Some(last) = page.last() else { break };
        after = Some(last.cursor);
        for c in &page {
            report.examined += 1;
            // A channel no longer in the catalogue has no rule: its files are kept.
            let Some(channel) = catalogue.get(&c.channel) else { continue };
            let rule = &channel.retention;
            // A recipient that removed the file from its inbox is done with it and is not waited for.
            let waiting: Vec<_> = c.recipients.iter().filter(|r| r.removed_at.is_none()).collect();
            let firsts: Vec<_> = waiting.iter().map(|r| r.first_download).collect();
            let Some(expiry) = retention::expiry(c.created_at, &firsts, rule) else { continue };
            let held = covering(&holds, c);
            if expiry.at > now {
                let due = retention::warn_from(&expiry, rule).is_some_and(|from| from <= now);
                let unread: Vec<String> = waiting
                    .iter()
                    .filter(|r| r.first_download.is_none())
                    .map(|r| r.org.reference.to_string())
                    .collect();
                // A held file is not about to go, so there is nothing to warn of.
                if due && c.warned_at.is_none() && !unread.is_empty() && held.is_empty() {
                    let warning = Warning {
                        transfer: c.id,
                        channel: c.channel.clone(),
                        expires_at: expiry.at,
                        recipients: unread,
                    };
                    if mode == Mode::DryRun || record_warning(state, &warning).await? {
                        report.warned.push(warning);
                    }
                }
                continue;
            }
            let item = Expired {
                transfer: c.id,
                channel: c.channel.clone(),
                filename: c.filename.clone(),
                sender: c.sender.reference.to_string(),
                expired_at: expiry.at,
                reason: expiry.reason,
            };
            if !held.is_empty() {
                report.held.push((item, held.iter().map(|h| h.id).collect()));
                continue;
            }
            if report.purged.len() + due.len() >= batch as usize {
                report.more = true;
                break 'pages;
            }
            if mode == Mode::DryRun {
                report.purged.push(item);
                continue;
            }
            due.push((c.clone(), item));
            if due.len() >= PURGE_CHUNK {
                purge(state, std::mem::take(&mut due), &mut report).await?;
            }
        }
        if page.len() < batch as usize {
            break;
        }
    }
    purge(state, due, &mut report).await?;
    Ok(report)
}

async fn record_warning(state: &AppState, w: &Warning) -> anyhow::Result<bool> {
    let mut audit = AuditEvent::new(state.now(), Actor::system(ACTOR), "transfer.expiry_warning")
        .target("transfer", w.transfer)
        .detail("channel", &w.channel)
        .detail("expires_at", rfc3339(w.expires_at))
        .detail("recipients", &w.recipients);
    if let [only] = w.recipients.as_slice() {
        audit = audit.concerning(only);
    }
    let recorded = state.repo().record_expiry_warning(w.transfer, state.now(), &audit).await?;
    if recorded {
        info!(transfer = %w.transfer, expires_at = %rfc3339(w.expires_at), "expiry warning recorded");
    }
    Ok(recorded)
}

/// Purges `due` in one transaction (crypto-shredding: the data keys are gone at its commit),
/// then deletes the objects.
async fn purge(
    state: &AppState,
    due: Vec<(RetentionCandidate, Expired)>,
    report: &mut RetentionReport,
) -> anyhow::Result<()> {
    if due.is_empty() {
        return Ok(());
    }
    let now = state.now();
    let items: Vec<(TransferId, AuditEvent)> = due.iter().map(|(c, item)| (c.id, purge_event(now, c, item))).collect();
    let done = state
        .repo()
        .purge_transfers(&items, now)
        .await
        .with_context(|| format!("purging {} transfers", items.len()))?;
    let mut deletes = Vec::new();
    for ((c, item), purged) in due.into_iter().zip(done) {
        if !purged {
            report.skipped += 1;
            continue;
        }
        info!(transfer = %c.id, channel = %c.channel, reason = %item.reason, "transfer purged; data key destroyed");
        if c.has_file {
            deletes.push((c.id, c.object_id));
        }
        report.purged.push(item);
    }
    // The keys are gone and committed; the objects can go in any order, several at a time.
    let blobs = state.blobs();
    let mut left = futures_util::stream::iter(deletes)
        .map(|(id, object)| async move { (id, blobs.delete(ObjectKey(object)).await) })
        .buffer_unordered(CONCURRENT_DELETES);
    while let Some((id, outcome)) = left.next().await {
        if let Err(e) = outcome {
            // The key is gone, so the object is unreadable already; the orphan sweep deletes it.
            warn!(transfer = %id, error = %e, "could not delete a purged transfer's object yet; the orphan sweep will");
            report.objects_left.push(id);
        }
    }
    Ok(())
}

fn purge_event(now: OffsetDateTime, c: &RetentionCandidate, item: &Expired) -> AuditEvent {
    let recipients: Vec<String> = c.recipients.iter().map(|r| r.org.reference.to_string()).collect();
    AuditEvent::new(now, Actor::system(ACTOR), "transfer.purge")
        .target("transfer", c.id)
        .concerning(&c.sender.reference)
        .detail("channel", &c.channel)
        .detail("reason", item.reason.code())
        .detail("rule", item.reason.to_string())
        .detail("expired_at", rfc3339(item.expired_at))
        .detail("has_file", c.has_file)
        .detail("recipients", recipients)
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}
