//! `cargo fuzz run rrule_time_off`: the body is [`fuzz_checks::rrule_time_off`], replayed on stable by `crates/fuzz-checks/tests/corpus.rs`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_checks::rrule_time_off(data));
