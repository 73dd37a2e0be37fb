//! Tests for `say_it`: an independent speller cross-checks the numbers, exact fragment
//! sequences pin every chosen form, and every emitted id must be a recorded fragment.

use super::*;
use chrono::{Datelike, NaiveDate, Weekday};
use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

/// Prefixes ids with the language folder, as the module emits them.
fn ids(list: &[&str]) -> Vec<String> {
    list.iter().map(|id| format!("it/{id}")).collect()
}

/// Letters only, lowercase, accents removed: "Ventitré" -> "ventitre".
fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphabetic())
        .map(|c| match c.to_lowercase().next().unwrap_or(c) {
            'à' => 'a',
            'è' | 'é' => 'e',
            'ì' => 'i',
            'ò' => 'o',
            'ù' => 'u',
            c => c,
        })
        .collect()
}

/// What a fragment sequence sounds like, written as one normalised word.
fn spoken(sequence: &[String]) -> String {
    static TEXTS: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let texts = TEXTS.get_or_init(|| {
        fragment_texts()
            .into_iter()
            .map(|(id, text)| (format!("it/{id}"), text))
            .collect()
    });
    let joined: String = sequence
        .iter()
        .map(|id| *texts.get(id).unwrap_or_else(|| panic!("unknown id {id}")))
        .collect();
    normalise(&joined)
}

/// An independent speller, written from the grammar rules on whole words (string
/// surgery), sharing no table or code with the module.
mod reference {
    const SMALL: &str = "zero uno due tre quattro cinque sei sette otto nove dieci undici \
                         dodici tredici quattordici quindici sedici diciassette diciotto \
                         diciannove";
    const DECADES: &str = "venti trenta quaranta cinquanta sessanta settanta ottanta novanta";

    fn small(n: u32) -> &'static str {
        SMALL.split_whitespace().nth(n as usize).unwrap()
    }

    fn decade(tens: u32) -> &'static str {
        DECADES.split(' ').nth(tens as usize - 2).unwrap()
    }

    /// Compounds two parts: a ten or "cento" loses its final vowel before a vowel,
    /// except "cento" before "u" (centouno, centoundici); "mille"/"mila" never elide.
    fn join(head: &str, tail: &str) -> String {
        let tail_vowel = tail.starts_with(['a', 'e', 'i', 'o', 'u']);
        let keeps = head.ends_with("mille")
            || head.ends_with("mila")
            || (head.ends_with("cento") && tail.starts_with('u'));
        if tail_vowel && !keeps {
            format!("{}{tail}", &head[..head.len() - 1])
        } else {
            format!("{head}{tail}")
        }
    }

    fn under_hundred(n: u32) -> String {
        match (n, n % 10) {
            (0..=19, _) => small(n).to_string(),
            (_, 0) => decade(n / 10).to_string(),
            (_, unit) => join(decade(n / 10), small(unit)),
        }
    }

    fn under_thousand(n: u32) -> String {
        let head = match n / 100 {
            0 => return under_hundred(n),
            1 => "cento".to_string(),
            h => format!("{}cento", small(h)),
        };
        match n % 100 {
            0 => head,
            rest => join(&head, &under_hundred(rest)),
        }
    }

    /// Ends in "-uno" fused to a ten: 21, 31, …, 91, 121, …
    fn fused_one(n: u32) -> bool {
        n % 100 > 20 && n % 10 == 1
    }

    fn drop_last(word: &str) -> String {
        word[..word.len() - 1].to_string()
    }

    /// The written standalone form, with the spelling accent on a final "tre".
    pub fn standalone(n: u32) -> String {
        let word = if n < 1000 {
            under_thousand(n)
        } else {
            let k = n / 1000;
            let head = match k {
                1 => "mille".to_string(),
                _ if fused_one(k) => format!("{}mila", drop_last(&under_thousand(k))),
                _ => format!("{}mila", under_thousand(k)),
            };
            match n % 1000 {
                0 => head,
                rest => join(&head, &under_thousand(rest)),
            }
        };
        match word.strip_suffix("tre") {
            Some(stem) if !stem.is_empty() => format!("{stem}tré"),
            _ => word,
        }
    }

    /// Before a masculine (`true`) or feminine noun.
    pub fn before_noun(n: u32, masculine: bool) -> String {
        match n {
            1 if masculine => "un".to_string(),
            1 => "una".to_string(),
            _ if masculine && fused_one(n) => drop_last(&standalone(n)),
            _ => standalone(n),
        }
    }

    #[test]
    fn reference_spells_known_words() {
        for (n, word) in [
            (18, "diciotto"),
            (23, "ventitré"),
            (88, "ottantotto"),
            (101, "centouno"),
            (108, "centotto"),
            (180, "centottanta"),
            (1008, "milleotto"),
            (21_000, "ventunmila"),
            (101_000, "centounomila"),
            (2345, "duemilatrecentoquarantacinque"),
            (999_999, "novecentonovantanovemilanovecentonovantanove"),
        ] {
            assert_eq!(standalone(n), word);
        }
        assert_eq!(before_noun(81, true), "ottantun");
    }
}

/// Numbers checked against the reference beyond 0–9,999: every thousand, and around
/// each thousand the endings where elision and truncation happen.
fn sample_numbers() -> Vec<u32> {
    let mut numbers: Vec<u32> = (0..=9_999).collect();
    for k in 10..=999 {
        for rest in [0, 1, 3, 8, 11, 21, 80, 81, 88, 101, 108, 181, 999] {
            numbers.push(k * 1000 + rest);
        }
    }
    numbers.extend([100_001, 101_000, 999_999, 21_000, 81_081, 121_121, 381_088]);
    numbers
}

#[test]
fn cardinal_matches_the_reference_speller() {
    for n in sample_numbers() {
        let expected = normalise(&reference::standalone(n));
        assert_eq!(spoken(&cardinal(n)), expected, "cardinal({n})");
    }
}

#[test]
fn cardinal_before_matches_the_reference_speller() {
    for n in sample_numbers() {
        for (gender, masculine) in [(Gender::Masculine, true), (Gender::Feminine, false)] {
            let expected = normalise(&reference::before_noun(n, masculine));
            let got = spoken(&cardinal_before(n, gender));
            assert_eq!(got, expected, "cardinal_before({n}, {gender:?})");
        }
    }
}

#[test]
fn cardinal_exact_fragments() {
    let nine_nine_nine = ["num/9", "num/cento", "num/90", "num/9"];
    let cases: &[(u32, Vec<&str>)] = &[
        (0, vec!["num/0"]),
        (1, vec!["num/1"]),
        (8, vec!["num/8"]),
        (18, vec!["num/18"]),
        (21, vec!["num/vent", "num/1"]),
        (23, vec!["num/20", "num/3"]),
        (28, vec!["num/vent", "num/8"]),
        (31, vec!["num/trent", "num/1"]),
        (38, vec!["num/trent", "num/8"]),
        (100, vec!["num/cento"]),
        (101, vec!["num/cento", "num/1"]),
        (108, vec!["num/cent", "num/8"]),
        (111, vec!["num/cento", "num/11"]),
        (121, vec!["num/cento", "num/vent", "num/1"]),
        (181, vec!["num/cent", "num/ottant", "num/1"]),
        (200, vec!["num/2", "num/cento"]),
        (1000, vec!["num/mille"]),
        (1001, vec!["num/mille", "num/1"]),
        (1008, vec!["num/mille", "num/8"]),
        (1021, vec!["num/mille", "num/vent", "num/1"]),
        (2000, vec!["num/2", "num/mila"]),
        (2021, vec!["num/2", "num/mila", "num/vent", "num/1"]),
        (21_000, vec!["num/vent", "num/un", "num/mila"]),
        (100_000, vec!["num/cento", "num/mila"]),
        (101_000, vec!["num/cento", "num/1", "num/mila"]),
        (
            999_999,
            [nine_nine_nine.as_slice(), &["num/mila"], &nine_nine_nine].concat(),
        ),
    ];
    for (n, expected) in cases {
        assert_eq!(cardinal(*n), ids(expected), "cardinal({n})");
    }
}

#[test]
fn cardinal_above_range_reads_digits() {
    assert_eq!(cardinal(1_000_000), digits("1000000"));
}

#[test]
fn cardinal_before_exact_fragments() {
    use Gender::{Feminine as F, Masculine as M};
    let cases: &[(u32, Gender, &[&str])] = &[
        (1, M, &["num/un"]),
        (1, F, &["num/una"]),
        (21, M, &["num/vent", "num/un"]),
        (21, F, &["num/vent", "num/1"]),
        (31, M, &["num/trent", "num/un"]),
        (31, F, &["num/trent", "num/1"]),
        (101, M, &["num/cento", "num/1"]),
        (101, F, &["num/cento", "num/1"]),
        (1001, M, &["num/mille", "num/1"]),
        (1001, F, &["num/mille", "num/1"]),
        (1000, M, &["num/mille"]),
        (2, F, &["num/2"]),
    ];
    for (n, gender, expected) in cases {
        assert_eq!(
            cardinal_before(*n, *gender),
            ids(expected),
            "{n} {gender:?}"
        );
    }
}

#[test]
fn digits_reads_keys_letters_and_dashes() {
    assert_eq!(digits("0612"), ids(&["num/0", "num/6", "num/1", "num/2"]));
    assert_eq!(
        digits("*#"),
        ids(&["parola/asterisco", "parola/cancelletto"])
    );
    let ticket = ids(&[
        "lettera/l",
        "lettera/i",
        "parola/trattino",
        "num/2",
        "num/0",
        "num/2",
        "num/6",
        "parola/trattino",
        "num/0",
        "num/0",
        "num/0",
        "num/1",
        "num/2",
        "num/3",
    ]);
    assert_eq!(digits("LI-2026-000123"), ticket);
    assert_eq!(digits("li-2026-000123"), ticket);
    assert_eq!(digits("a b.é/"), ids(&["lettera/a", "lettera/b"]));
    assert!(digits("").is_empty());
}

#[test]
fn dates() {
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    // The weekdays the expectations assume, checked independently of the module.
    assert_eq!(day(2024, 12, 3).weekday(), Weekday::Tue);
    assert_eq!(day(2025, 12, 1).weekday(), Weekday::Mon);
    assert_eq!(day(2026, 6, 21).weekday(), Weekday::Sun);
    assert_eq!(
        date(day(2024, 12, 3)),
        ids(&["giorno/martedi", "num/3", "mese/dicembre"])
    );
    assert_eq!(
        date(day(2025, 12, 1)),
        ids(&["giorno/lunedi", "parola/primo", "mese/dicembre"])
    );
    assert_eq!(
        date(day(2026, 6, 21)),
        ids(&["giorno/domenica", "num/vent", "num/1", "mese/giugno"])
    );
    assert_eq!(
        date_with_year(day(2026, 6, 21)),
        ids(&[
            "giorno/domenica",
            "num/vent",
            "num/1",
            "mese/giugno",
            "num/2",
            "num/mila",
            "num/20",
            "num/6",
        ])
    );
    assert_eq!(
        date_with_year(day(2025, 12, 1)),
        ids(&[
            "giorno/lunedi",
            "parola/primo",
            "mese/dicembre",
            "num/2",
            "num/mila",
            "num/20",
            "num/5",
        ])
    );
}

#[test]
fn times() {
    let cases: &[((u32, u32), &[&str])] = &[
        (
            (10, 30),
            &["parola/alle-ore", "num/10", "parola/e", "num/30"],
        ),
        ((13, 5), &["parola/alle-ore", "num/13", "parola/e", "num/5"]),
        ((9, 0), &["parola/alle-ore", "num/9"]),
        ((0, 0), &["parola/a-mezzanotte"]),
        ((0, 30), &["parola/a-mezzanotte", "parola/e", "num/30"]),
        ((1, 0), &["parola/all-una"]),
        ((1, 15), &["parola/all-una", "parola/e", "num/15"]),
        ((12, 0), &["parola/alle-ore", "num/12"]),
        (
            (21, 21),
            &[
                "parola/alle-ore",
                "num/vent",
                "num/1",
                "parola/e",
                "num/vent",
                "num/1",
            ],
        ),
        (
            (23, 58),
            &[
                "parola/alle-ore",
                "num/20",
                "num/3",
                "parola/e",
                "num/cinquant",
                "num/8",
            ],
        ),
    ];
    for ((h, m), expected) in cases {
        assert_eq!(time(*h, *m), ids(expected), "{h}:{m:02}");
    }
}

#[test]
fn euro_amounts() {
    let cases: &[(u64, &[&str])] = &[
        (0, &["num/0", "parola/euro"]),
        (1, &["num/un", "parola/centesimo"]),
        (21, &["num/vent", "num/un", "parola/centesimi"]),
        (100, &["num/un", "parola/euro"]),
        (
            150,
            &[
                "num/un",
                "parola/euro",
                "parola/e",
                "num/50",
                "parola/centesimi",
            ],
        ),
        (
            101,
            &[
                "num/un",
                "parola/euro",
                "parola/e",
                "num/un",
                "parola/centesimo",
            ],
        ),
        (2100, &["num/vent", "num/un", "parola/euro"]),
        (
            1250,
            &[
                "num/12",
                "parola/euro",
                "parola/e",
                "num/50",
                "parola/centesimi",
            ],
        ),
        (100_000, &["num/mille", "parola/euro"]),
        (10_100, &["num/cento", "num/1", "parola/euro"]),
        (
            2_100_000,
            &["num/vent", "num/un", "num/mila", "parola/euro"],
        ),
    ];
    for (cents, expected) in cases {
        assert_eq!(euro(*cents), ids(expected), "{cents} cents");
    }
    // Beyond 999,999 euro the amount is read digit by digit, never refused.
    let mut million = digits("1000000");
    million.push("it/parola/euro".into());
    assert_eq!(euro(100_000_000), million);
}

#[test]
fn callers_ahead_phrases() {
    let more_than_20 = [
        "coda/ci-sono",
        "coda/piu-di",
        "num/20",
        "coda/persone-in-attesa",
    ];
    let cases: &[(u32, u32, &[&str])] = &[
        (0, 20, &["coda/lei-e-il-prossimo"]),
        (1, 20, &["coda/ce-una-persona"]),
        (2, 20, &["coda/ci-sono", "num/2", "coda/persone-in-attesa"]),
        (
            20,
            20,
            &["coda/ci-sono", "num/20", "coda/persone-in-attesa"],
        ),
        (21, 20, &more_than_20),
        (50, 20, &more_than_20),
        (
            21,
            30,
            &[
                "coda/ci-sono",
                "num/vent",
                "num/1",
                "coda/persone-in-attesa",
            ],
        ),
        // A limit below 2 counts as 2: never "più di una persone".
        (2, 0, &["coda/ci-sono", "num/2", "coda/persone-in-attesa"]),
        (
            3,
            1,
            &[
                "coda/ci-sono",
                "coda/piu-di",
                "num/2",
                "coda/persone-in-attesa",
            ],
        ),
        (1, 0, &["coda/ce-una-persona"]),
    ];
    for (n, limit, expected) in cases {
        assert_eq!(
            callers_ahead(*n, *limit),
            ids(expected),
            "{n} (limit {limit})"
        );
    }
}

#[test]
fn wait_minutes_phrases() {
    let cases: &[(u32, &[&str])] = &[
        (0, &["coda/attesa-stimata", "num/un", "parola/minuto"]),
        (1, &["coda/attesa-stimata", "num/un", "parola/minuto"]),
        (2, &["coda/attesa-stimata", "num/2", "parola/minuti"]),
        (
            21,
            &["coda/attesa-stimata", "num/vent", "num/un", "parola/minuti"],
        ),
        (100, &["coda/attesa-stimata", "num/cento", "parola/minuti"]),
    ];
    for (m, expected) in cases {
        assert_eq!(wait_minutes(*m), ids(expected), "{m} minutes");
    }
}

/// Every id any function can emit, over inputs covering every branch.
fn all_emitted_ids() -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut add = |sequence: Vec<String>| seen.extend(sequence);
    for n in (0..=999_999).step_by(37).chain(sample_numbers()) {
        add(cardinal(n));
        add(cardinal_before(n, Gender::Masculine));
        add(cardinal_before(n, Gender::Feminine));
    }
    add(cardinal(u32::MAX));
    add(digits(
        &(0u8..128)
            .map(char::from)
            .chain("àéì€".chars())
            .collect::<String>(),
    ));
    let mut day = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    while day.year() == 2024 {
        add(date(day));
        add(date_with_year(day));
        day = day.succ_opt().unwrap();
    }
    for h in 0..24 {
        for m in 0..60 {
            add(time(h, m));
        }
    }
    for cents in (0..=200_000).chain([u64::MAX, 100_000_000]) {
        add(euro(cents));
    }
    for limit in 0..=30 {
        for n in 0..=40 {
            add(callers_ahead(n, limit));
        }
    }
    for m in 0..=120 {
        add(wait_minutes(m));
    }
    seen
}

#[test]
fn every_emitted_id_is_a_fragment_and_every_fragment_is_used() {
    let known: BTreeSet<String> = fragment_texts()
        .iter()
        .map(|(id, _)| format!("it/{id}"))
        .collect();
    let emitted = all_emitted_ids();
    let unknown: Vec<_> = emitted.difference(&known).collect();
    assert!(
        unknown.is_empty(),
        "emitted but not in fragment_texts: {unknown:?}"
    );
    let unused: Vec<_> = known.difference(&emitted).collect();
    assert!(unused.is_empty(), "recorded but never emitted: {unused:?}");
}

#[test]
fn fragment_inventory_is_well_formed() {
    let fragments = fragment_texts();
    let unique: BTreeSet<_> = fragments.iter().map(|(id, _)| id).collect();
    assert_eq!(unique.len(), fragments.len(), "duplicate fragment id");
    for (id, text) in &fragments {
        let safe = id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '/' || c == '-');
        assert!(
            safe && !id.starts_with('/'),
            "{id}: id must be a plain path"
        );
        assert!(
            !text.trim().is_empty() && !text.contains('\t'),
            "{id}: bad text"
        );
    }
    // The number set stays compact: units, tens, elided tens, cento/cent, mille/mila, un/una.
    let numbers = fragments.iter().filter(|(id, _)| id.starts_with("num/"));
    assert_eq!(numbers.count(), 42);
}

/// The manifest section lines, sorted by id: `id<TAB>text`.
fn manifest_section() -> Vec<String> {
    let mut fragments = fragment_texts();
    fragments.sort();
    fragments
        .into_iter()
        .map(|(id, text)| format!("{id}\t{text}"))
        .collect()
}

const MANIFEST_HEADER: &str = "# say_it fragments (src/ivr/say_it/)";

/// The recordings must say what the code thinks they say: the manifest section is
/// exactly `fragment_texts()`, sorted. (Regenerate with `print_manifest_section`.)
#[test]
fn manifest_section_matches_fragment_texts() {
    let manifest = include_str!("../../../prompts/it/manifest.tsv");
    let section: Vec<String> = manifest
        .lines()
        .skip_while(|line| *line != MANIFEST_HEADER)
        .skip(1)
        .take_while(|line| !line.starts_with('#'))
        .filter(|line| !line.trim().is_empty())
        .map(str::to_string)
        .collect();
    let expected = manifest_section();
    assert!(
        section == expected,
        "manifest section out of date; replace it with:\n{MANIFEST_HEADER}\n{}",
        expected.join("\n")
    );
}
