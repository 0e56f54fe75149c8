//! Which school a batch file is for, read from its name.
//!
//! The LA sends batches of files, one per school, and each file is routed by the establishment
//! named at the start of its name: a DfE number (`8252001_Budget.pdf`, `825-2001 Budget.pdf`) or
//! a URN (`123456_Budget.pdf`). A misrouted file discloses one school's data to another, so the
//! rules refuse rather than guess: a name that also carries a different number is ambiguous, and
//! a bare four-digit establishment number is not enough because it repeats across LAs.
//!
//! A number is a token only when it stands alone: preceded by the start of the name or a
//! delimiter, followed by a delimiter or the end. So `82520011` (eight digits) and the digits of
//! `20260124` are not numbers, and a date such as `2026-01-24` (4-2-2 digits) is never read as one.

use std::fmt;

use super::DfeNumber;

/// The establishment a file is for, as its name gives it. A URN and a DfE number can name the
/// same school; telling whether they do needs the register, so this module never equates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EstablishmentKey {
    Dfe(DfeNumber),
    Urn(u32),
}

impl fmt::Display for EstablishmentKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dfe(n) => write!(f, "DfE number {n}"),
            Self::Urn(urn) => write!(f, "URN {urn}"),
        }
    }
}

/// Why a file cannot be routed. The messages tell the sender how to rename the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unroutable {
    #[error(
        "the name starts with no DfE number (such as 8252001) or URN (6 digits): rename the file so its name \
         starts with the number of the school it is for, followed by _ (for example 8252001_Budget.pdf)"
    )]
    NoNumber,
    /// `first` and `other` are the numbers as written in the name, so the sender can find them.
    #[error(
        "the name starts with {first} but also carries {other}, so it is not clear which school the file is \
         for: rename the file so it carries only the number of the school it is for"
    )]
    Ambiguous { first: String, other: String },
}

/// A routed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub key: EstablishmentKey,
    /// The name with the leading number and the `_`, `-` or spaces after it removed, as channels
    /// may show it to the school (`8252001_Budget.pdf` becomes `Budget.pdf`). When nothing but an
    /// extension would be left (`8252001.pdf`), this is the whole name, so it is never blank.
    pub stripped_name: String,
}

/// Routes a file by the establishment number at the start of its name.
pub fn route_by_name(file_name: &str) -> Result<Routed, Unroutable> {
    let tokens = tokens(file_name);
    let first = match tokens.first() {
        Some(t) if t.start == 0 => t,
        _ => return Err(Unroutable::NoNumber),
    };
    if let Some(other) = tokens.iter().find(|t| t.key != first.key) {
        return Err(Unroutable::Ambiguous {
            first: file_name[..first.end].to_owned(),
            other: file_name[other.start..other.end].to_owned(),
        });
    }
    Ok(Routed { key: first.key, stripped_name: strip_leading(file_name, first.end) })
}

/// Every delimited DfE number (`8252001` or `825-2001`; `/` cannot occur in a file name) and
/// six-digit URN anywhere in the name, in order of first appearance, each once.
pub fn numbers_in_name(file_name: &str) -> Vec<EstablishmentKey> {
    let mut keys = Vec::new();
    for t in tokens(file_name) {
        if !keys.contains(&t.key) {
            keys.push(t.key);
        }
    }
    keys
}

/// For the census channel, where a school sends its own return: `Ok` if the name carries `own`
/// (anywhere, as a delimited token) and no other DfE number. Otherwise `Err` with the DfE numbers
/// it does carry (empty: none), so the message can say what was found. URNs are ignored: census
/// files are named by DfE number, and a six-digit run there is more likely a date such as 240126.
pub fn check_own_number(file_name: &str, own: DfeNumber) -> Result<(), Vec<DfeNumber>> {
    let found: Vec<DfeNumber> = numbers_in_name(file_name)
        .into_iter()
        .filter_map(|k| match k {
            EstablishmentKey::Dfe(n) => Some(n),
            EstablishmentKey::Urn(_) => None,
        })
        .collect();
    if found == [own] {
        Ok(())
    } else {
        Err(found)
    }
}

/// A number found in a name, with its byte span (always on ASCII boundaries).
struct Token {
    key: EstablishmentKey,
    start: usize,
    end: usize,
}

/// Characters that may separate a number from the rest of the name. Brackets are included so
/// that `Budget (8252001).pdf` and `8252001(2).pdf`, as browsers name a second download, count.
fn is_delimiter(b: u8) -> bool {
    matches!(b, b'_' | b'-' | b'.' | b' ' | b'(' | b')' | b'[' | b']')
}

fn tokens(name: &str) -> Vec<Token> {
    let b = name.as_bytes();
    let run_end = |from: usize| from + b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let ends_token = |at: usize| b.get(at).is_none_or(|&c| is_delimiter(c));
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let end = run_end(start);
        i = end;
        if start > 0 && !is_delimiter(b[start - 1]) {
            continue;
        }
        // LLL-EEEE: three digits, a hyphen, four digits, standing alone as a pair.
        if end - start == 3 && b.get(end) == Some(&b'-') {
            let est_end = run_end(end + 1);
            if est_end - (end + 1) == 4 && ends_token(est_end) {
                if let Some(n) = dfe(&name[start..end], &name[end + 1..est_end]) {
                    found.push(Token { key: EstablishmentKey::Dfe(n), start, end: est_end });
                    i = est_end;
                    continue;
                }
            }
        }
        if !ends_token(end) {
            continue;
        }
        let digits = &name[start..end];
        let key = match digits.len() {
            7 => dfe(&digits[..3], &digits[3..]).map(EstablishmentKey::Dfe),
            // URNs start at 100000; a leading zero could not be told apart once parsed.
            6 if !digits.starts_with('0') => digits.parse().ok().map(EstablishmentKey::Urn),
            _ => None,
        };
        if let Some(key) = key {
            found.push(Token { key, start, end });
        }
    }
    found
}

/// A DfE number from its LA code and establishment digits; `None` for an LA code below 100.
fn dfe(la: &str, establishment: &str) -> Option<DfeNumber> {
    DfeNumber::new(la.parse().ok()?, establishment.parse().ok()?)
}

fn strip_leading(name: &str, number_end: usize) -> String {
    let rest = name[number_end..].trim_start_matches(['_', '-', ' ']);
    if rest.is_empty() || rest.starts_with('.') {
        name.to_owned()
    } else {
        rest.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn dfe(s: &str) -> DfeNumber {
        s.parse().unwrap()
    }

    fn routes_to(name: &str) -> EstablishmentKey {
        route_by_name(name).unwrap_or_else(|e| panic!("{name:?} should route: {e}")).key
    }

    #[test]
    fn a_seven_digit_dfe_number_at_the_start_routes_with_each_delimiter() {
        for name in ["8252001_Budget.pdf", "8252001-Budget.pdf", "8252001 Budget.pdf", "8252001.pdf", "8252001"] {
            assert_eq!(routes_to(name), EstablishmentKey::Dfe(dfe("825/2001")), "{name:?}");
        }
    }

    #[test]
    fn the_hyphenated_form_counts_as_one_dfe_number() {
        for name in ["825-2001_Budget.pdf", "825-2001 Budget.pdf", "825-2001.pdf", "825-2001"] {
            assert_eq!(routes_to(name), EstablishmentKey::Dfe(dfe("825/2001")), "{name:?}");
        }
        assert_eq!(numbers_in_name("825-2001_x.pdf"), vec![EstablishmentKey::Dfe(dfe("825/2001"))]);
    }

    #[test]
    fn a_six_digit_urn_at_the_start_routes() {
        assert_eq!(routes_to("123456_Budget.pdf"), EstablishmentKey::Urn(123456));
        assert_eq!(routes_to("990002.xlsx"), EstablishmentKey::Urn(990002));
    }

    #[test]
    fn the_stripped_name_drops_the_number_and_its_delimiters() {
        let stripped = |name: &str| route_by_name(name).unwrap().stripped_name;
        assert_eq!(stripped("8252001_Budget 2026.pdf"), "Budget 2026.pdf");
        assert_eq!(stripped("825-2001 - Budget.pdf"), "Budget.pdf");
        assert_eq!(stripped("123456__x.csv"), "x.csv");
        assert_eq!(stripped("8252001 (2).pdf"), "(2).pdf");
    }

    #[test]
    fn the_stripped_name_is_the_whole_name_when_only_an_extension_would_be_left() {
        for name in ["8252001.pdf", "8252001_.pdf", "8252001", "8252001_"] {
            assert_eq!(route_by_name(name).unwrap().stripped_name, name);
        }
    }

    #[test]
    fn a_number_that_is_not_at_the_start_does_not_route() {
        for name in ["Budget_8252001.pdf", " 8252001_x.pdf", "x8252001.pdf", "(8252001).pdf"] {
            assert_eq!(route_by_name(name), Err(Unroutable::NoNumber), "{name:?}");
        }
    }

    #[test]
    fn a_four_digit_establishment_number_alone_is_not_enough() {
        for name in ["2001_Budget.pdf", "2001.pdf", "825_2001.pdf", "825 2001.pdf", "825.2001.pdf"] {
            assert_eq!(route_by_name(name), Err(Unroutable::NoNumber), "{name:?}");
        }
    }

    #[test]
    fn a_number_followed_by_something_other_than_a_delimiter_is_not_a_number() {
        for name in ["8252001a.pdf", "82520011_x.pdf", "1234567890.pdf", "12345_x.pdf", "8252001,x.pdf", "8252001١.pdf"]
        {
            assert_eq!(route_by_name(name), Err(Unroutable::NoNumber), "{name:?}");
        }
    }

    #[test]
    fn digits_of_dates_are_not_numbers() {
        for name in ["20260124_Budget.pdf", "2026-01-24_Budget.pdf", "24-01-2026.pdf", "2026_01_24.pdf"] {
            assert_eq!(numbers_in_name(name), vec![], "{name:?}");
            assert_eq!(route_by_name(name), Err(Unroutable::NoNumber), "{name:?}");
        }
        assert_eq!(routes_to("8252001_2026-01-24.pdf"), EstablishmentKey::Dfe(dfe("825/2001")));
        assert_eq!(routes_to("8252001_20260124.pdf"), EstablishmentKey::Dfe(dfe("825/2001")));
    }

    #[test]
    fn a_seven_digit_run_with_an_la_code_below_100_is_not_a_dfe_number() {
        assert_eq!(route_by_name("0992001_x.pdf"), Err(Unroutable::NoNumber));
        assert_eq!(route_by_name("099-2001_x.pdf"), Err(Unroutable::NoNumber));
        assert_eq!(numbers_in_name("0123456_x.pdf"), vec![], "nor is a six-digit URN after a leading zero");
    }

    #[test]
    fn a_name_that_also_carries_another_dfe_number_is_ambiguous() {
        assert_eq!(
            route_by_name("8252002_8252001_x.pdf"),
            Err(Unroutable::Ambiguous { first: "8252002".into(), other: "8252001".into() })
        );
        assert_eq!(
            route_by_name("825-2001 for 825-2002.pdf"),
            Err(Unroutable::Ambiguous { first: "825-2001".into(), other: "825-2002".into() })
        );
    }

    #[test]
    fn a_name_that_also_carries_a_urn_is_ambiguous_because_only_the_register_could_tell() {
        assert_eq!(
            route_by_name("8252001_123456.pdf"),
            Err(Unroutable::Ambiguous { first: "8252001".into(), other: "123456".into() })
        );
    }

    #[test]
    fn repeating_the_same_number_is_not_ambiguous() {
        assert_eq!(routes_to("8252001_Budget_825-2001.pdf"), EstablishmentKey::Dfe(dfe("825/2001")));
        assert_eq!(routes_to("123456 copy of 123456.pdf"), EstablishmentKey::Urn(123456));
    }

    #[test]
    fn the_messages_tell_the_sender_what_to_do() {
        assert!(Unroutable::NoNumber.to_string().contains("such as 8252001"));
        let e = Unroutable::Ambiguous { first: "8252002".into(), other: "8252001".into() };
        assert!(e.to_string().contains("starts with 8252002 but also carries 8252001"), "{e}");
        assert!(e.to_string().contains("rename the file"), "{e}");
    }

    #[test]
    fn numbers_in_name_finds_every_delimited_number_once_in_order() {
        let found = numbers_in_name("Budget [825-2001] (123456) 8252002.8252001 x8252003 8252004x.pdf");
        assert_eq!(
            found,
            vec![
                EstablishmentKey::Dfe(dfe("825/2001")),
                EstablishmentKey::Urn(123456),
                EstablishmentKey::Dfe(dfe("825/2002")),
            ]
        );
    }

    #[test]
    fn a_hyphenated_number_inside_a_longer_digit_run_is_not_read() {
        assert_eq!(numbers_in_name("1825-2001.pdf"), vec![]);
        assert_eq!(numbers_in_name("825-20011.pdf"), vec![]);
        assert_eq!(numbers_in_name("825-2001x.pdf"), vec![]);
        assert_eq!(numbers_in_name("825-2001-2026.pdf"), vec![EstablishmentKey::Dfe(dfe("825/2001"))]);
    }

    #[test]
    fn the_census_check_accepts_the_schools_own_number_anywhere() {
        let own = dfe("825/2001");
        for name in ["8252001_SC_2026.xml", "SC_825-2001_2026.xml", "Census 8252001.xml", "SC.8252001.8252001.xml"] {
            assert_eq!(check_own_number(name, own), Ok(()), "{name:?}");
        }
        assert_eq!(check_own_number("8252001_240126.xml", own), Ok(()), "a six-digit date is not held against it");
    }

    #[test]
    fn the_census_check_reports_what_it_found_otherwise() {
        let own = dfe("825/2001");
        assert_eq!(check_own_number("SC_2026.xml", own), Err(vec![]));
        assert_eq!(check_own_number("SC_82520011.xml", own), Err(vec![]));
        assert_eq!(check_own_number("8252002_SC.xml", own), Err(vec![dfe("825/2002")]));
        assert_eq!(check_own_number("8252001_8252002_SC.xml", own), Err(vec![own, dfe("825/2002")]));
    }

    fn any_dfe() -> impl Strategy<Value = DfeNumber> {
        (100u16..=999, 0u16..=9999).prop_map(|(la, est)| DfeNumber::new(la, est).unwrap())
    }

    fn written(n: DfeNumber, hyphenated: bool) -> String {
        if hyphenated {
            format!("{:03}-{:04}", n.la_code(), n.establishment())
        } else {
            n.compact()
        }
    }

    proptest! {
        #[test]
        fn routing_never_panics_on_any_string(name in ".*") {
            let _ = route_by_name(&name);
            let _ = numbers_in_name(&name);
        }

        #[test]
        fn routing_never_panics_on_names_dense_in_digits_and_delimiters(name in "[0-9_. ()\\[\\]a-é-]{0,40}") {
            if let Ok(routed) = route_by_name(&name) {
                prop_assert!(!routed.stripped_name.is_empty());
            }
        }

        #[test]
        fn a_dfe_number_then_a_delimiter_then_text_without_digits_routes_to_it(
            n in any_dfe(),
            hyphenated in any::<bool>(),
            delimiter in "[-_. ]",
            rest in "[^0-9]{0,30}",
        ) {
            let name = format!("{}{delimiter}{rest}", written(n, hyphenated));
            prop_assert_eq!(route_by_name(&name).map(|r| r.key), Ok(EstablishmentKey::Dfe(n)));
        }

        #[test]
        fn another_schools_number_in_front_makes_a_name_ambiguous(
            n in any_dfe(),
            other in any_dfe(),
            hyphenated in any::<bool>(),
            rest in "[^0-9]{0,30}",
        ) {
            prop_assume!(n != other);
            let name = format!("{}_{}_{rest}.pdf", written(other, hyphenated), n.compact());
            let is_ambiguous = matches!(route_by_name(&name), Err(Unroutable::Ambiguous { .. }));
            prop_assert!(is_ambiguous);
        }

        #[test]
        fn numbers_joined_by_delimiters_are_all_found(
            numbers in proptest::collection::vec((any_dfe(), any::<bool>()), 1..5),
            delimiter in "[-_. ]",
        ) {
            let name: Vec<String> = numbers.iter().map(|&(n, h)| written(n, h)).collect();
            let mut expected: Vec<EstablishmentKey> = Vec::new();
            for &(n, _) in &numbers {
                if !expected.contains(&EstablishmentKey::Dfe(n)) {
                    expected.push(EstablishmentKey::Dfe(n));
                }
            }
            prop_assert_eq!(numbers_in_name(&name.join(&delimiter)), expected);
        }
    }
}
