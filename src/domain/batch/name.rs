//! What an entry's name in a zip means for delivery.
//!
//! Pigeonpost never writes entries to disk under their names, so a hostile name cannot escape a
//! folder here. Names are still refused when they are hostile, for two reasons: the raw name is
//! shown to people in the sender's quarantine, and a recipient who later unzips or saves the file
//! with an ordinary tool would be exposed to it. A name an honest zip tool never writes (`..`,
//! absolute paths, drive letters) is a sign the archive was built to attack someone.

use crate::domain::file_name::InvalidFileName;
use crate::domain::FileName;

/// What to do with an entry, judged from its name alone.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Named {
    /// Deliver it under this name: the last component of its path (folders are flattened).
    File(FileName),
    /// Skip it silently: a folder, or the `__MACOSX/` resource forks macOS Finder adds to every
    /// archive it makes, which are not files the sender chose.
    Skip,
}

/// Where macOS Finder stores resource forks; never files the sender meant to send.
const MAC_METADATA_FOLDER: &str = "__MACOSX";

/// Judges an entry's name. `Err` holds the rest of a sentence starting "the entry's name".
/// Both `/` and `\` are treated as separators, because Windows tools write `\` despite the
/// format saying `/`, and because a recipient's unzip tool on Windows would honour either.
pub(super) fn judge(raw: &str) -> Result<Named, String> {
    if raw.is_empty() {
        return Err("is empty: every file in an archive needs a name".to_owned());
    }
    if raw.chars().any(is_hidden_control) {
        return Err("contains a control character: rename the file and make the archive again".to_owned());
    }
    if raw.starts_with(['/', '\\']) {
        return Err("is an absolute path: archives must hold relative paths only".to_owned());
    }
    let mut chars = raw.chars();
    if matches!((chars.next(), chars.next()), (Some(letter), Some(':')) if letter.is_ascii_alphabetic()) {
        return Err("starts with a drive letter: archives must hold relative paths only".to_owned());
    }
    if raw.split(['/', '\\']).any(|part| part == "..") {
        return Err("contains '..': archives must not point outside themselves".to_owned());
    }
    if raw.ends_with(['/', '\\']) || raw.split(['/', '\\']).next() == Some(MAC_METADATA_FOLDER) {
        return Ok(Named::Skip);
    }
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    match FileName::parse(last) {
        Ok(name) => Ok(Named::File(name)),
        Err(InvalidFileName::TooLong(len)) => {
            Err(format!("ends in a file name {len} bytes long: rename the file to at most 255 bytes"))
        }
        Err(InvalidFileName::DotName) => Err("ends in '.', which is not a file: give the file its own name".into()),
        // Empty, separators and control characters were refused above; kept for completeness.
        Err(other) => Err(format!("is not a usable file name ({other})")),
    }
}

/// The characters [`FileName::parse`] refuses as controls, checked over the whole path so that a
/// folder part cannot smuggle a line break or a bidi override into the quarantine listing.
fn is_hidden_control(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(raw: &str) -> String {
        match judge(raw) {
            Ok(Named::File(name)) => name.as_str().to_owned(),
            other => panic!("{raw:?} should be a file, got {other:?}"),
        }
    }

    #[test]
    fn plain_names_and_folders_flatten_to_the_last_component() {
        assert_eq!(file("8252001_SC_2026.xml"), "8252001_SC_2026.xml");
        assert_eq!(file("Schools/Primary/8252001.pdf"), "8252001.pdf");
        assert_eq!(file("Schools\\8252001.pdf"), "8252001.pdf");
        assert_eq!(file("./a.pdf"), "a.pdf");
        assert_eq!(file("Année/résumé.docx"), "résumé.docx");
    }

    #[test]
    fn folders_and_mac_metadata_are_skipped() {
        assert_eq!(judge("Schools/"), Ok(Named::Skip));
        assert_eq!(judge("Schools\\Primary\\"), Ok(Named::Skip));
        assert_eq!(judge("__MACOSX/Schools/._8252001.pdf"), Ok(Named::Skip));
        assert!(matches!(judge("Schools/__MACOSX.pdf"), Ok(Named::File(_))));
    }

    #[test]
    fn names_pointing_outside_the_archive_are_refused() {
        for raw in ["../evil.pdf", "a/../../b.pdf", "a\\..\\b.pdf", "..\\x", "..", "x/.."] {
            assert!(judge(raw).is_err_and(|why| why.starts_with("contains '..'")), "{raw}");
        }
        for raw in ["/etc/passwd", "\\x.pdf", "\\\\server\\share\\x.pdf"] {
            assert!(judge(raw).is_err_and(|why| why.starts_with("is an absolute path")), "{raw}");
        }
        for raw in ["C:\\x.pdf", "c:x.pdf", "Z:/x.pdf"] {
            assert!(judge(raw).is_err_and(|why| why.starts_with("starts with a drive letter")), "{raw}");
        }
    }

    #[test]
    fn names_that_would_mislead_a_reader_are_refused() {
        assert!(judge("").is_err_and(|why| why.starts_with("is empty")));
        for raw in ["a\u{1}b.pdf", "folder\nname/x.pdf", "cod\u{202e}fdp.exe", "a\0.pdf"] {
            assert!(judge(raw).is_err_and(|why| why.contains("control character")), "{raw:?}");
        }
        assert!(judge(&format!("f/{}", "a".repeat(256))).is_err_and(|why| why.contains("256 bytes")));
        assert!(judge("folder/.").is_err_and(|why| why.starts_with("ends in '.'")));
    }

    #[test]
    fn colons_elsewhere_and_dots_inside_names_are_ordinary() {
        assert_eq!(file("notes...pdf"), "notes...pdf");
        assert_eq!(file("..hidden"), "..hidden");
        assert_eq!(file("report 10:30.txt"), "report 10:30.txt");
    }
}
