//! Dates, times, money and queue announcements assembled from number fragments.

use chrono::{Datelike, NaiveDate};

use super::Gender;
use super::fragments::{
    A_MEZZANOTTE, ALL_UNA, ALLE_ORE, ATTESA_STIMATA, CE_UNA_PERSONA, CENTESIMI, CENTESIMO, CI_SONO,
    E, EURO, LEI_E_IL_PROSSIMO, MINUTI, MINUTO, MONTHS, PERSONE_IN_ATTESA, PIU_DI, PRIMO, WEEKDAYS,
    play,
};
use super::numbers::{cardinal, cardinal_before, spell_before};

/// "martedì 3 dicembre"; the first of the month is "primo" ("lunedì primo dicembre").
pub fn date(d: NaiveDate) -> Vec<String> {
    let mut out = vec![play(WEEKDAYS[d.weekday().num_days_from_monday() as usize])];
    if d.day() == 1 {
        out.push(play(PRIMO));
    } else {
        out.extend(cardinal(d.day()));
    }
    out.push(play(MONTHS[d.month0() as usize]));
    out
}

/// `date` followed by the year as a cardinal ("duemilaventisei").
pub fn date_with_year(d: NaiveDate) -> Vec<String> {
    let mut out = date(d);
    // Years before 1 AD never reach a phone menu; speak their magnitude rather than panic.
    out.extend(cardinal(d.year().unsigned_abs()));
    out
}

/// 24-hour time: "alle ore dieci e trenta", "alle ore nove". Two hours read better
/// with their everyday words: 0 is "a mezzanotte" ("a mezzanotte e quindici") and 1 is
/// "all'una" ("all'una e quindici"), because "alle ore zero" sounds mechanical and
/// "alle ore una" pairs a plural article with a singular hour. Minutes are spoken as a
/// cardinal after "e"; values are spoken as given (range checks belong to the caller).
pub fn time(h: u32, m: u32) -> Vec<String> {
    let mut out = match h {
        0 => vec![play(A_MEZZANOTTE)],
        1 => vec![play(ALL_UNA)],
        _ => {
            let mut hour = vec![play(ALLE_ORE)];
            hour.extend(cardinal(h));
            hour
        }
    };
    if m > 0 {
        out.push(play(E));
        out.extend(cardinal(m));
    }
    out
}

/// "dodici euro e cinquanta centesimi", "un euro", "ventun euro", "un centesimo".
/// Whole amounts have no cents part; zero is "zero euro".
pub fn euro(cents: u64) -> Vec<String> {
    let (whole, cents) = (cents / 100, cents % 100);
    let mut out = Vec::new();
    if whole > 0 || cents == 0 {
        out.extend(spell_before(whole, Gender::Masculine));
        out.push(play(EURO));
    }
    if cents > 0 {
        if whole > 0 {
            out.push(play(E));
        }
        out.extend(spell_before(cents, Gender::Masculine));
        out.push(play(if cents == 1 { CENTESIMO } else { CENTESIMI }));
    }
    out
}

/// Callers ahead (0-based, DESIGN §5). Above `limit` the exact count is not promised:
/// "Ci sono più di venti persone in attesa prima di Lei". A limit below 2 is raised to
/// 2, since "più di una/zero persone" is not a sentence we want to play.
pub fn callers_ahead(n: u32, limit: u32) -> Vec<String> {
    let limit = limit.max(2);
    match n {
        0 => vec![play(LEI_E_IL_PROSSIMO)],
        1 => vec![play(CE_UNA_PERSONA)],
        _ => {
            let mut out = vec![play(CI_SONO)];
            let count = if n > limit {
                out.push(play(PIU_DI));
                limit
            } else {
                n
            };
            // Feminine ("persone"): the same as `cardinal` for n >= 2 ("ventuno persone").
            out.extend(cardinal_before(count, Gender::Feminine));
            out.push(play(PERSONE_IN_ATTESA));
            out
        }
    }
}

/// "Il tempo di attesa stimato è di circa" + "un minuto" / "ventun minuti" / "tre
/// minuti". An estimate of 0 is announced as "circa un minuto": the wait is not zero
/// until an operator answers.
pub fn wait_minutes(m: u32) -> Vec<String> {
    let m = m.max(1);
    let mut out = vec![play(ATTESA_STIMATA)];
    out.extend(cardinal_before(m, Gender::Masculine));
    out.push(play(if m == 1 { MINUTO } else { MINUTI }));
    out
}
