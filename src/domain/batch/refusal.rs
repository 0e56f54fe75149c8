//! Why one entry of a batch archive was not delivered.
//!
//! A refused entry does not stop the batch: the caller puts it in the sender's quarantine with
//! the sentence [`EntryRefusal`] displays, so each message says what is wrong and what to do.

use std::fmt;

/// Why an entry was refused. The `String`s are clauses written by this module (never the raw
/// entry name, which the caller shows separately), so they read well after "the entry's name"
/// or "the entry is damaged".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryRefusal {
    /// The name is empty, absolute, has a drive letter, a `..` step or a control character.
    /// Holds the rest of the sentence after "the entry's name".
    UnsafeName(String),
    /// The entry is itself a zip archive, and the limits do not allow archives inside archives.
    Nested,
    /// The entry unpacks to more than the per-entry limit (declared or actually counted).
    TooLarge { limit: u64 },
    /// The entry unpacks to more than `limit` times its compressed size: the mark of a zip bomb.
    /// `ratio` is what was seen when reading stopped, so it is a lower bound.
    RatioTooHigh { ratio: u64, limit: u64 },
    /// The entries before this one left too little of the batch's total uncompressed allowance.
    /// Later, smaller entries that still fit are delivered.
    TotalTooLarge { limit: u64 },
    /// The entries before this one left too little of what the batch may unpack to relative to
    /// the archive's own size: `limit` bytes, `ratio` times the archive. Many small entries that
    /// each compress extremely well are how a small upload becomes a huge store.
    BatchRatioTooHigh { limit: u64, ratio: u64 },
    /// The entry is password-protected; the service cannot read it, and would not hold the key.
    Encrypted,
    /// The entry cannot be unpacked by this service. Holds the rest of the sentence after
    /// "the entry", e.g. "uses the LZMA compression method".
    Unsupported(String),
    /// The entry's data is damaged: checksum mismatch, truncated or undecodable data, or more
    /// data than its header declares. Holds a clause saying which.
    Corrupt(String),
}

/// Bytes as a person reads them, rounded down: "512 MiB", "2 GiB", "1000 bytes".
fn human(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if bytes >= size {
            let whole = bytes / size;
            let tenths = (bytes % size) * 10 / size;
            return if tenths == 0 { format!("{whole} {unit}") } else { format!("{whole}.{tenths} {unit}") };
        }
    }
    format!("{bytes} bytes")
}

impl EntryRefusal {
    /// A stable code for programs reading a batch report.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnsafeName(_) => "unsafe_name",
            Self::Nested => "nested_archive",
            Self::TooLarge { .. } => "too_large",
            Self::RatioTooHigh { .. } => "compression_ratio",
            Self::TotalTooLarge { .. } => "batch_too_large",
            Self::BatchRatioTooHigh { .. } => "batch_compression_ratio",
            Self::Encrypted => "encrypted",
            Self::Unsupported(_) => "unsupported",
            Self::Corrupt(_) => "damaged",
        }
    }
}

impl fmt::Display for EntryRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsafeName(why) => write!(f, "the entry's name {why}"),
            Self::Nested => f.write_str(
                "the entry is itself a zip archive, and archives inside archives are not accepted: \
                 unzip it and put its files in the main archive",
            ),
            Self::TooLarge { limit } => write!(
                f,
                "the entry unpacks to more than {}, the most one file in a batch may hold: send it on its own",
                human(*limit)
            ),
            Self::RatioTooHigh { ratio, limit } => write!(
                f,
                "the entry unpacks to at least {ratio} times its compressed size, more than the {limit} times \
                 allowed, which is how zip bombs work: if the file is genuine, send it on its own"
            ),
            Self::TotalTooLarge { limit } => write!(
                f,
                "the entry would take the batch past the {} its files may unpack to in all: send it in \
                 another batch",
                human(*limit)
            ),
            Self::BatchRatioTooHigh { limit, ratio } => write!(
                f,
                "the entry would take the batch past {}, {ratio} times the size of the archive, which is as far as \
                 a batch may expand: if the file is genuine, send it on its own",
                human(*limit)
            ),
            Self::Encrypted => f.write_str(
                "the entry is password-protected, and the service cannot open it: zip it again without a \
                 password (the service encrypts every file itself)",
            ),
            Self::Unsupported(what) => {
                write!(f, "the entry {what}: zip the files again with the ordinary settings (Deflate compression)")
            }
            Self::Corrupt(why) => write!(f, "the entry is damaged ({why}): make the archive again and send it"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_shown_in_the_largest_whole_unit() {
        assert_eq!(human(512 << 20), "512 MiB");
        assert_eq!(human(2 << 30), "2 GiB");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(1000), "1000 bytes");
    }

    #[test]
    fn every_refusal_is_one_sentence_with_something_to_do() {
        let all = [
            EntryRefusal::UnsafeName("contains '..': archives must not point outside themselves".into()),
            EntryRefusal::Nested,
            EntryRefusal::TooLarge { limit: 512 << 20 },
            EntryRefusal::RatioTooHigh { ratio: 1000, limit: 100 },
            EntryRefusal::TotalTooLarge { limit: 2 << 30 },
            EntryRefusal::BatchRatioTooHigh { limit: 7 << 20, ratio: 100 },
            EntryRefusal::Encrypted,
            EntryRefusal::Unsupported("uses the LZMA compression method".into()),
            EntryRefusal::Corrupt("its checksum does not match its content".into()),
        ];
        for refusal in all {
            let text = refusal.to_string();
            assert!(text.starts_with("the entry"), "{text}");
            assert!(text.contains(':'), "says what to do: {text}");
            assert!(!text.ends_with('.') && !text.contains('\n'), "{text}");
        }
        assert_eq!(
            EntryRefusal::UnsafeName("contains '..': archives must not point outside themselves".into()).to_string(),
            "the entry's name contains '..': archives must not point outside themselves"
        );
    }
}
