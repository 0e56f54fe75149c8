//! Refusals of anonymous requests, counted instead of written one by one. Anyone can send a
//! stranger's request, so writing each refusal would let a flood grow the trail (and the
//! database) without limit. Per source address and kind of refusal, the first refusal in a window
//! is written at once as usual; the rest of that window are counted, and when the window closes
//! (or the server stops) the count is written as one event, `request.refused.repeated`. The trail
//! stays complete (every refusal is either an event or part of a count) and bounded (at most two
//! events per source, kind and window).
//!
//! The number of open windows is bounded too: once `max_sources` are open, refusals from any
//! further source share one overflow window, written as one count with no address. Each node
//! keeps its own tally, so behind a load balancer a flood spread over `n` nodes leaves up to `n`
//! times as many events: still bounded, and each node's counts add up to what it refused.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use time::{Duration, OffsetDateTime};

use super::event::{Actor, AuditEvent, Outcome};

/// What was refused, as the audit trail describes a refused request (the path itself is left
/// out: it varies with whatever a stranger made up).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefusalKind {
    pub method: String,
    pub route: Option<String>,
    pub status: u16,
    pub code: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Source {
        addr: Option<String>,
        kind: RefusalKind,
    },
    /// Every source beyond the bound, whatever it was refused.
    Overflow,
}

#[derive(Debug)]
struct Open {
    opened: OffsetDateTime,
    /// Refusals after the first one written.
    repeats: u64,
}

/// Whether a refusal is written now, and the counts of windows that closed before it.
#[derive(Debug, Default)]
pub struct Admitted {
    pub write: bool,
    pub closed: Vec<AuditEvent>,
}

pub struct RefusalTally {
    window: Duration,
    max_sources: usize,
    open: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    windows: HashMap<Key, Open>,
    /// No window closes before this, so most refusals do not look through the others.
    next_close: Option<OffsetDateTime>,
}

impl RefusalTally {
    pub fn new(window: Duration, max_sources: usize) -> Self {
        Self { window, max_sources: max_sources.max(1), open: Mutex::new(Inner::default()) }
    }

    /// Counts one refusal from `addr` at `now`.
    pub fn admit(&self, addr: Option<&str>, kind: &RefusalKind, now: OffsetDateTime) -> Admitted {
        let mut inner = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let closed =
            if inner.next_close.is_some_and(|at| at <= now) { self.close_expired(&mut inner, now) } else { vec![] };
        let mut key = Key::Source { addr: addr.map(str::to_owned), kind: kind.clone() };
        if !inner.windows.contains_key(&key) && inner.windows.len() >= self.max_sources {
            key = Key::Overflow;
        }
        let write = match inner.windows.get_mut(&key) {
            Some(open) => {
                open.repeats += 1;
                false
            }
            None => {
                inner.windows.insert(key, Open { opened: now, repeats: 0 });
                let ends = now + self.window;
                inner.next_close = Some(inner.next_close.map_or(ends, |at| at.min(ends)));
                true
            }
        };
        Admitted { write, closed }
    }

    /// The counts of every window that has closed by `now`; those windows are forgotten.
    pub fn close_due(&self, now: OffsetDateTime) -> Vec<AuditEvent> {
        let mut inner = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        self.close_expired(&mut inner, now)
    }

    /// The counts of every open window, at `at`: the server is stopping.
    pub fn close_all(&self, at: OffsetDateTime) -> Vec<AuditEvent> {
        let mut inner = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        inner.next_close = None;
        let all: Vec<_> = inner.windows.drain().collect();
        all.into_iter().filter_map(|(key, open)| self.summary(key, open, at)).collect()
    }

    fn close_expired(&self, inner: &mut Inner, now: OffsetDateTime) -> Vec<AuditEvent> {
        let due: Vec<Key> =
            inner.windows.iter().filter(|(_, o)| o.opened + self.window <= now).map(|(k, _)| k.clone()).collect();
        let mut closed = Vec::new();
        for key in due {
            if let Some(open) = inner.windows.remove(&key) {
                closed.extend(self.summary(key, open, now));
            }
        }
        inner.next_close = inner.windows.values().map(|o| o.opened + self.window).min();
        closed
    }

    /// The event that stands for a window's repeats; none when there were none.
    fn summary(&self, key: Key, open: Open, at: OffsetDateTime) -> Option<AuditEvent> {
        if open.repeats == 0 {
            return None;
        }
        let since = open.opened.format(&time::format_description::well_known::Rfc3339).ok();
        let event = match key {
            Key::Source { addr, kind } => AuditEvent::new(at, Actor::anonymous(addr), "request.refused.repeated")
                .detail("method", kind.method)
                .detail("route", kind.route)
                .detail("status", kind.status)
                .detail("code", kind.code)
                .detail("summary", format!("{} more refusals of this kind from this source", open.repeats)),
            Key::Overflow => AuditEvent::new(at, Actor::anonymous(None), "request.refused.repeated").detail(
                "summary",
                format!(
                    "{} more refusals from sources beyond the {} counted one by one in this window",
                    open.repeats, self.max_sources
                ),
            ),
        };
        Some(
            event
                .outcome(Outcome::Refused)
                .detail("repeats", open.repeats)
                .detail("since", since)
                .detail("window_secs", self.window.whole_seconds()),
        )
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn kind(status: u16) -> RefusalKind {
        RefusalKind { method: "POST".into(), route: Some("/api/v1/session".into()), status, code: Some("invalid_body") }
    }

    const T: OffsetDateTime = datetime!(2026-03-02 09:00 UTC);

    #[test]
    fn the_first_refusal_of_a_window_is_written_and_the_rest_are_one_count_when_it_closes() {
        let tally = RefusalTally::new(Duration::seconds(60), 10);
        assert!(tally.admit(Some("192.0.2.1"), &kind(400), T).write);
        for s in 1..60 {
            let a = tally.admit(Some("192.0.2.1"), &kind(400), T + Duration::seconds(s));
            assert!(!a.write && a.closed.is_empty());
        }
        // Another kind, or another source, has a window of its own.
        assert!(tally.admit(Some("192.0.2.1"), &kind(429), T).write);
        assert!(tally.admit(Some("192.0.2.2"), &kind(400), T).write);
        let next = tally.admit(Some("192.0.2.1"), &kind(400), T + Duration::seconds(60));
        assert!(next.write, "a new window opens");
        assert_eq!(next.closed.len(), 1, "only the window with repeats leaves a count");
        let e = &next.closed[0];
        assert_eq!(e.action, "request.refused.repeated");
        assert_eq!(e.actor.client_addr.as_deref(), Some("192.0.2.1"));
        assert_eq!(e.details["repeats"], 59);
        assert_eq!(e.details["status"], 400);
    }

    #[test]
    fn sources_beyond_the_bound_share_one_window() {
        let tally = RefusalTally::new(Duration::seconds(60), 3);
        let written =
            (0..1000).filter(|n| tally.admit(Some(&format!("10.0.{}.{}", n / 256, n % 256)), &kind(400), T).write);
        assert_eq!(written.count(), 4, "three sources and the overflow");
        let closed = tally.close_all(T);
        assert_eq!(closed.len(), 1);
        assert_eq!(closed[0].details["repeats"], 996);
        assert_eq!(closed[0].actor.client_addr, None);
    }
}
