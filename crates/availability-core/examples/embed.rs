//! Embedding the engine in another Rust service: build the inputs (here in
//! code; from your own database in practice), ask for a week of slots, print them.
//!
//! ```text
//! cargo run -p availability-core --example embed
//! ```

use availability_core::{
    Booking, Business, Employee, Holiday, Interval, Query, ServiceRules, TimeOff, WallRange, Week, WeeklyHours, Zone,
    available_slots, check_slot,
};
use chrono::{NaiveDate, TimeZone, Utc};

fn main() -> Result<(), availability_core::Error> {
    let zone: Zone = "Europe/Berlin".parse()?;
    let nine_to_five = [WallRange::parse("09:00", "17:00", "weekly")?];
    let lunch = [WallRange::parse("12:00", "13:00", "breaks")?];
    let weekdays = |r: &[WallRange]| Week::from_days(std::array::from_fn(|d| if d < 5 { r.to_vec() } else { vec![] }));
    let business = Business {
        zone,
        hours: Some(WeeklyHours { weekly: weekdays(&nine_to_five), breaks: weekdays(&lunch) }),
        special_dates: vec![],
        holidays: vec![Holiday { id: "easter-monday".into(), date: NaiveDate::from_ymd_opt(2030, 4, 22).unwrap() }],
    };
    // 45-minute appointments every 30 minutes, 10 minutes kept free after each,
    // bookable from 2 hours ahead up to 30 days out.
    let service = ServiceRules::new(45, 0, 10, 30, 120, 30)?;

    let mut anna = Employee::new("anna", zone);
    anna.bookings.push(Booking {
        id: "booking-1".into(),
        interval: Interval::new(
            Utc.with_ymd_and_hms(2030, 4, 23, 8, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2030, 4, 23, 8, 45, 0).unwrap(),
            "booking",
        )?,
        buffer_before_min: 0,
        buffer_after_min: 10,
    });
    // Every Wednesday morning off, 09:00-11:00 local, for ten weeks.
    anna.time_off.push(TimeOff::recurring(
        "wednesday-mornings",
        Interval::new(
            Utc.with_ymd_and_hms(2030, 4, 24, 7, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2030, 4, 24, 9, 0, 0).unwrap(),
            "time_off",
        )?,
        "FREQ=WEEKLY;BYDAY=WE;COUNT=10",
        &[],
        zone,
    )?);
    let ben = Employee::new("ben", zone);

    let now = Utc.with_ymd_and_hms(2030, 4, 21, 12, 0, 0).unwrap();
    let window = Interval::new(
        Utc.with_ymd_and_hms(2030, 4, 21, 22, 0, 0).unwrap(), // Monday 00:00 in Berlin
        Utc.with_ymd_and_hms(2030, 4, 28, 22, 0, 0).unwrap(),
        "window",
    )?;
    let staff = [anna, ben];
    let found = available_slots(&business, &service, &staff, &Query { window, now });
    for slot in found.merged() {
        println!(
            "{} – {}  {}",
            zone.at(slot.start).format("%a %d %b %H:%M"),
            zone.at(slot.end).format("%H:%M"),
            slot.employee_ids.join(", ")
        );
    }

    let wednesday_nine = Utc.with_ymd_and_hms(2030, 4, 24, 7, 0, 0).unwrap();
    let why = check_slot(&business, &service, &staff[0], wednesday_nine, now);
    println!(
        "anna at Wed 09:00: available = {}, reasons = {:?}",
        why.available,
        why.reasons.iter().map(|r| r.code.as_str()).collect::<Vec<_>>()
    );
    Ok(())
}
