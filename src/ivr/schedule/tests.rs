//! Tests of the schedule: holiday calendar, opening queries, YAML loading and its errors.
use super::*;

/// The example of the module docs (Roma, patron 29 June).
const EXAMPLE: &str = r#"
hours:
  mon-fri: ["08:00-20:00"]
  sat: ["08:00-14:00"]
holidays: italy
closed:
  - 2026-12-24
  - 2026-08-10..2026-08-14
patron:
  - 06-29
open:
  - date: 2026-12-19
    hours: ["09:00-12:00"]
"#;

fn load(yaml: &str) -> Result<Schedule, String> {
    serde_saphyr::from_str(yaml).map_err(|e| e.to_string())
}

fn example() -> Schedule {
    load(EXAMPLE).unwrap()
}

fn date(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

/// The error text of loading `yaml`, asserting that it fails.
fn load_err(yaml: &str) -> String {
    match load(yaml) {
        Ok(s) => panic!("expected an error, loaded {s:?}"),
        Err(e) => e,
    }
}

// --- holiday calendar --------------------------------------------------------------------

#[test]
fn easter_sunday_known_years() {
    for (year, easter) in [
        (2024, "2024-03-31"),
        (2025, "2025-04-20"),
        (2026, "2026-04-05"),
        (2027, "2027-03-28"),
        (2030, "2030-04-21"),
        (2038, "2038-04-25"), // latest possible date
        (1818, "1818-03-22"), // earliest possible date
        (2000, "2000-04-23"),
    ] {
        assert_eq!(easter_sunday(year), Some(date(easter)), "{year}");
    }
}

#[test]
fn easter_is_a_sunday_between_22_march_and_25_april() {
    for year in 1583..=2400 {
        let e = easter_sunday(year).unwrap();
        assert_eq!(e.weekday(), chrono::Weekday::Sun, "{e}");
        assert!(e >= NaiveDate::from_ymd_opt(year, 3, 22).unwrap(), "{e}");
        assert!(e <= NaiveDate::from_ymd_opt(year, 4, 25).unwrap(), "{e}");
    }
}

#[test]
fn easter_and_easter_monday_are_holidays() {
    for easter in [
        "2024-03-31",
        "2025-04-20",
        "2026-04-05",
        "2027-03-28",
        "2030-04-21",
        "2038-04-25",
    ] {
        let e = date(easter);
        let want = if easter == "2038-04-25" {
            "Festa della Liberazione"
        } else {
            "Pasqua"
        };
        assert_eq!(italian_holiday(e), Some(want), "{e}");
        assert_eq!(
            italian_holiday(e.succ_opt().unwrap()),
            Some("Lunedì dell'Angelo"),
            "{e}"
        );
        assert_eq!(
            italian_holiday(e.pred_opt().unwrap()),
            None,
            "Holy Saturday {e}"
        );
        assert_eq!(italian_holiday(e + Days::new(2)), None, "Tuesday after {e}");
    }
    // 2038: Easter falls on 25 April; the fixed holiday names the day, Easter Monday is the 26th.
    assert_eq!(
        italian_holiday(date("2038-04-26")),
        Some("Lunedì dell'Angelo")
    );
}

#[test]
fn every_fixed_holiday() {
    let fixed = [
        ("01-01", "Capodanno"),
        ("01-06", "Epifania"),
        ("04-25", "Festa della Liberazione"),
        ("05-01", "Festa del Lavoro"),
        ("06-02", "Festa della Repubblica"),
        ("08-15", "Ferragosto"),
        ("10-04", "San Francesco d'Assisi e Santa Caterina da Siena"),
        ("11-01", "Ognissanti"),
        ("12-08", "Immacolata Concezione"),
        ("12-25", "Natale"),
        ("12-26", "Santo Stefano"),
    ];
    for year in [2026, 2027, 2031] {
        for (md, name) in fixed {
            assert_eq!(
                italian_holiday(date(&format!("{year}-{md}"))),
                Some(name),
                "{year}-{md}"
            );
        }
    }
    // Ordinary days around them are not holidays.
    for d in [
        "2026-01-02",
        "2026-01-07",
        "2026-05-02",
        "2026-08-14",
        "2026-10-03",
        "2026-12-27",
    ] {
        assert_eq!(italian_holiday(date(d)), None, "{d}");
    }
}

#[test]
fn october_4_is_a_holiday_only_from_2026() {
    assert_eq!(italian_holiday(date("2025-10-04")), None);
    assert_eq!(italian_holiday(date("2000-10-04")), None);
    assert!(italian_holiday(date("2026-10-04")).is_some());
    assert!(italian_holiday(date("2030-10-04")).is_some());

    // 4 Oct 2025 is a Saturday and 4 Oct 2026 a Sunday: use a service open every day.
    let s = load(r#"hours: { mon-sun: ["08:00-20:00"] }"#).unwrap();
    assert!(s.is_open(at("2025-10-04 10:00")));
    assert!(!s.is_open(at("2026-10-04 10:00")));
    assert_eq!(
        s.why_closed(at("2026-10-04 10:00")),
        Some(ClosedReason::Holiday(
            "San Francesco d'Assisi e Santa Caterina da Siena"
        ))
    );
}

// --- is_open / why_closed ----------------------------------------------------------------

#[test]
fn example_weekday_boundaries_are_half_open() {
    let s = example();
    // Monday 2 March 2026.
    assert!(!s.is_open(at("2026-03-02 07:59")));
    assert!(s.is_open(at("2026-03-02 08:00")));
    assert!(s.is_open(at("2026-03-02 19:59")));
    assert!(s.is_open(
        NaiveDateTime::parse_from_str("2026-03-02 19:59:59", "%Y-%m-%d %H:%M:%S").unwrap()
    ));
    assert!(!s.is_open(at("2026-03-02 20:00")));
    // Friday 6 March.
    assert!(s.is_open(at("2026-03-06 12:00")));
}

#[test]
fn example_saturday_and_sunday() {
    let s = example();
    assert!(s.is_open(at("2026-03-07 13:59")));
    assert!(!s.is_open(at("2026-03-07 14:00")));
    assert!(!s.is_open(at("2026-03-08 10:00")));
    assert_eq!(
        s.why_closed(at("2026-03-08 10:00")),
        Some(ClosedReason::OutsideHours)
    );
}

#[test]
fn example_closed_days_patron_and_holidays() {
    let s = example();
    // 24 Dec 2026 (Thursday) is in `closed:`.
    assert_eq!(
        s.why_closed(at("2026-12-24 10:00")),
        Some(ClosedReason::ClosedDay)
    );
    // 29 June 2026 (Monday): Santi Pietro e Paolo in Rome.
    assert_eq!(
        s.why_closed(at("2026-06-29 10:00")),
        Some(ClosedReason::Patron)
    );
    assert_eq!(
        s.why_closed(at("2027-06-29 10:00")),
        Some(ClosedReason::Patron),
        "every year"
    );
    // The whole range 10..14 August, both ends included.
    for d in ["2026-08-10", "2026-08-12", "2026-08-14"] {
        assert_eq!(
            s.why_closed(at(&format!("{d} 10:00"))),
            Some(ClosedReason::ClosedDay),
            "{d}"
        );
    }
    assert!(s.is_open(at("2026-08-07 10:00")), "Friday before the range");
    assert!(s.is_open(at("2026-08-17 10:00")), "Monday after the range");
    // National holidays, with their name.
    assert_eq!(
        s.why_closed(at("2026-04-06 10:00")),
        Some(ClosedReason::Holiday("Lunedì dell'Angelo"))
    );
    assert_eq!(
        s.why_closed(at("2026-12-08 10:00")),
        Some(ClosedReason::Holiday("Immacolata Concezione"))
    );
    // A holiday that is a Sunday anyway still says which holiday it is.
    assert_eq!(
        s.why_closed(at("2026-04-05 10:00")),
        Some(ClosedReason::Holiday("Pasqua"))
    );
}

#[test]
fn why_closed_is_none_when_open_and_outside_hours_otherwise() {
    let s = example();
    assert_eq!(s.why_closed(at("2026-03-02 10:00")), None);
    assert_eq!(
        s.why_closed(at("2026-03-02 21:00")),
        Some(ClosedReason::OutsideHours)
    );
    assert_eq!(
        s.why_closed(at("2026-03-02 00:00")),
        Some(ClosedReason::OutsideHours)
    );
}

#[test]
fn open_exception_replaces_the_day() {
    let s = example();
    // Saturday 19 Dec 2026: 09:00-12:00 instead of the usual 08:00-14:00.
    assert!(!s.is_open(at("2026-12-19 08:30")));
    assert!(s.is_open(at("2026-12-19 09:00")));
    assert!(!s.is_open(at("2026-12-19 12:00")));
    assert!(
        s.is_open(at("2026-12-12 13:00")),
        "other Saturdays keep their hours"
    );

    // It also overrides holidays, patron days and the closed list.
    let s = load(
        r#"
hours: { mon-fri: ["08:00-20:00"] }
closed: [2026-03-03]
patron: [06-29]
open:
  - { date: 2026-12-08, hours: ["09:00-12:00"] }
  - { date: 2026-06-29, hours: ["09:00-12:00"] }
  - { date: 2026-03-03, hours: ["09:00-12:00"] }
  - { date: 2026-03-08, hours: ["09:00-12:00"] }
"#,
    )
    .unwrap();
    for d in ["2026-12-08", "2026-06-29", "2026-03-03", "2026-03-08"] {
        assert!(s.is_open(at(&format!("{d} 10:00"))), "{d}");
        assert_eq!(
            s.why_closed(at(&format!("{d} 13:00"))),
            Some(ClosedReason::OutsideHours),
            "{d}"
        );
    }
}

#[test]
fn several_ranges_and_whole_day() {
    let s = load(
        r#"
hours:
  mon: ["14:00-16:00", "08:30-12:30"]   # order does not matter
  tue: ["00:00-24:00"]
  wed: ["08:00-12:00", "12:00-14:00"]   # touching ranges are fine
"#,
    )
    .unwrap();
    assert!(!s.is_open(at("2026-03-02 08:29")));
    assert!(s.is_open(at("2026-03-02 08:30")));
    assert!(!s.is_open(at("2026-03-02 13:00")));
    assert!(s.is_open(at("2026-03-02 15:59")));
    assert!(!s.is_open(at("2026-03-02 16:00")));
    assert!(s.is_open(at("2026-03-03 00:00")));
    assert!(s.is_open(
        NaiveDateTime::parse_from_str("2026-03-03 23:59:59", "%Y-%m-%d %H:%M:%S").unwrap()
    ));
    assert!(
        !s.is_open(at("2026-03-04 00:00")),
        "Wednesday opens at 08:00"
    );
    assert!(s.is_open(at("2026-03-04 12:00")));
}

#[test]
fn holidays_none_ignores_the_national_calendar() {
    let s = load(
        r#"
hours: { mon-sun: ["00:00-24:00"] }
holidays: none
"#,
    )
    .unwrap();
    assert!(s.is_open(at("2026-12-25 10:00")));
    assert!(s.is_open(at("2026-04-06 03:00")));
}

#[test]
fn defaults_are_italy_and_nothing_extra() {
    let s = load(r#"hours: { mon-fri: ["08:00-20:00"] }"#).unwrap();
    assert_eq!(s.holidays, Holidays::Italy);
    assert_eq!(
        s.why_closed(at("2026-06-02 10:00")),
        Some(ClosedReason::Holiday("Festa della Repubblica"))
    );
    assert!(s.is_open(at("2026-06-29 10:00")), "no patron unless given");
}

// --- next_opening ------------------------------------------------------------------------

#[test]
fn next_opening_over_the_weekend() {
    let s = example();
    // Friday 20:30 -> Saturday 08:00; Saturday 14:30 -> Monday 08:00.
    assert_eq!(
        s.next_opening(at("2026-03-06 20:30")),
        Some(at("2026-03-07 08:00"))
    );
    assert_eq!(
        s.next_opening(at("2026-03-07 14:30")),
        Some(at("2026-03-09 08:00"))
    );
    // Easter weekend 2026: Monday 6 April is a holiday -> Tuesday.
    assert_eq!(
        s.next_opening(at("2026-04-04 14:30")),
        Some(at("2026-04-07 08:00"))
    );
}

#[test]
fn next_opening_over_christmas() {
    let s = example();
    // 2029: 24 Dec Monday evening; 25 and 26 closed -> Thursday 27, 08:00.
    assert_eq!(
        s.next_opening(at("2029-12-24 20:30")),
        Some(at("2029-12-27 08:00"))
    );
    // 2026: 24 Dec (Thursday) closed all day, 25 Fri, 26 Sat holidays, 27 Sunday -> Monday 28.
    assert_eq!(
        s.next_opening(at("2026-12-24 18:00")),
        Some(at("2026-12-28 08:00"))
    );
    // 2025: 24 Dec is Wednesday -> Saturday 27 opens at 08:00.
    assert_eq!(
        s.next_opening(at("2025-12-24 20:30")),
        Some(at("2025-12-27 08:00"))
    );
}

#[test]
fn next_opening_same_day() {
    let s = load(r#"hours: { mon-fri: ["08:30-12:30", "14:00-16:00"] }"#).unwrap();
    assert_eq!(
        s.next_opening(at("2026-03-02 07:00")),
        Some(at("2026-03-02 08:30"))
    );
    assert_eq!(
        s.next_opening(at("2026-03-02 12:30")),
        Some(at("2026-03-02 14:00"))
    );
    // Already open: the answer is "now".
    assert_eq!(
        s.next_opening(at("2026-03-02 15:00")),
        Some(at("2026-03-02 15:00"))
    );
    assert_eq!(
        s.next_opening(at("2026-03-02 16:00")),
        Some(at("2026-03-03 08:30"))
    );
}

#[test]
fn next_opening_uses_open_exceptions_and_skips_patron_days() {
    let s = example();
    // Saturday 27 June 2026 afternoon: Monday 29 is the patron day -> Tuesday.
    assert_eq!(
        s.next_opening(at("2026-06-27 14:30")),
        Some(at("2026-06-30 08:00")),
        "29 June is the patron"
    );
    // Friday 18 Dec 2026 evening: the exception on Saturday 19 opens at 09:00, not 08:00.
    assert_eq!(
        s.next_opening(at("2026-12-18 20:30")),
        Some(at("2026-12-19 09:00"))
    );
}

#[test]
fn next_opening_gives_up_after_30_days() {
    assert_eq!(
        load("hours: {}")
            .unwrap()
            .next_opening(at("2026-03-02 10:00")),
        None
    );

    let s = load(
        r#"
hours: { mon-fri: ["08:00-20:00"] }
closed: [2026-01-07..2026-03-31]
"#,
    )
    .unwrap();
    assert_eq!(s.next_opening(at("2026-01-10 10:00")), None);
    assert_eq!(
        s.next_opening(at("2026-03-10 10:00")),
        Some(at("2026-04-01 08:00"))
    );
}

// --- YAML loading and errors -------------------------------------------------------------

#[test]
fn the_example_loads_as_written() {
    let s = example();
    assert_eq!(
        s.hours.0[0].0,
        vec![TimeRange {
            start: 8 * 60,
            end: 20 * 60
        }]
    );
    assert_eq!(s.hours.0[4], s.hours.0[0]);
    assert!(s.hours.0[6].0.is_empty(), "Sunday not listed: closed");
    assert_eq!(s.closed.len(), 2);
    assert_eq!(
        s.closed[1],
        DateSpan {
            first: date("2026-08-10"),
            last: date("2026-08-14")
        }
    );
    assert_eq!(s.patron, vec![MonthDay { month: 6, day: 29 }]);
    assert_eq!(s.open.0[0].date, date("2026-12-19"));
}

#[test]
fn error_carries_line_and_column_from_serde_saphyr() {
    let err = load_err(
        r#"hours:
  mon-fri: ["08:00-20:00"]
  sat: ["08:00-25:00"]
"#,
    );
    assert!(err.contains("bad time \"25:00\""), "{err}");
    assert!(err.contains("line 3"), "{err}");
}

/// Each validation error: its message, and the line it is reported on.
#[test]
fn validation_errors_name_the_problem_and_the_line() {
    let cases: &[(&str, &str, &str)] = &[
        ("hours:\n  mon: [\"8-20\"]\n", "bad time \"8\"", "line 2"),
        (
            "hours:\n  mon: [\"08:00\"]\n",
            "bad time range \"08:00\"",
            "line 2",
        ),
        (
            "hours:\n  mon: [\"08:60-09:00\"]\n",
            "bad time \"08:60\"",
            "line 2",
        ),
        (
            "hours:\n  mon: [\"24:30-24:40\"]\n",
            "bad time \"24:30\"",
            "line 2",
        ),
        (
            "hours:\n  mon: [\"20:00-08:00\"]\n",
            "\"20:00-08:00\" ends before",
            "line 2",
        ),
        (
            "hours:\n  mon: [\"08:00-08:00\"]\n",
            "ends before (or when)",
            "line 2",
        ),
        (
            "hours:\n  mon: [\"08:00-12:00\",\n        \"11:00-14:00\"]\n",
            "\"08:00-12:00\" and \"11:00-14:00\" overlap",
            "line 2",
        ),
        (
            "hours:\n  mon: []\n  mnd: []\n",
            "unknown weekday \"mnd\"",
            "line 3",
        ),
        (
            "hours:\n  mon-frx: []\n",
            "unknown weekday \"frx\"",
            "line 2",
        ),
        (
            "hours:\n  sat-mon: []\n",
            "\"sat-mon\" runs backwards",
            "line 2",
        ),
        (
            "hours:\n  mon-fri: []\n  tue: []\n",
            "\"tue\" repeats tue, already given above",
            "line 3",
        ),
        (
            "hours: {}\nclosed:\n  - 2026-02-30\n",
            "bad date \"2026-02-30\"",
            "line 3",
        ),
        (
            "hours: {}\nclosed:\n  - 2026-12-24\n  - 24/12/2026\n",
            "bad date \"24/12/2026\"",
            "line 4",
        ),
        (
            "hours: {}\nclosed:\n  - 2026-08-14..2026-08-10\n",
            "\"2026-08-14..2026-08-10\" ends before",
            "line 3",
        ),
        (
            "hours: {}\npatron:\n  - 02-30\n",
            "bad patron day \"02-30\"",
            "line 3",
        ),
        (
            "hours: {}\npatron: [13-01]\n",
            "bad patron day \"13-01\"",
            "line 2",
        ),
        ("hours: {}\nholidays: italia\n", "italia", "line 2"),
        (
            "hours: {}\nopen:\n  - date: 2026-13-01\n    hours: [\"09:00-12:00\"]\n",
            "bad date \"2026-13-01\"",
            "line 3",
        ),
        (
            "hours: {}\nopen:\n  - date: 2026-12-19\n    hours: []\n",
            "for 2026-12-19 has no hours",
            "line 3",
        ),
        (
            "hours: {}\nopen:\n  - { date: 2026-12-19, hours: [\"09:00-12:00\"] }\n  - { date: 2026-12-19, hours: [\"14:00-16:00\"] }\n",
            "2026-12-19 is given twice",
            "line 4",
        ),
        (
            "hours: {}\nopen:\n  - { date: 2026-12-19, hours: [\"09:00-12:00\"], note: x }\n",
            "note",
            "line 3",
        ),
        ("hours: {}\nholiday: none\n", "holiday", "line 2"),
    ];
    for (yaml, message, line) in cases {
        let err = load_err(yaml);
        assert!(
            err.contains(message),
            "{yaml:?}: want {message:?} in: {err}"
        );
        assert!(err.contains(line), "{yaml:?}: want {line:?} in: {err}");
    }
}

#[test]
fn hours_are_required() {
    let err = load_err("holidays: italy\n");
    assert!(err.contains("hours"), "{err}");
}

#[test]
fn leap_day_patron_is_accepted() {
    let s = load("hours: { mon-sun: [\"08:00-20:00\"] }\npatron: [02-29]\n").unwrap();
    assert_eq!(
        s.why_closed(at("2028-02-29 10:00")),
        Some(ClosedReason::Patron)
    );
    assert!(s.is_open(at("2027-02-28 10:00")));
    assert!(s.is_open(at("2027-03-01 10:00")));
}

#[test]
fn parsers_on_their_own() {
    assert_eq!(
        "08:00-24:00".parse(),
        Ok(TimeRange {
            start: 480,
            end: 1440
        })
    );
    assert_eq!(
        "25:00-26:00".parse::<TimeRange>(),
        Err(ScheduleError::BadTime("25:00".into()))
    );
    assert_eq!(
        TimeRange {
            start: 510,
            end: 1440
        }
        .to_string(),
        "08:30-24:00"
    );
    assert!("mon-sun".parse::<DaySpec>().is_ok());
    assert_eq!(
        "Mon".parse::<DaySpec>().err(),
        Some(ScheduleError::UnknownWeekday("Mon".into())),
        "names are lower case"
    );
    assert_eq!(
        "2026-08-10".parse(),
        Ok(DateSpan {
            first: date("2026-08-10"),
            last: date("2026-08-10")
        })
    );
}

#[test]
fn error_messages_read_well() {
    assert_eq!(
        ScheduleError::DayTwice {
            day: "tue",
            spec: "tue".into()
        }
        .to_string(),
        "\"tue\" repeats tue, already given above"
    );
    assert_eq!(
        ScheduleError::BadMonthDay("02-30".into()).to_string(),
        "bad patron day \"02-30\": expected MM-DD of a real day, e.g. \"06-29\""
    );
}
