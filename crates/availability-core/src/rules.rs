//! The rules, one section each, with an example that runs as a doctest.
//!
//! These are the "Semantics" and "Precise rules" of slotwise's HTTP contract
//! (`shared/docs/api-contract.md`). Examples use [`crate::doc_support::starts`],
//! which builds the inputs from JSON and lists the merged slot starts on the
//! business clock as `MM-DD HH:MM±hh:mm`, with the employees when more than one
//! is asked about. `now` is the day before the window unless an example says so.
//!
//! # Zones
//! The business zone is the zone of the business hours (the tenant's while no
//! hours are set). Business hours, business holidays and special dates live in
//! it; an employee's schedule, holidays, special dates, all-day events and
//! recurring time off live in the employee's zone. The two sides are
//! intersected on instants. The slot grid, "today", local midnight (horizon)
//! and "that local day" use the business zone.
//! ```
//! # use availability_core::doc_support::starts;
//! # use serde_json::json;
//! # fn p<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T { serde_json::from_value(v).unwrap() }
//! // Business 09-17 Berlin; employee 08-12 New York (EDT, 6 hours behind CET that week).
//! let got = starts(
//!     p(json!({"zone": "Europe/Berlin", "hours": {"weekly": {"tue": [["09:00", "17:00"]]}}})),
//!     p(json!([{"id": "ny", "zone": "America/New_York", "schedule": {"weekly": {"tue": [["08:00", "12:00"]]}}}])),
//!     p(json!({"duration_min": 120})), "2030-03-12", "2030-03-12", None);
//! assert_eq!(got, ["03-12 13:00+01:00", "03-12 15:00+01:00"]);
//! ```
//!
//! # Open hours and breaks
//! Ranges are `"HH:MM"` from `"00:00"` to `"24:00"`, start before end on the
//! clock; overlapping or touching ranges merge, also across midnight. Breaks
//! are cut out. An employee without a schedule follows the business hours; a
//! business without hours is closed except on its special dates.
//! ```
//! # use availability_core::doc_support::starts;
//! # use serde_json::json;
//! # fn p<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T { serde_json::from_value(v).unwrap() }
//! let got = starts(
//!     p(json!({"zone": "UTC", "hours": {"weekly": {"mon": [["22:00", "24:00"]], "tue": [["00:00", "01:00"]]},
//!                                     "breaks": {"mon": [["22:30", "23:00"]]}}})),
//!     p(json!([{"id": "e", "zone": "UTC"}])),
//!     p(json!({"duration_min": 60, "slot_step_min": 30})), "2030-03-04", "2030-03-05", None);
//! // 23:30 runs across midnight inside the merged range.
//! assert_eq!(got, ["03-04 23:00+00:00", "03-04 23:30+00:00", "03-05 00:00+00:00"]);
//! ```
//!
//! # Special dates and holidays
//! A special date replaces that date's weekly ranges *and* weekly breaks on its
//! own side (business or employee), `[]` closing it; the other side's weekly
//! ranges still apply. A holiday closes the whole local date and beats a
//! special date.
//! ```
//! # use availability_core::doc_support::starts;
//! # use serde_json::json;
//! # fn p<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T { serde_json::from_value(v).unwrap() }
//! let got = starts(
//!     p(json!({"zone": "UTC", "hours": {"weekly": {"mon": [["08:00", "18:00"]], "tue": [["08:00", "18:00"]]}},
//!            "special_dates": [{"date": "2030-03-04", "hours": [["10:00", "14:00"]]}],
//!            "holidays": [{"id": "h", "date": "2030-03-05"}]})),
//!     p(json!([{"id": "e", "zone": "UTC", "schedule": {"weekly": {"mon": [["09:00", "12:00"]], "tue": [["09:00", "12:00"]]}}}])),
//!     p(json!({"duration_min": 60})), "2030-03-04", "2030-03-05", None);
//! assert_eq!(got, ["03-04 10:00+00:00", "03-04 11:00+00:00"]); // 10-14 ∩ 09-12; the holiday closes Tuesday
//! ```
//!
//! # DST gaps and overlaps
//! A wall time inside a DST gap moves forward by the gap; an ambiguous wall
//! time takes the earlier instant (RFC 5545 / Temporal "compatible").
//! ```
//! # use availability_core::doc_support::starts;
//! # use serde_json::json;
//! # fn p<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T { serde_json::from_value(v).unwrap() }
//! // 2030-03-10 in New York: 02:00-03:00 does not exist, so 02:30 becomes 03:30 EDT.
//! let got = starts(
//!     p(json!({"zone": "America/New_York", "special_dates": [{"date": "2030-03-10", "hours": [["02:30", "04:30"]]}]})),
//!     p(json!([{"id": "e", "zone": "America/New_York"}])),
//!     p(json!({"duration_min": 30})), "2030-03-10", "2030-03-10", None);
//! assert_eq!(got, ["03-10 03:30-04:00", "03-10 04:00-04:00"]);
//! ```
//!
//! # The slot grid
//! In each open range, the first start is the first instant at or after the
//! range start whose business clock reading is a multiple of `g` minutes after
//! local midnight (`g`: the first of 60, 30, 20, 15, 10, 5, 1 dividing the
//! step); later starts follow every `slot_step_min` *elapsed* minutes, also
//! across DST changes; the grid restarts at each business-local midnight.
//! Bookings and busy time never move it.
//! ```
//! # use availability_core::doc_support::starts;
//! # use serde_json::json;
//! # fn p<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T { serde_json::from_value(v).unwrap() }
//! let got = starts(
//!     p(json!({"zone": "UTC", "hours": {"weekly": {"mon": [["09:10", "11:00"]]}}})),
//!     p(json!([{"id": "e", "zone": "UTC", "bookings": [{"id": "b", "start": "2030-03-04T09:20:00Z", "end": "2030-03-04T09:30:00Z"}]}])),
//!     p(json!({"duration_min": 30, "slot_step_min": 20})), "2030-03-04", "2030-03-04", None);
//! // Rounded up to 09:20 (g = 20); the booking blocks 09:20 but never shifts 09:40.
//! assert_eq!(got, ["03-04 09:40+00:00", "03-04 10:00+00:00", "03-04 10:20+00:00"]);
//! ```
//!
//! # Buffers
//! A slot `[s, s+duration)` is offered when `[s - buffer_before, s + duration +
//! buffer_after)` overlaps no busy time; confirmed bookings count widened by the
//! buffers their service had when booked. Buffers may lie outside open hours.
//! ```
//! # use availability_core::doc_support::starts;
//! # use serde_json::json;
//! # fn p<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T { serde_json::from_value(v).unwrap() }
//! let got = starts(
//!     p(json!({"zone": "UTC", "hours": {"weekly": {"mon": [["09:00", "11:00"]]}}})),
//!     p(json!([{"id": "e", "zone": "UTC", "bookings": [{"id": "b", "start": "2030-03-04T10:00:00Z",
//!             "end": "2030-03-04T10:30:00Z", "buffer_after_min": 15}]}])),
//!     p(json!({"duration_min": 30, "slot_step_min": 15, "buffer_before_min": 15})), "2030-03-04", "2030-03-04", None);
//! assert_eq!(got, ["03-04 09:00+00:00", "03-04 09:15+00:00", "03-04 09:30+00:00"]);
//! ```
//!
//! # Minimum notice and horizon
//! A start must be at or after `now + min_notice`, and before local midnight
//! `horizon_days` after today (business clock).
//! ```
//! # use availability_core::doc_support::starts;
//! # use serde_json::json;
//! # fn p<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T { serde_json::from_value(v).unwrap() }
//! let got = starts(
//!     p(json!({"zone": "UTC", "hours": {"weekly": {"mon": [["09:00", "12:00"]], "tue": [["09:00", "12:00"]]}}})),
//!     p(json!([{"id": "e", "zone": "UTC"}])),
//!     p(json!({"duration_min": 60, "min_notice_min": 90, "horizon_days": 1})),
//!     "2030-03-04", "2030-03-05", Some("2030-03-04T08:45:00Z"));
//! assert_eq!(got, ["03-04 11:00+00:00"]); // 10:15 is the earliest start; tomorrow is past the horizon
//! ```
//!
//! # All-day external events
//! An all-day event blocks its dates (end date exclusive) in the employee's zone.
//! ```
//! # use availability_core::doc_support::starts;
//! # use serde_json::json;
//! # fn p<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T { serde_json::from_value(v).unwrap() }
//! let got = starts(
//!     p(json!({"zone": "UTC", "hours": {"weekly": {"mon": [["00:00", "24:00"]]}}})),
//!     p(json!([{"id": "e", "zone": "Asia/Tokyo", "external": [{"id": "x", "start_date": "2030-03-04", "end_date": "2030-03-05"}]}])),
//!     p(json!({"duration_min": 240})), "2030-03-04", "2030-03-04", None);
//! assert_eq!(got, ["03-04 16:00+00:00", "03-04 20:00+00:00"]); // Tokyo's 4 March ends at 15:00Z
//! ```
//!
//! # Merged slots ("any employee")
//! Without an employee, a start is listed once with every employee for whom it
//! is one of their own slots, ids sorted byte by byte.
//! ```
//! # use availability_core::doc_support::starts;
//! # use serde_json::json;
//! # fn p<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T { serde_json::from_value(v).unwrap() }
//! let got = starts(
//!     p(json!({"zone": "UTC", "hours": {"weekly": {"mon": [["09:00", "11:00"]]}}})),
//!     p(json!([{"id": "zed", "zone": "UTC"},
//!            {"id": "amy", "zone": "UTC", "bookings": [{"id": "b", "start": "2030-03-04T09:00:00Z", "end": "2030-03-04T10:00:00Z"}]}])),
//!     p(json!({"duration_min": 60})), "2030-03-04", "2030-03-04", None);
//! assert_eq!(got, ["03-04 09:00+00:00 zed", "03-04 10:00+00:00 amy,zed"]);
//! ```
//!
//! # Recurring time off
//! An RFC 5545 `RRULE` repeats the local wall time of the start in the
//! employee's zone (DST-stable), weekdays judged there; every occurrence lasts
//! `end - start`; the start must be an occurrence; `exdates` remove occurrences
//! but still count toward `COUNT`.
//! ```
//! # use availability_core::doc_support::starts;
//! # use serde_json::json;
//! # fn p<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T { serde_json::from_value(v).unwrap() }
//! let got = starts(
//!     p(json!({"zone": "Europe/Berlin", "hours": {"weekly": {"mon": [["08:00", "10:00"]]}}})),
//!     p(json!([{"id": "e", "zone": "Europe/Berlin", "time_off": [{"id": "t", "start": "2030-03-25T07:00:00Z",
//!             "end": "2030-03-25T08:00:00Z", "rrule": "FREQ=WEEKLY;BYDAY=MO;COUNT=2"}]}])),
//!     p(json!({"duration_min": 60})), "2030-03-25", "2030-04-08", None);
//! // 08:00 is off on both Mondays, CET and CEST alike; the third Monday is past COUNT.
//! assert_eq!(got, ["03-25 09:00+01:00", "04-01 09:00+02:00", "04-08 08:00+02:00", "04-08 09:00+02:00"]);
//! ```
//!
//! # Check reasons
//! [`crate::check_slot`] lists every reason that applies: `holiday` (then not
//! also `outside_hours`), `outside_hours`, `break`; `booking`, `external_event`,
//! `time_off` when the slot itself overlaps one, `buffer` when only the buffers
//! do; `off_grid` when the start lies inside open hours but is not a grid
//! start; `min_notice`, `horizon`. Each carries the blocking thing's interval
//! and id (`outside_hours`: the part of the slot outside the hours; `buffer`:
//! the booking, event or time off whose buffer zone is hit).
//! ```
//! # use availability_core::*;
//! # use chrono::{DateTime, Utc};
//! let business: Business = serde_json::from_str(
//!     r#"{"zone": "UTC", "hours": {"weekly": {"mon": [["09:00", "17:00"]]}}}"#).unwrap();
//! let employee: Employee = serde_json::from_str(r#"{"id": "e", "zone": "UTC", "bookings":
//!     [{"id": "b1", "start": "2030-03-04T10:00:00Z", "end": "2030-03-04T10:30:00Z", "buffer_after_min": 30}]}"#).unwrap();
//! let service = ServiceRules::new(30, 0, 0, 30, 0, 60).unwrap();
//! let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
//! let check = check_slot(&business, &service, &employee, at("2030-03-04T10:30:00Z"), at("2030-03-01T00:00:00Z"));
//! assert!(!check.available);
//! assert_eq!(check.reasons[0].code, ReasonCode::Buffer);
//! assert_eq!(check.reasons[0].reference.as_deref(), Some("b1"));
//! ```
