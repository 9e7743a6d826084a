//! `cargo fuzz run ics`: the body is [`fuzz_checks::ics`], replayed on stable by `crates/fuzz-checks/tests/corpus.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::ics(data));
