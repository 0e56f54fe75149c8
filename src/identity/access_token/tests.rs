use super::*;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use serde_json::json;
use sha2::Sha256;

const NOW: i64 = 1_700_000_000;
const TTL: i64 = 300;
const K1: [u8; 32] = [1; 32];
const K2: [u8; 32] = [2; 32];

fn keys() -> TokenKeys {
    TokenKeys::new("k1", vec![("k1".to_owned(), K1)])
}

fn issue(keys: &TokenKeys) -> String {
    issue_access_token(keys, 42, 7, "session-1", NOW, TTL).expect("issues")
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with exactly this header and payload, HS256-signed with `key` whatever the header
/// says, so each check can be reached on its own.
fn sign_raw(header: &Value, payload: &Value, key: &[u8]) -> String {
    let message = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload.to_string().as_bytes()));
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(message.as_bytes());
    format!("{message}.{}", b64(&mac.finalize().into_bytes()))
}

fn good_header() -> Value {
    json!({"alg": "HS256", "typ": "JWT", "kid": "k1"})
}

fn good_payload() -> Value {
    json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "42", "org": 7, "sid": "session-1",
        "iat": NOW, "exp": NOW + TTL, "jti": "00000000-0000-4000-8000-000000000000"
    })
}

fn payload_with(field: &str, value: Value) -> Value {
    let mut p = good_payload();
    p[field] = value;
    p
}

#[test]
fn an_issued_token_verifies_and_round_trips_its_claims() {
    let keys = keys();
    let claims = verify_access_token(&keys, &issue(&keys), NOW).expect("verifies");
    assert_eq!(claims.iss, "pigeonpost");
    assert_eq!(claims.aud, "pigeonpost-api");
    assert_eq!(claims.sub, "42");
    assert_eq!(claims.org, 7);
    assert_eq!(claims.sid, "session-1");
    assert_eq!((claims.iat, claims.exp), (NOW, NOW + TTL));
    assert!(uuid::Uuid::parse_str(&claims.jti).is_ok());
}

#[test]
fn the_header_names_hs256_and_the_primary_kid() {
    let keys = TokenKeys::new("k2", vec![("k1".to_owned(), K1), ("k2".to_owned(), K2)]);
    let header = jsonwebtoken::decode_header(&issue(&keys)).expect("header");
    assert_eq!(header.alg, Algorithm::HS256);
    assert_eq!(header.kid.as_deref(), Some("k2"));
}

#[test]
fn each_token_gets_its_own_jti() {
    let keys = keys();
    let a = verify_access_token(&keys, &issue(&keys), NOW).expect("a");
    let b = verify_access_token(&keys, &issue(&keys), NOW).expect("b");
    assert_ne!(a.jti, b.jti);
}

#[test]
fn a_hand_built_token_with_good_claims_verifies() {
    // Guards the helpers below: the failures they produce are for the intended reason.
    let token = sign_raw(&good_header(), &good_payload(), &K1);
    assert!(verify_access_token(&keys(), &token, NOW).is_ok());
}

#[test]
fn a_token_is_accepted_up_to_the_leeway_after_expiry_and_refused_after() {
    let keys = keys();
    let token = issue(&keys);
    assert!(verify_access_token(&keys, &token, NOW + TTL + 30).is_ok());
    assert_eq!(verify_access_token(&keys, &token, NOW + TTL + 31), Err(TokenError::Expired));
}

#[test]
fn a_token_issued_in_the_future_beyond_the_leeway_is_not_yet_valid() {
    let keys = keys();
    let token = issue(&keys);
    assert!(verify_access_token(&keys, &token, NOW - 30).is_ok());
    assert_eq!(verify_access_token(&keys, &token, NOW - 31), Err(TokenError::NotYetValid));
}

#[test]
fn a_future_nbf_is_not_yet_valid() {
    let token = sign_raw(&good_header(), &payload_with("nbf", json!(NOW + 60)), &K1);
    assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::NotYetValid));
}

#[test]
fn a_token_signed_with_another_key_under_the_same_kid_is_refused() {
    let forger = TokenKeys::new("k1", vec![("k1".to_owned(), [9; 32])]);
    assert_eq!(verify_access_token(&keys(), &issue(&forger), NOW), Err(TokenError::BadSignature));
}

#[test]
fn an_alg_none_token_is_refused() {
    let header = b64(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
    let payload = b64(good_payload().to_string().as_bytes());
    let token = format!("{header}.{payload}.");
    assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::WrongAlgorithm));
    // Without the final dot it is not even a JWS.
    assert_eq!(verify_access_token(&keys(), &format!("{header}.{payload}"), NOW), Err(TokenError::Malformed));
}

#[test]
fn the_algorithm_is_checked_before_the_kid() {
    let header = json!({"alg": "none", "kid": "nobody-knows-this-kid"});
    let token = sign_raw(&header, &good_payload(), &K1);
    assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::WrongAlgorithm));
}

#[test]
fn hs512_rs256_and_other_algorithm_headers_are_refused() {
    // A genuine HS512 token made by jsonwebtoken with the right key.
    let mut header = Header::new(Algorithm::HS512);
    header.kid = Some("k1".to_owned());
    let hs512 = jsonwebtoken::encode(&header, &good_payload(), &EncodingKey::from_secret(&K1)).expect("signs");
    assert_eq!(verify_access_token(&keys(), &hs512, NOW), Err(TokenError::WrongAlgorithm));
    for alg in [json!("RS256"), json!("hs256"), json!("HS256 "), json!("ES256"), json!(null), json!(256)] {
        let header = json!({"alg": alg, "typ": "JWT", "kid": "k1"});
        let token = sign_raw(&header, &good_payload(), &K1);
        assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::WrongAlgorithm), "{alg}");
    }
    let token = sign_raw(&json!({"typ": "JWT", "kid": "k1"}), &good_payload(), &K1);
    assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::WrongAlgorithm));
}

#[test]
fn a_tampered_payload_is_refused() {
    let keys = keys();
    let token = issue(&keys);
    let parts: Vec<&str> = token.split('.').collect();
    let payload = URL_SAFE_NO_PAD.decode(parts[1]).expect("base64");
    let mut claims: Value = serde_json::from_slice(&payload).expect("json");
    claims["org"] = json!(8);
    let forged = format!("{}.{}.{}", parts[0], b64(claims.to_string().as_bytes()), parts[2]);
    assert_eq!(verify_access_token(&keys, &forged, NOW), Err(TokenError::BadSignature));
}

#[test]
fn the_signature_is_checked_before_expiry() {
    let forger = TokenKeys::new("k1", vec![("k1".to_owned(), [9; 32])]);
    assert_eq!(verify_access_token(&keys(), &issue(&forger), NOW + 10_000), Err(TokenError::BadSignature));
}

#[test]
fn an_unknown_kid_is_refused() {
    let other = TokenKeys::new("k9", vec![("k9".to_owned(), K1)]);
    assert_eq!(verify_access_token(&keys(), &issue(&other), NOW), Err(TokenError::UnknownKid));
}

#[test]
fn a_missing_kid_is_refused() {
    let header = json!({"alg": "HS256", "typ": "JWT"});
    let token = sign_raw(&header, &good_payload(), &K1);
    assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::MissingKid));
    let header = json!({"alg": "HS256", "kid": null});
    let token = sign_raw(&header, &good_payload(), &K1);
    assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::MissingKid));
    let header = json!({"alg": "HS256", "kid": 1});
    let token = sign_raw(&header, &good_payload(), &K1);
    assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::Malformed));
}

#[test]
fn a_crit_header_is_refused() {
    let header = json!({"alg": "HS256", "kid": "k1", "crit": ["exp"]});
    let token = sign_raw(&header, &good_payload(), &K1);
    assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::Malformed));
}

#[test]
fn a_wrong_issuer_is_refused() {
    let token = sign_raw(&good_header(), &payload_with("iss", json!("someone-else")), &K1);
    assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::WrongIssuer));
}

#[test]
fn a_wrong_audience_is_refused() {
    let token = sign_raw(&good_header(), &payload_with("aud", json!("pigeonpost-admin")), &K1);
    assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::WrongAudience));
}

#[test]
fn an_audience_list_is_malformed() {
    let token = sign_raw(&good_header(), &payload_with("aud", json!([AUDIENCE])), &K1);
    assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::Malformed));
}

#[test]
fn each_missing_claim_is_named() {
    for claim in ["iss", "aud", "sub", "org", "sid", "iat", "exp", "jti"] {
        let mut payload = good_payload();
        payload.as_object_mut().expect("object").remove(claim);
        let token = sign_raw(&good_header(), &payload, &K1);
        assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::MissingClaim(claim)), "{claim}");
    }
}

#[test]
fn a_claim_of_the_wrong_type_is_malformed() {
    let token = sign_raw(&good_header(), &payload_with("org", json!("7")), &K1);
    assert_eq!(verify_access_token(&keys(), &token, NOW), Err(TokenError::Malformed));
}

#[test]
fn a_token_under_a_rotated_out_key_still_verifies_while_the_key_is_held() {
    let old = keys();
    let token = issue(&old);
    let rotated = TokenKeys::new("k2", vec![("k1".to_owned(), K1), ("k2".to_owned(), K2)]);
    let claims = verify_access_token(&rotated, &token, NOW).expect("old key still verifies");
    assert_eq!(claims.org, 7);
    let new_token = issue(&rotated);
    assert_eq!(jsonwebtoken::decode_header(&new_token).expect("header").kid.as_deref(), Some("k2"));
    assert_eq!(verify_access_token(&old, &new_token, NOW), Err(TokenError::UnknownKid));
}

#[test]
fn issuing_without_the_primary_key_or_with_a_bad_lifetime_fails() {
    let keys = TokenKeys::new("k2", vec![("k1".to_owned(), K1)]);
    assert!(issue_access_token(&keys, 1, 1, "s", NOW, TTL).is_err());
    let keys = self::keys();
    assert!(issue_access_token(&keys, 1, 1, "s", NOW, 0).is_err());
    assert!(issue_access_token(&keys, 1, 1, "s", i64::MAX, TTL).is_err());
}

#[test]
fn structurally_broken_tokens_are_malformed() {
    let keys = keys();
    let token = issue(&keys);
    let oversized = format!("{token}{}", "A".repeat(MAX_TOKEN_LEN));
    for bad in
        ["", ".", "..", "...", "a.b", "a.b.c.d", "!!!.b.c", "bm90IGpzb24.e30.", &format!("{token}.x"), &oversized]
    {
        assert_eq!(verify_access_token(&keys, bad, NOW), Err(TokenError::Malformed), "{bad:?}");
    }
}

#[test]
fn duplicate_alg_members_never_verify() {
    let payload = b64(good_payload().to_string().as_bytes());
    for header in [r#"{"alg":"HS256","alg":"none","kid":"k1"}"#, r#"{"alg":"none","alg":"HS256","kid":"k1"}"#] {
        let message = format!("{}.{payload}", b64(header.as_bytes()));
        let mut mac = Hmac::<Sha256>::new_from_slice(&K1).expect("key");
        mac.update(message.as_bytes());
        let token = format!("{message}.{}", b64(&mac.finalize().into_bytes()));
        assert!(verify_access_token(&keys(), &token, NOW).is_err(), "{header}");
    }
}

#[test]
fn debug_shows_key_ids_but_not_key_bytes() {
    let keys = TokenKeys::new("k2", vec![("k1".to_owned(), [0xab; 32]), ("k2".to_owned(), K2)]);
    let shown = format!("{keys:?}");
    assert_eq!(shown, r#"TokenKeys { primary: "k2", kids: ["k1", "k2"] }"#);
}

#[test]
fn error_messages_do_not_contain_the_token() {
    let keys = keys();
    let token = issue(&keys);
    let err = verify_access_token(&keys, &token, NOW + 10_000).expect_err("expired");
    assert!(!err.to_string().contains(&token));
}

proptest! {
    #[test]
    fn random_strings_never_verify_and_never_panic(s in "\\PC*") {
        prop_assert!(verify_access_token(&keys(), &s, NOW).is_err());
    }

    #[test]
    fn random_jwt_shaped_strings_never_verify(
        s in "[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,300}\\.[A-Za-z0-9_-]{0,60}"
    ) {
        prop_assert!(verify_access_token(&keys(), &s, NOW).is_err());
    }

    #[test]
    fn random_payloads_under_a_valid_header_never_verify(
        payload in "[A-Za-z0-9_-]{0,300}",
        sig in "[A-Za-z0-9_-]{0,60}",
    ) {
        let token = format!("{}.{payload}.{sig}", b64(good_header().to_string().as_bytes()));
        prop_assert!(verify_access_token(&keys(), &token, NOW).is_err());
    }

    #[test]
    fn changing_any_one_character_of_a_valid_token_breaks_it(
        index in any::<prop::sample::Index>(),
        replacement in "[A-Za-z0-9_.-]",
    ) {
        let keys = keys();
        let token = issue(&keys);
        let i = index.index(token.len());
        prop_assume!(token[i..=i] != replacement);
        let mut changed = token.clone();
        changed.replace_range(i..=i, &replacement);
        prop_assert!(verify_access_token(&keys, &changed, NOW).is_err());
    }
}
