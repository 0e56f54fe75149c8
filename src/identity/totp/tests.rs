use super::*;

/// The RFC 6238 appendix B SHA-1 secret.
fn rfc_secret() -> TotpSecret {
    TotpSecret::from_bytes(b"12345678901234567890".to_vec()).expect("20 bytes")
}

/// RFC 6238 appendix B, SHA-1 column: (time, 8-digit code).
const RFC_VECTORS: [(u64, &str); 6] = [
    (59, "94287082"),
    (1_111_111_109, "07081804"),
    (1_111_111_111, "14050471"),
    (1_234_567_890, "89005924"),
    (2_000_000_000, "69279037"),
    (20_000_000_000, "65353130"),
];

const NOW: u64 = 1_700_000_000;

#[test]
fn codes_match_the_last_six_digits_of_the_rfc_6238_sha1_vectors() {
    let secret = rfc_secret();
    for (t, eight) in RFC_VECTORS {
        assert_eq!(code_at(&secret, t), eight[2..], "T={t}");
    }
}

#[test]
fn the_rfc_vectors_verify_and_return_their_step() {
    let secret = rfc_secret();
    for (t, eight) in RFC_VECTORS {
        assert_eq!(verify_totp(&secret, &eight[2..], t, None), Ok(t / 30), "T={t}");
    }
}

#[test]
fn a_code_one_step_either_side_is_accepted() {
    let secret = TotpSecret::generate();
    let step = NOW / 30;
    let before = code_at(&secret, NOW - 30);
    let after = code_at(&secret, NOW + 30);
    assert_eq!(verify_totp(&secret, &before, NOW, None), Ok(step - 1));
    assert_eq!(verify_totp(&secret, &after, NOW, None), Ok(step + 1));
}

#[test]
fn a_code_two_steps_either_side_is_refused() {
    let secret = rfc_secret();
    // Fixed secret and times, checked not to collide with the codes of the accepted window.
    let window: Vec<String> = [-30i64, 0, 30].iter().map(|d| code_at(&secret, NOW.saturating_add_signed(*d))).collect();
    for d in [-60i64, 60] {
        let code = code_at(&secret, NOW.saturating_add_signed(d));
        assert!(!window.contains(&code));
        assert_eq!(verify_totp(&secret, &code, NOW, None), Err(TotpError::Wrong));
    }
}

#[test]
fn replaying_the_same_step_is_refused() {
    let secret = TotpSecret::generate();
    let code = code_at(&secret, NOW);
    let step = verify_totp(&secret, &code, NOW, None).expect("first use");
    assert_eq!(verify_totp(&secret, &code, NOW + 5, Some(step)), Err(TotpError::Replayed));
}

#[test]
fn an_earlier_step_after_a_later_one_is_a_replay() {
    let secret = TotpSecret::generate();
    let step = NOW / 30;
    let earlier = code_at(&secret, NOW - 30);
    assert_eq!(verify_totp(&secret, &earlier, NOW, Some(step)), Err(TotpError::Replayed));
}

#[test]
fn a_later_step_is_accepted_after_an_earlier_one() {
    let secret = TotpSecret::generate();
    let first = verify_totp(&secret, &code_at(&secret, NOW), NOW, None).expect("first");
    let next = code_at(&secret, NOW + 30);
    assert_eq!(verify_totp(&secret, &next, NOW + 30, Some(first)), Ok(first + 1));
}

#[test]
fn a_wrong_code_is_wrong() {
    let secret = rfc_secret();
    // 94287082 is the code for T=59, not for NOW.
    assert_eq!(verify_totp(&secret, "287082", NOW, None), Err(TotpError::Wrong));
}

#[test]
fn malformed_codes_are_refused() {
    let secret = rfc_secret();
    for code in ["12345", "abcdef", "1234567", "", "12345a", "１２３４５６", "123-456", &"1".repeat(1000)] {
        assert_eq!(verify_totp(&secret, code, NOW, None), Err(TotpError::Malformed), "{code:?}");
    }
}

#[test]
fn spaces_inside_a_code_are_ignored() {
    let secret = TotpSecret::generate();
    let code = code_at(&secret, NOW);
    let spaced = format!(" {} {} ", &code[..3], &code[3..]);
    assert_eq!(verify_totp(&secret, &spaced, NOW, None), Ok(NOW / 30));
}

#[test]
fn time_zero_has_no_previous_step_and_does_not_underflow() {
    let secret = rfc_secret();
    assert_eq!(verify_totp(&secret, &code_at(&secret, 0), 0, None), Ok(0));
    assert_eq!(verify_totp(&secret, &code_at(&secret, 0), 0, Some(0)), Err(TotpError::Replayed));
    let far = u64::MAX;
    assert_eq!(verify_totp(&secret, &code_at(&secret, far), far, None), Ok(far / 30));
}

#[test]
fn secrets_must_be_16_to_64_bytes() {
    assert_eq!(TotpSecret::from_bytes(vec![1; 15]).err(), Some(TotpError::BadSecret));
    assert_eq!(TotpSecret::from_bytes(vec![1; 65]).err(), Some(TotpError::BadSecret));
    assert!(TotpSecret::from_bytes(vec![1; 16]).is_ok());
    assert!(TotpSecret::from_bytes(vec![1; 64]).is_ok());
}

#[test]
fn generated_secrets_are_20_random_bytes() {
    let a = TotpSecret::generate();
    let b = TotpSecret::generate();
    assert_eq!(a.expose_secret().len(), 20);
    assert_ne!(a.expose_secret(), b.expose_secret());
}

#[test]
fn debug_output_is_redacted() {
    let secret = rfc_secret();
    let shown = format!("{secret:?}");
    assert_eq!(shown, "TotpSecret([REDACTED])");
    assert!(!shown.contains("1234567890"));
}

#[test]
fn the_otpauth_uri_has_the_documented_shape() {
    let uri = otpauth_uri(&rfc_secret(), "Pigeonpost", "jsmith");
    assert_eq!(
        uri,
        "otpauth://totp/Pigeonpost:jsmith?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
         &issuer=Pigeonpost&algorithm=SHA1&digits=6&period=30"
    );
}

#[test]
fn the_otpauth_uri_parses_back_with_totp_rs() {
    let secret = TotpSecret::generate();
    let uri = otpauth_uri(&secret, "Pigeonpost (Test LA)", "j.smith@school.sch.uk");
    let parsed = TOTP::from_url(&uri).expect("totp-rs parses our URI");
    assert_eq!(parsed.secret, secret.expose_secret());
    assert_eq!(parsed.issuer.as_deref(), Some("Pigeonpost (Test LA)"));
    assert_eq!(parsed.account_name, "j.smith@school.sch.uk");
    assert_eq!(parsed.algorithm, Algorithm::SHA1);
    assert_eq!((parsed.digits, parsed.step), (6, 30));
    assert_eq!(parsed.generate(NOW), code_at(&secret, NOW));
}

#[test]
fn base32_matches_rfc_4648_examples() {
    for (input, expected) in [
        ("", ""),
        ("f", "MY"),
        ("fo", "MZXQ"),
        ("foo", "MZXW6"),
        ("foob", "MZXW6YQ"),
        ("fooba", "MZXW6YTB"),
        ("foobar", "MZXW6YTBOI"),
    ] {
        assert_eq!(base32_no_pad(input.as_bytes()), expected, "{input:?}");
    }
}
