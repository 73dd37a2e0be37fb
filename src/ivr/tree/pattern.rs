//! Menu option keys: exact DTMF strings (`"1"`, `"12"`) and Asterisk-style patterns
//! (`"_9X"`: X any digit, Z 1–9, N 2–9, `[1-4]` or `[158]` a set), all of fixed length.

/// The DTMF characters a caller can press (RFC 4733 events 0–15).
pub const DTMF: &str = "0123456789*#ABCD";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    /// One set of accepted characters per position.
    positions: Vec<Vec<char>>,
    exact: bool,
}

impl KeyPattern {
    /// Parses an option key. Errors say what is wrong in the admin's terms.
    pub fn parse(key: &str) -> Result<KeyPattern, String> {
        if key.is_empty() {
            return Err("an option key cannot be empty".into());
        }
        let Some(pat) = key.strip_prefix('_') else {
            let positions = key
                .chars()
                .map(|c| {
                    let c = c.to_ascii_uppercase();
                    if DTMF.contains(c) {
                        Ok(vec![c])
                    } else {
                        Err(format!(
                            "{c:?} is not a phone key (use 0-9, *, #, A-D; patterns start with _)"
                        ))
                    }
                })
                .collect::<Result<_, _>>()?;
            return Ok(KeyPattern {
                positions,
                exact: true,
            });
        };
        let mut positions = Vec::new();
        let mut chars = pat.chars();
        while let Some(c) = chars.next() {
            let set: Vec<char> = match c.to_ascii_uppercase() {
                'X' => "0123456789".chars().collect(),
                'Z' => "123456789".chars().collect(),
                'N' => "23456789".chars().collect(),
                '[' => {
                    let body: String = chars.by_ref().take_while(|&c| c != ']').collect();
                    parse_set(&body)?
                }
                c if DTMF.contains(c) => vec![c],
                c => return Err(format!("{c:?} is not allowed in a key pattern")),
            };
            positions.push(set);
        }
        if positions.is_empty() {
            return Err("pattern `_` matches nothing".into());
        }
        Ok(KeyPattern {
            positions,
            exact: false,
        })
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// Does the whole input match?
    pub fn matches(&self, input: &str) -> bool {
        input.chars().count() == self.positions.len() && self.accepts_prefix(input)
    }

    /// Could more keys after `input` still complete a match?
    pub fn extends(&self, input: &str) -> bool {
        input.chars().count() < self.positions.len() && self.accepts_prefix(input)
    }

    fn accepts_prefix(&self, input: &str) -> bool {
        input
            .chars()
            .zip(&self.positions)
            .all(|(c, set)| set.contains(&c.to_ascii_uppercase()))
    }

    /// Every input this pattern accepts is also accepted by `other`.
    pub fn covered_by(&self, other: &KeyPattern) -> bool {
        self.positions.len() == other.positions.len()
            && self
                .positions
                .iter()
                .zip(&other.positions)
                .all(|(mine, theirs)| mine.iter().all(|c| theirs.contains(c)))
    }
}

fn parse_set(body: &str) -> Result<Vec<char>, String> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if i + 2 < chars.len() && chars[i + 1] == '-' {
            let (a, b) = (chars[i], chars[i + 2]);
            if !(a.is_ascii_digit() && b.is_ascii_digit() && a <= b) {
                return Err(format!("bad range {a}-{b} in a key pattern"));
            }
            out.extend(a..=b);
            i += 3;
        } else {
            let c = chars[i].to_ascii_uppercase();
            if !DTMF.contains(c) {
                return Err(format!("{c:?} is not a phone key"));
            }
            out.push(c);
            i += 1;
        }
    }
    if out.is_empty() {
        return Err("empty set [] in a key pattern".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_keys_and_patterns() {
        let one = KeyPattern::parse("1").unwrap();
        assert!(one.matches("1") && !one.matches("12") && !one.extends("1"));
        let twelve = KeyPattern::parse("12").unwrap();
        assert!(twelve.extends("1") && twelve.matches("12") && !twelve.matches("13"));
        let p = KeyPattern::parse("_9[1-3]X").unwrap();
        assert!(p.matches("920") && p.matches("939") && !p.matches("940") && !p.matches("92"));
        assert!(p.extends("9") && p.extends("91") && !p.extends("8"));
        assert!(KeyPattern::parse("_N").unwrap().matches("2"));
        assert!(!KeyPattern::parse("_N").unwrap().matches("1"));
        assert!(KeyPattern::parse("*").unwrap().matches("*"));
    }

    #[test]
    fn bad_keys_are_explained() {
        assert!(KeyPattern::parse("").is_err());
        assert!(
            KeyPattern::parse("x")
                .unwrap_err()
                .contains("not a phone key")
        );
        assert!(KeyPattern::parse("_Q").is_err());
        assert!(KeyPattern::parse("_[5-1]").is_err());
        assert!(KeyPattern::parse("_[]").is_err());
    }

    #[test]
    fn coverage() {
        let x = KeyPattern::parse("_X").unwrap();
        let five = KeyPattern::parse("5").unwrap();
        assert!(five.covered_by(&x));
        assert!(!x.covered_by(&five));
        assert!(!KeyPattern::parse("55").unwrap().covered_by(&x));
    }
}
