//! `centralino say`: how the daemon speaks a value in Italian. Prints the fragment ids
//! (below `prompts/it/`, e.g. `num/vent num/1`) and the text they say (`ventuno`), from
//! `ivr::say_it` and its `fragment_texts()` table.

use super::{EXIT_USAGE, Outcome, Texts};
use crate::ivr::say_it;

/// A value to speak.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A cardinal number: `say 21`.
    Number(u32),
    /// A date: `say --date 2026-12-03`.
    Date(chrono::NaiveDate),
    /// A 24-hour time: `say --time 10:30`.
    Time(u32, u32),
    /// An amount in cents: `say --euro 12.50`.
    Euro(u64),
    /// Character by character: `say --digits 0612`.
    Digits(String),
    /// Queue position, callers ahead: `say --ahead 7`.
    Ahead(u32),
    /// Estimated wait in minutes: `say --minutes 3`.
    Minutes(u32),
}

impl Value {
    pub fn number(s: &str) -> Result<Value, String> {
        s.trim()
            .parse()
            .map(Value::Number)
            .map_err(|_| format!("`{s}`: expected a whole number 0-4294967295"))
    }

    pub fn date(s: &str) -> Result<Value, String> {
        chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map(Value::Date)
            .map_err(|_| format!("`{s}`: expected a date YYYY-MM-DD"))
    }

    pub fn time(s: &str) -> Result<Value, String> {
        use chrono::Timelike;
        chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M")
            .map(|t| Value::Time(t.hour(), t.minute()))
            .map_err(|_| format!("`{s}`: expected a time HH:MM"))
    }

    /// `12.50`, `12,5`, `3`.
    pub fn euro(s: &str) -> Result<Value, String> {
        let bad = || format!("`{s}`: expected an amount like 12.50");
        let v = s.trim().replace(',', ".");
        let (whole, frac) = v.split_once('.').unwrap_or((&v, ""));
        if frac.len() > 2 || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let whole: u64 = whole.parse().map_err(|_| bad())?;
        let cents: u64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
        whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .map(Value::Euro)
            .ok_or_else(bad)
    }

    pub fn digits(s: &str) -> Result<Value, String> {
        if s.is_empty() {
            return Err("--digits needs something to read".into());
        }
        Ok(Value::Digits(s.to_owned()))
    }

    /// The prompt ids, with their `it/` folder.
    pub fn fragments(&self) -> Vec<String> {
        match self {
            Value::Number(n) => say_it::cardinal(*n),
            Value::Date(d) => say_it::date(*d),
            Value::Time(h, m) => say_it::time(*h, *m),
            Value::Euro(c) => say_it::euro(*c),
            Value::Digits(s) => say_it::digits(s),
            Value::Ahead(n) => say_it::callers_ahead(*n, u32::MAX),
            Value::Minutes(m) => say_it::wait_minutes(*m),
        }
    }
}

/// Two lines: the fragment ids without `it/`, and the spoken text.
pub fn say(value: &Value) -> String {
    let ids = value.fragments();
    let short: Vec<&str> = ids
        .iter()
        .map(|id| id.strip_prefix("it/").unwrap_or(id))
        .collect();
    let text = Texts::fragments().lines(&ids).join(" ");
    format!("{}\n{text}\n", short.join(" "))
}

/// `centralino say ...` from a parsed value (or the error of parsing it).
pub fn run(value: Result<Value, String>) -> Outcome {
    match value {
        Ok(v) if v.fragments().is_empty() => Outcome::fail(
            EXIT_USAGE,
            "centralino say: nothing to say (no readable characters)",
        ),
        Ok(v) => Outcome::ok(say(&v)),
        Err(e) => Outcome::fail(EXIT_USAGE, format!("centralino say: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn said(v: Result<Value, String>) -> String {
        let out = run(v);
        assert_eq!(out.code, 0, "{out:?}");
        out.stdout
    }

    #[test]
    fn numbers() {
        assert_eq!(said(Value::number("21")), "num/vent num/1\nventuno\n");
        assert_eq!(said(Value::number("101")), "num/cento num/1\ncentouno\n");
        assert_eq!(said(Value::number("108")), "num/cent num/8\ncentotto\n");
        assert_eq!(
            said(Value::number("2026")),
            "num/2 num/mila num/20 num/6\nduemilaventisei\n"
        );
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(
            said(Value::date("2026-12-03")),
            "giorno/giovedi num/3 mese/dicembre\ngiovedì tre dicembre\n"
        );
        assert_eq!(
            said(Value::date("2026-12-01")),
            "giorno/martedi parola/primo mese/dicembre\nmartedì primo dicembre\n"
        );
        assert_eq!(
            said(Value::time("10:30")).lines().nth(1),
            Some("alle ore dieci e trenta")
        );
        assert_eq!(
            said(Value::time("01:05")).lines().nth(1),
            Some("all'una e cinque")
        );
    }

    #[test]
    fn money_digits_and_the_queue() {
        assert_eq!(
            said(Value::euro("12.50")).lines().nth(1),
            Some("dodici euro e cinquanta centesimi")
        );
        assert_eq!(said(Value::euro("21")).lines().nth(1), Some("ventun euro"));
        assert_eq!(
            said(Value::digits("0612")),
            "num/0 num/6 num/1 num/2\nzero sei uno due\n"
        );
        assert_eq!(
            said(Ok(Value::Ahead(7))).lines().nth(1),
            Some("Ci sono sette persone in attesa prima di Lei.")
        );
        assert_eq!(
            said(Ok(Value::Ahead(1))).lines().nth(1),
            Some("C'è una persona in attesa prima di Lei.")
        );
        assert_eq!(
            said(Ok(Value::Minutes(21))).lines().nth(1),
            Some("Il tempo di attesa stimato è di circa ventun minuti")
        );
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for v in [
            Value::number("ventuno"),
            Value::date("2026-13-01"),
            Value::time("25:00"),
            Value::euro("1.234"),
            Value::euro("-3"),
            Value::digits(""),
        ] {
            assert_eq!(run(v).code, EXIT_USAGE);
        }
        assert_eq!(run(Value::digits("...")).code, EXIT_USAGE);
    }
}
