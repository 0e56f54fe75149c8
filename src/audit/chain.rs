//! The hash chain: each event's hash covers the previous event's hash and the event's
//! canonical bytes, so editing, deleting, inserting or reordering any stored event breaks every
//! link after it. `docs/audit.md` specifies the canonical form byte for byte.

use sha2::{Digest, Sha256};

use super::event::{AuditEvent, StoredEvent};
use crate::domain::clock::to_millis;

/// The previous hash of the first event.
pub const GENESIS: [u8; 32] = [0; 32];

const DOMAIN: &[u8] = b"pigeonpost-audit-v1\0";

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

/// The details as they are stored and hashed: compact JSON with keys in sorted order.
pub fn details_json(event: &AuditEvent) -> String {
    // serde_json's map keeps keys sorted, so the same details always give the same text.
    serde_json::to_string(&event.details).unwrap_or_else(|_| "{}".to_owned())
}

/// The bytes an event's hash covers, besides the previous hash.
pub fn canonical(seq: u64, event: &AuditEvent, details_json: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + details_json.len());
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&to_millis(event.at).to_be_bytes());
    put_str(&mut out, event.actor.kind);
    put_str(&mut out, &event.actor.id);
    put_opt(&mut out, event.actor.org.as_deref());
    put_opt(&mut out, event.actor.client_addr.as_deref());
    put_str(&mut out, &event.action);
    put_opt(&mut out, event.target_kind.as_deref());
    put_opt(&mut out, event.target_id.as_deref());
    put_opt(&mut out, event.org.as_deref());
    put_str(&mut out, event.outcome.as_str());
    put_str(&mut out, details_json);
    out
}

pub fn link_hash(prev: &[u8; 32], seq: u64, event: &AuditEvent, details_json: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(canonical(seq, event, details_json));
    h.finalize().into()
}

/// The first place a chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Break {
    #[error("event {seq} is missing: the chain jumps from {prev} to {seq_found}")]
    Gap { seq: u64, prev: u64, seq_found: u64 },
    #[error("event {seq} does not follow the event before it: its stored previous hash is not that event's hash")]
    Unlinked { seq: u64 },
    #[error("event {seq} was changed: its content no longer gives its stored hash")]
    Altered { seq: u64 },
}

impl Break {
    pub fn seq(&self) -> u64 {
        match self {
            Break::Gap { seq, .. } | Break::Unlinked { seq } | Break::Altered { seq } => *seq,
        }
    }
}

/// Walks a chain in order, from its first event or from a known position.
pub struct Verifier {
    prev_seq: u64,
    prev_hash: [u8; 32],
    pub count: u64,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    pub fn new() -> Self {
        Self { prev_seq: 0, prev_hash: GENESIS, count: 0 }
    }

    /// Checks the next stored event, with the details text exactly as stored.
    pub fn check(&mut self, stored: &StoredEvent, details_json: &str) -> Result<(), Break> {
        let expected_seq = self.prev_seq + 1;
        if stored.seq != expected_seq {
            return Err(Break::Gap { seq: expected_seq, prev: self.prev_seq, seq_found: stored.seq });
        }
        if stored.prev_hash != self.prev_hash {
            return Err(Break::Unlinked { seq: stored.seq });
        }
        if link_hash(&stored.prev_hash, stored.seq, &stored.event, details_json) != stored.hash {
            return Err(Break::Altered { seq: stored.seq });
        }
        self.prev_seq = stored.seq;
        self.prev_hash = stored.hash;
        self.count += 1;
        Ok(())
    }

    /// The last event checked: its sequence number and hash.
    pub fn head(&self) -> (u64, [u8; 32]) {
        (self.prev_seq, self.prev_hash)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::audit::event::{Actor, Outcome};

    fn event(n: u32) -> AuditEvent {
        AuditEvent::new(datetime!(2026-03-02 09:00 UTC), Actor::system("test"), "transfer.upload")
            .target("transfer", format!("t{n}"))
            .concerning("825/2001")
            .detail("size", n)
    }

    fn chain(n: u32) -> Vec<(StoredEvent, String)> {
        let mut prev = GENESIS;
        (1..=n)
            .map(|i| {
                let e = event(i);
                let d = details_json(&e);
                let hash = link_hash(&prev, i as u64, &e, &d);
                let stored = StoredEvent { seq: i as u64, event: e, prev_hash: prev, hash };
                prev = hash;
                (stored, d)
            })
            .collect()
    }

    fn verify(events: &[(StoredEvent, String)]) -> Result<u64, Break> {
        let mut v = Verifier::new();
        for (s, d) in events {
            v.check(s, d)?;
        }
        Ok(v.count)
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn editing_any_field_breaks_the_chain_at_that_event() {
        let edits: [fn(&mut StoredEvent, &mut String); 6] = [
            |s, _| s.event.action = "transfer.download".into(),
            |s, _| s.event.actor.id = "someone".into(),
            |s, _| s.event.outcome = Outcome::Refused,
            |s, _| s.event.org = None,
            |s, _| s.event.at += time::Duration::milliseconds(1),
            |_, d| *d = d.replace("3", "4"),
        ];
        for edit in edits {
            let mut c = chain(5);
            let (s, d) = &mut c[2];
            edit(s, d);
            assert_eq!(verify(&c), Err(Break::Altered { seq: 3 }));
        }
    }

    #[test]
    fn deleting_or_reordering_events_is_named_at_the_first_break() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(&c), Err(Break::Gap { seq: 2, prev: 1, seq_found: 3 }));
        let mut c = chain(5);
        c.swap(1, 2);
        assert_eq!(verify(&c).unwrap_err().seq(), 2);
        // A rewritten event with a recomputed hash still does not link to what follows.
        let mut c = chain(5);
        c[2].0.event.action = "forged".into();
        c[2].0.hash = link_hash(&c[2].0.prev_hash, 3, &c[2].0.event, &c[2].1);
        assert_eq!(verify(&c), Err(Break::Unlinked { seq: 4 }));
    }

    #[test]
    fn the_canonical_form_separates_fields_unambiguously() {
        let a = AuditEvent { target_kind: Some("ab".into()), target_id: Some("c".into()), ..event(1) };
        let b = AuditEvent { target_kind: Some("a".into()), target_id: Some("bc".into()), ..event(1) };
        assert_ne!(canonical(1, &a, "{}"), canonical(1, &b, "{}"));
        let none = AuditEvent { org: None, ..event(1) };
        let empty = AuditEvent { org: Some(String::new()), ..event(1) };
        assert_ne!(canonical(1, &none, "{}"), canonical(1, &empty, "{}"));
    }
}
