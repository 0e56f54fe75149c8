//! The fields of a posted form (`application/x-www-form-urlencoded`), repeated names kept: a
//! list of checkboxes posts one `name=` per box ticked. Every page's small forms read them here.

use percent_encoding::percent_decode_str;

/// Every `name=value` pair in order, `+` read as a space and percent escapes decoded; a pair
/// that is not UTF-8 decodes with replacement characters, so it can only fail to match.
pub fn parse(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

/// The first value of `name`, if the form has one.
pub fn first<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Every value of `name`, in order.
pub fn all<'a>(fields: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    fields.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_are_all_kept_and_escapes_decoded() {
        let fields = parse(b"csrf=ab%2Bc&file=1&file=2&note=a+b%20c&empty");
        assert_eq!(first(&fields, "csrf"), Some("ab+c"));
        assert_eq!(all(&fields, "file").collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(first(&fields, "note"), Some("a b c"));
        assert_eq!(first(&fields, "empty"), Some(""));
        assert_eq!(first(&fields, "absent"), None);
    }
}
