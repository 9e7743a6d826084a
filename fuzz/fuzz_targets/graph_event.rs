//! `cargo fuzz run graph_event`: the body is [`fuzz_checks::graph_event`], replayed on stable by `crates/fuzz-checks/tests/corpus.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::graph_event(data));
