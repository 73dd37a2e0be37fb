//! Cardinal numbers 0–999,999 built from fragments, and character-by-character reading.
//!
//! The rules (module notes in `mod.rs` say why each form was chosen):
//! - 1–19 are single fragments; a ten elides its vowel before "uno" and "otto"
//!   (vent+uno, trent+otto) and is whole otherwise (venti+tre).
//! - "cento" keeps its vowel before "uno" (centouno) and drops it before "otto" and
//!   "ottanta…" (cent+otto, cent+ottanta); "mille"/"mila" never elide (milleotto).
//! - thousands: 1000 = "mille", then count + "mila", the count taking the truncated
//!   masculine form (vent+un+mila = ventunmila).

use super::Gender;
use super::fragments::{
    ASTERISCO, CANCELLETTO, CENT, CENTO, Fragment, LETTERS, MILA, MILLE, TENS, TENS_ELIDED,
    TRATTINO, UN, UNA, UNITS, play,
};

/// The largest number spoken as words; larger ones are read digit by digit.
pub(super) const MAX_SPOKEN: u64 = 999_999;

/// How a number's final "uno" is said: it is the only part that agrees with what follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FinalOne {
    /// Standalone: "ventuno".
    Uno,
    /// Before a masculine noun or "mila": "ventun euro", "ventunmila".
    Un,
    /// Before a feminine noun: only 1 itself changes ("una"); compounds stay "ventuno".
    Una,
}

pub fn cardinal(n: u32) -> Vec<String> {
    spell(u64::from(n), FinalOne::Uno)
}

/// The form used right before a noun. Assumes a noun taking "un" (euro, minuto,
/// centesimo), not one needing "uno" (s+consonant, z, gn: "uno zaino").
pub fn cardinal_before(n: u32, gender: Gender) -> Vec<String> {
    spell_before(u64::from(n), gender)
}

/// `cardinal_before` for wider amounts (euros can exceed `u32`).
pub(super) fn spell_before(n: u64, gender: Gender) -> Vec<String> {
    let last = match gender {
        Gender::Masculine => FinalOne::Un,
        Gender::Feminine => FinalOne::Una,
    };
    spell(n, last)
}

fn spell(n: u64, last: FinalOne) -> Vec<String> {
    if n > MAX_SPOKEN {
        // Out of range for words: never panic mid-call, read the digits instead.
        return digits(&n.to_string());
    }
    let n = n as u32; // fits: n <= 999_999
    let mut out = Vec::new();
    if n == 0 {
        out.push(play(UNITS[0]));
        return out;
    }
    let (thousands, rest) = (n / 1000, n % 1000);
    match thousands {
        0 => {}
        1 => out.push(play(MILLE)),
        count => {
            below_thousand(count, FinalOne::Un, &mut out);
            out.push(play(MILA));
        }
    }
    if rest > 0 {
        // A "uno" added straight after "mille"/"mila" stays invariable, like after
        // "cento": milleuno euro, duemilauno.
        let last = if thousands > 0 && rest == 1 {
            FinalOne::Uno
        } else {
            last
        };
        below_thousand(rest, last, &mut out);
    }
    out
}

/// 1..=999.
fn below_thousand(n: u32, last: FinalOne, out: &mut Vec<String>) {
    let (hundreds, rest) = (n / 100, n % 100);
    if hundreds > 0 {
        if hundreds > 1 {
            out.push(play(UNITS[hundreds as usize]));
        }
        let starts_with_o = rest == 8 || (80..=89).contains(&rest);
        out.push(play(if starts_with_o { CENT } else { CENTO }));
        if rest == 1 {
            // centouno: invariable, before nouns too ("centouno euro").
            out.push(play(UNITS[1]));
            return;
        }
    }
    if rest > 0 {
        below_hundred(rest, last, out);
    }
}

/// 1..=99.
fn below_hundred(n: u32, last: FinalOne, out: &mut Vec<String>) {
    if n == 1 {
        out.push(play(final_one(last, true)));
        return;
    }
    if n < 20 {
        out.push(play(UNITS[n as usize]));
        return;
    }
    let (tens, unit) = ((n / 10) as usize - 2, n % 10);
    match unit {
        0 => out.push(play(TENS[tens])),
        1 => {
            out.push(play(TENS_ELIDED[tens]));
            out.push(play(final_one(last, false)));
        }
        8 => {
            out.push(play(TENS_ELIDED[tens]));
            out.push(play(UNITS[8]));
        }
        _ => {
            out.push(play(TENS[tens]));
            out.push(play(UNITS[unit as usize]));
        }
    }
}

/// `alone`: the number is 1 itself (agrees in both genders); otherwise it ends a
/// compound (ventuno), which truncates before masculine nouns but does not take "-una".
fn final_one(last: FinalOne, alone: bool) -> Fragment {
    match last {
        FinalOne::Uno => UNITS[1],
        FinalOne::Un => UN,
        FinalOne::Una if alone => UNA,
        FinalOne::Una => UNITS[1],
    }
}

/// Reads a string character by character: digits, `*` "asterisco", `#` "cancelletto",
/// letters A–Z by their Italian names (either case), `-` "trattino". Anything else
/// (spaces, dots, accented letters) is skipped, so odd input never yields an unknown id.
pub fn digits(s: &str) -> Vec<String> {
    s.chars()
        .filter_map(|c| match c {
            '0'..='9' => Some(UNITS[c as usize - '0' as usize]),
            'a'..='z' => Some(LETTERS[c as usize - 'a' as usize]),
            'A'..='Z' => Some(LETTERS[c as usize - 'A' as usize]),
            '*' => Some(ASTERISCO),
            '#' => Some(CANCELLETTO),
            '-' => Some(TRATTINO),
            _ => None,
        })
        .map(play)
        .collect()
}
