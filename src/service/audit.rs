//! The audit trail's use cases: searching it, verifying the chain and its checkpoints, taking a
//! checkpoint, and watching downloads for the pattern of a mass theft.

use std::io::{BufRead, Write};
use std::path::Path;

use time::Duration;
use tracing::{info, warn};

use super::authority::enforce;
use super::ServiceError;
use crate::audit::chain::{Break, Verifier};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::tally::RefusalKind;
use crate::audit::{Actor, AuditEvent, Outcome};
use crate::domain::UserStatus;
use crate::policy::{self, Action, Credential, Principal};
use crate::service::AppState;
use crate::store::meta::{AuditFilter, AuditRecord};

pub const MAX_PAGE: u32 = 1000;
const VERIFY_PAGE: u32 = 2000;

/// Events the principal may see, newest first. A school administrator sees only events about
/// their own school, whatever `org` they ask for.
pub async fn search(
    state: &AppState,
    who: &Principal,
    mut filter: AuditFilter,
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<AuditRecord>, ServiceError> {
    if policy::decide(who, Action::ViewAudit { org: None }) != policy::Decision::Allow {
        enforce(policy::decide(who, Action::ViewAudit { org: Some(&who.org) }))?;
        filter.org = Some(who.org.reference.to_string());
    }
    Ok(state.repo().search_audit(&filter, before, limit.clamp(1, MAX_PAGE)).await?)
}

/// What `audit verify` found.
#[derive(Debug)]
pub struct Verification {
    pub count: u64,
    pub head: (u64, [u8; 32]),
    /// The first broken link, if any.
    pub broken: Option<Break>,
    pub checkpoints: Option<CheckpointCheck>,
}

#[derive(Debug, Default)]
pub struct CheckpointCheck {
    pub checked: usize,
    /// Problems, each a sentence naming the checkpoint.
    pub problems: Vec<String>,
}

impl Verification {
    pub fn holds(&self) -> bool {
        self.broken.is_none() && self.checkpoints.as_ref().is_none_or(|c| c.problems.is_empty())
    }
}

/// Recomputes the whole chain and, when given, checks it still holds every checkpointed head.
pub async fn verify(state: &AppState, checkpoints: Option<&Path>) -> Result<Verification, ServiceError> {
    let mut expected = match checkpoints {
        Some(path) => Some(read_checkpoints(state, path)?),
        None => None,
    };
    let mut verifier = Verifier::new();
    let mut broken = None;
    let mut after = 0;
    'pages: loop {
        let page = state.repo().audit_from(after, VERIFY_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.stored.seq;
        for record in &page {
            if let Err(b) = verifier.check(&record.stored, &record.details_json) {
                broken = Some(b);
                break 'pages;
            }
            if let Some((map, check)) = expected.as_mut() {
                if let Some(hash) = map.remove(&record.stored.seq) {
                    check.checked += 1;
                    if hash != record.stored.hash {
                        check.problems.push(format!(
                            "checkpoint {} does not match: the event stored there now has another hash, so the \
                             chain was rewritten",
                            record.stored.seq
                        ));
                    }
                }
            }
        }
    }
    let head = verifier.head();
    let checkpoints = expected.map(|(map, mut check)| {
        if broken.is_none() {
            for seq in map.keys() {
                check.problems.push(format!(
                    "checkpoint {seq} is past the end of the chain (which ends at {}): events were removed",
                    head.0
                ));
            }
        }
        check
    });
    Ok(Verification { count: verifier.count, head, broken, checkpoints })
}

type Expected = (std::collections::BTreeMap<u64, [u8; 32]>, CheckpointCheck);

/// Reads a checkpoint file, keeping each head whose seal holds; a seal that does not hold is a
/// problem in itself (someone wrote the file who does not have the keyring).
fn read_checkpoints(state: &AppState, path: &Path) -> Result<Expected, ServiceError> {
    let file = std::fs::File::open(path).map_err(|e| {
        ServiceError::bad_request("checkpoints_unreadable", format!("cannot read {}: {e}", path.display()))
    })?;
    let keys = state.keys().derived_keys(crate::audit::checkpoint::KEY_LABEL);
    let mut map = std::collections::BTreeMap::new();
    let mut check = CheckpointCheck::default();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| ServiceError::Internal(e.into()))?;
        if line.trim().is_empty() {
            continue;
        }
        let Ok(c) = serde_json::from_str::<Checkpoint>(&line) else {
            check.problems.push(format!("line {} of the checkpoint file is not a checkpoint", n + 1));
            continue;
        };
        let Some((_, key)) = keys.iter().find(|(id, _)| *id == c.kid) else {
            check
                .problems
                .push(format!("checkpoint {} was sealed with master key {}, which this keyring lacks", c.seq, c.kid));
            continue;
        };
        match c.open(key) {
            Some(hash) => {
                map.insert(c.seq, hash);
            }
            None => {
                check.problems.push(format!("checkpoint {} (line {}) has a broken seal: it was altered", c.seq, n + 1))
            }
        }
    }
    Ok((map, check))
}

/// Seals the chain's head and appends it to the checkpoint file. None when the chain is empty
/// or has not moved since the last checkpoint this process took.
pub async fn checkpoint(state: &AppState, last: Option<u64>) -> Result<Option<Checkpoint>, ServiceError> {
    let (seq, hash) = state.repo().audit_head().await?;
    info!(seq, hash = %hex::encode(hash), "audit chain head");
    if seq == 0 || last == Some(seq) {
        return Ok(None);
    }
    let keys = state.keys().derived_keys(crate::audit::checkpoint::KEY_LABEL);
    let (kid, key) = keys.first().ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("the keyring is empty")))?;
    let c = Checkpoint::seal(seq, &hash, state.now(), kid, key);
    let path = state.settings().checkpoint_path();
    let line = serde_json::to_string(&c).map_err(|e| ServiceError::Internal(e.into()))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("cannot open {}: {e}", path.display())))?;
    writeln!(file, "{line}").and_then(|_| file.sync_data()).map_err(|e| ServiceError::Internal(e.into()))?;
    Ok(Some(c))
}

/// After a download: when its downloader has passed the configured files or bytes within the
/// window, raises one alert for the LA and, if configured, stops the downloader until an
/// administrator clears it. Never fails the download that tipped it over.
pub async fn watch_downloads(state: &AppState, who: &Principal) {
    if let Err(e) = check_downloads(state, who).await {
        warn!(error = %e, "could not check downloads against the alert thresholds");
    }
}

async fn check_downloads(state: &AppState, who: &Principal) -> Result<(), ServiceError> {
    let s = &state.settings().audit;
    let since = state.now() - Duration::seconds(s.download_alert_window_secs as i64);
    let actor = Actor::of(who, who.client_addr.clone());
    let (files, bytes) = state.repo().recent_activity(actor.kind, &actor.id, "transfer.download", since).await?;
    if files <= s.download_alert_files && bytes <= s.download_alert_bytes {
        return Ok(());
    }
    let alert = AuditEvent::by(who, state.now(), "alert.mass_download")
        .outcome(Outcome::Refused)
        .concerning(&who.org.reference)
        .detail("files", files)
        .detail("bytes", bytes)
        .detail("window_secs", s.download_alert_window_secs)
        .detail("suspended", s.download_alert_suspend);
    if !state.repo().append_once_since(&alert, since).await? {
        return Ok(());
    }
    warn!(who = %who.describe(), files, bytes, "download alert: more than the thresholds within the window");
    if !s.download_alert_suspend {
        return Ok(());
    }
    let stop = |action: &str| {
        AuditEvent::new(state.now(), Actor::system("download alert"), action).concerning(&who.org.reference)
    };
    match &who.credential {
        Credential::ApiKey { key_id, .. } => {
            let audit = stop("key.suspend").target("key", key_id);
            state.repo().set_api_key_suspended(key_id, true, state.now(), &audit).await?;
        }
        Credential::Session(s) => {
            let audit = stop("user.disable").target("user", s.user_id.0).detail("reason", "download alert");
            let reason = Some("download alert: an administrator must re-enable the account");
            state.repo().set_user_status(s.user_id, UserStatus::Disabled, reason, None, state.now(), &audit).await?;
        }
    }
    Ok(())
}

/// Lets a key suspended by a download alert go on.
pub async fn resume_key(state: &AppState, who: &Principal, key_id: &str) -> Result<(), ServiceError> {
    let key = state.repo().find_api_key(key_id).await?.ok_or(ServiceError::NotFound)?;
    enforce(policy::decide(who, Action::ManageKeys(&key.org)))?;
    let audit = AuditEvent::by(who, state.now(), "key.resume").target("key", key_id).concerning(&key.org.reference);
    if !state.repo().set_api_key_suspended(key_id, false, state.now(), &audit).await? {
        return Err(ServiceError::Conflict { code: "not_suspended", message: "this key is not suspended".into() });
    }
    Ok(())
}

/// Records a refused request that came without credentials: at once if it is the first of its
/// kind from its address in the window, else as part of a count (see [`crate::audit::tally`]).
/// Counts of windows that closed meanwhile are written first. Never fails the request.
pub async fn record_anonymous_refusal(state: &AppState, addr: Option<String>, kind: RefusalKind, path: String) {
    let now = state.now();
    let admitted = state.refusals().admit(addr.as_deref(), &kind, now);
    append_all(state, admitted.closed).await;
    if admitted.write {
        append_all(state, vec![refused(AuditEvent::new(now, Actor::anonymous(addr), "request.refused"), kind, path)])
            .await;
    }
}

/// Records a refused request of someone signed in, one event each.
pub async fn record_refusal(state: &AppState, who: &Principal, kind: RefusalKind, path: String) {
    append_all(state, vec![refused(AuditEvent::by(who, state.now(), "request.refused"), kind, path)]).await;
}

fn refused(event: AuditEvent, kind: RefusalKind, path: String) -> AuditEvent {
    event
        .outcome(Outcome::Refused)
        .detail("method", kind.method)
        .detail("route", kind.route)
        .detail("path", path)
        .detail("status", kind.status)
        .detail("code", kind.code)
}

/// Writes the counts of refused anonymous requests whose windows have closed, or of every open
/// window when `stopping` (the server is shutting down, and the counts must not be lost).
pub async fn flush_refusals(state: &AppState, stopping: bool) {
    let now = state.now();
    let closed = if stopping { state.refusals().close_all(now) } else { state.refusals().close_due(now) };
    append_all(state, closed).await;
}

async fn append_all(state: &AppState, events: Vec<AuditEvent>) {
    for event in events {
        if let Err(e) = state.repo().append_audit(&event).await {
            warn!(error = %e, "could not record a refused request in the audit trail");
        }
    }
}
