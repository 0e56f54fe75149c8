#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pigeonpost::fuzzing::multipart_form(data));
