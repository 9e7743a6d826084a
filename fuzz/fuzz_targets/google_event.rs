//! `cargo fuzz run google_event`: the body is [`fuzz_checks::google_event`], replayed on stable by `crates/fuzz-checks/tests/corpus.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::google_event(data));
