//! `cargo fuzz run webhook_parsing`: the body is [`fuzz_checks::webhook_parsing`], replayed on stable by `crates/fuzz-checks/tests/corpus.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::webhook_parsing(data));
