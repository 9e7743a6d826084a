//! Black-box tests of the HTTP contract: the real server on port 0 over a fresh
//! database, driven with an HTTP client, every test on SQLite and PostgreSQL.

#[path = "../../../../crates/store/tests/common/mod.rs"]
#[allow(unused_imports)]
mod db;

mod helpers;

mod bookings;
mod cache;
mod calendar_sync;
mod calendars;
mod dashboard;
mod errors;
mod isolation;
mod limits;
mod notifications;
mod openapi;
mod setup_and_availability;
mod webhooks;
