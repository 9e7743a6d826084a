//! # fuzz-checks
//!
//! The bodies of slotwise's fuzz targets, as plain functions of the fuzzer's
//! bytes: each turns the bytes into inputs for one parser or generator, runs
//! it, and panics when the output breaks an invariant. The `cargo fuzz`
//! targets in `fuzz/` (nightly, libFuzzer) are one-line wrappers around them,
//! and `tests/corpus.rs` replays every file of `fuzz/corpus/` and
//! `fuzz/regressions/` through the same functions on stable, so the corpus is
//! a regression test of `cargo test --workspace`.
//!
//! It sits above every crate it checks and nothing depends on it. It must not
//! need nightly or libFuzzer: that stays in `fuzz/`, outside the workspace.
//!
//! | function | what it feeds | what it checks |
//! |---|---|---|
//! | [`availability`] | engine inputs built from the bytes | slots sorted, unique, in the window, after the notice, before the horizon, inside open hours, clear of busy time; `check_slot` agrees |
//! | [`rrule_time_off`] | the bytes as an RRULE for time off | refused cleanly, or expands without panicking |
//! | [`google_event`] / [`graph_event`] | the bytes as an events page | maps or errors cleanly; the mapping keeps ids and markers |
//! | [`webhook_parsing`] | Google push headers, Graph bodies and query strings | parses or errors cleanly; a parsed notification verifies against its own channel only |
//! | [`ics`] | booking emails with arbitrary names and addresses | the invitation stays valid RFC 5545: CRLF lines of at most 75 octets, no injected lines or parameters |
//!
//! ```
//! // Any bytes at all: an error is fine, a panic is a finding.
//! fuzz_checks::availability(b"");
//! fuzz_checks::webhook_parsing(b"\x01{\"value\":[]}");
//! ```
#![warn(missing_docs)]

mod availability;
mod events;
mod ics;
mod recurrence;
mod webhooks;

pub use availability::availability;
pub use events::{google_event, graph_event};
pub use ics::ics;
pub use recurrence::rrule_time_off;
pub use webhooks::webhook_parsing;

/// The body of one fuzz target: panics on a finding.
pub type Check = fn(&[u8]);

/// Every target by its directory name under `fuzz/corpus/`, for the replay test.
pub const TARGETS: &[(&str, Check)] = &[
    ("availability", availability),
    ("rrule_time_off", rrule_time_off),
    ("google_event", google_event),
    ("graph_event", graph_event),
    ("webhook_parsing", webhook_parsing),
    ("ics", ics),
];
