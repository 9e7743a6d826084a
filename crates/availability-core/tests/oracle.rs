//! The engine against a brute-force oracle written separately here: the same
//! rules evaluated minute by minute, with its own wall-clock conversions (a
//! per-minute table of offsets straight from `chrono-tz`) and its own
//! expansion of recurring time off. Random zones, hours, busy sets and windows
//! around DST changes; `PROPTEST_CASES` sets how many cases run (default 256).

#[path = "support/oracle.rs"]
mod oracle;

use availability_core::*;
use chrono::NaiveDate;
use chrono_tz::Tz;
use oracle::{Case, Ranges, Recurring, engine_inputs, normalised, utc, window_of};
use proptest::prelude::*;

const INTERESTING: &[&str] = &[
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Asia/Kathmandu",
    "America/Sao_Paulo",
    "Pacific/Apia",
    "America/Santiago",
    "Asia/Tehran",
    "Africa/Casablanca",
    "Pacific/Chatham",
    "America/St_Johns",
    "Europe/Dublin",
    "Antarctica/Troll",
    "Asia/Gaza",
    "Australia/Sydney",
    "UTC",
    "America/Havana",
    "Asia/Beirut",
    "Europe/London",
    "America/Asuncion",
];

fn zone() -> impl Strategy<Value = Tz> {
    prop_oneof![
        prop::sample::select(INTERESTING).prop_map(|n| n.parse::<Tz>().unwrap()),
        prop::sample::select(chrono_tz::TZ_VARIANTS.to_vec()),
    ]
}

fn ranges(max: usize, max_len: u16) -> impl Strategy<Value = Vec<(u16, u16)>> {
    prop::collection::vec((0u16..288, 1u16..=max_len), 0..=max)
        .prop_map(|v| v.into_iter().map(|(s, l)| (s * 5, (s * 5 + l * 5).min(1440))).collect())
}

fn week(max: usize, max_len: u16) -> impl Strategy<Value = Ranges> {
    prop::array::uniform7(ranges(max, max_len))
}

fn date() -> impl Strategy<Value = NaiveDate> {
    (2005i32..2037, prop_oneof![Just(3u32), Just(4), Just(9), Just(10), Just(11), 1u32..=12], 1u32..=28)
        .prop_map(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

fn case() -> impl Strategy<Value = Case> {
    let hours = (
        zone(),
        prop_oneof![Just(None), zone().prop_map(Some)],
        prop::option::weighted(0.9, (week(3, 160), week(1, 24))),
        prop::option::of((0i64..4, ranges(2, 100))),
        prop::option::of(0i64..4),
        prop::option::weighted(0.5, (week(2, 200), week(1, 18))),
        prop::option::of((0i64..4, ranges(2, 100))),
        prop::option::weighted(0.2, 0i64..4),
    );
    let service = (
        date(),
        1i64..4,
        prop::sample::select(vec![15i64, 20, 30, 45, 60, 90, 25, 7]),
        prop::sample::select(vec![5i64, 7, 10, 15, 20, 25, 30, 45, 60, 90]),
        prop_oneof![Just(0i64), 0i64..40],
        prop_oneof![Just(0i64), 0i64..40],
        prop_oneof![Just(0i64), 0i64..900],
        prop_oneof![2 => Just(3650i64), 1 => 0i64..5],
        prop_oneof![3 => -3000i64..0, 1 => 0i64..3000],
    );
    let busy = (
        prop::collection::vec((0i64..6000, 1i64..200, 0i64..30, 0i64..30), 0..12),
        prop::collection::vec((0i64..6000, 1i64..300), 0..6),
        prop::option::weighted(0.2, (0i64..4, 1i64..3)),
        prop::collection::vec((0i64..6000, 1i64..600), 0..3),
        prop::option::weighted(
            0.4,
            (0i64..3, 0u16..288, 5i64..300, prop::option::of(1i64..3), 1u8..128, 1i64..8).prop_map(
                |(day, wall, length, daily_interval, weekdays, count)| Recurring {
                    day,
                    wall: wall * 5,
                    length,
                    daily_interval,
                    weekdays,
                    count,
                },
            ),
        ),
    );
    (hours, service, busy).prop_map(
        |(
            (bzone, ezone, weekly, tenant_special, tenant_holiday, schedule, emp_special, emp_holiday),
            (start_date, days, duration, step, before, after, notice, horizon, now_offset),
            (bookings, external, all_day, time_off, recurring),
        )| Case {
            bzone,
            ezone: ezone.unwrap_or(bzone),
            weekly,
            tenant_special,
            tenant_holiday,
            schedule,
            emp_special,
            emp_holiday,
            start_date,
            days,
            duration,
            step,
            before,
            after,
            notice,
            horizon,
            now_offset,
            bookings,
            external,
            all_day,
            time_off,
            recurring,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_minute_by_minute_oracle(case in case()) {
        let case = normalised(&case);
        let (business, service, employee, query) = engine_inputs(&case);
        let found = available_slots(&business, &service, std::slice::from_ref(&employee), &query);
        let got: Vec<i64> = found.employees[0].slots.iter().map(|s| s.start.timestamp()).collect();
        let want = oracle::oracle(&case);
        if std::env::var("ORACLE_STATS").is_ok() { eprintln!("STATS {} {}", want.len(), case.bzone != case.ezone); }
        prop_assert_eq!(&got, &want);
        let merged: Vec<i64> = found.merged().iter().map(|s| s.start.timestamp()).collect();
        prop_assert_eq!(&merged, &want);

        // check_slot agrees with the slot list on every offered start and on
        // starts sprinkled through the window.
        let (from, to) = window_of(&case);
        let probes = want.iter().copied().take(5).chain((from..to).step_by(97 * 60).take(20));
        for t in probes {
            let c = check_slot(&business, &service, &employee, utc(t), query.now);
            prop_assert_eq!(c.available, want.binary_search(&t).is_ok(), "check at {} said {:?}", t, c.reasons);
        }
    }
}
