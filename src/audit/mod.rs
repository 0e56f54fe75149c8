//! The audit trail: an append-only, hash-chained record of every login, transfer, routing
//! decision, purge and change of configuration, written in the same database transaction as the
//! change it records. See `docs/audit.md`.

pub mod chain;
pub mod checkpoint;
pub mod event;
pub mod tally;

pub use event::{Actor, AuditEvent, Outcome, StoredEvent};
