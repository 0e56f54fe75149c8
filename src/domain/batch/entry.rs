//! What the caller learns about each entry of a batch archive.

use crate::domain::FileName;

/// An entry whose name is usable. `raw_name` is the path as the archive stores it (decoded as
/// UTF-8, or as the old DOS code page when it is not UTF-8); `file_name` is what the file will be
/// delivered under: the last component of that path, since folders inside the zip are flattened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// Position in the archive's central directory, counting folders and skipped entries.
    pub index: usize,
    pub raw_name: String,
    pub file_name: FileName,
    /// The uncompressed size the archive declares. Not trusted: reading is limited on the bytes
    /// that actually come out, because a zip bomb lies here.
    pub declared_size: u64,
    pub compressed_size: u64,
}

/// Which entry an outcome is about. A refused name cannot become a [`FileName`], so for those
/// only the position and the raw name are known; every other outcome carries the full info.
///
/// The raw name is as hostile as the archive: escape it before showing it (it holds no control
/// characters only when the entry was *not* refused for them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryInfoOrName {
    Info(EntryInfo),
    Name { index: usize, raw_name: String },
}

impl EntryInfoOrName {
    pub fn index(&self) -> usize {
        match self {
            Self::Info(info) => info.index,
            Self::Name { index, .. } => *index,
        }
    }

    pub fn raw_name(&self) -> &str {
        match self {
            Self::Info(info) => &info.raw_name,
            Self::Name { raw_name, .. } => raw_name,
        }
    }

    /// The name the file would be delivered under, if its name was usable.
    pub fn file_name(&self) -> Option<&FileName> {
        self.info().map(|info| &info.file_name)
    }

    pub fn info(&self) -> Option<&EntryInfo> {
        match self {
            Self::Info(info) => Some(info),
            Self::Name { .. } => None,
        }
    }
}
