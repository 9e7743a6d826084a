//! One test per rule of the contract's availability semantics, table-driven:
//! each case states its inputs and the exact local slot starts it expects.

use availability_core::*;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde_json::{Value, json};

fn business(zone: &str, hours: Value) -> Business {
    serde_json::from_value(json!({"zone": zone, "hours": hours})).unwrap()
}

fn employee(v: Value) -> Employee {
    serde_json::from_value(v).unwrap()
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A window from local date `from` to local date `to` (inclusive) in `zone`.
fn window(zone: &str, from: &str, to: &str) -> Interval {
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    // The first instant of a date (midnight may fall in a gap).
    let first = |date: NaiveDate| {
        (0..4).find_map(|h| tz.from_local_datetime(&date.and_hms_opt(h, 0, 0).unwrap()).earliest()).unwrap()
    };
    let (start, end) = (first(d(from)), first(d(to) + chrono::Duration::days(1)));
    Interval::new(start.with_timezone(&Utc), end.with_timezone(&Utc), "window").unwrap()
}

/// `now` for cases that do not test notice or horizon: the day before the window.
const DAY_BEFORE: &str = "";

fn service(duration: i64, step: i64) -> ServiceRules {
    ServiceRules::new(duration, 0, 0, step, 0, 3650).unwrap()
}

/// Local starts (with offset) of the merged slots, one string each.
fn starts(b: &Business, s: &ServiceRules, employees: &[Employee], w: Interval, now: &str) -> Vec<String> {
    let now = if now.is_empty() { w.start() - chrono::Duration::days(1) } else { at(now) };
    let found = available_slots(b, s, employees, &Query { window: w, now });
    found
        .merged()
        .iter()
        .map(|slot| {
            let local = b.zone.at(slot.start).format("%m-%d %H:%M%:z").to_string();
            if employees.len() > 1 { format!("{local} {}", slot.employee_ids.join(",")) } else { local }
        })
        .collect()
}

fn anyone(zone: &str) -> Employee {
    employee(json!({"id": "e1", "zone": zone}))
}

#[test]
fn weekly_hours_with_a_break() {
    let b = business(
        "Europe/Berlin",
        json!({"weekly": {"mon": [["09:00", "12:00"]]}, "breaks": {"mon": [["10:00", "10:30"]]}}),
    );
    let got = starts(
        &b,
        &service(30, 30),
        &[anyone("Europe/Berlin")],
        window("Europe/Berlin", "2030-03-04", "2030-03-04"),
        DAY_BEFORE,
    );
    assert_eq!(
        got,
        ["03-04 09:00+01:00", "03-04 09:30+01:00", "03-04 10:30+01:00", "03-04 11:00+01:00", "03-04 11:30+01:00"]
    );
}

#[test]
fn berlin_spring_forward_counts_elapsed_minutes_through_the_gap() {
    let mut b = business("Europe/Berlin", json!({"weekly": {}}));
    b.special_dates = vec![SpecialDate {
        date: "2030-03-31".parse().unwrap(),
        hours: vec![WallRange::parse("01:00", "05:00", "h").unwrap()],
    }];
    let got = starts(
        &b,
        &service(30, 15),
        &[anyone("Europe/Berlin")],
        window("Europe/Berlin", "2030-03-31", "2030-03-31"),
        DAY_BEFORE,
    );
    // 01:00 CET .. 05:00 CEST is three elapsed hours: 11 starts of a 30-minute slot every 15 minutes.
    assert_eq!(got.first().unwrap(), "03-31 01:00+01:00");
    assert_eq!(got[3], "03-31 01:45+01:00");
    assert_eq!(got[4], "03-31 03:00+02:00");
    assert_eq!(got.last().unwrap(), "03-31 04:30+02:00");
    assert_eq!(got.len(), 11);
}

#[test]
fn berlin_fall_back_ambiguous_start_takes_the_earlier_instant() {
    let mut b = business("Europe/Berlin", json!({"weekly": {}}));
    b.special_dates = vec![SpecialDate {
        date: "2030-10-27".parse().unwrap(),
        hours: vec![WallRange::parse("02:30", "03:30", "h").unwrap()],
    }];
    let got = starts(
        &b,
        &service(60, 60),
        &[anyone("Europe/Berlin")],
        window("Europe/Berlin", "2030-10-27", "2030-10-27"),
        DAY_BEFORE,
    );
    // 02:30 CEST (00:30Z) to 03:30 CET (02:30Z). The first instant whose clock reads a whole
    // hour is 01:00Z, when the clock falls back to 02:00 CET; 02:00Z + 60 would end after 02:30Z.
    assert_eq!(got, ["10-27 02:00+01:00"]);
}

#[test]
fn new_york_range_starting_in_the_gap_moves_forward() {
    let mut b = business("America/New_York", json!({"weekly": {}}));
    b.special_dates = vec![SpecialDate {
        date: "2030-03-10".parse().unwrap(),
        hours: vec![WallRange::parse("02:30", "04:30", "h").unwrap()],
    }];
    let got = starts(
        &b,
        &service(30, 30),
        &[anyone("America/New_York")],
        window("America/New_York", "2030-03-10", "2030-03-10"),
        DAY_BEFORE,
    );
    assert_eq!(got, ["03-10 03:30-04:00", "03-10 04:00-04:00"]);
}

#[test]
fn lord_howe_half_hour_shift_keeps_elapsed_steps() {
    let mut b = business("Australia/Lord_Howe", json!({"weekly": {}}));
    b.special_dates = vec![SpecialDate {
        date: "2030-10-06".parse().unwrap(),
        hours: vec![WallRange::parse("01:00", "04:00", "h").unwrap()],
    }];
    let got = starts(
        &b,
        &service(60, 60),
        &[anyone("Australia/Lord_Howe")],
        window("Australia/Lord_Howe", "2030-10-06", "2030-10-06"),
        DAY_BEFORE,
    );
    // 01:00 +10:30 to 04:00 +11:00 is 2.5 elapsed hours; 60 elapsed minutes after 01:00 the clock reads 02:30.
    assert_eq!(got, ["10-06 01:00+10:30", "10-06 02:30+11:00"]);
}

#[test]
fn kathmandu_quarter_hour_offset() {
    let b = business("Asia/Kathmandu", json!({"weekly": {"tue": [["09:00", "10:00"]]}}));
    let s = service(30, 15);
    let found = available_slots(
        &b,
        &s,
        &[anyone("Asia/Kathmandu")],
        &Query { window: window("Asia/Kathmandu", "2030-03-05", "2030-03-05"), now: at("2030-03-01T00:00:00Z") },
    );
    let utc: Vec<String> = found.merged().iter().map(|x| x.start.format("%H:%M").to_string()).collect();
    assert_eq!(utc, ["03:15", "03:30", "03:45"]);
}

#[test]
fn sao_paulo_midnight_that_never_happened_starts_the_day_at_one() {
    // 2018-11-04 00:00 did not exist in Sao Paulo: clocks went from 23:59:59 to 01:00.
    let b = business("America/Sao_Paulo", json!({"weekly": {"sun": [["00:00", "03:00"]]}}));
    let got = starts(
        &b,
        &service(60, 60),
        &[anyone("America/Sao_Paulo")],
        window("America/Sao_Paulo", "2018-11-04", "2018-11-04"),
        DAY_BEFORE,
    );
    assert_eq!(got, ["11-04 01:00-02:00", "11-04 02:00-02:00"]);
}

#[test]
fn samoa_skipped_day_has_no_slots_and_the_grid_restarts() {
    // Pacific/Apia went from 2011-12-29 23:59:59 (-10:00) to 2011-12-31 00:00 (+14:00).
    let b = business(
        "Pacific/Apia",
        json!({"weekly": {"mon": [["00:00", "24:00"]], "tue": [["00:00", "24:00"]], "wed": [["00:00", "24:00"]], "thu": [["00:00", "24:00"]], "fri": [["00:00", "24:00"]], "sat": [["00:00", "24:00"]], "sun": [["00:00", "24:00"]]}}),
    );
    let got = starts(
        &b,
        &service(360, 360),
        &[anyone("Pacific/Apia")],
        window("Pacific/Apia", "2011-12-29", "2011-12-31"),
        DAY_BEFORE,
    );
    assert_eq!(
        got,
        [
            "12-29 00:00-10:00",
            "12-29 06:00-10:00",
            "12-29 12:00-10:00",
            "12-29 18:00-10:00",
            "12-31 00:00+14:00",
            "12-31 06:00+14:00",
            "12-31 12:00+14:00",
            "12-31 18:00+14:00",
        ]
    );
}

#[test]
fn ranges_merge_across_midnight_and_each_day_restarts_the_grid() {
    let b = business("Europe/Berlin", json!({"weekly": {"mon": [["22:00", "24:00"]], "tue": [["00:00", "02:00"]]}}));
    let got = starts(
        &b,
        &service(60, 45),
        &[anyone("Europe/Berlin")],
        window("Europe/Berlin", "2030-03-04", "2030-03-05"),
        DAY_BEFORE,
    );
    // 23:30 runs over midnight inside the merged range; Tuesday's grid starts fresh at 00:00.
    assert_eq!(
        got,
        ["03-04 22:00+01:00", "03-04 22:45+01:00", "03-04 23:30+01:00", "03-05 00:00+01:00", "03-05 00:45+01:00"]
    );
}

#[test]
fn first_start_rounds_up_on_the_local_clock() {
    let b = business("Europe/Berlin", json!({"weekly": {"mon": [["09:10", "11:00"]]}}));
    assert_eq!(
        starts(
            &b,
            &service(30, 20),
            &[anyone("Europe/Berlin")],
            window("Europe/Berlin", "2030-03-04", "2030-03-04"),
            DAY_BEFORE
        ),
        ["03-04 09:20+01:00", "03-04 09:40+01:00", "03-04 10:00+01:00", "03-04 10:20+01:00"]
    );
    // Step 25: the grid is 5 minutes, then 25 elapsed minutes each.
    assert_eq!(
        starts(
            &b,
            &service(30, 25),
            &[anyone("Europe/Berlin")],
            window("Europe/Berlin", "2030-03-04", "2030-03-04"),
            DAY_BEFORE
        ),
        ["03-04 09:10+01:00", "03-04 09:35+01:00", "03-04 10:00+01:00", "03-04 10:25+01:00"]
    );
}

#[test]
fn bookings_and_busy_time_never_move_the_grid() {
    let b = business("UTC", json!({"weekly": {"mon": [["09:00", "12:00"]]}}));
    let e = employee(
        json!({"id": "e1", "zone": "UTC", "bookings": [{"id": "b1", "start": "2030-03-04T09:10:00Z", "end": "2030-03-04T09:40:00Z"}]}),
    );
    assert_eq!(
        starts(&b, &service(30, 30), &[e], window("UTC", "2030-03-04", "2030-03-04"), DAY_BEFORE),
        ["03-04 10:00+00:00", "03-04 10:30+00:00", "03-04 11:00+00:00", "03-04 11:30+00:00"]
    );
}

#[test]
fn buffers_of_service_and_booking_both_count_and_may_poke_outside_hours() {
    let b = business("UTC", json!({"weekly": {"mon": [["09:00", "12:00"]]}}));
    // The booking at 10:00-10:30 carries 15 minutes after; the service wants 15 before, 0 after.
    let e = employee(
        json!({"id": "e1", "zone": "UTC", "bookings": [{"id": "b1", "start": "2030-03-04T10:00:00Z", "end": "2030-03-04T10:30:00Z", "buffer_after_min": 15}]}),
    );
    let s = ServiceRules::new(30, 15, 0, 15, 0, 3650).unwrap();
    let got = starts(&b, &s, &[e], window("UTC", "2030-03-04", "2030-03-04"), DAY_BEFORE);
    // 09:00 is offered although its buffer lies before opening; 10:45+15 before = 10:30 < 10:45 → blocked; 11:00 is the first after.
    assert_eq!(
        got,
        [
            "03-04 09:00+00:00",
            "03-04 09:15+00:00",
            "03-04 09:30+00:00",
            "03-04 11:00+00:00",
            "03-04 11:15+00:00",
            "03-04 11:30+00:00"
        ]
    );
}

#[test]
fn holiday_inside_recurring_time_off() {
    let mut b = business("Europe/Berlin", json!({"weekly": {"wed": [["09:00", "12:00"]]}}));
    b.holidays = vec![Holiday { id: "h1".into(), date: "2030-03-13".parse().unwrap() }];
    let e = employee(json!({"id": "e1", "zone": "Europe/Berlin", "time_off": [
        {"id": "t1", "start": "2030-03-06T08:00:00Z", "end": "2030-03-06T09:00:00Z", "rrule": "FREQ=WEEKLY;BYDAY=WE;COUNT=10"}
    ]}));
    let got = starts(
        &b,
        &service(60, 60),
        std::slice::from_ref(&e),
        window("Europe/Berlin", "2030-03-06", "2030-03-13"),
        DAY_BEFORE,
    );
    assert_eq!(got, ["03-06 10:00+01:00", "03-06 11:00+01:00"]);
    let c = check_slot(&b, &service(60, 60), &e, at("2030-03-13T08:00:00Z"), at("2030-03-01T00:00:00Z"));
    let codes: Vec<_> = c.reasons.iter().map(|r| r.code.as_str()).collect();
    assert_eq!(codes, ["holiday", "time_off"]);
    assert_eq!(c.reasons[0].reference.as_deref(), Some("h1"));
    assert_eq!(c.reasons[0].start, at("2030-03-12T23:00:00Z"));
}

#[test]
fn recurring_time_off_keeps_its_wall_time_across_dst() {
    let b = business("Europe/Berlin", json!({"weekly": {"mon": [["08:00", "11:00"]]}}));
    let e = employee(json!({"id": "e1", "zone": "Europe/Berlin", "time_off": [
        {"id": "t1", "start": "2030-03-25T08:00:00Z", "end": "2030-03-25T09:00:00Z", "rrule": "RRULE:FREQ=WEEKLY;BYDAY=MO", "exdates": ["2030-04-08T07:00:00Z"]}
    ]}));
    let got = starts(&b, &service(60, 60), &[e], window("Europe/Berlin", "2030-03-25", "2030-04-08"), DAY_BEFORE);
    assert_eq!(
        got,
        [
            "03-25 08:00+01:00",
            "03-25 10:00+01:00",
            "04-01 08:00+02:00",
            "04-01 10:00+02:00",
            "04-08 08:00+02:00",
            "04-08 09:00+02:00",
            "04-08 10:00+02:00",
        ]
    );
}

#[test]
fn recurring_time_off_until_count_and_monthly() {
    let b = business(
        "UTC",
        json!({"weekly": {"mon": [["09:00", "10:00"]], "tue": [["09:00", "10:00"]], "wed": [["09:00", "10:00"]], "thu": [["09:00", "10:00"]], "fri": [["09:00", "10:00"]]}}),
    );
    let run = |rule: &str, exdates: Value| {
        let e = employee(json!({"id": "e1", "zone": "UTC", "time_off": [
            {"id": "t", "start": "2030-03-04T09:00:00Z", "end": "2030-03-04T10:00:00Z", "rrule": rule, "exdates": exdates}
        ]}));
        starts(&b, &service(60, 60), &[e], window("UTC", "2030-03-04", "2030-04-05"), DAY_BEFORE).len()
    };
    // 25 weekdays in the window.
    assert_eq!(run("FREQ=DAILY;COUNT=3", json!([])), 22, "3 occurrences");
    // An excluded date still counts toward COUNT.
    assert_eq!(run("FREQ=DAILY;COUNT=3", json!(["2030-03-05T09:00:00Z"])), 23);
    assert_eq!(run("FREQ=DAILY;UNTIL=20300306T090000Z", json!([])), 22, "UNTIL is inclusive");
    assert_eq!(run("FREQ=DAILY;INTERVAL=7", json!([])), 20, "every Monday: 5");
    assert_eq!(run("FREQ=MONTHLY;BYMONTHDAY=4", json!([])), 23, "March 4 and April 4");
}

#[test]
fn time_off_start_must_be_an_occurrence() {
    let bad = serde_json::from_value::<Employee>(json!({"id": "e1", "zone": "UTC", "time_off": [
        {"id": "t", "start": "2030-03-05T09:00:00Z", "end": "2030-03-05T10:00:00Z", "rrule": "FREQ=WEEKLY;BYDAY=MO"}
    ]}));
    let msg = bad.unwrap_err().to_string();
    assert!(msg.contains("time_off.0.rrule") && msg.contains("occurrence"), "{msg}");
    let hourly = TimeOff::recurring(
        "t",
        Interval::new(at("2030-03-04T09:00:00Z"), at("2030-03-04T10:00:00Z"), "x").unwrap(),
        "FREQ=HOURLY",
        &[],
        "UTC".parse().unwrap(),
    );
    assert_eq!(hourly.unwrap_err().field(), "rrule");
    let garbage = TimeOff::recurring(
        "t",
        Interval::new(at("2030-03-04T09:00:00Z"), at("2030-03-04T10:00:00Z"), "x").unwrap(),
        "FREQ=SOMETIMES",
        &[],
        "UTC".parse().unwrap(),
    );
    assert_eq!(garbage.unwrap_err().field(), "rrule");
}

#[test]
fn special_dates_replace_one_side_and_intersect_with_the_other() {
    let mut b = business(
        "Europe/Berlin",
        json!({"weekly": {"mon": [["08:00", "18:00"]]}, "breaks": {"mon": [["12:00", "13:00"]]}}),
    );
    b.special_dates = vec![SpecialDate {
        date: "2030-03-04".parse().unwrap(),
        hours: vec![WallRange::parse("10:00", "14:00", "h").unwrap()],
    }];
    let e =
        employee(json!({"id": "e1", "zone": "Europe/Berlin", "schedule": {"weekly": {"mon": [["09:00", "12:00"]]}}}));
    // Tenant special 10-14 (its weekly break is replaced too) ∩ employee week 09-12 = 10-12.
    assert_eq!(
        starts(&b, &service(60, 60), &[e], window("Europe/Berlin", "2030-03-04", "2030-03-11"), DAY_BEFORE),
        ["03-04 10:00+01:00", "03-04 11:00+01:00", "03-11 09:00+01:00", "03-11 10:00+01:00", "03-11 11:00+01:00"]
    );
    // An empty special date closes the day; a holiday beats a special date.
    let mut closed = b.clone();
    closed.special_dates[0].hours.clear();
    assert!(
        starts(
            &closed,
            &service(60, 60),
            &[anyone("Europe/Berlin")],
            window("Europe/Berlin", "2030-03-04", "2030-03-04"),
            DAY_BEFORE
        )
        .is_empty()
    );
    let mut holiday = b.clone();
    holiday.holidays = vec![Holiday { id: "h".into(), date: "2030-03-04".parse().unwrap() }];
    assert!(
        starts(
            &holiday,
            &service(60, 60),
            &[anyone("Europe/Berlin")],
            window("Europe/Berlin", "2030-03-04", "2030-03-04"),
            DAY_BEFORE
        )
        .is_empty()
    );
}

#[test]
fn no_business_hours_means_closed_except_special_dates() {
    let b: Business = serde_json::from_value(
        json!({"zone": "UTC", "special_dates": [{"date": "2030-03-09", "hours": [["10:00", "11:00"]]}]}),
    )
    .unwrap();
    assert_eq!(
        starts(&b, &service(60, 60), &[anyone("UTC")], window("UTC", "2030-03-04", "2030-03-10"), DAY_BEFORE),
        ["03-09 10:00+00:00"]
    );
}

#[test]
fn employee_zone_and_business_zone_intersect_on_instants() {
    // Business 09-17 in Berlin; employee works 08-12 New York (13:00-17:00 Berlin in March before US... after US DST: 2030-03-11).
    let b = business("Europe/Berlin", json!({"weekly": {"tue": [["09:00", "17:00"]]}}));
    let e = employee(
        json!({"id": "ny", "zone": "America/New_York", "schedule": {"weekly": {"tue": [["08:00", "12:00"]]}}, "holidays": []}),
    );
    // 2030-03-12: New York is on EDT (-4), Berlin on CET (+1): 08:00 NY = 13:00 Berlin.
    assert_eq!(
        starts(&b, &service(60, 60), &[e], window("Europe/Berlin", "2030-03-12", "2030-03-12"), DAY_BEFORE),
        ["03-12 13:00+01:00", "03-12 14:00+01:00", "03-12 15:00+01:00", "03-12 16:00+01:00"]
    );
}

#[test]
fn all_day_external_events_block_dates_in_the_employee_zone() {
    let b = business("UTC", json!({"weekly": {"mon": [["00:00", "24:00"]]}}));
    let e = employee(
        json!({"id": "e1", "zone": "Asia/Tokyo", "external": [{"id": "x", "start_date": "2030-03-04", "end_date": "2030-03-05"}]}),
    );
    // Tokyo's 2030-03-04 is 2030-03-03T15:00Z .. 2030-03-04T15:00Z: only Monday 15:00Z onward stays free.
    let got = starts(&b, &service(240, 240), &[e], window("UTC", "2030-03-04", "2030-03-04"), DAY_BEFORE);
    assert_eq!(got, ["03-04 16:00+00:00", "03-04 20:00+00:00"]);
}

#[test]
fn minimum_notice_and_horizon() {
    let b = business(
        "Europe/Berlin",
        json!({"weekly": {"mon": [["09:00", "12:00"]], "tue": [["09:00", "12:00"]], "wed": [["09:00", "12:00"]]}}),
    );
    // now = Monday 09:40 Berlin; notice 60 min; horizon 2 days → until Wednesday 00:00 local.
    let s = ServiceRules::new(60, 0, 0, 60, 60, 2).unwrap();
    let got = starts(
        &b,
        &s,
        &[anyone("Europe/Berlin")],
        window("Europe/Berlin", "2030-03-04", "2030-03-06"),
        "2030-03-04T08:40:00Z",
    );
    assert_eq!(got, ["03-04 11:00+01:00", "03-05 09:00+01:00", "03-05 10:00+01:00", "03-05 11:00+01:00"]);
}

#[test]
fn merged_mode_lists_each_start_once_with_every_free_employee() {
    let b = business("UTC", json!({"weekly": {"mon": [["09:00", "11:00"]]}}));
    let e1 = employee(json!({"id": "zed", "zone": "UTC"}));
    let e2 = employee(
        json!({"id": "amy", "zone": "UTC", "bookings": [{"id": "b", "start": "2030-03-04T09:00:00Z", "end": "2030-03-04T10:00:00Z"}]}),
    );
    assert_eq!(
        starts(&b, &service(60, 60), &[e1, e2], window("UTC", "2030-03-04", "2030-03-04"), DAY_BEFORE),
        ["03-04 09:00+00:00 zed", "03-04 10:00+00:00 amy,zed"]
    );
}

#[test]
fn window_lists_starts_in_from_to_only_but_ranges_before_it_anchor_the_grid() {
    let b = business("UTC", json!({"weekly": {"mon": [["09:10", "12:00"]]}}));
    let w = Interval::new(at("2030-03-04T10:00:00Z"), at("2030-03-04T11:00:00Z"), "w").unwrap();
    assert_eq!(
        starts(&b, &service(30, 25), &[anyone("UTC")], w, DAY_BEFORE),
        ["03-04 10:00+00:00", "03-04 10:25+00:00", "03-04 10:50+00:00"]
    );
}

fn codes(c: &Check) -> Vec<&'static str> {
    c.reasons.iter().map(|r| r.code.as_str()).collect()
}

#[test]
fn check_reasons_table() {
    let b = business("UTC", json!({"weekly": {"mon": [["09:00", "17:00"]]}, "breaks": {"mon": [["12:00", "13:00"]]}}));
    let e = employee(json!({"id": "e1", "zone": "UTC",
        "bookings": [{"id": "bk", "start": "2030-03-04T10:00:00Z", "end": "2030-03-04T10:30:00Z", "buffer_after_min": 30}],
        "external": [{"id": "ev", "start": "2030-03-04T14:00:00Z", "end": "2030-03-04T14:30:00Z"}],
        "time_off": [{"id": "to", "start": "2030-03-04T15:00:00Z", "end": "2030-03-04T15:30:00Z"}]}));
    let s = ServiceRules::new(30, 0, 0, 30, 60, 30).unwrap();
    let now = at("2030-03-04T08:30:00Z");
    let cases: &[(&str, &[&str])] = &[
        ("2030-03-04T09:30:00Z", &[]),
        ("2030-03-04T09:00:00Z", &["min_notice"]),
        ("2030-03-04T08:00:00Z", &["outside_hours", "min_notice"]),
        ("2030-03-04T16:45:00Z", &["outside_hours", "off_grid"]),
        ("2030-03-04T16:30:00Z", &[]),
        ("2030-03-04T12:00:00Z", &["break"]),
        ("2030-03-04T11:45:00Z", &["break", "off_grid"]),
        ("2030-03-04T10:00:00Z", &["booking"]),
        ("2030-03-04T10:30:00Z", &["buffer"]),
        ("2030-03-04T11:00:00Z", &[]),
        ("2030-03-04T14:00:00Z", &["external_event"]),
        ("2030-03-04T15:00:00Z", &["time_off"]),
        ("2030-03-04T16:10:00Z", &["off_grid"]),
        ("2030-04-08T09:00:00Z", &["horizon"]),
        ("2030-03-05T09:00:00Z", &["outside_hours"]),
    ];
    for (start, expected) in cases {
        let c = check_slot(&b, &s, &e, at(start), now);
        assert_eq!(codes(&c), *expected, "at {start}");
        assert_eq!(c.available, expected.is_empty());
    }
    let c = check_slot(&b, &s, &e, at("2030-03-04T10:30:00Z"), now);
    assert_eq!((c.reasons[0].start, c.reasons[0].end), (at("2030-03-04T10:00:00Z"), at("2030-03-04T10:30:00Z")));
    assert_eq!(c.reasons[0].reference.as_deref(), Some("bk"));
    let c = check_slot(&b, &s, &e, at("2030-03-04T16:45:00Z"), now);
    // outside_hours reports the part of the slot that lies outside the hours.
    assert_eq!((c.reasons[0].start, c.reasons[0].end), (at("2030-03-04T17:00:00Z"), at("2030-03-04T17:15:00Z")));
}

#[test]
fn invalid_inputs_name_their_field() {
    let err = serde_json::from_value::<Business>(json!({"zone": "Mars/Base", "hours": null})).unwrap_err();
    assert!(err.to_string().contains("Mars/Base"), "{err}");
    let err = Zone::parse("Nowhere/Land", "employee.timezone").unwrap_err();
    assert_eq!(err.field(), "employee.timezone");
    assert_eq!(ServiceRules::new(0, 0, 0, 15, 0, 60).unwrap_err().field(), "duration_min");
    assert_eq!(ServiceRules::new(30, -1, 0, 15, 0, 60).unwrap_err().field(), "buffer_before_min");
    assert_eq!(
        Interval::new(at("2030-01-02T00:00:00Z"), at("2030-01-01T00:00:00Z"), "time_off.0").unwrap_err(),
        Error::EndBeforeStart { field: "time_off.0".into() }
    );
    let err = serde_json::from_value::<WeeklyHours>(json!({"weekly": {"mon": [["17:00", "09:00"]]}})).unwrap_err();
    assert!(err.to_string().contains("end must be after start"), "{err}");
}

#[test]
fn overlapping_ranges_convert_one_by_one_before_they_merge() {
    // Regression (found by the oracle at 100,000 cases): Cairo skipped 00:00-01:00 on
    // Friday 2028-04-28. "00:20" moves forward to 01:20, but the overlapping range
    // from 01:00 still opens at 01:00: ranges become instants first, then merge.
    let b = business("Africa/Cairo", json!({"weekly": {"fri": [["00:20", "05:00"], ["01:00", "01:45"]]}}));
    let got = starts(
        &b,
        &service(60, 60),
        &[anyone("Africa/Cairo")],
        window("Africa/Cairo", "2028-04-28", "2028-04-28"),
        DAY_BEFORE,
    );
    assert_eq!(got, ["04-28 01:00+03:00", "04-28 02:00+03:00", "04-28 03:00+03:00", "04-28 04:00+03:00"]);
}

#[test]
fn a_booking_buffer_poking_outside_hours_blocks_only_what_it_overlaps() {
    let b = business("UTC", json!({"weekly": {"mon": [["09:00", "12:00"]], "tue": [["09:00", "12:00"]]}}));
    // The first booking's 30-minute buffer before reaches 08:30, before opening; the
    // last one's buffer after runs past closing into the night.
    let e = employee(json!({"id": "e1", "zone": "UTC", "bookings": [
        {"id": "early", "start": "2030-03-04T09:00:00Z", "end": "2030-03-04T09:30:00Z", "buffer_before_min": 30},
        {"id": "late", "start": "2030-03-04T11:30:00Z", "end": "2030-03-04T12:00:00Z", "buffer_after_min": 600}
    ]}));
    let got = starts(&b, &service(30, 30), &[e], window("UTC", "2030-03-04", "2030-03-05"), DAY_BEFORE);
    assert_eq!(got[..4], ["03-04 09:30+00:00", "03-04 10:00+00:00", "03-04 10:30+00:00", "03-04 11:00+00:00"]);
    // 600 minutes after 12:00 is 22:00 Monday: Tuesday is untouched.
    assert_eq!(got[4], "03-05 09:00+00:00");
    assert_eq!(got.len(), 10);
}

#[test]
fn rules_that_never_yield_are_refused_after_a_bounded_walk() {
    // Found by fuzzing: without a bound the walk to year 9999 cost ~0.4 s per rule;
    // rrule's loop limit now ends it (about 12-37 ms in release).
    let zone = availability_core::Zone::parse("UTC", "zone").unwrap();
    let start = "2030-01-31T09:00:00Z".parse().unwrap();
    let interval = availability_core::Interval::new(start, start + chrono::Duration::hours(1), "time_off").unwrap();
    for rule in [
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31",
        "FREQ=DAILY;BYSETPOS=366;BYMONTHDAY=1",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31",
    ] {
        let refused = availability_core::TimeOff::recurring("t", interval, rule, &[], zone);
        assert!(refused.is_err(), "{rule}");
    }
}
