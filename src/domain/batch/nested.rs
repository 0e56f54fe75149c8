//! Whether an entry is itself a zip archive.
//!
//! Only one level of archive is unpacked. An archive inside would reach recipients without the
//! checks this module makes (names, sizes, bombs), so unless the limits allow it, it is refused.
//! It is recognised by its `.zip` name, or by starting like a zip whatever it is called, so that
//! renaming `inner.zip` to `inner.dat` does not get it through. Office and OpenDocument files are
//! zips too, and are ordinary documents: their extensions are exempt from the content check.

use std::io::{self, Read};

use crate::domain::FileName;

/// How many bytes [`peek`] reads: the length of a zip signature.
pub(super) const HEAD_LEN: usize = 4;

/// Extensions of document formats that are zip archives inside, and are delivered as files.
const ZIP_BASED_DOCUMENTS: &[&str] = &[
    "docx", "docm", "dotx", "dotm", "xlsx", "xlsm", "xltx", "xltm", "xlam", "pptx", "pptm", "potx", "ppsx", "vsdx",
    "odt", "ods", "odp", "odg", "ott", "ots", "epub",
];

/// Whether the name alone says the entry is a zip archive.
pub(super) fn named_as_zip(name: &FileName) -> bool {
    name.extension().as_deref() == Some("zip")
}

/// Whether an entry that starts with `head` is an archive to refuse: a zip by content, unless its
/// name says it is a document format built on zip.
pub(super) fn is_nested_archive(name: &FileName, head: &[u8]) -> bool {
    let zip_start =
        head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") || head.starts_with(b"PK\x07\x08");
    zip_start && !name.extension().is_some_and(|ext| ZIP_BASED_DOCUMENTS.contains(&ext.as_str()))
}

/// Reads the first [`HEAD_LEN`] bytes (fewer if the entry is shorter), so they can be checked and
/// then handed on in front of the rest of the entry.
pub(super) fn peek(reader: &mut impl Read) -> io::Result<([u8; HEAD_LEN], usize)> {
    let mut head = [0u8; HEAD_LEN];
    let mut filled = 0;
    while filled < HEAD_LEN {
        match reader.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((head, filled))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(raw: &str) -> FileName {
        FileName::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"))
    }

    #[test]
    fn zips_are_recognised_by_name_or_by_content() {
        assert!(named_as_zip(&name("inner.ZIP")));
        assert!(!named_as_zip(&name("zip")));
        assert!(is_nested_archive(&name("inner.dat"), b"PK\x03\x04"));
        assert!(is_nested_archive(&name("noextension"), b"PK\x05\x06"));
        assert!(!is_nested_archive(&name("report.pdf"), b"%PDF"));
    }

    #[test]
    fn office_documents_are_zips_but_not_archives() {
        for doc in ["budget.xlsx", "letter.DOCX", "slides.pptx", "minutes.odt"] {
            assert!(!is_nested_archive(&name(doc), b"PK\x03\x04"), "{doc}");
        }
    }

    #[test]
    fn peek_reads_at_most_the_head_and_copes_with_short_entries() {
        let mut long: &[u8] = b"PK\x03\x04rest";
        assert_eq!(peek(&mut long).ok(), Some((*b"PK\x03\x04", 4)));
        assert_eq!(long, b"rest");
        let mut short: &[u8] = b"ab";
        assert_eq!(peek(&mut short).ok(), Some((*b"ab\0\0", 2)));
    }
}
