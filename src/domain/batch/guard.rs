//! The reader handed to the caller for each entry: it counts the bytes actually decompressed
//! and stops at the entry, ratio and batch limits.
//!
//! A zip's declared sizes are written by whoever made the archive, and a zip bomb lies in them,
//! so the limits are enforced on what comes out of the decompressor, not on what the headers say.
//! (zip 9.x also refuses data past the declared size; this guard does not rely on that.)

use std::io::{self, Read};

use super::{BatchLimits, EntryRefusal};

/// Below this many decompressed bytes the ratio is not checked. Small text files compress far
/// better than 100:1 (a 20 KiB CSV of empty columns can shrink to 100 bytes), and a megabyte is
/// harmless however it got there; the entry and batch limits still apply.
pub const RATIO_FREE_BYTES: u64 = 1 << 20;

/// What all the entries of a batch may unpack to together, and the rule that set it, so a
/// refusal can say which one the entry ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Allowance {
    /// The absolute limit, `max_total_uncompressed`.
    Absolute(u64),
    /// `ratio` times the archive's size (or [`RATIO_FREE_BYTES`], if more), when that is less.
    Relative { bytes: u64, ratio: u64 },
}

impl Allowance {
    /// The allowance for an archive of `archive_len` bytes: the smaller of the two limits.
    pub(super) fn for_archive(limits: &BatchLimits, archive_len: u64) -> Self {
        let relative = archive_len.saturating_mul(limits.max_total_ratio).max(RATIO_FREE_BYTES);
        if relative < limits.max_total_uncompressed {
            Self::Relative { bytes: relative, ratio: limits.max_total_ratio }
        } else {
            Self::Absolute(limits.max_total_uncompressed)
        }
    }

    pub(super) fn bytes(self) -> u64 {
        match self {
            Self::Absolute(bytes) | Self::Relative { bytes, .. } => bytes,
        }
    }

    fn refusal(self) -> EntryRefusal {
        match self {
            Self::Absolute(limit) => EntryRefusal::TotalTooLarge { limit },
            Self::Relative { bytes, ratio } => EntryRefusal::BatchRatioTooHigh { limit: bytes, ratio },
        }
    }
}

/// The limits for one entry, in decompressed bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Caps {
    pub entry: u64,
    /// What is left of the batch's allowance when this entry starts.
    pub total_left: u64,
    /// The batch's whole allowance, for the message.
    pub total: Allowance,
    pub max_ratio: u64,
    pub compressed: u64,
}

impl Caps {
    /// The most this entry may decompress to before its ratio counts as a bomb's.
    pub(super) fn ratio_bytes(&self) -> u64 {
        self.compressed.saturating_mul(self.max_ratio).max(RATIO_FREE_BYTES)
    }

    /// The ratio of `bytes` to the compressed size, as reported to people.
    pub(super) fn ratio_of(&self, bytes: u64) -> u64 {
        bytes / self.compressed.max(1)
    }

    /// The refusal `bytes` of output earn, if any. The ratio comes first because a bomb is the
    /// most useful thing to tell a sender about; the batch allowance last, because it is not
    /// this entry's fault alone.
    pub(super) fn refusal_for(&self, bytes: u64) -> Option<EntryRefusal> {
        if bytes > self.ratio_bytes() {
            Some(EntryRefusal::RatioTooHigh { ratio: self.ratio_of(bytes), limit: self.max_ratio })
        } else if bytes > self.entry {
            Some(EntryRefusal::TooLarge { limit: self.entry })
        } else if bytes > self.total_left {
            Some(self.total.refusal())
        } else {
            None
        }
    }

    /// The tightest cap, so a read can ask for just one byte past it.
    fn tightest(&self) -> u64 {
        self.ratio_bytes().min(self.entry).min(self.total_left)
    }
}

/// Wraps an entry's decompressing reader. Once it has refused, every later read fails the same
/// way, so a caller that ignores an error cannot pump out more data.
pub(super) struct Guard<R> {
    inner: R,
    caps: Caps,
    read: u64,
    refusal: Option<EntryRefusal>,
}

impl<R: Read> Guard<R> {
    pub(super) fn new(inner: R, caps: Caps) -> Self {
        Self { inner, caps, read: 0, refusal: None }
    }

    /// Decompressed bytes produced so far, including any past a limit.
    pub(super) fn bytes_read(&self) -> u64 {
        self.read
    }

    /// Why the entry must be refused, if reading it has shown that.
    pub(super) fn into_refusal(self) -> Option<EntryRefusal> {
        self.refusal
    }

    fn refuse(&mut self, refusal: EntryRefusal) -> io::Error {
        let error = io::Error::new(io::ErrorKind::InvalidData, refusal.to_string());
        self.refusal = Some(refusal);
        error
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(refusal) = &self.refusal {
            return Err(io::Error::new(io::ErrorKind::InvalidData, refusal.to_string()));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        // One byte past the tightest cap is enough to see it crossed, without decompressing a whole
        // buffer beyond it.
        let room = self.caps.tightest().saturating_sub(self.read).saturating_add(1);
        let want = usize::try_from(room).unwrap_or(usize::MAX).min(buf.len());
        match self.inner.read(&mut buf[..want]) {
            Ok(n) => {
                self.read = self.read.saturating_add(n as u64);
                match self.caps.refusal_for(self.read) {
                    Some(refusal) => Err(self.refuse(refusal)),
                    None => Ok(n),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                self.refusal = Some(EntryRefusal::Corrupt(describe_read_error(&e)));
                Err(e)
            }
        }
    }
}

/// Says what a read error from the zip crate means for the sender. The crate reports a bad
/// checksum (checked when the entry is read to its end), data past the declared size, and the
/// decompressor's own errors all as `io::Error`s; their messages are matched loosely, and anything
/// unrecognised is still reported as damage, with the crate's words.
pub(super) fn describe_read_error(e: &io::Error) -> String {
    let message = e.to_string();
    let lower = message.to_ascii_lowercase();
    if lower.contains("checksum") || lower.contains("crc") {
        "its checksum does not match its content".to_owned()
    } else if lower.contains("declared") {
        "it holds more data than its header declares, as archives built to hide their size do".to_owned()
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        "its data stops short: the archive may have been cut off".to_owned()
    } else {
        format!("its data cannot be unpacked: {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(entry: u64, total_left: u64, max_ratio: u64, compressed: u64) -> Caps {
        Caps { entry, total_left, total: Allowance::Absolute(1 << 40), max_ratio, compressed }
    }

    /// Reads everything through the guard with a fixed buffer, as a caller would.
    fn drain(guard: &mut Guard<impl Read>) -> io::Result<u64> {
        io::copy(guard, &mut io::sink())
    }

    #[test]
    fn an_entry_within_its_caps_is_passed_through_whole() {
        let mut guard = Guard::new(io::repeat(7).take(5000), caps(1 << 20, 1 << 20, 100, 50));
        assert_eq!(drain(&mut guard).ok(), Some(5000));
        assert_eq!(guard.into_refusal(), None);
    }

    #[test]
    fn the_ratio_is_measured_on_actual_bytes_whatever_the_headers_say() {
        // 50 KB of "compressed" input producing endless zeros: no declared size is involved at all.
        let mut guard = Guard::new(io::repeat(0), caps(u64::MAX, u64::MAX, 100, 50_000));
        let error = drain(&mut guard).err().map(|e| e.kind());
        assert_eq!(error, Some(io::ErrorKind::InvalidData));
        assert!(guard.bytes_read() <= 5_000_001, "stops one byte past the cap, read {}", guard.bytes_read());
        assert_eq!(guard.into_refusal(), Some(EntryRefusal::RatioTooHigh { ratio: 100, limit: 100 }));
    }

    #[test]
    fn small_outputs_are_free_of_the_ratio_check() {
        let mut guard = Guard::new(io::repeat(0).take(RATIO_FREE_BYTES), caps(u64::MAX, u64::MAX, 100, 1));
        assert_eq!(drain(&mut guard).ok(), Some(RATIO_FREE_BYTES));
        assert_eq!(guard.into_refusal(), None);
    }

    #[test]
    fn entry_and_batch_caps_stop_reading_one_byte_past_them() {
        let mut guard = Guard::new(io::repeat(1), caps(4096, u64::MAX, u64::MAX, 1 << 30));
        assert!(drain(&mut guard).is_err());
        assert_eq!(guard.bytes_read(), 4097);
        assert_eq!(guard.into_refusal(), Some(EntryRefusal::TooLarge { limit: 4096 }));

        let mut guard = Guard::new(io::repeat(1), caps(u64::MAX, 10, u64::MAX, 1 << 30));
        assert!(drain(&mut guard).is_err());
        assert_eq!(guard.into_refusal(), Some(EntryRefusal::TotalTooLarge { limit: 1 << 40 }));
    }

    #[test]
    fn the_batch_allowance_is_the_smaller_limit_and_names_its_rule() {
        let limits = BatchLimits { max_total_uncompressed: 2 << 30, max_total_ratio: 100, ..BatchLimits::default() };
        assert_eq!(Allowance::for_archive(&limits, 70_000), Allowance::Relative { bytes: 7_000_000, ratio: 100 });
        assert_eq!(Allowance::for_archive(&limits, 1 << 30), Allowance::Absolute(2 << 30));
        let tiny = Allowance::for_archive(&limits, 200);
        assert_eq!(tiny.bytes(), RATIO_FREE_BYTES, "a small archive may still unpack to a megabyte");

        let mut guard =
            Guard::new(io::repeat(1), Caps { total_left: 10, total: tiny, ..caps(u64::MAX, 10, u64::MAX, 1) });
        assert!(drain(&mut guard).is_err());
        assert_eq!(guard.into_refusal(), Some(EntryRefusal::BatchRatioTooHigh { limit: RATIO_FREE_BYTES, ratio: 100 }));
    }

    #[test]
    fn a_refused_reader_keeps_refusing() {
        let mut guard = Guard::new(io::repeat(1), caps(10, u64::MAX, u64::MAX, 1 << 30));
        let mut buf = [0u8; 64];
        for _ in 0..3 {
            assert!(guard.read(&mut buf).is_err());
        }
        assert_eq!(guard.bytes_read(), 11);
    }

    #[test]
    fn read_errors_become_damage_with_a_reason() {
        let checksum = io::Error::new(io::ErrorKind::InvalidData, "Invalid checksum");
        assert_eq!(describe_read_error(&checksum), "its checksum does not match its content");
        let liar = io::Error::new(io::ErrorKind::InvalidData, "File is larger than its declared uncompressed size");
        assert!(describe_read_error(&liar).contains("more data than its header declares"));
        let short = io::Error::new(io::ErrorKind::UnexpectedEof, "early eof");
        assert!(describe_read_error(&short).contains("stops short"));
        let other = io::Error::new(io::ErrorKind::InvalidInput, "corrupt deflate stream");
        assert!(describe_read_error(&other).ends_with("corrupt deflate stream"));
    }
}
