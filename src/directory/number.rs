//! Phone numbers to E.164 (ITU-T E.164; `tel:` and visual separators as in RFC 3966 §5.1),
//! with the Italian numbering plan (AGCOM) for national forms: the one key the directory
//! is indexed by, whatever form a carrier or an administrator wrote a number in.

/// E.164 allows at most 15 digits, country code included.
const E164_MAX_DIGITS: usize = 15;
/// Shorter international numbers are taken for a typo (or a short code) rather than a
/// real subscriber.
const E164_MIN_DIGITS: usize = 7;

/// The E.164 form (`+390659051000`) of a number as dialled or written, or `None` when it
/// is not a phone number this switchboard can place.
///
/// Rules, in order:
///
/// 1. A leading `tel:` (any case) and any `;parameters` (`;phone-context=…`, `;ext=…`)
///    are dropped, and so are visual separators: spaces, `-`, `.`, `/`, `(` and `)`.
///    What remains must be digits, with an optional `+` before the first one; anything
///    else (letters, `*51`, `#`) gives `None`.
/// 2. `+CC…` is already international: kept.
/// 3. `00CC…` (the Italian international prefix) becomes `+CC…`: `0039…` → `+39…`.
/// 4. An Italian national number becomes `+39…`, leading `0` kept:
///    - geographic, starting with `0`: 6 to 11 digits (`06 5905 1000`);
///    - mobile, starting with `3`: 9 or 10 digits (`333 123 4567`);
///    - toll-free and shared-cost, starting with `80x` or `84x`: 6 to 10 digits
///      (`800 123456`, `803 164`, `848 123456`);
///    - premium `199`: 9 or 10 digits.
/// 5. `39` followed by an Italian national number as in rule 4 (the country code without
///    `+` or `00`, as some trunks send it) becomes `+39…`: `390659051000` →
///    `+390659051000`. Rule 4 is tried first, so a 9- or 10-digit string starting with
///    `39` is a mobile number (`3931234567` → `+393931234567`).
/// 6. Anything else is `None`: other national prefixes (`1xx` short codes, `4x`, `89x`),
///    numbers too short or too long for their kind, and international numbers (rules
///    2–3) with a country code starting with `0` or fewer than 7 or more than 15 digits.
pub fn normalise_e164(raw: &str) -> Option<String> {
    let s = raw.trim();
    let s = match s.get(..4) {
        Some(scheme) if scheme.eq_ignore_ascii_case("tel:") => &s[4..],
        _ => s,
    };
    let s = s.split(';').next().unwrap_or_default();
    let mut digits = String::with_capacity(s.len());
    let mut plus = false;
    for c in s.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if digits.is_empty() && !plus => plus = true,
            ' ' | '\u{a0}' | '\t' | '-' | '.' | '/' | '(' | ')' => {}
            _ => return None,
        }
    }
    if plus {
        return international(&digits);
    }
    if let Some(rest) = digits.strip_prefix("00") {
        return international(rest);
    }
    if italian_national(&digits) {
        return Some(format!("+39{digits}"));
    }
    match digits.strip_prefix("39") {
        Some(national) if italian_national(national) => Some(format!("+{digits}")),
        _ => None,
    }
}

/// `+digits` when `digits` (country code first) has the length E.164 allows.
fn international(digits: &str) -> Option<String> {
    let ok =
        (E164_MIN_DIGITS..=E164_MAX_DIGITS).contains(&digits.len()) && !digits.starts_with('0');
    ok.then(|| format!("+{digits}"))
}

/// Whether `digits` (digits only) is a plausible Italian national number (rule 4).
fn italian_national(digits: &str) -> bool {
    let len = digits.len();
    let b = digits.as_bytes();
    match (b.first(), b.get(1), b.get(2)) {
        (Some(b'0'), _, _) => (6..=11).contains(&len),
        (Some(b'3'), _, _) => (9..=10).contains(&len),
        (Some(b'8'), Some(b'0' | b'4'), Some(_)) => (6..=10).contains(&len),
        (Some(b'1'), Some(b'9'), Some(b'9')) => (9..=10).contains(&len),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::normalise_e164 as e164;

    fn is(raw: &str, want: &str) {
        assert_eq!(e164(raw).as_deref(), Some(want), "{raw:?}");
    }

    fn none(raw: &str) {
        assert_eq!(e164(raw), None, "{raw:?}");
    }

    #[test]
    fn e164_is_kept() {
        is("+390659051000", "+390659051000");
        is("+39 06 5905 1000", "+390659051000");
        is("+39 333 1234567", "+393331234567");
        is("+41 44 668 18 00", "+41446681800");
        is("+1 (212) 555-0100", "+12125550100");
    }

    #[test]
    fn international_prefix_00() {
        is("0039 06 5905 1000", "+390659051000");
        is("00390659051000", "+390659051000");
        is("0041446681800", "+41446681800");
        is("0049 30 1234567", "+49301234567");
    }

    #[test]
    fn italian_geographic_numbers() {
        is("06 5905 1000", "+390659051000");
        is("0659051000", "+390659051000");
        is("02 8901 2000", "+390289012000");
        is("081 555 1000", "+390815551000");
        is("0471 123456", "+390471123456");
        is("0165 30 1000", "+390165301000");
        is("070/1234567", "+390701234567");
        is("(06) 5905-1000", "+390659051000");
        is("06.5905.1000", "+390659051000");
        // Shortest and longest geographic numbers.
        is("012345", "+39012345");
        is("01234567890", "+3901234567890");
    }

    #[test]
    fn italian_mobile_and_non_geographic_numbers() {
        is("333 123 4567", "+393331234567");
        is("333-1234567", "+393331234567");
        is("333123456", "+39333123456");
        is("800 123456", "+39800123456");
        is("803 164", "+39803164");
        is("848 123 456", "+39848123456");
        is("840 123456", "+39840123456");
        is("199 123 456", "+39199123456");
    }

    #[test]
    fn bare_country_code_without_plus() {
        is("390659051000", "+390659051000");
        is("39 06 5905 1000", "+390659051000");
        is("393331234567", "+393331234567");
        is("39800123456", "+39800123456");
        // A 10-digit string starting with 39 is a mobile number, not 39 + a short one.
        is("3931234567", "+393931234567");
        is("3901234567", "+393901234567");
    }

    #[test]
    fn tel_uris_and_parameters() {
        is("tel:+390659051000", "+390659051000");
        is("TEL:+39-06-5905-1000", "+390659051000");
        is("tel:0659051000;phone-context=+39", "+390659051000");
        is("tel:+390659051000;ext=123", "+390659051000");
    }

    #[test]
    fn what_is_not_a_number() {
        for raw in [
            "",
            " ",
            "+",
            "tel:",
            "centralino",
            "test",
            "*51",
            "#31#0659051000",
            "06 5905 1000 int. 2",
            "0659051000x",
            "++390659051000",
            "39+0659051000",
            "+39 06 5905 1000 +1",
            "sip:0659051000@pbx.example",
        ] {
            none(raw);
        }
    }

    #[test]
    fn lengths_and_prefixes_out_of_range() {
        none("06123"); // geographic too short
        none("061234567890"); // geographic too long (12)
        none("33312345"); // mobile too short
        none("33312345678"); // mobile too long (11)
        none("80012"); // toll-free too short
        none("80012345678"); // toll-free too long
        none("112"); // emergency and short codes are not office numbers
        none("1500");
        none("199123"); // premium too short
        none("892892"); // 89x is not accepted
        none("4123456789"); // 4x: network-internal numbers
        none("55123456"); // 5x without the country code
        none("39123"); // 39 + nothing plausible
        none("+39 06"); // international, too short
        none("+1234567890123456"); // 16 digits: beyond E.164
        none("001234567890123456");
        none("+0390659051000"); // country codes never start with 0
        none("000390659051000");
    }
}
