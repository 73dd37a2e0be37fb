//! Business hours for voice menus: weekly opening hours, Italian national holidays,
//! extra closed days, patron-saint days and one-off openings, loaded from YAML and
//! queried with a time the caller supplies (pure code: no clock reads here).
//!
//! ```yaml
//! hours:                       # per weekday; days not listed are closed
//!   mon-fri: ["08:00-20:00"]   # a day (mon … sun) or a range of days; several ranges allowed
//!   sat: ["08:00-14:00"]
//! holidays: italy              # national holidays closed (default); "none" to disable
//! closed:                      # extra closed days: a date or an inclusive date range
//!   - 2026-12-24
//!   - 2026-08-10..2026-08-14
//! patron: [06-29]              # local patron-saint days, month-day, every year
//! open:                        # one-off openings; they override everything above
//!   - date: 2026-12-19
//!     hours: ["09:00-12:00"]
//! ```
//!
//! Every value is checked while it is deserialised, so a bad schedule fails at load time and
//! serde-saphyr reports the line and column of the offending value.
//!
//! All times are **local Italian wall-clock time** (`Europe/Rome`). Converting from UTC is the
//! caller's job (the driver owns the clock), e.g.
//! `now_utc.with_timezone(&chrono_tz::Europe::Rome).naive_local()`.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// How far ahead [`Schedule::next_opening`] looks, in days.
const SEARCH_DAYS: u64 = 30;

/// Minutes in a day; `24:00` is allowed as the end of a range.
const DAY_MINUTES: u16 = 24 * 60;

/// The weekdays in the order the YAML and arrays use them (index = days from Monday).
const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Why a schedule failed to load. Each message names the offending text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("bad time \"{0}\": expected HH:MM between 00:00 and 24:00")]
    BadTime(String),
    #[error("bad time range \"{0}\": expected HH:MM-HH:MM, e.g. \"08:00-14:00\"")]
    BadTimeRange(String),
    #[error("time range \"{0}\" ends before (or when) it starts")]
    TimeRangeReversed(String),
    #[error("time ranges \"{first}\" and \"{second}\" overlap")]
    Overlap { first: String, second: String },
    #[error("unknown weekday \"{0}\": expected mon, tue, wed, thu, fri, sat or sun")]
    UnknownWeekday(String),
    #[error("weekday range \"{0}\" runs backwards: write it from Monday towards Sunday")]
    WeekdayRangeReversed(String),
    #[error("\"{spec}\" repeats {day}, already given above")]
    DayTwice { day: &'static str, spec: String },
    #[error("bad date \"{0}\": expected YYYY-MM-DD, or YYYY-MM-DD..YYYY-MM-DD for a range")]
    BadDate(String),
    #[error("date range \"{0}\" ends before it starts")]
    DateRangeReversed(String),
    #[error("bad patron day \"{0}\": expected MM-DD of a real day, e.g. \"06-29\"")]
    BadMonthDay(String),
    #[error("opening exception for {0} has no hours: list them, or use `closed:` instead")]
    EmptyOpening(NaiveDate),
    #[error("opening exception for {0} is given twice")]
    OpeningTwice(NaiveDate),
}

/// Why [`Schedule::is_open`] said no, so a menu can tell the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedReason {
    /// A national holiday, with its Italian name (see [`italian_holiday`]).
    Holiday(&'static str),
    /// A day in the `closed:` list.
    ClosedDay,
    /// A local patron-saint day (`patron:`).
    Patron,
    /// A working day outside its hours, or a weekday with no hours at all (e.g. Sunday).
    OutsideHours,
}

/// Which national holidays close the office.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Holidays {
    /// Italian national holidays ([`italian_holiday`]).
    #[default]
    Italy,
    /// No national holidays (e.g. a 24/7 emergency line).
    None,
}

/// Opening hours of one office or service. Build it by deserialising (see the module docs);
/// every instance is valid.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    hours: WeekHours,
    #[serde(default)]
    holidays: Holidays,
    #[serde(default)]
    closed: Vec<DateSpan>,
    #[serde(default)]
    patron: Vec<MonthDay>,
    #[serde(default)]
    open: Openings,
}

impl Schedule {
    /// Whether the office is open at `at`, a **local Italian** wall-clock time.
    pub fn is_open(&self, at: NaiveDateTime) -> bool {
        self.why_closed(at).is_none()
    }

    /// `None` when open at `at` (local time), else why not. A national holiday is reported as
    /// such even when it falls on a day that would be closed anyway (e.g. Easter Sunday).
    pub fn why_closed(&self, at: NaiveDateTime) -> Option<ClosedReason> {
        let ranges = match self.hours_on(at.date()) {
            Ok(ranges) => ranges,
            Err(reason) => return Some(reason),
        };
        let minute = minute_of_day(at.time());
        let open = ranges.iter().any(|r| r.start <= minute && minute < r.end);
        (!open).then_some(ClosedReason::OutsideHours)
    }

    /// The earliest moment at or after `at` (local time) when the office is open: `at` itself
    /// if open now. `None` if it stays closed for the next 30 days.
    ///
    /// The result is a wall-clock time; on the night clocks go forward it could name a time
    /// that does not exist (only if an opening starts between 02:00 and 03:00).
    pub fn next_opening(&self, at: NaiveDateTime) -> Option<NaiveDateTime> {
        let now = minute_of_day(at.time());
        for offset in 0..=SEARCH_DAYS {
            let date = at.date().checked_add_days(Days::new(offset))?;
            let Ok(ranges) = self.hours_on(date) else {
                continue;
            };
            for r in ranges {
                if offset == 0 {
                    if now < r.end {
                        // Open now (start <= now) or later today.
                        return Some(if r.start <= now {
                            at
                        } else {
                            date.and_time(r.start_time())
                        });
                    }
                } else {
                    return Some(date.and_time(r.start_time()));
                }
            }
        }
        None
    }

    /// The opening ranges of `date` (sorted, maybe empty), or why the whole day is closed.
    /// Precedence: a one-off opening beats everything; then national holiday, patron day,
    /// the `closed:` list, and finally the weekly hours.
    fn hours_on(&self, date: NaiveDate) -> Result<&[TimeRange], ClosedReason> {
        if let Some(opening) = self.open.0.iter().find(|o| o.date == date) {
            return Ok(&opening.hours.0);
        }
        if self.holidays == Holidays::Italy
            && let Some(name) = italian_holiday(date)
        {
            return Err(ClosedReason::Holiday(name));
        }
        if self.patron.iter().any(|p| p.matches(date)) {
            return Err(ClosedReason::Patron);
        }
        if self
            .closed
            .iter()
            .any(|span| span.first <= date && date <= span.last)
        {
            return Err(ClosedReason::ClosedDay);
        }
        Ok(&self.hours.0[date.weekday().num_days_from_monday() as usize].0)
    }
}

/// The Italian name of the national holiday on `d`, if any.
///
/// The calendar as in force from 2026: law 151/2025 restored 4 October (San Francesco
/// d'Assisi e Santa Caterina da Siena) as a national holiday from 2026 onward, so it is not
/// one before. Older changes to the calendar are not modelled: the daemon answers about the
/// present, not about history.
pub fn italian_holiday(d: NaiveDate) -> Option<&'static str> {
    let fixed = match (d.month(), d.day()) {
        (1, 1) => Some("Capodanno"),
        (1, 6) => Some("Epifania"),
        (4, 25) => Some("Festa della Liberazione"),
        (5, 1) => Some("Festa del Lavoro"),
        (6, 2) => Some("Festa della Repubblica"),
        (8, 15) => Some("Ferragosto"),
        (10, 4) if d.year() >= 2026 => Some("San Francesco d'Assisi e Santa Caterina da Siena"),
        (11, 1) => Some("Ognissanti"),
        (12, 8) => Some("Immacolata Concezione"),
        (12, 25) => Some("Natale"),
        (12, 26) => Some("Santo Stefano"),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    let easter = easter_sunday(d.year())?;
    if d == easter {
        Some("Pasqua")
    } else if d.pred_opt() == Some(easter) {
        Some("Lunedì dell'Angelo")
    } else {
        None
    }
}

/// Easter Sunday of `year` (Gregorian calendar), by the anonymous Gregorian algorithm
/// (Meeus/Jones/Butcher). `None` only for years chrono cannot represent.
pub fn easter_sunday(year: i32) -> Option<NaiveDate> {
    let a = year.rem_euclid(19);
    let b = year.div_euclid(100);
    let c = year.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32)
}

fn minute_of_day(t: NaiveTime) -> u16 {
    // Seconds are dropped: ranges are whole minutes and half-open, so 19:59:59 is still
    // inside "08:00-20:00" and 20:00:00 is not.
    (t.hour() * 60 + t.minute()) as u16
}

// ---------------------------------------------------------------------------------------
// Values and their parsing. Each type checks itself in `FromStr`; the serde impls only
// turn a `ScheduleError` into `de::Error::custom` at the point the value is read, which is
// what lets serde-saphyr attach the line and column.
// ---------------------------------------------------------------------------------------

/// Deserialise a string and parse it with `FromStr<Err = ScheduleError>`.
fn parse_str<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr<Err = ScheduleError>,
{
    let text = String::deserialize(de)?;
    text.parse().map_err(de::Error::custom)
}

/// A half-open range of minutes `[start, end)` within one day; `end` may be 24:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TimeRange {
    start: u16,
    end: u16,
}

impl TimeRange {
    fn start_time(self) -> NaiveTime {
        // start < end <= 24:00, so start is always a real time of day.
        NaiveTime::from_hms_opt(u32::from(self.start / 60), u32::from(self.start % 60), 0)
            .expect("range start is below 24:00")
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, e) = (self.start, self.end);
        write!(f, "{:02}:{:02}-{:02}:{:02}", s / 60, s % 60, e / 60, e % 60)
    }
}

fn parse_time(text: &str) -> Result<u16, ScheduleError> {
    let bad = || ScheduleError::BadTime(text.to_owned());
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(h) || !two_digits(m) {
        return Err(bad());
    }
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let minutes = h * 60 + m;
    if m >= 60 || minutes > DAY_MINUTES {
        return Err(bad());
    }
    Ok(minutes)
}

impl FromStr for TimeRange {
    type Err = ScheduleError;
    fn from_str(text: &str) -> Result<Self, ScheduleError> {
        let (start, end) = text
            .split_once('-')
            .ok_or_else(|| ScheduleError::BadTimeRange(text.to_owned()))?;
        let range = TimeRange {
            start: parse_time(start.trim())?,
            end: parse_time(end.trim())?,
        };
        if range.end <= range.start {
            return Err(ScheduleError::TimeRangeReversed(text.to_owned()));
        }
        Ok(range)
    }
}

impl<'de> Deserialize<'de> for TimeRange {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        parse_str(de)
    }
}

/// The opening ranges of one day, sorted and disjoint (touching is fine: "08:00-12:00",
/// "12:00-14:00").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct DayHours(Vec<TimeRange>);

impl DayHours {
    fn new(mut ranges: Vec<TimeRange>) -> Result<Self, ScheduleError> {
        ranges.sort();
        if let Some(w) = ranges.windows(2).find(|w| w[0].end > w[1].start) {
            return Err(ScheduleError::Overlap {
                first: w[0].to_string(),
                second: w[1].to_string(),
            });
        }
        Ok(DayHours(ranges))
    }
}

impl<'de> Deserialize<'de> for DayHours {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        DayHours::new(Vec::deserialize(de)?).map_err(de::Error::custom)
    }
}

/// A key of `hours:`: one weekday or an inclusive range of them, as indices from Monday.
struct DaySpec {
    first: usize,
    last: usize,
}

fn weekday_index(name: &str) -> Result<usize, ScheduleError> {
    WEEKDAYS
        .iter()
        .position(|&d| d == name)
        .ok_or_else(|| ScheduleError::UnknownWeekday(name.to_owned()))
}

impl FromStr for DaySpec {
    type Err = ScheduleError;
    fn from_str(text: &str) -> Result<Self, ScheduleError> {
        let (first, last) = match text.split_once('-') {
            Some((a, b)) => (weekday_index(a.trim())?, weekday_index(b.trim())?),
            None => {
                let day = weekday_index(text.trim())?;
                (day, day)
            }
        };
        // No wrap-around ("sat-mon"): it is more often a typo than an intent.
        if last < first {
            return Err(ScheduleError::WeekdayRangeReversed(text.to_owned()));
        }
        Ok(DaySpec { first, last })
    }
}

/// Reads one `hours:` key, refusing days already given by an earlier key. Checking inside
/// the key's own deserialisation makes the error point at that key.
struct DaySpecSeed<'a> {
    taken: &'a [bool; 7],
}

impl<'de> DeserializeSeed<'de> for DaySpecSeed<'_> {
    type Value = DaySpec;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<DaySpec, D::Error> {
        let text = String::deserialize(de)?;
        let spec: DaySpec = text.parse().map_err(de::Error::custom)?;
        if let Some(day) = (spec.first..=spec.last).find(|&d| self.taken[d]) {
            return Err(de::Error::custom(ScheduleError::DayTwice {
                day: WEEKDAYS[day],
                spec: text,
            }));
        }
        Ok(spec)
    }
}

/// Opening hours per weekday, indexed from Monday; unlisted days are closed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct WeekHours([DayHours; 7]);

impl<'de> Deserialize<'de> for WeekHours {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct WeekVisitor;
        impl<'de> Visitor<'de> for WeekVisitor {
            type Value = WeekHours;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map from weekdays (mon, mon-fri, ...) to lists of time ranges")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WeekHours, A::Error> {
                let mut week = WeekHours::default();
                let mut taken = [false; 7];
                while let Some(spec) = map.next_key_seed(DaySpecSeed { taken: &taken })? {
                    let hours: DayHours = map.next_value()?;
                    let days = spec.first..=spec.last;
                    taken[days.clone()].fill(true);
                    week.0[days].fill(hours);
                }
                Ok(week)
            }
        }
        de.deserialize_map(WeekVisitor)
    }
}

fn parse_date(text: &str) -> Result<NaiveDate, ScheduleError> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| ScheduleError::BadDate(text.to_owned()))
}

/// An inclusive range of dates from `closed:`; a single date has `first == last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DateSpan {
    first: NaiveDate,
    last: NaiveDate,
}

impl FromStr for DateSpan {
    type Err = ScheduleError;
    fn from_str(text: &str) -> Result<Self, ScheduleError> {
        let (first, last) = match text.split_once("..") {
            Some((a, b)) => (parse_date(a)?, parse_date(b)?),
            None => {
                let day = parse_date(text)?;
                (day, day)
            }
        };
        if last < first {
            return Err(ScheduleError::DateRangeReversed(text.to_owned()));
        }
        Ok(DateSpan { first, last })
    }
}

impl<'de> Deserialize<'de> for DateSpan {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        parse_str(de)
    }
}

/// A month and day that recur every year (patron-saint day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MonthDay {
    month: u32,
    day: u32,
}

impl MonthDay {
    fn matches(self, date: NaiveDate) -> bool {
        date.month() == self.month && date.day() == self.day
    }
}

impl FromStr for MonthDay {
    type Err = ScheduleError;
    fn from_str(text: &str) -> Result<Self, ScheduleError> {
        let bad = || ScheduleError::BadMonthDay(text.to_owned());
        let (m, d) = text.trim().split_once('-').ok_or_else(bad)?;
        let (month, day) = (m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?);
        // Checked against a leap year so that 02-29 is accepted (it simply never matches in
        // other years) while 02-30 or 04-31 are refused.
        NaiveDate::from_ymd_opt(2000, month, day).ok_or_else(bad)?;
        Ok(MonthDay { month, day })
    }
}

impl<'de> Deserialize<'de> for MonthDay {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        parse_str(de)
    }
}

/// A single date (the `date:` of an opening exception).
struct Date(NaiveDate);

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let text = String::deserialize(de)?;
        parse_date(&text).map(Date).map_err(de::Error::custom)
    }
}

/// A one-off opening: on `date`, these hours replace whatever the rest of the schedule says.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Opening {
    date: NaiveDate,
    hours: DayHours,
}

/// Reads one `open:` entry, refusing an empty list of hours or a date already given.
struct OpeningSeed<'a> {
    seen: &'a [Opening],
}

impl<'de> DeserializeSeed<'de> for OpeningSeed<'_> {
    type Value = Opening;
    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Opening, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            date: Date,
            hours: DayHours,
        }
        let Raw {
            date: Date(date),
            hours,
        } = Raw::deserialize(de)?;
        if hours.0.is_empty() {
            return Err(de::Error::custom(ScheduleError::EmptyOpening(date)));
        }
        if self.seen.iter().any(|o| o.date == date) {
            return Err(de::Error::custom(ScheduleError::OpeningTwice(date)));
        }
        Ok(Opening { date, hours })
    }
}

/// The `open:` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Openings(Vec<Opening>);

impl<'de> Deserialize<'de> for Openings {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct OpeningsVisitor;
        impl<'de> Visitor<'de> for OpeningsVisitor {
            type Value = Openings;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of {date, hours} openings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Openings, A::Error> {
                let mut all = Vec::new();
                while let Some(o) = seq.next_element_seed(OpeningSeed { seen: &all })? {
                    all.push(o);
                }
                Ok(Openings(all))
            }
        }
        de.deserialize_seq(OpeningsVisitor)
    }
}

#[cfg(test)]
mod tests;
