//! `centralino graph FILE`: the tree as a Graphviz DOT digraph (default) or a Mermaid
//! flowchart. One graph node per tree node, labelled `id` and `(kind)` (a hand-off also
//! names its target), shaped by kind; edges labelled as `Node::edges()` names them (keys,
//! `aperto`/`chiuso`, case values, `uscita`, …); the operator edges are dashed; a small
//! `inizio` node points at the start.

use super::{EXIT_OK, Outcome, load_tree};
use crate::ivr::tree::{Node, Tree};
use std::fmt::Write as _;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Dot,
    Mermaid,
}

/// `centralino graph FILE --format F`.
pub fn run(file: &Path, prompts_dir: &Path, format: Format) -> Outcome {
    match load_tree(file, prompts_dir) {
        Ok((tree, warnings)) => Outcome {
            stdout: graph(&tree, format),
            stderr: warnings,
            code: EXIT_OK,
        },
        Err(out) => out,
    }
}

pub fn graph(tree: &Tree, format: Format) -> String {
    match format {
        Format::Dot => dot(tree),
        Format::Mermaid => mermaid(tree),
    }
}

/// The label lines of a node: id, (kind), and a hand-off's target.
fn label_lines(tree: &Tree, i: usize) -> Vec<String> {
    let node = &tree.nodes[i];
    let mut lines = vec![tree.ids[i].clone(), format!("({})", node.kind())];
    if let Node::Handoff { target, .. } = node {
        lines.push(target.clone());
    }
    lines
}

fn is_operator_edge(label: &str) -> bool {
    label.ends_with(" operatore")
}

/// Graphviz shape by kind.
fn dot_shape(node: &Node) -> &'static str {
    match node.kind() {
        "menu" => "box",
        "play" => "note",
        "collect" => "parallelogram",
        "branch" => "diamond",
        "language" => "hexagon",
        "queue" => "cylinder",
        "ticket" | "appointment" => "tab",
        "transfer" => "cds",
        "hangup" => "doublecircle",
        "test_line" => "octagon",
        _ => "ellipse",
    }
}

/// A DOT double-quoted string body: `\` and `"` escaped, newlines as `\n`.
fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn dot(tree: &Tree) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph \"{}\" {{", dot_escape(&tree.name));
    out.push_str("  node [fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\"];\n");
    out.push_str("  __start [label=\"inizio\", shape=plaintext];\n");
    let _ = writeln!(out, "  __start -> n{};", tree.start.0);
    for (i, node) in tree.nodes.iter().enumerate() {
        let label: Vec<String> = label_lines(tree, i).iter().map(|l| dot_escape(l)).collect();
        let bold = if i == tree.start.0 {
            ", penwidth=2"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  n{i} [label=\"{}\", shape={}{bold}];",
            label.join("\\n"),
            dot_shape(node)
        );
    }
    for (i, node) in tree.nodes.iter().enumerate() {
        for (label, to) in node.edges() {
            let mut attrs = Vec::new();
            if !label.is_empty() {
                attrs.push(format!("label=\"{}\"", dot_escape(&label)));
            }
            if is_operator_edge(&label) {
                attrs.push("style=dashed".to_owned());
            }
            let attrs = if attrs.is_empty() {
                String::new()
            } else {
                format!(" [{}]", attrs.join(", "))
            };
            let _ = writeln!(out, "  n{i} -> n{}{attrs};", to.0);
        }
    }
    out.push_str("}\n");
    out
}

/// Mermaid text inside double quotes: quotes and characters Mermaid reads as markup
/// become entity codes (`#quot;`, `#35;` …).
fn mermaid_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '|' => out.push_str("#124;"),
            c => out.push(c),
        }
    }
    out
}

/// Mermaid shape brackets by kind.
fn mermaid_shape(node: &Node) -> (&'static str, &'static str) {
    match node.kind() {
        "menu" => ("[", "]"),
        "play" => ("([", "])"),
        "collect" => ("[/", "/]"),
        "branch" => ("{", "}"),
        "language" => ("{{", "}}"),
        "queue" => ("[(", ")]"),
        "ticket" | "appointment" | "transfer" => ("[[", "]]"),
        "hangup" => ("(((", ")))"),
        "test_line" => (">", "]"),
        _ => ("(", ")"),
    }
}

fn mermaid(tree: &Tree) -> String {
    let mut out = String::from("flowchart TD\n");
    let _ = writeln!(out, "  %% {}", tree.name.replace('\n', " "));
    out.push_str("  __start((\"inizio\"))\n");
    let _ = writeln!(out, "  __start --> n{}", tree.start.0);
    for (i, node) in tree.nodes.iter().enumerate() {
        let label: Vec<String> = label_lines(tree, i)
            .iter()
            .map(|l| mermaid_escape(l))
            .collect();
        let (open, close) = mermaid_shape(node);
        let _ = writeln!(out, "  n{i}{open}\"{}\"{close}", label.join("<br/>"));
    }
    for (i, node) in tree.nodes.iter().enumerate() {
        for (label, to) in node.edges() {
            let arrow = if is_operator_edge(&label) {
                "-.->"
            } else {
                "-->"
            };
            if label.is_empty() {
                let _ = writeln!(out, "  n{i} {arrow} n{}", to.0);
            } else {
                let _ = writeln!(
                    out,
                    "  n{i} {arrow}|\"{}\"| n{}",
                    mermaid_escape(&label),
                    to.0
                );
            }
        }
    }
    let _ = writeln!(out, "  style n{} stroke-width:3px", tree.start.0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ivr::tree::{PromptCatalog, load_str};

    const TREE: &str = "\
name: 'Prova \"grafo\"'
start: orario
defaults:
  operator: op
schedules:
  ufficio:
    hours:
      mon-fri: [\"08:00-18:00\"]
nodes:
  orario:
    branch: {schedule: ufficio, open: main, closed: fine}
  main:
    menu:
      greeting: [a]
      options:
        \"1\": info
        \"#\": fine
  info:
    play: {prompts: [a], next: main}
  op:
    queue: {target: pensioni, fallback: fine}
  fine:
    hangup: {}
";

    fn tree() -> Tree {
        let (tree, _) = load_str(TREE, "g.yaml", &PromptCatalog::new(["it/a"])).unwrap();
        tree
    }

    #[test]
    fn dot_has_every_node_edge_and_the_start() {
        let tree = tree();
        let g = graph(&tree, Format::Dot);
        for line in [
            "digraph \"Prova \\\"grafo\\\"\" {",
            "  __start -> n0;",
            "  n0 [label=\"orario\\n(branch)\", shape=diamond, penwidth=2];",
            "  n1 [label=\"main\\n(menu)\", shape=box];",
            "  n2 [label=\"info\\n(play)\", shape=note];",
            "  n3 [label=\"op\\n(queue)\\npensioni\", shape=cylinder];",
            "  n4 [label=\"fine\\n(hangup)\", shape=doublecircle];",
            "  n0 -> n1 [label=\"aperto\"];",
            "  n0 -> n4 [label=\"chiuso\"];",
            "  n1 -> n2 [label=\"1\"];",
            "  n1 -> n4 [label=\"#\"];",
            "  n1 -> n3 [label=\"0 operatore\", style=dashed];",
            "  n2 -> n1;",
            "  n3 -> n4 [label=\"non disponibile\"];",
        ] {
            assert!(g.lines().any(|l| l == line), "missing {line:?} in\n{g}");
        }
        assert!(g.ends_with("}\n"));
        let edges: usize = tree.nodes.iter().map(|n| n.edges().len()).sum();
        assert_eq!(
            g.matches(" -> ").count(),
            edges + 1,
            "every edge and the start: {g}"
        );
    }

    #[test]
    fn mermaid_has_every_node_edge_and_the_start() {
        let g = graph(&tree(), Format::Mermaid);
        assert!(g.starts_with("flowchart TD\n"));
        for line in [
            "  __start --> n0",
            "  n0{\"orario<br/>(branch)\"}",
            "  n1[\"main<br/>(menu)\"]",
            "  n2([\"info<br/>(play)\"])",
            "  n3[(\"op<br/>(queue)<br/>pensioni\")]",
            "  n4(((\"fine<br/>(hangup)\")))",
            "  n0 -->|\"aperto\"| n1",
            "  n0 -->|\"chiuso\"| n4",
            "  n1 -->|\"1\"| n2",
            "  n1 -->|\"#35;\"| n4",
            "  n1 -.->|\"0 operatore\"| n3",
            "  n2 --> n1",
            "  n3 -->|\"non disponibile\"| n4",
        ] {
            assert!(g.lines().any(|l| l == line), "missing {line:?} in\n{g}");
        }
    }

    #[test]
    fn quotes_are_escaped() {
        assert_eq!(dot_escape("a\"b\\c"), "a\\\"b\\\\c");
        assert_eq!(mermaid_escape("say \"1\" #"), "say #quot;1#quot; #35;");
    }
}
