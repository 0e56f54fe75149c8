//! Header formats: `Content-Disposition` (RFC 6266) and `Content-Digest` (RFC 9530).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// RFC 5987 `attr-char`s other than alphanumerics; everything else is percent-encoded.
const ATTR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment` with an ASCII fallback name for old clients and the exact UTF-8 name in `filename*`.
pub fn content_disposition(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' && c != '%' { c } else { '_' })
        .collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", utf8_percent_encode(name, ATTR))
}

pub fn sha256_digest_field(digest: &[u8; 32]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(digest))
}

#[derive(Debug, PartialEq, Eq)]
pub enum DigestHeader {
    Sha256([u8; 32]),
    /// Only algorithms we do not check were given; RFC 9530 lets us ignore them.
    NoneWeCheck,
    Malformed,
}

/// Reads the `sha-256` member of a `Content-Digest` dictionary.
pub fn parse_content_digest(value: &str) -> DigestHeader {
    for member in value.split(',') {
        let Some((alg, val)) = member.trim().split_once('=') else {
            return DigestHeader::Malformed;
        };
        if !alg.trim().eq_ignore_ascii_case("sha-256") {
            continue;
        }
        let val = val.trim();
        let Some(b64) = val.strip_prefix(':').and_then(|v| v.strip_suffix(':')) else {
            return DigestHeader::Malformed;
        };
        return match STANDARD.decode(b64).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()) {
            Some(d) => DigestHeader::Sha256(d),
            None => DigestHeader::Malformed,
        };
    }
    DigestHeader::NoneWeCheck
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disposition_keeps_the_exact_name_and_a_safe_fallback() {
        assert_eq!(content_disposition("a b.xml"), "attachment; filename=\"a b.xml\"; filename*=UTF-8''a%20b.xml");
        assert_eq!(
            content_disposition("Élève \"x\".csv"),
            "attachment; filename=\"_l_ve _x_.csv\"; filename*=UTF-8''%C3%89l%C3%A8ve%20%22x%22.csv"
        );
    }

    #[test]
    fn digest_round_trips_and_refuses_garbage() {
        let d = [7u8; 32];
        assert_eq!(parse_content_digest(&sha256_digest_field(&d)), DigestHeader::Sha256(d));
        assert_eq!(
            parse_content_digest(&format!("sha-512=:AAAA:, {}", sha256_digest_field(&d))),
            DigestHeader::Sha256(d)
        );
        assert_eq!(parse_content_digest("sha-512=:AAAA:"), DigestHeader::NoneWeCheck);
        assert_eq!(parse_content_digest("sha-256=:AAAA:"), DigestHeader::Malformed);
        assert_eq!(parse_content_digest("sha-256=abc"), DigestHeader::Malformed);
        assert_eq!(parse_content_digest("garbage"), DigestHeader::Malformed);
    }
}
