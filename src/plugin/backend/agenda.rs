//! The built-in agenda (pure): appointment slots of a fixed length laid out from the
//! start of each opening period of the agency, for the next working days, with a number
//! of desks per slot. Deterministic given the time `after` and the bookings so far.

use super::super::Slot;
use crate::ivr::schedule::Schedule;
use chrono::{Days, NaiveDate, NaiveDateTime, TimeDelta};

/// How far the agenda looks for working days, in calendar days.
const SEARCH_DAYS: u64 = 62;

/// The agenda's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub slot_minutes: u32,
    /// Working days (days the agency opens at all) offered, counting that of `after`.
    pub days_ahead: u32,
    pub desks: u32,
}

/// The opening periods of `date` as `[start, end)` wall-clock times, found minute by
/// minute from the schedule (which also knows holidays and one-off openings).
pub fn open_periods(hours: &Schedule, date: NaiveDate) -> Vec<(NaiveDateTime, NaiveDateTime)> {
    let midnight = date.and_hms_opt(0, 0, 0).expect("midnight exists");
    let mut periods = Vec::new();
    let mut start = None;
    for minute in 0..=24 * 60 {
        let t = midnight + TimeDelta::minutes(minute);
        let open = minute < 24 * 60 && hours.is_open(t);
        match (open, start) {
            (true, None) => start = Some(t),
            (false, Some(s)) => {
                periods.push((s, t));
                start = None;
            }
            _ => {}
        }
    }
    periods
}

/// Up to `limit` free slots starting at or after `after`. `booked(start)` is how many
/// bookings a slot already has; a slot is free while that is below `desks`.
pub fn free_slots(
    hours: &Schedule,
    layout: Layout,
    after: NaiveDateTime,
    limit: usize,
    booked: impl Fn(NaiveDateTime) -> u32,
) -> Vec<Slot> {
    let len = TimeDelta::minutes(i64::from(layout.slot_minutes.max(1)));
    let mut out = Vec::new();
    let mut working_days = 0;
    for offset in 0..SEARCH_DAYS {
        if out.len() >= limit || working_days >= layout.days_ahead {
            break;
        }
        let Some(date) = after.date().checked_add_days(Days::new(offset)) else {
            break;
        };
        let periods = open_periods(hours, date);
        if periods.is_empty() {
            continue;
        }
        working_days += 1;
        for (open, close) in periods {
            let mut start = open;
            while start + len <= close && out.len() < limit {
                if start >= after && booked(start) < layout.desks {
                    out.push(Slot {
                        start,
                        duration_min: layout.slot_minutes,
                        slot_id: None,
                        officer: None,
                    });
                }
                start += len;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    fn hours(yaml: &str) -> Schedule {
        serde_saphyr::from_str(yaml).unwrap()
    }

    fn starts(slots: &[Slot]) -> Vec<String> {
        slots
            .iter()
            .map(|s| s.start.format("%a %d %H:%M").to_string())
            .collect()
    }

    const LAYOUT: Layout = Layout {
        slot_minutes: 30,
        days_ahead: 10,
        desks: 1,
    };

    #[test]
    fn slots_follow_opening_hours_and_skip_weekends_and_holidays() {
        let h = super::super::super::config::default_agency_hours();
        // Friday 24 April 2026, 11:40: one slot left that day; Saturday 25 (also the
        // Festa della Liberazione) and Sunday closed; then Monday 27 from opening.
        let slots = free_slots(&h, LAYOUT, at("2026-04-24 11:40"), 4, |_| 0);
        assert_eq!(
            starts(&slots),
            [
                "Fri 24 12:00",
                "Mon 27 08:30",
                "Mon 27 09:00",
                "Mon 27 09:30"
            ]
        );
        assert!(slots.iter().all(|s| s.duration_min == 30));
        // Thursday 24 December after the last slot; 25 and 26 holidays, 27 Sunday.
        let slots = free_slots(&h, LAYOUT, at("2026-12-24 12:10"), 2, |_| 0);
        assert_eq!(starts(&slots), ["Mon 28 08:30", "Mon 28 09:00"]);
    }

    #[test]
    fn periods_split_slots_and_a_short_tail_is_dropped() {
        let h = hours("hours:\n  mon-fri: [\"08:30-10:00\", \"14:00-15:20\"]\n");
        let slots = free_slots(&h, LAYOUT, at("2026-03-02 00:00"), 10, |_| 0);
        assert_eq!(
            starts(&slots),
            [
                "Mon 02 08:30",
                "Mon 02 09:00",
                "Mon 02 09:30",
                "Mon 02 14:00",
                "Mon 02 14:30",
                "Tue 03 08:30",
                "Tue 03 09:00",
                "Tue 03 09:30",
                "Tue 03 14:00",
                "Tue 03 14:30",
            ]
        );
        let periods = open_periods(&h, NaiveDate::from_ymd_opt(2026, 3, 2).unwrap());
        assert_eq!(periods[1], (at("2026-03-02 14:00"), at("2026-03-02 15:20")));
    }

    #[test]
    fn booked_slots_are_full_at_the_desk_count_and_days_are_bounded() {
        let h = hours("hours:\n  mon-fri: [\"09:00-10:00\"]\n");
        let layout = Layout {
            slot_minutes: 30,
            days_ahead: 2,
            desks: 2,
        };
        let booked = |t: NaiveDateTime| match t.format("%d %H:%M").to_string().as_str() {
            "02 09:00" => 2,
            "02 09:30" => 1,
            _ => 0,
        };
        let slots = free_slots(&h, layout, at("2026-03-02 08:00"), 10, booked);
        assert_eq!(
            starts(&slots),
            ["Mon 02 09:30", "Tue 03 09:00", "Tue 03 09:30"],
            "two working days only"
        );
        let again = free_slots(&h, layout, at("2026-03-02 08:00"), 10, booked);
        assert_eq!(slots, again, "deterministic");
        assert!(free_slots(&h, layout, at("2026-03-02 08:00"), 0, booked).is_empty());
    }
}
