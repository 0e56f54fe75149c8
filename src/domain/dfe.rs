use std::fmt;
use std::str::FromStr;

/// A DfE establishment number: a three-digit local authority code and a four-digit
/// establishment number, written `825/2001`, `825-2001` or `8252001`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DfeNumber {
    la: u16,
    establishment: u16,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not a DfE number: write the LA code and establishment number as 825/2001 or 8252001")]
pub struct InvalidDfeNumber(pub String);

impl DfeNumber {
    pub fn new(la: u16, establishment: u16) -> Option<Self> {
        ((100..=999).contains(&la) && establishment <= 9999).then_some(Self { la, establishment })
    }

    pub fn la_code(&self) -> u16 {
        self.la
    }

    pub fn establishment(&self) -> u16 {
        self.establishment
    }

    /// The seven digits without a separator, as stored and as MIS exports put it in file names.
    pub fn compact(&self) -> String {
        format!("{:03}{:04}", self.la, self.establishment)
    }
}

impl fmt::Display for DfeNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}/{:04}", self.la, self.establishment)
    }
}

impl FromStr for DfeNumber {
    type Err = InvalidDfeNumber;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || InvalidDfeNumber(s.to_owned());
        let t = s.trim();
        let (la, est) = match t.find(['/', '-']) {
            Some(i) => (&t[..i], &t[i + 1..]),
            // Seven bytes need not be seven characters: split only on a character boundary.
            None if t.len() == 7 => t.split_at_checked(3).ok_or_else(err)?,
            None => return Err(err()),
        };
        let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(la, 3) || !digits(est, 4) {
            return Err(err());
        }
        let la: u16 = la.parse().map_err(|_| err())?;
        let est: u16 = est.parse().map_err(|_| err())?;
        DfeNumber::new(la, est).ok_or_else(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_written_forms() {
        for s in ["825/2001", "825-2001", "8252001", " 825/2001 "] {
            let n: DfeNumber = s.parse().unwrap();
            assert_eq!(n.to_string(), "825/2001");
            assert_eq!(n.compact(), "8252001");
        }
    }

    #[test]
    fn refuses_anything_else() {
        for s in [
            "",
            "825",
            "2001",
            "82520011",
            "825/201",
            "82/52001",
            "abc/defg",
            "825//2001",
            "０825/2001",
            "099/2001",
            "01\u{fffd}df",
            "82é001",
        ] {
            assert!(s.parse::<DfeNumber>().is_err(), "{s:?} should be refused");
        }
    }
}
