//! HTTP single byte ranges (RFC 9110 section 14.1.2), as a download resumes with them.

/// One range as the client wrote it, before the file's size is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeSpec {
    /// `bytes=first-` or `bytes=first-last`
    From { first: u64, last: Option<u64> },
    /// `bytes=-n`: the final n bytes.
    Suffix(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

impl RangeSpec {
    /// Parses a `Range` header. Returns None for anything but one well-formed byte range
    /// (several ranges, other units, garbage), which a server may answer with the whole file.
    pub fn parse(header: &str) -> Option<Self> {
        let spec = header.trim().strip_prefix("bytes=")?.trim();
        if spec.contains(',') {
            return None;
        }
        let (first, last) = spec.split_once('-')?;
        let num = |s: &str| -> Option<u64> {
            let s = s.trim();
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten()
        };
        match (first.trim().is_empty(), last.trim().is_empty()) {
            (true, false) => Some(RangeSpec::Suffix(num(last)?)),
            (false, true) => Some(RangeSpec::From { first: num(first)?, last: None }),
            (false, false) => {
                let (a, b) = (num(first)?, num(last)?);
                (a <= b).then_some(RangeSpec::From { first: a, last: Some(b) })
            }
            (true, true) => None,
        }
    }

    /// The inclusive byte positions this range covers in a file of `size` bytes.
    pub fn resolve(self, size: u64) -> Result<(u64, u64), Unsatisfiable> {
        if size == 0 {
            return Err(Unsatisfiable);
        }
        match self {
            RangeSpec::From { first, .. } if first >= size => Err(Unsatisfiable),
            RangeSpec::From { first, last } => Ok((first, last.map_or(size - 1, |l| l.min(size - 1)))),
            RangeSpec::Suffix(0) => Err(Unsatisfiable),
            RangeSpec::Suffix(n) => Ok((size.saturating_sub(n), size - 1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(RangeSpec::parse("bytes=0-99"), Some(RangeSpec::From { first: 0, last: Some(99) }));
        assert_eq!(RangeSpec::parse("bytes=100-"), Some(RangeSpec::From { first: 100, last: None }));
        assert_eq!(RangeSpec::parse("bytes=-5"), Some(RangeSpec::Suffix(5)));
        for bad in ["bytes=5-1", "bytes=-", "items=0-1", "bytes=0-1,3-4", "bytes=a-b", "bytes=+1-2", ""] {
            assert_eq!(RangeSpec::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn resolves_against_the_size() {
        assert_eq!(RangeSpec::parse("bytes=0-99").unwrap().resolve(50), Ok((0, 49)));
        assert_eq!(RangeSpec::parse("bytes=10-").unwrap().resolve(50), Ok((10, 49)));
        assert_eq!(RangeSpec::parse("bytes=-5").unwrap().resolve(50), Ok((45, 49)));
        assert_eq!(RangeSpec::parse("bytes=-500").unwrap().resolve(50), Ok((0, 49)));
        assert_eq!(RangeSpec::parse("bytes=50-").unwrap().resolve(50), Err(Unsatisfiable));
        assert_eq!(RangeSpec::parse("bytes=-0").unwrap().resolve(50), Err(Unsatisfiable));
        assert_eq!(RangeSpec::parse("bytes=0-").unwrap().resolve(0), Err(Unsatisfiable));
    }
}
