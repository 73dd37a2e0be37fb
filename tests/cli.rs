//! The admin subcommands through the built binary: `check` (a tree written here, a broken
//! one, and every file in `ivr-trees/`), `schema`, `say`, `simulate --keys` and `graph`.
//! Each runs from the repository root, where `prompts/` is.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn centralino(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_centralino"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run centralino")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 stdout")
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

/// A small tree on the real prompts of `prompts/it/`.
const TREE: &str = "\
name: prova
start: main
defaults:
  operator: op
nodes:
  main:
    menu:
      greeting: [benvenuto]
      options:
        \"1\": data
        \"9\": fine
  data:
    play:
      prompts: [{say: date, value: \"2026-12-03\"}]
      next: main
  op:
    queue: {target: pensioni, fallback: fine}
  fine:
    hangup: {prompts: [arrivederci]}
";

/// What `prompts/it/manifest.tsv` says a prompt says.
fn manifest_text(id: &str) -> String {
    let manifest = std::fs::read_to_string(root().join("prompts/it/manifest.tsv")).unwrap();
    manifest
        .lines()
        .find_map(|l| l.strip_prefix(id)?.strip_prefix('\t'))
        .unwrap_or_else(|| panic!("{id} is not in the manifest"))
        .trim()
        .to_owned()
}

fn write_tree(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn shipped_trees() -> Vec<PathBuf> {
    let mut trees: Vec<PathBuf> = std::fs::read_dir(root().join("ivr-trees"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
                .collect()
        })
        .unwrap_or_default();
    trees.sort();
    trees
}

#[test]
fn check_passes_good_trees_including_the_shipped_ones() {
    let dir = tempfile::tempdir().unwrap();
    let good = write_tree(&dir, "prova.yaml", TREE);
    let shipped: Vec<String> = shipped_trees()
        .iter()
        .map(|p| p.to_str().unwrap().to_owned())
        .collect();
    let mut args = vec!["check", good.as_str()];
    args.extend(shipped.iter().map(String::as_str));
    let out = centralino(&args);
    let text = stdout(&out);
    assert_eq!(
        code(&out),
        0,
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("{good}: ok (4 nodes, 0 warnings)\n")),
        "{text}"
    );
    for tree in &shipped {
        assert!(text.contains(&format!("{tree}: ok (")), "{tree}: {text}");
    }
}

#[test]
fn check_fails_a_broken_tree_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_tree(
        &dir,
        "rotto.yaml",
        &TREE.replace("\"9\": fine", "\"9\": fien"),
    );
    let out = centralino(&["check", &bad]);
    let text = stdout(&out);
    assert_eq!(code(&out), 1, "{text}");
    assert!(
        text.contains(&format!("{bad}:11:14: error: unknown node `fien`")),
        "{text}"
    );
    assert!(
        text.ends_with(&format!("{bad}: 1 error, 0 warnings\n")),
        "{text}"
    );

    let out = centralino(&["check", &format!("{bad}.missing")]);
    assert_eq!(code(&out), 2);
    let out = centralino(&["check"]);
    assert_eq!(code(&out), 2, "a file is required");
}

#[test]
fn schema_is_json_with_nodes() {
    let out = centralino(&["schema"]);
    assert_eq!(code(&out), 0);
    let schema: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("valid JSON");
    assert!(schema["properties"]["nodes"].is_object(), "{schema}");
}

#[test]
fn say_prints_fragments_and_text() {
    let out = centralino(&["say", "21"]);
    assert_eq!(code(&out), 0);
    assert_eq!(stdout(&out), "num/vent num/1\nventuno\n");
    let out = centralino(&["say", "--date", "2026-12-03"]);
    assert_eq!(stdout(&out).lines().nth(1), Some("giovedì tre dicembre"));
    let out = centralino(&["say", "--euro", "dodici"]);
    assert_eq!(code(&out), 2);
}

#[test]
fn simulate_with_keys_prints_the_transcript() {
    let dir = tempfile::tempdir().unwrap();
    let tree = write_tree(&dir, "prova.yaml", TREE);
    let out = centralino(&[
        "simulate",
        &tree,
        "--keys",
        "1,9",
        "--at",
        "2026-12-01 10:00",
        "--dialled",
        "0612345678",
    ]);
    let text = stdout(&out);
    assert_eq!(
        code(&out),
        0,
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    // The number as the daemon sees it (E.164), found in the office directory.
    assert!(
        lines[0].contains(
            "2026-12-01 10:00, numero chiamato +390612345678 (contact-center, RM, Lazio)"
        ),
        "{}",
        lines[0]
    );
    let greeting = format!("> {}", manifest_text("benvenuto"));
    let goodbye = format!("> {}", manifest_text("arrivederci"));
    assert_eq!(
        lines[1..],
        [
            "[nodo main (menu)]",
            &greeting,
            "[attesa tasto]",
            "[tasto 1]",
            "[nodo data (play)]",
            "> giovedì tre dicembre",
            "[nodo main (menu)]",
            &greeting,
            "[attesa tasto]",
            "[tasto 9]",
            "[nodo fine (hangup)]",
            &goodbye,
            "[riaggancia]",
            "percorso: main [1] -> data -> main [9] -> fine",
            "durata: 0 s",
        ]
    );

    let out = centralino(&["simulate", &tree, "--keys", "1,x"]);
    assert_eq!(code(&out), 2, "bad keys are a usage error");
}

#[test]
fn simulate_reads_keys_from_stdin_without_keys() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let tree = write_tree(&dir, "prova.yaml", TREE);
    let mut child = Command::new(env!("CARGO_BIN_EXE_centralino"))
        .args(["simulate", &tree, "--at", "2026-12-01 10:00"])
        .current_dir(root())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"0\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = stdout(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 0, "{text}{stderr}");
    assert!(
        text.contains("[tasto 0]\n[nodo op (queue)]\n[non disponibile: queue pensioni]\n"),
        "{text}"
    );
    assert!(
        text.contains("percorso: main [0] -> op -> fine\n"),
        "{text}"
    );
}

#[test]
fn graph_draws_dot_and_mermaid() {
    let dir = tempfile::tempdir().unwrap();
    let tree = write_tree(&dir, "prova.yaml", TREE);
    let out = centralino(&["graph", &tree]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let dot = stdout(&out);
    assert!(dot.starts_with("digraph \"prova\" {\n"), "{dot}");
    assert!(dot.contains("  n0 -> n1 [label=\"1\"];\n"), "{dot}");
    let out = centralino(&["graph", &tree, "--format", "mermaid"]);
    let mermaid = stdout(&out);
    assert!(mermaid.contains("  n0 -->|\"9\"| n3\n"), "{mermaid}");
    let out = centralino(&["graph", &tree, "--format", "svg"]);
    assert_eq!(code(&out), 2);
}

#[test]
fn simulate_walks_a_ticket_and_an_appointment_with_simulated_services() {
    let inps = root().join("ivr-trees/inps.yaml");
    let inps = inps.to_str().unwrap();
    let at = ["--at", "2026-12-01 10:00", "--dialled", "080 010 1000"];
    let out = centralino(&[&["simulate", inps, "--keys", "1,3,#"][..], &at[..]].concat());
    let text = stdout(&out);
    assert_eq!(code(&out), 0, "{text}");
    assert!(
        text.contains("numero chiamato +390800101000 (bari, BA, Puglia)"),
        "{text}"
    );
    assert!(
        text.contains("[il chiamante registra la domanda: al massimo 60 s]"),
        "{text}"
    );
    assert!(
        text.contains("[ticket pensioni registrato (simulato): LI-2026-000001]"),
        "{text}"
    );
    assert!(
        text.contains("> elle i trattino due zero due sei trattino zero zero zero zero zero uno"),
        "{text}"
    );
    // The appointment: slots from the built-in agenda, the second chosen and confirmed,
    // the office named in the confirmation.
    let out = centralino(&[&["simulate", inps, "--keys", "1,4,2,1"][..], &at[..]].concat());
    let text = stdout(&out);
    assert!(
        text.contains("> Sono disponibili i seguenti appuntamenti."),
        "{text}"
    );
    assert!(
        text.contains("[prenotazione registrata (simulata): AP-2026-000001]"),
        "{text}"
    );
    assert!(
        text.contains("> martedì primo dicembre alle ore dieci e trenta"),
        "{text}"
    );
    assert!(
        text.contains("> Direzione provinciale INPS di Bari."),
        "{text}"
    );
}
