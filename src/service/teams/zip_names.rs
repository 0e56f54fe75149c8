//! Names for the entries of a collected archive. A stored file name is metadata a sender typed;
//! in an archive it becomes a path on the collector's disk, so it must not climb out of the
//! folder (`..`, separators), hide what it is (control or bidirectional characters), or fail to
//! unpack on Windows (reserved characters and device names). Two files with one name are both
//! kept, the second as "name (2).xml".

use std::collections::HashSet;

/// Characters Windows refuses in a file name, besides the separators and controls.
const RESERVED: [char; 7] = ['<', '>', ':', '"', '|', '?', '*'];

const DEVICE_NAMES: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9", "LPT1", "LPT2",
    "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// One safe name per file, in the order given, none repeated (ignoring case, as Windows does).
pub fn entry_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut taken = HashSet::new();
    names
        .into_iter()
        .map(|raw| {
            let safe = safe_name(raw);
            let mut candidate = safe.clone();
            let mut n = 2;
            while !taken.insert(candidate.to_lowercase()) {
                candidate = numbered(&safe, n);
                n += 1;
            }
            candidate
        })
        .collect()
}

/// The name with everything that could be read as a path or hide what it is made harmless.
pub fn safe_name(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        let harmful = c.is_control()
            || matches!(c, '/' | '\\' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            || RESERVED.contains(&c);
        let c = if harmful { '_' } else { c };
        // A run of dots becomes one, so no part of the name is ever "..".
        if c == '.' && out.ends_with('.') {
            continue;
        }
        out.push(c);
    }
    // Windows drops trailing dots and spaces, which could make two names one.
    let out = out.trim_end_matches(['.', ' ']).trim_start_matches(' ');
    if out.is_empty() || out == "." {
        return "file".to_owned();
    }
    let stem = out.split('.').next().unwrap_or_default();
    if DEVICE_NAMES.iter().any(|d| d.eq_ignore_ascii_case(stem)) {
        return format!("_{out}");
    }
    out.to_owned()
}

/// "name (2).xml": the number goes before the extension, so the file still opens as before.
fn numbered(name: &str, n: u32) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({n}).{ext}"),
        _ => format!("{name} ({n})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_kept_as_they_are() {
        for n in ["8252001_SC_2026.xml", "Année scolaire.xlsx", ".hidden", "x y (2).pdf"] {
            assert_eq!(safe_name(n), n);
        }
    }

    #[test]
    fn names_that_would_be_paths_stay_inside_the_folder() {
        assert_eq!(safe_name("../../etc/passwd"), "._._etc_passwd");
        assert_eq!(safe_name("..\\..\\boot.ini"), "._._boot.ini");
        assert_eq!(safe_name(".."), "file");
        assert_eq!(safe_name("/"), "_");
        assert_eq!(safe_name("C:\\x.xml"), "C__x.xml");
        assert!(!safe_name("a..b...c").contains(".."));
    }

    #[test]
    fn control_and_direction_characters_cannot_hide_what_a_file_is() {
        assert_eq!(safe_name("cod\u{202e}lmx.exe"), "cod_lmx.exe");
        assert_eq!(safe_name("a\u{0}b\nc\u{7f}.xml"), "a_b_c_.xml");
    }

    #[test]
    fn names_windows_would_refuse_are_changed_so_they_unpack() {
        assert_eq!(safe_name("report \"final\" <v2>.xml"), "report _final_ _v2_.xml");
        assert_eq!(safe_name("nul.xml"), "_nul.xml");
        assert_eq!(safe_name("returns. "), "returns");
    }

    #[test]
    fn a_repeated_name_is_numbered_before_its_extension() {
        let names = entry_names(["a.xml", "A.XML", "a.xml", "a (2).xml", "noext", "noext"]);
        assert_eq!(names, ["a.xml", "A (2).XML", "a (3).xml", "a (2) (2).xml", "noext", "noext (2)"]);
    }
}
