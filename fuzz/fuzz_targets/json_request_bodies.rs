#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pigeonpost::fuzzing::json_request_bodies(data));
