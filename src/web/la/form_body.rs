//! The fields of a plain HTML form post (`application/x-www-form-urlencoded`), for the
//! quarantine's small forms: the router carries no form extractor.

use percent_encoding::percent_decode;

/// Each `name=value` pair in order, `+` read as a space and percent-escapes decoded; a pair
/// that is not UTF-8 is read with replacement characters and so matches nothing expected.
pub fn parse(body: &[u8]) -> Vec<(String, String)> {
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut halves = pair.splitn(2, |b| *b == b'=');
            let name = decode(halves.next().unwrap_or_default());
            let value = decode(halves.next().unwrap_or_default());
            (name, value)
        })
        .collect()
}

fn decode(raw: &[u8]) -> String {
    let spaced: Vec<u8> = raw.iter().map(|b| if *b == b'+' { b' ' } else { *b }).collect();
    percent_decode(&spaced).decode_utf8_lossy().into_owned()
}

/// The first value given for `name`.
pub fn first<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_decoded_in_order_and_the_first_of_a_name_wins() {
        let fields = parse(b"csrf=ab%2Bc&to=825%2F2001&q=Oak+field&to=other&bare");
        assert_eq!(first(&fields, "csrf"), Some("ab+c"));
        assert_eq!(first(&fields, "to"), Some("825/2001"));
        assert_eq!(first(&fields, "q"), Some("Oak field"));
        assert_eq!(first(&fields, "bare"), Some(""));
        assert_eq!(first(&fields, "missing"), None);
    }
}
