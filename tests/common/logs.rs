//! Daemon log helpers: ANSI stripping, tails, DTMF `digit=` field checks, and the id of a
//! ticket the daemon stored.

/// Removes ANSI escape sequences (colours) from a log.
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                // CSI: parameters, then one final byte in @..~
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Position of the first `digit=<d>` field (also `digit="d"` / `digit='d'`) at or after
/// `from`, where `<d>` is exactly the key (`1`, `#`, `*`, `A`).
fn find_digit_field(log: &str, digit: &str, from: usize) -> Option<usize> {
    let forms = [
        format!("digit={digit}"),
        format!("digit=\"{digit}\""),
        format!("digit='{digit}'"),
    ];
    let mut best: Option<usize> = None;
    for form in &forms {
        let mut at = from;
        while let Some(pos) = log[at..].find(form.as_str()) {
            let start = at + pos;
            let end = start + form.len();
            let boundary_before = start == 0
                || !log[..start]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_');
            let boundary_after = !log[end..]
                .chars()
                .next()
                .is_some_and(|c| c.is_alphanumeric());
            if boundary_before && boundary_after {
                best = Some(best.map_or(start, |b: usize| b.min(start)));
                break;
            }
            at = end;
        }
    }
    best
}

/// Asserts that the daemon log mentions the DTMF digits in this order
/// (`dtmf digit=1 source=rfc4733`-style fields).
pub fn assert_digits_in_order(log: &str, digits: &[&str]) {
    let mut cursor = 0;
    for d in digits {
        match find_digit_field(log, d, cursor) {
            Some(pos) => cursor = pos + 1,
            None => {
                let dtmf_lines: Vec<&str> = log
                    .lines()
                    .filter(|l| l.to_ascii_lowercase().contains("digit"))
                    .collect();
                panic!(
                    "daemon log does not show digit={d} after the digits before it (expected order {digits:?});\n\
                     log lines mentioning digits:\n{}",
                    dtmf_lines.join("\n")
                );
            }
        }
    }
}

/// Asserts that each key was counted exactly once: one `dtmf` log line with its
/// `digit=` field per key press (sipp and baresip send the RFC 4733 end packet three
/// times, and one key may arrive by several paths: it must still count once).
pub fn assert_each_digit_once(log: &str, digits: &[&str]) {
    for d in digits {
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.to_ascii_lowercase().contains("dtmf") && find_digit_field(l, d, 0).is_some()
            })
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "key {d} pressed once but the daemon logged {} dtmf events for it:\n{}",
            lines.len(),
            lines.join("\n")
        );
    }
}

/// The id in the daemon's first `ticket stored` line (`… id=LI-2026-000001 …`), the
/// ticket a caller in the menu is about to be told.
pub fn stored_ticket_id(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("ticket stored"))?;
    let at = line.find("id=LI-")? + 3;
    Some(
        line[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect(),
    )
}
