//! Group commit for new transfers. SQLite has one writer, and with `synchronous=FULL` every
//! commit waits for the disk to flush, so one transaction per upload caps uploads at the disk's
//! flush rate whatever the number of clients, and each waits behind all the others' flushes.
//! Instead, one writer task takes every insert waiting at that moment and stores them in one
//! transaction: one flush for the group. Each caller is answered only once that transaction has
//! committed, so an acknowledged transfer is exactly as durable as before; while one group
//! commits, the next one gathers. A lone upload is a group of one and waits for nobody.

use anyhow::anyhow;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, instrument};

use super::transfers::store_together_on_sqlite as store_together;
use crate::audit::AuditEvent;
use crate::store::meta::{NewTransfer, StoreError};

/// The most transfers in one transaction: enough to absorb a burst, small enough that one
/// transaction never holds the database for long.
const MAX_GROUP: usize = 256;

/// Inserts waiting for the writer task; beyond this, callers wait to queue.
const QUEUE: usize = 1024;

struct Pending {
    transfer: NewTransfer,
    audit: AuditEvent,
    done: oneshot::Sender<Result<(), StoreError>>,
}

pub(super) struct GroupCommit {
    queue: mpsc::Sender<Pending>,
}

impl GroupCommit {
    /// Starts the writer task on the current runtime; it stops when this is dropped.
    pub fn start(pool: SqlitePool) -> Self {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(pool, rx));
        Self { queue }
    }

    /// Stores the transfer with its deliveries and audit event, and returns once the
    /// transaction holding them has committed.
    pub async fn insert(&self, transfer: NewTransfer, audit: AuditEvent) -> Result<(), StoreError> {
        let (done, answer) = oneshot::channel();
        let unavailable = || StoreError::Unavailable(anyhow!("the transfer writer has stopped"));
        self.queue.send(Pending { transfer, audit, done }).await.map_err(|_| unavailable())?;
        answer.await.map_err(|_| unavailable())?
    }
}

async fn writer(pool: SqlitePool, mut rx: mpsc::Receiver<Pending>) {
    while let Some(first) = rx.recv().await {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        commit_group(&pool, group).await;
    }
}

#[instrument(skip_all, fields(transfers = group.len()))]
async fn commit_group(pool: &SqlitePool, group: Vec<Pending>) {
    let items: Vec<(&NewTransfer, &AuditEvent)> = group.iter().map(|p| (&p.transfer, &p.audit)).collect();
    match store_together(pool, &items).await {
        Ok(()) => {
            debug!("group committed");
            for p in group {
                // A caller that went away (its client hung up) is not waited for.
                let _ = p.done.send(Ok(()));
            }
        }
        Err(StoreError::Unavailable(e)) => {
            // The database is down or locked for longer than the busy timeout: every upload in
            // the group is refused (and may be sent again), none half-stored.
            let reason = format!("{e:#}");
            for p in group {
                let _ = p.done.send(Err(StoreError::Unavailable(anyhow!("{reason}"))));
            }
        }
        Err(e) if group.len() == 1 => {
            if let Some(p) = group.into_iter().next() {
                let _ = p.done.send(Err(e));
            }
        }
        Err(e) => {
            // One bad insert (a duplicate id, say) must not fail the uploads it happened to
            // share a transaction with: each goes again in a transaction of its own.
            debug!(error = %e, "group failed; storing its transfers one by one");
            for p in group {
                let outcome = store_together(pool, &[(&p.transfer, &p.audit)]).await;
                let _ = p.done.send(outcome);
            }
        }
    }
}
