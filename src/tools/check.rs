//! `centralino check FILE...`: loads each tree against the prompt catalog, prints every
//! diagnostic (errors and warnings) and one summary line per file. Exit 0 when no file
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
        if let Err(e) = std::fs::read_to_string(file) {
            let _ = writeln!(out.stderr, "centralino check: cannot read {name}: {e}");
            unreadable = true;
            continue;
        }
        let (diagnostics, nodes) = match tree::load(file, catalog) {
            Ok((tree, warnings)) => (warnings, Some(tree.nodes.len())),
            Err(diagnostics) => (diagnostics, None),
        };
        out.stdout
            .push_str(&super::render_diagnostics(&diagnostics));
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = plural(diagnostics.len() - errors, "warning", "warnings");
        match nodes {
            Some(n) if errors == 0 => {
                let nodes = plural(n, "node", "nodes");
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
}
