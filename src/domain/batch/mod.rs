//! Reading a batch: many files sent at once as one zip archive (e.g. a DfE checking file for each
//! of 300 schools), spooled by the server to a temporary file.
//!
//! A zip is written by the sender and is as hostile as they like, so it is read defensively:
//! - the entry count is checked before the central directory is parsed ([`preflight`]);
//! - entries that share bytes, or run into the central directory, refuse the archive before any
//!   entry is read ([`extent`]): one compressed file listed 1,000 times is a bomb of its own;
//! - names that point outside the archive, or would mislead a reader, are refused ([`name`]);
//! - entries are streamed through a [`guard`] that counts the bytes actually decompressed and
//!   stops at the per-entry, ratio and batch limits, because declared sizes lie in a zip bomb
//!   (the batch limit is the smaller of an absolute one and one relative to the archive's size);
//! - an archive inside the archive is refused ([`nested`]), since it would skip these checks.
//!
//! A refused *entry* does not stop the batch: it is reported with its [`EntryRefusal`], and the
//! caller puts it in the sender's quarantine. Only a file that is not a zip at all, that lists
//! more entries than allowed, or whose entries overlap is refused whole ([`BatchError`]), and
//! that is decided in [`BatchReader::open`], before any entry is read or anything stored.

mod entry;
mod extent;
mod guard;
mod name;
mod nested;
mod preflight;
mod refusal;
mod source;
#[cfg(test)]
mod tests;

use std::io::{self, Read, Seek, SeekFrom};

use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

pub use entry::{EntryInfo, EntryInfoOrName};
pub use guard::RATIO_FREE_BYTES;
pub use refusal::EntryRefusal;

use guard::{Allowance, Caps, Guard};
use name::Named;
use source::{SourceFailure, Watched};

/// How much one batch may hold. The defaults suit the largest honest batches seen (a few
/// hundred files of a few MiB), with room to spare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Entries the archive may list, folders included: a whole-archive limit.
    pub max_entries: usize,
    /// Decompressed bytes for all entries together, counted as they are read.
    pub max_total_uncompressed: u64,
    /// How many times the archive's own size all entries together may unpack to (never less
    /// than [`RATIO_FREE_BYTES`]); the smaller of this and `max_total_uncompressed` applies.
    /// Many small entries each stay under [`RATIO_FREE_BYTES`], where their own ratio is not
    /// checked, so without this a 1 MB archive could unpack to 1 GB.
    pub max_total_ratio: u64,
    /// Decompressed bytes for one entry.
    pub max_entry_uncompressed: u64,
    /// How many times its compressed size an entry may expand to (once past [`RATIO_FREE_BYTES`]).
    pub max_ratio: u64,
    /// Whether a zip inside the archive is delivered as a file (never unpacked) or refused.
    pub allow_nested_zip: bool,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_entries: 1000,
            max_total_uncompressed: 2 << 30,
            max_total_ratio: 100,
            max_entry_uncompressed: 512 << 20,
            max_ratio: 100,
            allow_nested_zip: false,
        }
    }
}

/// Why a whole upload was refused or could not be read, in words the sender (or, for `Io`, the
/// service desk) can act on.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(
        "the file is not a zip archive, or is damaged or incomplete ({0}): zip the files again and upload \
         the new archive"
    )]
    NotAZip(String),
    #[error(
        "the archive holds {found} entries, more than the {limit} one batch may hold: split it into smaller archives"
    )]
    TooManyEntries { found: usize, limit: usize },
    #[error(
        "the archive's entries overlap ({0}): no zip tool writes that, but zip bombs do, to unpack the \
         same data many times over: zip the files again and upload the new archive"
    )]
    OverlappingEntries(String),
    #[error(
        "the server could not read the uploaded archive back from its temporary storage ({0}): try again, \
         and tell the service desk if it keeps happening"
    )]
    Io(#[from] io::Error),
}

/// The outcome for one reported entry: what the callback returned, or why it was refused.
pub type EntryOutcome<T> = (EntryInfoOrName, Result<T, EntryRefusal>);

/// An opened batch archive. Generic over the reader so the server can pass its spooled
/// `std::fs::File` and tests an in-memory `Cursor`.
pub struct BatchReader<R: Read + Seek> {
    archive: ZipArchive<Watched<R>>,
    limits: BatchLimits,
    /// What all entries together may unpack to, worked out from the limits and the archive's size.
    allowance: Allowance,
    source: SourceFailure,
}

/// What an entry's metadata alone says.
enum Inspected {
    Skip,
    Refused(EntryInfoOrName, EntryRefusal),
    Readable(EntryInfo),
}

impl<R: Read + Seek> BatchReader<R> {
    /// Reads the central directory and checks the entry count, first from the end record (so a
    /// hostile count is refused before it costs memory) and then from what was parsed; then
    /// checks that no two entries share bytes. Everything that refuses a whole archive is decided
    /// here, before any entry is read, so a refused archive never has some of its files stored.
    pub fn open(reader: R, limits: BatchLimits) -> Result<Self, BatchError> {
        let (mut reader, source) = Watched::new(reader);
        let too_many = |found: usize| {
            (found > limits.max_entries).then_some(BatchError::TooManyEntries { found, limit: limits.max_entries })
        };
        let declared = preflight::declared_entries(&mut reader)?;
        let allowance = Allowance::for_archive(&limits, reader.seek(SeekFrom::End(0))?);
        if let Some(error) = too_many(usize::try_from(declared).unwrap_or(usize::MAX)) {
            return Err(error);
        }
        let mut archive = ZipArchive::new(reader).map_err(|e| match source::failed(&source) {
            Some(io) => BatchError::Io(io),
            None => BatchError::NotAZip(describe_archive_error(&e)),
        })?;
        if let Some(error) = too_many(archive.len()) {
            return Err(error);
        }
        // The crate keeps one of two same-named entries and silently drops the other; which file
        // the sender meant cannot be told, so the archive is refused rather than half-delivered.
        if archive.has_duplicate_names() {
            return Err(BatchError::NotAZip("it lists the same name more than once".to_owned()));
        }
        let layout = extent::check(&mut archive);
        if let Some(io) = source::failed(&source) {
            return Err(BatchError::Io(io));
        }
        layout.map_err(|overlap| BatchError::OverlappingEntries(overlap.0))?;
        Ok(Self { archive, limits, allowance, source })
    }

    /// Entries the archive lists, folders and skipped entries included.
    pub fn len(&self) -> usize {
        self.archive.len()
    }

    pub fn is_empty(&self) -> bool {
        self.archive.is_empty()
    }

    /// Visits every entry in order. `on_entry` gets the entry's info and a reader over its
    /// decompressed bytes; reading past a limit fails with `InvalidData`, and the entry is then
    /// reported with the matching refusal whatever the callback returns. The callback may stop
    /// early; an entry read to its end has its checksum verified.
    ///
    /// Folders and macOS `__MACOSX/` metadata are skipped, not reported. Bytes count towards the
    /// batch allowance as they are decompressed, refused entries' included: the allowance bounds
    /// the work a batch can cause, not only what is delivered.
    ///
    /// An `Err` from the callback that did not come from the entry's reader (a full disk, say)
    /// stops the batch with [`BatchError::Io`], as does a failure of the underlying storage.
    pub fn for_each<T>(
        &mut self,
        mut on_entry: impl FnMut(&EntryInfo, &mut dyn Read) -> io::Result<T>,
    ) -> Result<Vec<EntryOutcome<T>>, BatchError> {
        let mut outcomes = Vec::with_capacity(self.archive.len());
        let mut used = 0u64;
        for index in 0..self.archive.len() {
            match self.inspect(index, used)? {
                Inspected::Skip => {}
                Inspected::Refused(label, refusal) => outcomes.push((label, Err(refusal))),
                Inspected::Readable(info) => {
                    let result = self.read_entry(&info, &mut used, &mut on_entry)?;
                    outcomes.push((EntryInfoOrName::Info(info), result));
                }
            }
        }
        Ok(outcomes)
    }

    fn caps(&self, compressed: u64, used: u64) -> Caps {
        Caps {
            entry: self.limits.max_entry_uncompressed,
            total_left: self.allowance.bytes().saturating_sub(used),
            total: self.allowance,
            max_ratio: self.limits.max_ratio,
            compressed,
        }
    }

    /// Judges an entry from the central directory alone, so that what can be refused without
    /// decompressing anything is (an honest bomb declares its size and is refused here).
    fn inspect(&self, index: usize, used: u64) -> Result<Inspected, BatchError> {
        let entry = self.archive.by_index_data(index).map_err(|e| BatchError::NotAZip(describe_archive_error(&e)))?;
        let raw_name = match entry.name() {
            Ok(name) => name.into_owned(),
            Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
        };
        let file_name = match name::judge(&raw_name) {
            Ok(Named::File(file_name)) => file_name,
            Ok(Named::Skip) => return Ok(Inspected::Skip),
            Err(why) => {
                return Ok(Inspected::Refused(EntryInfoOrName::Name { index, raw_name }, EntryRefusal::UnsafeName(why)))
            }
        };
        let info = EntryInfo {
            index,
            raw_name,
            file_name,
            declared_size: entry.size(),
            compressed_size: entry.compressed_size(),
        };
        let method = entry.compression();
        let refusal = if entry.encrypted() {
            Some(EntryRefusal::Encrypted)
        } else if !matches!(method, CompressionMethod::Stored | CompressionMethod::Deflated) {
            Some(EntryRefusal::Unsupported(format!(
                "uses the {method} compression method, which the service cannot unpack"
            )))
        } else if entry.is_symlink() {
            Some(EntryRefusal::Unsupported("is a symbolic link, not a file".to_owned()))
        } else if !self.limits.allow_nested_zip && nested::named_as_zip(&info.file_name) {
            Some(EntryRefusal::Nested)
        } else {
            self.caps(info.compressed_size, used).refusal_for(info.declared_size)
        };
        Ok(match refusal {
            Some(refusal) => Inspected::Refused(EntryInfoOrName::Info(info), refusal),
            None => Inspected::Readable(info),
        })
    }

    /// Streams one entry through a [`Guard`] to the callback and works out the outcome.
    fn read_entry<T>(
        &mut self,
        info: &EntryInfo,
        used: &mut u64,
        on_entry: &mut impl FnMut(&EntryInfo, &mut dyn Read) -> io::Result<T>,
    ) -> Result<Result<T, EntryRefusal>, BatchError> {
        let caps = self.caps(info.compressed_size, *used);
        let file = match self.archive.by_index(info.index) {
            Ok(file) => file,
            Err(e) => {
                return source::failed(&self.source).map_or_else(|| Ok(Err(refusal_for_open(e))), |io| Err(io.into()))
            }
        };
        let mut guard = Guard::new(file, caps);
        let result = match nested::peek(&mut guard) {
            Err(e) => Err(EntryRefusal::Corrupt(guard::describe_read_error(&e))),
            Ok((head, len))
                if !self.limits.allow_nested_zip && nested::is_nested_archive(&info.file_name, &head[..len]) =>
            {
                Err(EntryRefusal::Nested)
            }
            Ok((head, len)) => {
                let mut whole = (&head[..len]).chain(&mut guard);
                Ok(on_entry(info, &mut whole))
            }
        };
        *used = used.saturating_add(guard.bytes_read());
        let seen = guard.into_refusal();
        if let Some(io) = source::failed(&self.source) {
            return Err(BatchError::Io(io));
        }
        // What the guard saw wins over what the callback made of it: a callback that swallowed
        // the error still must not have the entry delivered.
        match (seen, result) {
            (Some(refusal), _) | (None, Err(refusal)) => Ok(Err(refusal)),
            (None, Ok(Ok(value))) => Ok(Ok(value)),
            (None, Ok(Err(e))) => Err(BatchError::Io(e)),
        }
    }
}

/// The crate's words for why an archive cannot be read, without its "invalid Zip archive" prefix
/// (the sentence around it says that already). The commonest case, a file that is not a zip or
/// lost its end in transit, is put in plain words.
fn describe_archive_error(e: &ZipError) -> String {
    match e {
        ZipError::InvalidArchive(why) if why.contains("find EOCD") => {
            "no zip directory was found at its end".to_owned()
        }
        ZipError::InvalidArchive(why) => why.to_string(),
        ZipError::UnsupportedArchive(why) => why.to_string(),
        other => other.to_string(),
    }
}

/// Why the crate would not start reading an entry. Encryption and methods were checked from the
/// central directory already; these catch a local header that disagrees with it.
fn refusal_for_open(e: ZipError) -> EntryRefusal {
    match e {
        ZipError::UnsupportedArchive(ZipError::PASSWORD_REQUIRED) | ZipError::InvalidPassword => {
            EntryRefusal::Encrypted
        }
        ZipError::CompressionMethodNotSupported(method) => {
            EntryRefusal::Unsupported(format!("uses compression method {method}, which the service cannot unpack"))
        }
        ZipError::UnsupportedArchive(why) => {
            EntryRefusal::Unsupported(format!("uses a feature the service cannot read ({why})"))
        }
        ZipError::Io(e) => EntryRefusal::Corrupt(guard::describe_read_error(&e)),
        other => EntryRefusal::Corrupt(format!("its header cannot be read: {}", describe_archive_error(&other))),
    }
}
