//! Admin tools behind the `centralino` subcommands `check`, `simulate`, `graph`, `say`,
//! `schema` and `outbox`: functions from inputs to text and an exit code, so each is unit-tested
//! without running the binary. `main.rs` only parses arguments and prints.
//!
//! Exit codes are shared: 0 success, 1 a tree (or value) has errors (or an outbox item was
//! not delivered), 2 usage or I/O error.

pub mod check;
pub mod graph;
pub mod outbox;
pub mod say;
pub mod simulate;

use crate::ivr::say_it::fragment_texts;
use crate::ivr::tree::{self, Diagnostic, PromptCatalog, Tree};
use crate::media::prompts::PromptLibrary;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// Success.
pub const EXIT_OK: u8 = 0;
/// A tree (or a value to say) has errors.
pub const EXIT_ERRORS: u8 = 1;
/// Bad usage, or a file or directory that cannot be read.
pub const EXIT_USAGE: u8 = 2;

/// What a tool prints and how the command exits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
}

impl Outcome {
    /// Success with `stdout`.
    pub fn ok(stdout: String) -> Outcome {
        Outcome {
            stdout,
            ..Outcome::default()
        }
    }

    /// A failure with a message for stderr.
    pub fn fail(code: u8, message: impl std::fmt::Display) -> Outcome {
        Outcome {
            stderr: format!("{message}\n"),
            code,
            ..Outcome::default()
        }
    }
}

/// The prompt ids of a prompts directory (`it/benvenuto`, …), as the checker needs them.
pub fn prompt_catalog(dir: &Path) -> Result<PromptCatalog, String> {
    let library = PromptLibrary::load(dir)
        .map_err(|e| format!("cannot load prompts from {}: {e}", dir.display()))?;
    Ok(PromptCatalog::new(library.ids()))
}

/// Loads a tree for a tool that needs a valid one (`simulate`, `graph`). On failure the
/// `Outcome` carries every diagnostic on stderr and the exit code; on success the
/// warnings are returned as text for stderr.
pub fn load_tree(file: &Path, prompts_dir: &Path) -> Result<(Arc<Tree>, String), Outcome> {
    let catalog = prompt_catalog(prompts_dir).map_err(|e| Outcome::fail(EXIT_USAGE, e))?;
    if let Err(e) = std::fs::read_to_string(file) {
        return Err(Outcome::fail(
            EXIT_USAGE,
            format!("cannot read {}: {e}", file.display()),
        ));
    }
    match tree::load(file, &catalog) {
        Ok((tree, warnings)) => Ok((Arc::new(tree), render_diagnostics(&warnings))),
        Err(diagnostics) => Err(Outcome {
            stderr: render_diagnostics(&diagnostics),
            code: EXIT_ERRORS,
            ..Outcome::default()
        }),
    }
}

/// Diagnostics as a compiler prints them: each one, then a blank line.
pub fn render_diagnostics(list: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in list {
        let _ = writeln!(out, "{d}\n");
    }
    out
}

/// The JSON Schema of the tree YAML (`ivr-trees/*.yaml`), for editors.
pub fn schema() -> String {
    let schema = schemars::schema_for!(crate::ivr::tree::model::TreeFile);
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}

/// What each prompt says: prompt id with its language folder (`it/benvenuto`) → text,
/// from `prompts/<lang>/manifest.tsv` files and the `say_it` fragment table.
#[derive(Debug, Clone, Default)]
pub struct Texts {
    texts: HashMap<String, String>,
    /// Ids of `say_it` fragments (`it/num/21`): pieces of one spoken value, which are
    /// printed together on one line.
    fragments: HashSet<String>,
}

impl Texts {
    /// Only the Italian `say_it` fragments (no prompts directory needed).
    pub fn fragments() -> Texts {
        let mut t = Texts::default();
        for (id, text) in fragment_texts() {
            let id = format!("it/{id}");
            t.fragments.insert(id.clone());
            t.texts.insert(id, text.to_owned());
        }
        t
    }

    /// The fragments plus every `DIR/<lang>/manifest.tsv` (lines `id TAB text`; `#`
    /// comments and blank lines skipped). A directory without manifests gives only the
    /// fragments: prompts are then shown by id.
    pub fn load(dir: &Path) -> Texts {
        let mut t = Texts::fragments();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return t;
        };
        let mut langs: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        langs.sort();
        for lang_dir in langs {
            let Some(lang) = lang_dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Ok(text) = std::fs::read_to_string(lang_dir.join("manifest.tsv")) {
                t.add_manifest(lang, &text);
            }
        }
        t
    }

    /// Adds the lines of one language's manifest.
    pub fn add_manifest(&mut self, lang: &str, manifest: &str) {
        for line in manifest.lines() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some((id, text)) = line.split_once('\t') {
                self.texts
                    .insert(format!("{lang}/{}", id.trim()), text.trim().to_owned());
            }
        }
    }

    /// The text of a prompt id (`it/benvenuto`).
    pub fn text(&self, id: &str) -> Option<&str> {
        self.texts.get(id).map(String::as_str)
    }

    /// The lines a list of prompt ids says: one per prompt, a run of fragments (one spoken
    /// value, e.g. a date) on one line. Unknown ids are shown as `[id]`.
    pub fn lines(&self, ids: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        let mut run: Vec<&str> = Vec::new();
        for id in ids {
            if self.fragments.contains(id) {
                run.push(id);
                continue;
            }
            if !run.is_empty() {
                out.push(self.join_fragments(&run));
                run.clear();
            }
            out.push(match self.text(id) {
                Some(text) => text.to_owned(),
                None => format!("[{id}]"),
            });
        }
        if !run.is_empty() {
            out.push(self.join_fragments(&run));
        }
        out
    }

    /// Spoken text of fragments: the pieces of one number are written as one word
    /// (`num/vent` + `num/1` = "ventuno", `num/2` + `num/mila` = "duemila"); digits read
    /// one by one (two plain units in a row, which a cardinal never has) and every other
    /// word are separated by spaces.
    fn join_fragments(&self, ids: &[&str]) -> String {
        let mut out = String::new();
        let mut prev: Option<&str> = None;
        for id in ids {
            let text = self.text(id).unwrap_or(id);
            if let Some(p) = prev {
                let glue = is_number(p) && is_number(id) && !(is_unit(p) && is_unit(id));
                if !glue {
                    out.push(' ');
                }
            }
            out.push_str(text);
            prev = Some(id);
        }
        out
    }
}

fn is_number(id: &str) -> bool {
    id.starts_with("it/num/")
}

/// `num/0` … `num/19`: the words digits are read with.
fn is_unit(id: &str) -> bool {
    id.strip_prefix("it/num/")
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n < 20)
}

/// `1 warning`, `2 warnings`: a count and its noun, singular or plural.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ivr::say_it::{cardinal, date, digits};

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn numbers_are_one_word_digits_are_spaced() {
        let t = Texts::fragments();
        assert_eq!(t.lines(&cardinal(21)), ["ventuno"]);
        assert_eq!(t.lines(&cardinal(2026)), ["duemilaventisei"]);
        assert_eq!(t.lines(&digits("0612")), ["zero sei uno due"]);
        let d = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
        assert_eq!(t.lines(&date(d)), ["giovedì tre dicembre"]);
    }

    #[test]
    fn manifest_texts_and_unknown_ids() {
        let mut t = Texts::fragments();
        t.add_manifest(
            "it",
            "# comment\nbenvenuto\tBenvenuto.\n\nfine\tArrivederci.\n",
        );
        let mut list = ids(&["it/benvenuto", "it/nessuno"]);
        list.extend(cardinal(3));
        list.push("it/fine".into());
        assert_eq!(
            t.lines(&list),
            ["Benvenuto.", "[it/nessuno]", "tre", "Arrivederci."]
        );
    }

    #[test]
    fn the_real_manifest_has_the_greeting() {
        let t = Texts::load(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("prompts")
                .as_path(),
        );
        assert!(
            t.text("it/benvenuto")
                .is_some_and(|s| s.starts_with("Benvenuto"))
        );
    }

    #[test]
    fn schema_is_json_describing_nodes() {
        let s = schema();
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert!(v["properties"]["nodes"].is_object(), "{s}");
        assert!(
            v["required"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == "start")
        );
    }
}
