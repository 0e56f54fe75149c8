use time::OffsetDateTime;

/// Server time. Every clock the exchange keeps (upload time, download time, later retention)
/// runs from here, never from a client, and tests can substitute their own.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> OffsetDateTime;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that moves only when told to, so tests can cross expiries, lockout windows and TOTP
/// steps without sleeping.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(t: OffsetDateTime) -> Self {
        Self(std::sync::Mutex::new(t))
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, OffsetDateTime> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Moves the clock on (or back, with a negative duration).
    pub fn advance(&self, by: time::Duration) {
        let mut t = self.slot();
        *t += by;
    }

    pub fn set(&self, t: OffsetDateTime) {
        *self.slot() = t;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.slot()
    }
}

/// Milliseconds since the Unix epoch: how times are stored, so SQLite and PostgreSQL order and
/// compare them the same way.
pub fn to_millis(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

pub fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
