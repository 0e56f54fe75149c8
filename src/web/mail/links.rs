//! Addresses with a query string, for filters and paging links.

use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};

/// `base?k=v&...`, leaving out empty values.
pub fn with_query(base: &str, pairs: &[(&str, &str)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
        .collect();
    if query.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", query.join("&"))
    }
}

/// The value of `name` in an `application/x-www-form-urlencoded` body.
pub fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&').filter_map(|pair| pair.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| {
        let v = v.replace('+', " ");
        percent_decode_str(&v).decode_utf8_lossy().into_owned()
    })
}

/// A name as it is safe to show: control characters and the bidirectional overrides that make
/// "cod.exe" read as "exe.doc" are written out as their code points.
pub fn harmless(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
            {
                format!("[U+{:04X}]", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_and_control_characters_are_written_out() {
        assert_eq!(harmless("a\u{202e}gpj.exe\u{7}"), "a[U+202E]gpj.exe[U+0007]");
        assert_eq!(harmless("8252001_SC3.xml"), "8252001_SC3.xml");
    }

    #[test]
    fn a_form_field_is_found_and_decoded() {
        assert_eq!(form_field("a=1&csrf=ab%2Bc+d", "csrf").as_deref(), Some("ab+c d"));
        assert_eq!(form_field("a=1", "csrf"), None);
    }

    #[test]
    fn empty_values_are_left_out_and_the_rest_encoded() {
        assert_eq!(with_query("/inbox", &[("channel", ""), ("from", "825/2001")]), "/inbox?from=825%2F2001");
        assert_eq!(with_query("/inbox", &[("channel", "")]), "/inbox");
    }
}
