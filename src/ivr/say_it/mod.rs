//! Italian speech from recorded fragments: numbers, dates, times, euro amounts and queue
//! announcements as sequences of prompt ids (`it/num/21`, `it/mese/dicembre`, …).
//!
//! Pure: every function maps values to ids; the player plays them back to back.
//! `fragment_texts()` lists every fragment with its spoken text, and is the source of
//! the `# say_it fragments` section of `prompts/it/manifest.tsv`.
//!
//! # Choices where Italian usage varies
//!
//! The reference is standard written Italian as in CLDR's Italian spell-out rules
//! (`common/rbnf/it.xml`); where it leaves room, the more common modern form wins.
//!
//! - **Tens** drop their final vowel before "uno" and "otto": ventuno, trentotto,
//!   novantuno (fragments `num/vent` + `num/1`). No other compound elides.
//! - **cento** keeps its vowel before "uno" (centouno, the dictionary form: "La carica
//!   dei centouno") and drops it before "otto" and "ottanta…" (centotto, centottanta,
//!   centottantuno: "centottanta" is the only usual spelling, and CLDR elides "centotto"
//!   the same way). Hence one extra fragment, `num/cent`.
//! - **mille / mila** never elide: milleotto, duemilaottanta. 1000 is "mille",
//!   2000–999,999 are count + "mila".
//! - **Final "tre"** is written "tré" in compounds (ventitré); it sounds the same, so
//!   `num/3` serves both.
//! - **Before a noun** (`cardinal_before`): 1 is "un"/"una"; a compound ending in
//!   "-uno" after a ten truncates before a masculine noun ("ventun euro", "trentun
//!   minuti") and stays "ventuno" before a feminine one (the agreeing "ventuna" is
//!   accepted but dated; CLDR and current usage keep "ventuno persone"). A "uno" added
//!   straight after "cento"/"mille"/"mila" stays invariable: "centouno euro", "milleuno
//!   euro", "duemilauno persone".
//! - **Thousands** use the truncated count: ventunmila, centoventunmila; x01 keeps
//!   "uno" there too: 101,000 = "centounomila" (as in CLDR).
//! - Numbers above 999,999 are read digit by digit rather than refused.
//! - **digits()** reads 0–9, `*` "asterisco", `#` "cancelletto", letters A–Z by their
//!   Italian names and `-` as "trattino" (a ticket id "LI-2026-000123" is dictated
//!   "elle i trattino due zero due sei trattino …", so the caller can write it down);
//!   every other character is skipped.
//! - **Dates** have no article: "martedì tre dicembre", "lunedì primo dicembre".
//! - **Times** are 24-hour, "alle ore tredici e cinque"; 0 is "a mezzanotte" and 1 is
//!   "all'una" (see `time`). 12 stays "alle ore dodici", unambiguous in 24-hour speech.
//! - **Queue** counts use "persone" (feminine), and the wait estimate never says zero.

mod fragments;
mod numbers;
mod phrases;
#[cfg(test)]
mod tests;

pub use fragments::fragment_texts;
pub use numbers::{cardinal, cardinal_before, digits};
pub use phrases::{callers_ahead, date, date_with_year, euro, time, wait_minutes};

/// Grammatical gender of the noun a number counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gender {
    Masculine,
    Feminine,
}
