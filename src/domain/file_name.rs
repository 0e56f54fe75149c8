use std::fmt;

/// The name a sender gave a file. It is metadata only: it is shown to people and put in
/// `Content-Disposition`, and never used to build a path, so it cannot escape anything.
/// Names that could confuse a recipient's file system or a log reader are refused outright.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidFileName {
    #[error("the file name is empty: give the file's name with ?filename=")]
    Empty,
    #[error("the file name is {0} bytes long: use a name of at most 255 bytes")]
    TooLong(usize),
    #[error("the file name contains a control character: rename the file and send it again")]
    ControlCharacter,
    #[error("the file name contains '/' or '\\': give the file's own name, without folders")]
    PathSeparator,
    #[error("the file name '.' or '..' is not a file: give the file's own name")]
    DotName,
}

pub const MAX_FILE_NAME_BYTES: usize = 255;

impl FileName {
    pub fn parse(raw: &str) -> Result<Self, InvalidFileName> {
        if raw.is_empty() {
            return Err(InvalidFileName::Empty);
        }
        if raw.len() > MAX_FILE_NAME_BYTES {
            return Err(InvalidFileName::TooLong(raw.len()));
        }
        // Unicode format controls (bidi overrides) make "cod.exe" look like "exe.doc".
        if raw.chars().any(|c| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')) {
            return Err(InvalidFileName::ControlCharacter);
        }
        if raw.contains(['/', '\\']) {
            return Err(InvalidFileName::PathSeparator);
        }
        if raw == "." || raw == ".." {
            return Err(InvalidFileName::DotName);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased extension, if the name has one.
    pub fn extension(&self) -> Option<String> {
        let (stem, ext) = self.0.rsplit_once('.')?;
        (!stem.is_empty() && !ext.is_empty()).then(|| ext.to_ascii_lowercase())
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_pass_unchanged() {
        for n in ["8252001_SC_2026.xml", "Année scolaire.xlsx", "a", "x y (2).pdf", ".hidden"] {
            assert_eq!(FileName::parse(n).unwrap().as_str(), n);
        }
    }

    #[test]
    fn dangerous_names_are_refused_with_their_reason() {
        assert_eq!(FileName::parse(""), Err(InvalidFileName::Empty));
        assert_eq!(FileName::parse(&"a".repeat(256)), Err(InvalidFileName::TooLong(256)));
        assert!(FileName::parse(&"é".repeat(128)).is_err(), "length counts bytes, not characters");
        assert_eq!(FileName::parse("a\nb"), Err(InvalidFileName::ControlCharacter));
        assert_eq!(FileName::parse("a\0b"), Err(InvalidFileName::ControlCharacter));
        assert_eq!(FileName::parse("cod\u{202e}fdp.exe"), Err(InvalidFileName::ControlCharacter));
        assert_eq!(FileName::parse("../etc/passwd"), Err(InvalidFileName::PathSeparator));
        assert_eq!(FileName::parse("..\\boot.ini"), Err(InvalidFileName::PathSeparator));
        assert_eq!(FileName::parse(".."), Err(InvalidFileName::DotName));
    }

    #[test]
    fn extension_is_lower_cased() {
        assert_eq!(FileName::parse("A.XML").unwrap().extension().as_deref(), Some("xml"));
        assert_eq!(FileName::parse(".bashrc").unwrap().extension(), None);
        assert_eq!(FileName::parse("noext").unwrap().extension(), None);
    }
}
