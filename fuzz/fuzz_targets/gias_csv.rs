#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| pigeonpost::fuzzing::gias_csv(data));
