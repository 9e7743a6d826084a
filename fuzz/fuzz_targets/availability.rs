//! `cargo fuzz run availability`: the body is [`fuzz_checks::availability`], replayed on stable by `crates/fuzz-checks/tests/corpus.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::availability(data));
