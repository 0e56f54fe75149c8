//! Seeding many transfers straight through the library's repository (the server is stopped),
//! and timing the retention purge as the worker runs it. Each runs as its own process so the
//! database is closed, whole, before the data directory is copied or served.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::{StreamExt, TryStreamExt};
use pigeonpost::audit::{Actor, AuditEvent};
use pigeonpost::config::{Overrides, Settings};
use pigeonpost::crypto::segment::seal_to_vec;
use pigeonpost::crypto::DataKey;
use pigeonpost::domain::records::NewTransfer;
use pigeonpost::domain::{ChannelSlug, FileName, OrgId, OrgRef, Sha256Digest, TransferId};
use pigeonpost::service::AppState;
use pigeonpost::store::ObjectKey;
use pigeonpost::workers::lease::Exclusive;
use pigeonpost::workers::retention::{run_once, Mode};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The library's state for `data_dir`, with the same settings (PIGEONPOST_* variables) the
/// server gets.
async fn state_for(data_dir: PathBuf) -> anyhow::Result<AppState> {
    let settings = Settings::load(None, &Overrides { data_dir: Some(data_dir), listen: None })?;
    Ok(pigeonpost::service::startup::build(settings).await?.0)
}

async fn org(state: &AppState, reference: &str) -> anyhow::Result<OrgId> {
    let r: OrgRef = reference.parse().map_err(|e| anyhow::anyhow!("{reference}: {e:?}"))?;
    Ok(state.repo().find_organisation(&r).await?.with_context(|| format!("no organisation {reference}"))?.id)
}

#[derive(Serialize)]
pub struct Seeded {
    pub transfers: u64,
    pub seconds: f64,
}

/// Transfers per `insert_transfers` call: on SQLite, one transaction each.
const SEED_CHUNK: u64 = 5_000;

/// Objects written at once while a chunk is prepared.
const OBJECT_WRITERS: usize = 16;

/// `count` transfers on `general` from `sender` to both `recipients`' inboxes, each with a real
/// (empty, sealed) object and a wrapped key, created `days_old` days ago. They go in through
/// the repository's bulk insert (`insert_transfers`): the same rows, deliveries and chained
/// audit events as uploads, committed [`SEED_CHUNK`] at a time.
pub async fn seed(
    data_dir: PathBuf,
    count: u64,
    days_old: i64,
    sender: &str,
    recipients: &[&str],
) -> anyhow::Result<Seeded> {
    let state = state_for(data_dir).await?;
    let sender = org(&state, sender).await?;
    let mut to = Vec::new();
    for r in recipients {
        to.push(org(&state, r).await?);
    }
    let start = Instant::now();
    let base = state.now() - time::Duration::days(days_old);
    let mut first = 0;
    while first < count {
        let last = (first + SEED_CHUNK).min(count);
        let items: Vec<(NewTransfer, AuditEvent)> = futures_util::stream::iter(first..last)
            .map(|i| one(&state, sender, &to, i, base + time::Duration::milliseconds(i as i64)))
            .buffered(OBJECT_WRITERS)
            .try_collect()
            .await?;
        state.repo().insert_transfers(&items).await?;
        first = last;
    }
    Ok(Seeded { transfers: count, seconds: start.elapsed().as_secs_f64() })
}

/// The sealed object of one seeded transfer, written to the blob store, and its row and event.
async fn one(
    state: &AppState,
    sender: OrgId,
    to: &[OrgId],
    i: u64,
    at: time::OffsetDateTime,
) -> anyhow::Result<(NewTransfer, AuditEvent)> {
    let object_id = Uuid::new_v4();
    let dek = DataKey::generate();
    let mut prefix = [0u8; 7];
    rand::thread_rng().fill_bytes(&mut prefix);
    let object = seal_to_vec(&dek, object_id.as_bytes(), prefix, b"");
    let mut writer = state.blobs().begin(ObjectKey(object_id)).await?;
    writer.write(&object).await?;
    writer.commit().await?;
    let id = TransferId::new_random();
    let new = NewTransfer {
        id,
        object_id,
        channel: ChannelSlug::parse("general").context("channel slug")?,
        sender,
        sender_key_id: None,
        recipients: to.to_vec(),
        filename: Some(FileName::parse(&format!("seeded-{i}.txt"))?),
        content_type: "text/plain".to_owned(),
        size: 0,
        sha256: Sha256Digest(Sha256::digest(b"").into()),
        wrapped_key: Some(state.keys().wrap(&dek, object_id.as_bytes())),
        created_at: at,
        message: None,
        reply_to: None,
        quarantine: None,
        routing_note: None,
        batch: None,
    };
    let audit = AuditEvent::new(at, Actor::system("bench-seed"), "transfer.upload")
        .target("transfer", id)
        .detail("channel", "general")
        .detail("recipients", to.len());
    Ok((new, audit))
}

#[derive(Serialize)]
pub struct Purged {
    pub purged: u64,
    pub runs: u64,
    pub seconds: f64,
    pub batch_size: u32,
    pub finished: bool,
}

/// Runs the retention purge (`run_once`, as the worker and `pigeonpost retention run` do) again
/// and again until nothing more is due, within `limit`.
pub async fn purge(data_dir: PathBuf, limit: Duration) -> anyhow::Result<Purged> {
    let state = state_for(data_dir).await?;
    let start = Instant::now();
    let (mut purged, mut runs, mut finished) = (0u64, 0u64, false);
    while start.elapsed() < limit {
        let report = match run_once(&state, Mode::Purge).await? {
            Exclusive::Ran(r) => r,
            Exclusive::Busy { holder, .. } => anyhow::bail!("{holder} holds the retention lease"),
        };
        runs += 1;
        purged += report.purged.len() as u64;
        if !report.more {
            finished = true;
            break;
        }
    }
    Ok(Purged {
        purged,
        runs,
        seconds: start.elapsed().as_secs_f64(),
        batch_size: state.settings().retention.batch_size,
        finished,
    })
}
