//! The operators file: who may register a softphone, which queues they serve, and their
//! digest credentials as HA1 hashes (RFC 7616 §3.4.2), never passwords. YAML through
//! serde-saphyr with unknown keys refused; every error names file, line and column.
//!
//! ```yaml
//! realm: centralino
//! operators:
//!   - id: op1                 # SIP user name (AOR sip:op1@…)
//!     name: "Maria Rossi"
//!     queues: [pensioni, operatore-generico]
//!     skill: 5                # optional, 1-10
//!     auto_login: false       # registering alone does not log into queues
//!     ha1_md5: 0123…          # H(id:realm:password)
//!     ha1_sha256: abcd…
//! ```

use crate::sip::auth::{Algorithm, ha1};
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// Longest operator id we accept.
pub const MAX_ID_LEN: usize = 64;

/// One operator, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// The SIP user name: digest `username` and the user part of the AOR.
    pub id: String,
    /// For the console and logs; the id when not given.
    pub name: String,
    /// Queue names, in file order.
    pub queues: Vec<String>,
    /// 1–10 when given.
    pub skill: Option<u8>,
    /// Registering logs the operator into their queues.
    pub auto_login: bool,
    /// Lowercase hex, 32 digits.
    pub ha1_md5: Option<String>,
    /// Lowercase hex, 64 digits.
    pub ha1_sha256: Option<String>,
}

/// A checked operators file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operators {
    pub realm: String,
    list: Vec<Operator>,
    index: HashMap<String, usize>,
}

/// One problem in an operators file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.column, self.message
        )
    }
}

/// An operators file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum OperatorsError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Every problem found, in file order.
    #[error("{}", join(.0))]
    Invalid(Vec<Problem>),
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    realm: Spanned<String>,
    #[serde(default)]
    operators: Vec<Spanned<OperatorModel>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OperatorModel {
    id: Spanned<String>,
    name: Option<String>,
    #[serde(default)]
    queues: Vec<Spanned<String>>,
    skill: Option<Spanned<i64>>,
    #[serde(default)]
    auto_login: bool,
    ha1_md5: Option<Spanned<String>>,
    ha1_sha256: Option<Spanned<String>>,
}

impl Operators {
    pub fn load(path: &Path) -> Result<Operators, OperatorsError> {
        let text = std::fs::read_to_string(path).map_err(|source| OperatorsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and checks YAML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Operators, OperatorsError> {
        let problem = |line: u64, column: u64, message: String| Problem {
            path: origin.to_owned(),
            line,
            column,
            message,
        };
        let file: FileModel = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            let full = e.to_string();
            let first = full.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let message = first
                .split_once(": ")
                .filter(|(p, _)| p.starts_with("line "))
                .map_or(first, |(_, m)| m)
                .to_owned();
            OperatorsError::Invalid(vec![problem(line, column, message)])
        })?;

        let mut problems = Vec::new();
        let mut at = |s: &serde_saphyr::Location, message: String| {
            problems.push(problem(s.line(), s.column(), message));
        };
        let realm = file.realm.value.clone();
        if realm.trim().is_empty() || realm.chars().any(char::is_control) {
            at(
                &file.realm.referenced,
                "realm must be a non-empty line of text".into(),
            );
        }
        let mut list = Vec::with_capacity(file.operators.len());
        let mut index = HashMap::new();
        let mut seen: HashMap<String, u64> = HashMap::new();
        for entry in &file.operators {
            let op = &entry.value;
            let id = &op.id.value;
            if let Err(why) = check_id(id) {
                at(&op.id.referenced, format!("operator id `{id}` {why}"));
            }
            if let Some(first) = seen.insert(id.to_ascii_lowercase(), op.id.referenced.line()) {
                at(
                    &op.id.referenced,
                    format!("duplicate operator id `{id}` (first at line {first})"),
                );
            }
            let mut queues: Vec<String> = Vec::new();
            for q in &op.queues {
                if let Err(why) = check_queue(&q.value) {
                    at(&q.referenced, format!("queue name `{}` {why}", q.value));
                } else if queues.contains(&q.value) {
                    at(&q.referenced, format!("queue `{}` listed twice", q.value));
                } else {
                    queues.push(q.value.clone());
                }
            }
            let skill = match &op.skill {
                None => None,
                Some(s) if (1..=10).contains(&s.value) => u8::try_from(s.value).ok(),
                Some(s) => {
                    at(&s.referenced, format!("skill {} is outside 1-10", s.value));
                    None
                }
            };
            let mut hash = |h: &Option<Spanned<String>>, alg: Algorithm, key: &str| {
                let h = h.as_ref()?;
                let v = h.value.trim();
                if v.len() != alg.hex_len() || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    at(
                        &h.referenced,
                        format!(
                            "{key} must be {} hex digits (H(id:realm:password) with {alg}), \
                             got {} characters",
                            alg.hex_len(),
                            v.len()
                        ),
                    );
                    return None;
                }
                Some(v.to_ascii_lowercase())
            };
            let ha1_md5 = hash(&op.ha1_md5, Algorithm::Md5, "ha1_md5");
            let ha1_sha256 = hash(&op.ha1_sha256, Algorithm::Sha256, "ha1_sha256");
            if op.ha1_md5.is_none() && op.ha1_sha256.is_none() {
                at(
                    &entry.referenced,
                    format!(
                        "operator `{id}` has no credentials: give ha1_md5 and/or ha1_sha256 \
                         (`centralino passwd {id}` prints them)"
                    ),
                );
            }
            index.entry(id.clone()).or_insert(list.len());
            list.push(Operator {
                id: id.clone(),
                name: op.name.clone().unwrap_or_else(|| id.clone()),
                queues,
                skill,
                auto_login: op.auto_login,
                ha1_md5,
                ha1_sha256,
            });
        }
        if !problems.is_empty() {
            problems.sort_by_key(|p| (p.line, p.column));
            return Err(OperatorsError::Invalid(problems));
        }
        Ok(Operators { realm, list, index })
    }

    pub fn get(&self, id: &str) -> Option<&Operator> {
        self.index.get(id).map(|&i| &self.list[i])
    }

    /// The operator's HA1 for `algorithm`, if the file has one (lowercase hex). This is
    /// the lookup `DigestServer::verify` wants.
    pub fn ha1(&self, id: &str, algorithm: Algorithm) -> Option<&str> {
        let op = self.get(id)?;
        match algorithm {
            Algorithm::Md5 => op.ha1_md5.as_deref(),
            Algorithm::Sha256 => op.ha1_sha256.as_deref(),
        }
    }

    /// Every operator, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Operator> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// An operator id is a SIP user (RFC 3261 §25.1 `user`), restricted to characters that
/// need no escaping in URIs, digest parameters or YAML: letters, digits and
/// `- _ . ! ~ * ' ( ) & = + $`.
fn check_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() {
        return Err("is empty");
    }
    if id.len() > MAX_ID_LEN {
        return Err("is longer than 64 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.!~*'()&=+$".contains(&b))
    {
        return Err("may use only letters, digits and - _ . ! ~ * ' ( ) & = + $");
    }
    Ok(())
}

/// Queue names are identifiers: letters, digits, `-`, `_`.
fn check_queue(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("is empty");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("may use only letters, digits, - and _");
    }
    Ok(())
}

/// The YAML lines of an operators-file entry for `id` with both HA1 hashes of
/// `password` in `realm`, for `centralino passwd`. The password itself is not written.
pub fn passwd_entry(id: &str, realm: &str, password: &str) -> String {
    let md5 = ha1(Algorithm::Md5, id, realm, password);
    let sha256 = ha1(Algorithm::Sha256, id, realm, password);
    let id = yaml_quote(id);
    format!(
        "  - id: {id}\n    \
         name: {id}\n    \
         queues: []\n    \
         auto_login: false\n    \
         # H(id:realm:password) for realm {realm}\n    \
         ha1_md5: {md5}\n    \
         ha1_sha256: {sha256}\n",
        realm = yaml_quote(realm),
    )
}

/// A double-quoted YAML scalar: safe whatever the text starts with (`*`, `&`, `!`…).
fn yaml_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
