//! # availability-core
//!
//! The availability engine of slotwise: which appointment slots are free, and
//! why a given slot is not. Pure Rust, no IO, no clock (callers pass `now`):
//! an embeddable library that other Rust services can use as it is.
//!
//! It sits at the bottom of the workspace; it must not depend on tokio, sqlx,
//! reqwest, actix or any other crate of slotwise.
//!
//! ## Key types
//! - [`Business`]: the business zone, weekly hours and breaks, special dates, holidays.
//! - [`Employee`]: zone, own schedule, dates, time off (one-off or [RFC 5545] recurring),
//!   confirmed [`Booking`]s with their buffers, and [`ExternalBusy`] time.
//! - [`ServiceRules`]: duration, buffers, slot step, minimum notice, horizon.
//! - [`available_slots`] → [`Availability`] (per employee and merged), and
//!   [`check_slot`] → [`Check`] (every [`ReasonCode`] that applies).
//!
//! ## Example
//! ```
//! use availability_core::*;
//! use chrono::{TimeZone, Utc};
//!
//! let zone: Zone = "Europe/Berlin".parse().unwrap();
//! let hours: WeeklyHours = serde_json::from_str(
//!     r#"{"weekly": {"mon": [["09:00", "12:00"]]}, "breaks": {"mon": [["10:00", "10:30"]]}}"#,
//! ).unwrap();
//! let business = Business { zone, hours: Some(hours), special_dates: vec![], holidays: vec![] };
//! let service = ServiceRules::new(30, 0, 0, 30, 0, 60).unwrap();
//! let anna = Employee::new("anna", zone);
//! let now = Utc.with_ymd_and_hms(2030, 3, 1, 0, 0, 0).unwrap();
//! let window = Interval::new(
//!     Utc.with_ymd_and_hms(2030, 3, 4, 0, 0, 0).unwrap(),
//!     Utc.with_ymd_and_hms(2030, 3, 5, 0, 0, 0).unwrap(),
//!     "window",
//! ).unwrap();
//! let found = available_slots(&business, &service, &[anna.clone()], &Query { window, now });
//! let starts: Vec<String> = found.merged().iter()
//!     .map(|s| zone.at(s.start).format("%H:%M").to_string()).collect();
//! assert_eq!(starts, ["09:00", "09:30", "10:30", "11:00", "11:30"]);
//!
//! let at_ten = Utc.with_ymd_and_hms(2030, 3, 4, 9, 0, 0).unwrap(); // 10:00 in Berlin
//! let check = check_slot(&business, &service, &anna, at_ten, now);
//! assert!(!check.available);
//! assert_eq!(check.reasons[0].code, ReasonCode::Break);
//! ```
//!
//! ## The rules
//! The engine implements the "Semantics" and "Precise rules" of slotwise's HTTP
//! contract exactly; each rule is stated and shown in [`rules`].
//!
//! ## Why it is built this way
//! Everything is turned into half-open intervals of Unix seconds once, then
//! swept: open hours are intersected and breaks subtracted as sorted lists, busy
//! time becomes a sorted list of *forbidden slot starts*, and the slot grid is
//! walked with jumps over forbidden stretches. Cost grows as
//! O((days + busy) · log(busy) + slots) per employee; nothing scans minute by
//! minute or compares every slot with every busy interval. Offsets of each zone
//! are found once per query ([`Zone`] conversions go through a per-query
//! timeline), which keeps the time-zone database out of the inner loops.
//!
//! [RFC 5545]: https://www.rfc-editor.org/rfc/rfc5545#section-3.3.10
#![warn(missing_docs)]

mod check;
mod engine;
mod error;
mod hours;
mod input;
mod intervals;
mod recurrence;
pub mod rules;
mod zone;

pub use check::{Check, Reason, ReasonCode, check_slot};
pub use engine::{Availability, EmployeeSlots, MergedSlot, Query, Slot, available_slots};
pub use error::{Error, Result};
pub use hours::{DAY_KEYS, Holiday, SpecialDate, WallRange, WallTime, Week, WeeklyHours};
pub use input::{Booking, Business, BusyTime, Employee, ExternalBusy, Interval, ServiceRules, TimeOff};
pub use zone::Zone;

#[doc(hidden)]
pub mod doc_support {
    //! Helpers for the examples in [`crate::rules`]; not part of the API.
    use chrono::{DateTime, NaiveDate, Utc};

    use crate::*;

    /// Merged slot starts on the business clock, from local date `from` to
    /// local date `to` inclusive; `now` defaults to the day before.
    pub fn starts(
        business: Business,
        employees: Vec<Employee>,
        service: ServiceRules,
        from: &str,
        to: &str,
        now: Option<&str>,
    ) -> Vec<String> {
        let day = |s: &str, plus: i64| {
            business
                .zone
                .start_of_day(NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date") + chrono::Duration::days(plus))
        };
        let window = Interval::new(day(from, 0), day(to, 1), "window").expect("window");
        let now = now.map_or(day(from, -1), |n| n.parse::<DateTime<Utc>>().expect("now"));
        let found = available_slots(&business, &service, &employees, &Query { window, now });
        found
            .merged()
            .iter()
            .map(|s| {
                let local = business.zone.at(s.start).format("%m-%d %H:%M%:z").to_string();
                if employees.len() > 1 { format!("{local} {}", s.employee_ids.join(",")) } else { local }
            })
            .collect()
    }
}
