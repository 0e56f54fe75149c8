//! Audit rows the same on every engine: how a run of new events is chained before it is
//! written, and how a stored event is read back (the columns, their types and what an unknown
//! value becomes), so the engines cannot drift.

use anyhow::anyhow;
use sqlx::{ColumnIndex, Database, Decode, Encode, QueryBuilder, Row, Type};

use crate::audit::chain::{details_json, link_hash};
use crate::audit::{Actor, AuditEvent, Outcome, StoredEvent};
use crate::domain::clock::{from_millis, to_millis};
use crate::store::meta::AuditRecord;

pub(crate) const COLS: &str = "seq, at, actor_kind, actor_id, actor_org, client_addr, action, target_kind, target_id, \
                               org, outcome, details, prev_hash, hash";

/// Events per multi-row `INSERT` of a bulk append: 14 columns each, inside both SQLite's 32,766
/// and PostgreSQL's 65,535 bound parameters.
pub(crate) const EVENTS_PER_INSERT: usize = 64;

/// One new event with its place in the chain, ready to insert.
pub(crate) struct Link<'e> {
    pub seq: u64,
    pub event: &'e AuditEvent,
    pub details: String,
    pub prev: [u8; 32],
    pub hash: [u8; 32],
}

/// Chains `events`, in order, after the head `prev`, numbering them from `first`: the same
/// links that appending them one by one would give.
pub(crate) fn chain<'e>(first: u64, mut prev: [u8; 32], events: &[&'e AuditEvent]) -> Vec<Link<'e>> {
    let mut links = Vec::with_capacity(events.len());
    for (i, event) in events.iter().enumerate() {
        let seq = first + i as u64;
        let details = details_json(event);
        let hash = link_hash(&prev, seq, event, &details);
        links.push(Link { seq, event, details, prev, hash });
        prev = hash;
    }
    links
}

/// An `INSERT` of `links` into the trail, in the placeholders of the engine `DB`.
pub(crate) fn insert_links<'q, DB>(links: &'q [Link<'q>]) -> QueryBuilder<'q, DB>
where
    DB: Database,
    i64: Encode<'q, DB> + Type<DB>,
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    &'q [u8]: Encode<'q, DB> + Type<DB>,
{
    let mut q = QueryBuilder::new(
        "INSERT INTO audit_events (seq, at, actor_kind, actor_id, actor_org, client_addr, action, target_kind, \
         target_id, org, outcome, details, prev_hash, hash) ",
    );
    q.push_values(links, |mut b, link| {
        let event = link.event;
        b.push_bind(link.seq as i64)
            .push_bind(to_millis(event.at))
            .push_bind(event.actor.kind)
            .push_bind(event.actor.id.as_str())
            .push_bind(event.actor.org.as_deref())
            .push_bind(event.actor.client_addr.as_deref())
            .push_bind(event.action.as_str())
            .push_bind(event.target_kind.as_deref())
            .push_bind(event.target_id.as_deref())
            .push_bind(event.org.as_deref())
            .push_bind(event.outcome.as_str())
            .push_bind(link.details.as_str())
            .push_bind(&link.prev[..])
            .push_bind(&link.hash[..]);
    });
    q
}

pub(crate) fn hash32<'r, R>(row: &'r R, col: &'r str) -> anyhow::Result<[u8; 32]>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let v: Vec<u8> = row.try_get(col)?;
    v.try_into().map_err(|_| anyhow!("stored {col} is not 32 bytes"))
}

/// Reads a row as stored. An actor kind the code does not know becomes "unknown", which no longer
/// gives the stored hash, so verification reports the row as changed, as it should.
pub(crate) fn record<'r, R>(row: &'r R) -> anyhow::Result<AuditRecord>
where
    R: Row,
    &'r str: ColumnIndex<R>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let kind: String = row.try_get("actor_kind")?;
    let kind = match kind.as_str() {
        "user" => "user",
        "key" => "key",
        "system" => "system",
        "anonymous" => "anonymous",
        _ => "unknown",
    };
    let outcome: String = row.try_get("outcome")?;
    let details_json: String = row.try_get("details")?;
    let seq: i64 = row.try_get("seq")?;
    let event = AuditEvent {
        at: from_millis(row.try_get("at")?),
        actor: Actor {
            kind,
            id: row.try_get("actor_id")?,
            org: row.try_get("actor_org")?,
            client_addr: row.try_get("client_addr")?,
        },
        action: row.try_get("action")?,
        target_kind: row.try_get("target_kind")?,
        target_id: row.try_get("target_id")?,
        org: row.try_get("org")?,
        outcome: Outcome::parse(&outcome).unwrap_or(Outcome::Failed),
        details: serde_json::from_str(&details_json).unwrap_or(serde_json::Value::Null),
    };
    let stored = StoredEvent {
        seq: u64::try_from(seq)?,
        event,
        prev_hash: hash32(row, "prev_hash")?,
        hash: hash32(row, "hash")?,
    };
    Ok(AuditRecord { stored, details_json })
}
