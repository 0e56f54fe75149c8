//! Addresses with a query string, for filters and paging links.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_left_out_and_the_rest_encoded() {
        assert_eq!(with_query("/inbox", &[("channel", ""), ("from", "825/2001")]), "/inbox?from=825%2F2001");
        assert_eq!(with_query("/inbox", &[("channel", "")]), "/inbox");
    }
}
