//! `centralino check FILE...`: loads each tree against the prompt catalog (or, for a file
//! with top-level `offices:`, the office directory, whose office prompts are checked
//! too), prints every diagnostic (errors and warnings) and one summary line per file. Exit 0 when no file
//! has errors, 1 when one has, 2 when a file or the prompts directory cannot be read.

use super::{EXIT_ERRORS, EXIT_OK, EXIT_USAGE, Outcome, plural, prompt_catalog};
use crate::ivr::tree::{self, PromptCatalog};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Checks `files` against the prompts under `prompts_dir`.
pub fn run(files: &[PathBuf], prompts_dir: &Path) -> Outcome {
    match prompt_catalog(prompts_dir) {
        Ok(catalog) => check(files, &catalog),
        Err(e) => Outcome::fail(EXIT_USAGE, format!("centralino check: {e}")),
    }
}

/// Checks `files` against `catalog`.
pub fn check(files: &[PathBuf], catalog: &PromptCatalog) -> Outcome {
    let mut out = Outcome::default();
    let (mut any_errors, mut unreadable) = (false, false);
    for file in files {
        let name = file.display();
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(out.stderr, "centralino check: cannot read {name}: {e}");
                unreadable = true;
                continue;
            }
        };
        let (diagnostics, nodes) = if is_directory(&text) {
            check_directory(file, &text, catalog)
        } else {
            match tree::load(file, catalog) {
                Ok((tree, warnings)) => (warnings, Some((tree.nodes.len(), "node", "nodes"))),
                Err(diagnostics) => (diagnostics, None),
            }
        };
        out.stdout
            .push_str(&super::render_diagnostics(&diagnostics));
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = plural(diagnostics.len() - errors, "warning", "warnings");
        match nodes {
            Some((n, one, many)) if errors == 0 => {
                let nodes = plural(n, one, many);
                let _ = writeln!(out.stdout, "{name}: ok ({nodes}, {warnings})");
            }
            _ => {
                // A tree refused for errors always has at least one error diagnostic.
                let errors = plural(errors.max(1), "error", "errors");
                let _ = writeln!(out.stdout, "{name}: {errors}, {warnings}");
                any_errors = true;
            }
        }
    }
    out.code = if unreadable {
        EXIT_USAGE
    } else if any_errors {
        EXIT_ERRORS
    } else {
        EXIT_OK
    };
    out
}

/// An office directory has `offices:` at the top level; a tree has `nodes:`.
fn is_directory(text: &str) -> bool {
    text.lines().any(|l| l.starts_with("offices:"))
}

/// Loads a directory; an office `prompt` with no WAV is an error (callers would hear
/// nothing where the office's name belongs).
type Checked = (
    Vec<tree::Diagnostic>,
    Option<(usize, &'static str, &'static str)>,
);
fn check_directory(file: &Path, text: &str, catalog: &PromptCatalog) -> Checked {
    match crate::directory::Directory::load(file) {
        Ok((dir, warnings)) => {
            let name = file.display().to_string();
            let mut d = tree::diag::Diagnostics::new(&name, text);
            d.list = warnings;
            for office in dir.offices() {
                if let Some(p) = &office.prompt
                    && !catalog.has(&format!("it/{p}"))
                {
                    // Where the prompt is written (the directory keeps no locations).
                    let at = text
                        .lines()
                        .enumerate()
                        .find_map(|(i, l)| {
                            let col = l.find("prompt:")?;
                            l[col..]
                                .contains(p.as_str())
                                .then_some((i as u64 + 1, col as u64 + 1))
                        })
                        .unwrap_or((0, 0));
                    d.error(
                        at,
                        format!(
                            "office `{}`: prompt `{p}` not found (no file prompts/it/{p}.wav)",
                            office.id
                        ),
                    );
                }
            }
            let ok = !d.has_errors();
            let n = dir.offices().count();
            (d.list, ok.then_some((n, "office", "offices")))
        }
        Err(diagnostics) => (diagnostics, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "\
start: main
nodes:
  main:
    menu:
      greeting: [benvenuto]
      options:
        \"1\": bye
  bye:
    hangup: {prompts: [arrivederci]}
  orphan:
    hangup: {}
";

    fn catalog() -> PromptCatalog {
        PromptCatalog::new(["it/benvenuto", "it/arrivederci"])
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn a_good_tree_passes_and_its_warnings_are_shown() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(&dir, "good.yaml", GOOD);
        let out = check(std::slice::from_ref(&good), &catalog());
        assert_eq!(out.code, EXIT_OK, "{out:?}");
        let name = good.display();
        assert!(
            out.stdout.contains(&format!(
                "{name}:11:5: warning: node `orphan` is never reached"
            )),
            "{}",
            out.stdout
        );
        assert!(
            out.stdout
                .ends_with(&format!("{name}: ok (3 nodes, 1 warning)\n")),
            "{}",
            out.stdout
        );
    }

    #[test]
    fn a_broken_tree_fails_with_located_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(
            &dir,
            "good.yaml",
            &GOOD.replace("  orphan:\n    hangup: {}\n", ""),
        );
        let bad = write(
            &dir,
            "bad.yaml",
            &GOOD
                .replace("\"1\": bye", "\"1\": by")
                .replace("[arrivederci]", "[ciao]"),
        );
        let out = check(&[good.clone(), bad.clone()], &catalog());
        assert_eq!(out.code, EXIT_ERRORS, "{out:?}");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines[0],
            format!("{}: ok (2 nodes, 0 warnings)", good.display())
        );
        let bad = bad.display();
        assert!(lines.contains(&format!("{bad}:7:14: error: unknown node `by`").as_str()));
        assert!(
            out.stdout
                .contains(&format!("{bad}:9:24: error: prompt `ciao` not found"))
        );
        assert!(
            out.stdout.contains("   7 |         \"1\": by\n"),
            "snippets are printed: {}",
            out.stdout
        );
        assert_eq!(
            lines.last().unwrap(),
            &format!("{bad}: 2 errors, 0 warnings")
        );
    }

    #[test]
    fn yaml_errors_count_as_errors() {
        let dir = tempfile::tempdir().unwrap();
        let dup = write(
            &dir,
            "dup.yaml",
            &GOOD.replace("\"1\": bye", "\"1\": bye\n        \"1\": main"),
        );
        let out = check(&[dup], &catalog());
        assert_eq!(out.code, EXIT_ERRORS);
        assert!(out.stdout.contains("duplicate"), "{}", out.stdout);
        assert!(
            out.stdout.contains(": 1 error, 0 warnings\n"),
            "{}",
            out.stdout
        );
    }

    #[test]
    fn unreadable_files_and_prompt_dirs_are_usage_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good = write(&dir, "good.yaml", GOOD);
        let missing = dir.path().join("missing.yaml");
        let out = check(&[good, missing], &catalog());
        assert_eq!(out.code, EXIT_USAGE);
        assert!(out.stderr.contains("cannot read"), "{}", out.stderr);
        assert!(
            out.stdout.contains(": ok ("),
            "the readable file is still checked"
        );

        let out = run(&[], &dir.path().join("no-prompts"));
        assert_eq!(out.code, EXIT_USAGE);
        assert!(out.stderr.contains("cannot load prompts"), "{}", out.stderr);
    }

    #[test]
    fn a_directory_is_checked_with_its_office_prompts() {
        let dir = tempfile::tempdir().unwrap();
        let text = "\
default_office: a
offices:
  a:
    name: Agenzia A
    kind: agenzia-territoriale
    numbers: [\"06 0100 9000\"]
    province: RM
    prompt: uffici/a
";
        let file = write(&dir, "uffici.yaml", text);
        let name = file.display();
        let with = PromptCatalog::new(["it/uffici/a"]);
        let out = check(std::slice::from_ref(&file), &with);
        assert_eq!(out.code, EXIT_OK, "{out:?}");
        assert!(
            out.stdout
                .ends_with(&format!("{name}: ok (1 office, 0 warnings)\n")),
            "{}",
            out.stdout
        );
        let out = check(std::slice::from_ref(&file), &catalog());
        assert_eq!(out.code, EXIT_ERRORS, "{out:?}");
        assert!(
            out.stdout.contains(&format!(
                "{name}:8:5: error: office `a`: prompt `uffici/a` not found"
            )),
            "{}",
            out.stdout
        );
        // A real mistake in the directory itself, with its location.
        let bad = write(&dir, "bad.yaml", &text.replace("RM", "XX"));
        let out = check(std::slice::from_ref(&bad), &with);
        assert_eq!(out.code, EXIT_ERRORS, "{out:?}");
        assert!(out.stdout.contains(":7:"), "{}", out.stdout);
    }
}
