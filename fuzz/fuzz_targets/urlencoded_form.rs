#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pigeonpost::fuzzing::urlencoded_form(data));
