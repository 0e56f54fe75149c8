//! Names an honest zip tool never writes. Each hostile entry is refused on its own; the honest
//! entries around it are still delivered.

use super::*;

/// The archive's names as written, `good.pdf` between every hostile one.
const HOSTILE: [&str; 7] = ["../evil.pdf", "/etc/passwd", "C:\\x.pdf", "a\\..\\b.pdf", "..\\x", "", "bad\u{7}name.pdf"];

/// An archive with each hostile name in turn, an honest entry after each. The writer refuses an
/// empty name, so that one is written as "EMPTY" and its name length patched to zero afterwards
/// (the five bytes become the entry's comment in the central directory and extra data locally).
fn hostile_archive() -> Vec<u8> {
    let honest: Vec<String> = (0..HOSTILE.len()).map(|i| format!("good{i}.pdf")).collect();
    let mut entries: Vec<(&str, &[u8])> = Vec::new();
    for (hostile, honest) in HOSTILE.iter().zip(&honest) {
        entries.push((if hostile.is_empty() { "EMPTY" } else { hostile }, b"%PDF-1.7 hostile"));
        entries.push((honest, b"%PDF-1.7 honest"));
    }
    let mut zip = zip_of(&entries);
    let h = headers(&zip, "EMPTY");
    patch16(&mut zip, &h, 26, 28, 0);
    zip[h.local + 28..h.local + 30].copy_from_slice(&5u16.to_le_bytes());
    zip[h.central + 32..h.central + 34].copy_from_slice(&5u16.to_le_bytes());
    zip
}

#[test]
fn each_hostile_name_is_refused_and_the_others_still_delivered() {
    let outcomes = read_all(&hostile_archive(), BatchLimits::default()).expect("the archive itself is readable");
    assert_eq!(outcomes.len(), 2 * HOSTILE.len());
    for pair in outcomes.chunks(2) {
        let (hostile, refused) = &pair[0];
        assert!(
            matches!(refused, Err(EntryRefusal::UnsafeName(_))),
            "{:?} should be refused for its name, got {refused:?}",
            hostile.raw_name()
        );
        assert!(hostile.file_name().is_none(), "no FileName can exist for {:?}", hostile.raw_name());
        let (honest, delivered) = &pair[1];
        assert_eq!(delivered.as_deref().ok(), Some(&b"%PDF-1.7 honest"[..]), "{}", honest.raw_name());
    }
    let raw: Vec<&str> = outcomes.iter().step_by(2).map(|(label, _)| label.raw_name()).collect();
    assert_eq!(raw, HOSTILE, "the raw name is reported for the quarantine listing");
}

#[test]
fn each_refusal_says_what_is_wrong_with_the_name() {
    let outcomes = read_all(&hostile_archive(), BatchLimits::default()).expect("readable");
    let said = |raw: &str| refusal_of(&outcomes, raw).map(|r| r.to_string()).unwrap_or_default();
    assert_eq!(said("../evil.pdf"), "the entry's name contains '..': archives must not point outside themselves");
    assert!(said("/etc/passwd").contains("absolute path"));
    assert!(said("C:\\x.pdf").contains("drive letter"));
    assert!(said("a\\..\\b.pdf").contains("'..'"));
    assert!(said("").contains("is empty"));
    assert!(said("bad\u{7}name.pdf").contains("control character"));
}

#[test]
fn two_entries_with_the_same_name_make_the_archive_ambiguous() {
    let mut zip = zip_of(&[("report-a.pdf", b"first"), ("report-b.pdf", b"second")]);
    let h = headers(&zip, "report-b.pdf");
    zip[h.local + 37] = b'a';
    zip[h.central + 53] = b'a';
    let error = read_all(&zip, BatchLimits::default()).err();
    assert!(matches!(&error, Some(BatchError::NotAZip(why)) if why.contains("same name")), "{error:?}");
}
