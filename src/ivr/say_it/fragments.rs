//! The fragment inventory: every recorded prompt `say_it` can emit, with its spoken text.
//!
//! Each table is indexed by the code that speaks it (digit, tens digit, weekday, month,
//! letter), so an id is written once, here, next to its text. `fragment_texts()` chains
//! the tables; it is the source of the `prompts/it/manifest.tsv` lines.

/// One recorded prompt: its id below `prompts/it/` and the text it speaks.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fragment {
    pub id: &'static str,
    pub text: &'static str,
}

const fn f(id: &'static str, text: &'static str) -> Fragment {
    Fragment { id, text }
}

/// Library prefix of every emitted id (`num/21` is played as `it/num/21`).
const LANGUAGE: &str = "it/";

/// The id a player needs: the fragment id under the language folder.
pub(super) fn play(fragment: Fragment) -> String {
    format!("{LANGUAGE}{}", fragment.id)
}

/// 0–19, indexed by value. `num/1` is the standalone "uno"; `num/3` also ends compounds
/// ("ventitré": the accent is spelling only, the sound is the same).
pub(super) const UNITS: [Fragment; 20] = [
    f("num/0", "zero"),
    f("num/1", "uno"),
    f("num/2", "due"),
    f("num/3", "tre"),
    f("num/4", "quattro"),
    f("num/5", "cinque"),
    f("num/6", "sei"),
    f("num/7", "sette"),
    f("num/8", "otto"),
    f("num/9", "nove"),
    f("num/10", "dieci"),
    f("num/11", "undici"),
    f("num/12", "dodici"),
    f("num/13", "tredici"),
    f("num/14", "quattordici"),
    f("num/15", "quindici"),
    f("num/16", "sedici"),
    f("num/17", "diciassette"),
    f("num/18", "diciotto"),
    f("num/19", "diciannove"),
];

/// 20–90, indexed by tens digit − 2.
pub(super) const TENS: [Fragment; 8] = [
    f("num/20", "venti"),
    f("num/30", "trenta"),
    f("num/40", "quaranta"),
    f("num/50", "cinquanta"),
    f("num/60", "sessanta"),
    f("num/70", "settanta"),
    f("num/80", "ottanta"),
    f("num/90", "novanta"),
];

/// The tens without their final vowel, used before "uno"/"un"/"una" and "otto"
/// (vent+uno = ventuno, trent+otto = trentotto). Indexed like `TENS`.
pub(super) const TENS_ELIDED: [Fragment; 8] = [
    f("num/vent", "vent"),
    f("num/trent", "trent"),
    f("num/quarant", "quarant"),
    f("num/cinquant", "cinquant"),
    f("num/sessant", "sessant"),
    f("num/settant", "settant"),
    f("num/ottant", "ottant"),
    f("num/novant", "novant"),
];

pub(super) const CENTO: Fragment = f("num/cento", "cento");
/// "cento" before "otto"/"ottanta…": centotto, centottanta (see the module notes).
pub(super) const CENT: Fragment = f("num/cent", "cent");
pub(super) const MILLE: Fragment = f("num/mille", "mille");
pub(super) const MILA: Fragment = f("num/mila", "mila");
/// "uno" before a masculine noun or "mila": un euro, ventun minuti, ventunmila.
pub(super) const UN: Fragment = f("num/un", "un");
/// "uno" before a feminine noun: una persona.
pub(super) const UNA: Fragment = f("num/una", "una");

/// Indexed by `Weekday::num_days_from_monday()`.
pub(super) const WEEKDAYS: [Fragment; 7] = [
    f("giorno/lunedi", "lunedì"),
    f("giorno/martedi", "martedì"),
    f("giorno/mercoledi", "mercoledì"),
    f("giorno/giovedi", "giovedì"),
    f("giorno/venerdi", "venerdì"),
    f("giorno/sabato", "sabato"),
    f("giorno/domenica", "domenica"),
];

/// Indexed by `Datelike::month0()`.
pub(super) const MONTHS: [Fragment; 12] = [
    f("mese/gennaio", "gennaio"),
    f("mese/febbraio", "febbraio"),
    f("mese/marzo", "marzo"),
    f("mese/aprile", "aprile"),
    f("mese/maggio", "maggio"),
    f("mese/giugno", "giugno"),
    f("mese/luglio", "luglio"),
    f("mese/agosto", "agosto"),
    f("mese/settembre", "settembre"),
    f("mese/ottobre", "ottobre"),
    f("mese/novembre", "novembre"),
    f("mese/dicembre", "dicembre"),
];

/// Italian letter names, indexed by letter − 'a'.
pub(super) const LETTERS: [Fragment; 26] = [
    f("lettera/a", "a"),
    f("lettera/b", "bi"),
    f("lettera/c", "ci"),
    f("lettera/d", "di"),
    f("lettera/e", "e"),
    f("lettera/f", "effe"),
    f("lettera/g", "gi"),
    f("lettera/h", "acca"),
    f("lettera/i", "i"),
    f("lettera/j", "i lunga"),
    f("lettera/k", "cappa"),
    f("lettera/l", "elle"),
    f("lettera/m", "emme"),
    f("lettera/n", "enne"),
    f("lettera/o", "o"),
    f("lettera/p", "pi"),
    f("lettera/q", "cu"),
    f("lettera/r", "erre"),
    f("lettera/s", "esse"),
    f("lettera/t", "ti"),
    f("lettera/u", "u"),
    f("lettera/v", "vu"),
    f("lettera/w", "doppia vu"),
    f("lettera/x", "ics"),
    f("lettera/y", "ipsilon"),
    f("lettera/z", "zeta"),
];

pub(super) const PRIMO: Fragment = f("parola/primo", "primo");
pub(super) const E: Fragment = f("parola/e", "e");
pub(super) const ALLE_ORE: Fragment = f("parola/alle-ore", "alle ore");
pub(super) const ALL_UNA: Fragment = f("parola/all-una", "all'una");
pub(super) const A_MEZZANOTTE: Fragment = f("parola/a-mezzanotte", "a mezzanotte");
pub(super) const EURO: Fragment = f("parola/euro", "euro");
pub(super) const CENTESIMO: Fragment = f("parola/centesimo", "centesimo");
pub(super) const CENTESIMI: Fragment = f("parola/centesimi", "centesimi");
pub(super) const MINUTO: Fragment = f("parola/minuto", "minuto");
pub(super) const MINUTI: Fragment = f("parola/minuti", "minuti");
pub(super) const ASTERISCO: Fragment = f("parola/asterisco", "asterisco");
pub(super) const CANCELLETTO: Fragment = f("parola/cancelletto", "cancelletto");
pub(super) const TRATTINO: Fragment = f("parola/trattino", "trattino");

pub(super) const LEI_E_IL_PROSSIMO: Fragment = f("coda/lei-e-il-prossimo", "Lei è il prossimo.");
pub(super) const CE_UNA_PERSONA: Fragment = f(
    "coda/ce-una-persona",
    "C'è una persona in attesa prima di Lei.",
);
pub(super) const CI_SONO: Fragment = f("coda/ci-sono", "Ci sono");
pub(super) const PIU_DI: Fragment = f("coda/piu-di", "più di");
pub(super) const PERSONE_IN_ATTESA: Fragment =
    f("coda/persone-in-attesa", "persone in attesa prima di Lei.");
pub(super) const ATTESA_STIMATA: Fragment = f(
    "coda/attesa-stimata",
    "Il tempo di attesa stimato è di circa",
);

/// Every fragment above, as (id without "it/", spoken text).
pub fn fragment_texts() -> Vec<(&'static str, &'static str)> {
    let singles = [
        CENTO,
        CENT,
        MILLE,
        MILA,
        UN,
        UNA,
        PRIMO,
        E,
        ALLE_ORE,
        ALL_UNA,
        A_MEZZANOTTE,
        EURO,
        CENTESIMO,
        CENTESIMI,
        MINUTO,
        MINUTI,
        ASTERISCO,
        CANCELLETTO,
        TRATTINO,
        LEI_E_IL_PROSSIMO,
        CE_UNA_PERSONA,
        CI_SONO,
        PIU_DI,
        PERSONE_IN_ATTESA,
        ATTESA_STIMATA,
    ];
    UNITS
        .iter()
        .chain(&TENS)
        .chain(&TENS_ELIDED)
        .chain(&WEEKDAYS)
        .chain(&MONTHS)
        .chain(&LETTERS)
        .chain(&singles)
        .map(|fragment| (fragment.id, fragment.text))
        .collect()
}
