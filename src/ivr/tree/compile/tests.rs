//! Loading checks: every kind of broken tree gives its diagnostic at the right place.

use super::*;

fn catalog() -> PromptCatalog {
    PromptCatalog::new(["it/a", "it/b", "it/invalid", "it/bye"])
}

fn errors(yaml: &str) -> Vec<String> {
    match load_str(yaml, "t.yaml", &catalog()) {
        Ok((_, warnings)) => panic!("expected errors, got a tree (warnings: {warnings:?})"),
        Err(d) => d
            .iter()
            .filter(|x| x.is_error())
            .map(|x| format!("{}:{} {}", x.line, x.column, x.message))
            .collect(),
    }
}

const GOOD: &str = "\
name: test
start: main
defaults:
  operator: op
schedules:
  office:
    hours:
      mon-fri: [\"08:00-20:00\"]
nodes:
  main:
    menu:
      greeting: [a]
      short_greeting: [b]
      options:
        \"1\": info
        \"12\": info
        _9X: bye
  info:
    play:
      prompts: [a, {say: date, var: pension_payment_date}]
      next: main
  op:
    branch:
      schedule: office
      open: bye
      closed: bye
  bye:
    hangup:
      prompts: [bye]
";

#[test]
fn a_good_tree_compiles_with_defaults_resolved() {
    let (tree, warnings) = load_str(GOOD, "t.yaml", &catalog()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(tree.id(tree.start), "main");
    let Node::Menu(m) = tree.node(tree.start) else {
        panic!("main is a menu")
    };
    assert_eq!(m.options.len(), 3);
    assert_eq!(m.operator, Some(('0', tree.find("op").unwrap())));
    assert_eq!(m.repeat_key, Some('*'));
    assert_eq!((m.max_failures, m.max_timeouts), (3, 3));
    assert_eq!(m.timeout, Duration::from_secs(5));
    assert!(tree.schedules.contains_key("office"));
}

#[test]
fn unknown_references_are_located() {
    let yaml = GOOD.replace("next: main", "next: mian");
    assert_eq!(errors(&yaml), vec!["21:13 unknown node `mian`"]);
    let yaml = GOOD.replace("start: main", "start: nowhere");
    assert_eq!(errors(&yaml), vec!["2:8 unknown node `nowhere`"]);
    let yaml = GOOD.replace("schedule: office", "schedule: ufficio");
    assert_eq!(errors(&yaml), vec!["24:17 unknown schedule `ufficio`"]);
}

#[test]
fn missing_prompts_and_variables_are_located() {
    let yaml = GOOD.replace("greeting: [a]", "greeting: [a, zz]");
    assert_eq!(
        errors(&yaml),
        vec!["12:21 prompt `zz` not found (no file prompts/it/zz.wav)"]
    );
    let yaml = GOOD.replace("var: pension_payment_date", "var: pratica");
    let e = errors(&yaml);
    assert!(
        e[0].starts_with("20:20 unknown variable `pratica`"),
        "{e:?}"
    );
}

#[test]
fn yaml_errors_keep_serde_saphyrs_location() {
    let yaml = GOOD.replace("        \"12\": info\n", "        \"1\": main\n");
    assert_eq!(errors(&yaml), vec!["16:9 duplicate mapping key: 1"]);
    let yaml = GOOD.replace("short_greeting", "short_greting");
    let e = errors(&yaml);
    assert!(
        e[0].starts_with("13:7 unknown field `short_greting`"),
        "{e:?}"
    );
}

#[test]
fn keys_that_can_never_be_pressed() {
    let yaml = GOOD.replace("\"12\": info", "\"0\": info");
    assert_eq!(
        errors(&yaml),
        vec!["16:14 option `0` can never be chosen: `0` is the operator key of this menu"]
    );
    let yaml = GOOD.replace("\"12\": info", "\"x\": info");
    assert!(errors(&yaml)[0].contains("not a phone key"));
    let yaml = GOOD.replace("_9X: bye", "_X: bye\n        _5: bye");
    let e = errors(&yaml);
    assert!(
        e.iter()
            .any(|m| m.contains("option `_5` can never be chosen")),
        "{e:?}"
    );
}

#[test]
fn loops_without_input_are_errors() {
    let yaml = GOOD.replace(
        "  bye:\n    hangup:\n      prompts: [bye]\n",
        "  bye:\n    play:\n      prompts: [bye]\n      next: again\n  again:\n    play:\n      prompts: [a]\n      next: bye\n",
    );
    let e = errors(&yaml);
    assert!(
        e.iter()
            .any(|m| m.contains("loop with no input") && m.contains("bye") && m.contains("again")),
        "{e:?}"
    );
}

#[test]
fn unreachable_nodes_are_warnings() {
    let yaml = format!("{GOOD}  orphan:\n    hangup: {{}}\n");
    let (_, warnings) = load_str(&yaml, "t.yaml", &catalog()).unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].severity, Severity::Warning);
    assert_eq!(warnings[0].message, "node `orphan` is never reached");
    assert_eq!(warnings[0].line, 31);
}

#[test]
fn bad_branches_and_collects() {
    let yaml = GOOD.replace("      open: bye\n", "");
    assert!(errors(&yaml)[0].contains("needs both `open` and `closed`"));
    let bad_collect = GOOD.replace(
        "  bye:\n",
        "  pin:\n    collect:\n      var: pin\n      prompt: [a]\n      min: 5\n      max: 2\n      next: bye\n  bye:\n",
    );
    assert!(
        errors(&bad_collect)
            .iter()
            .any(|m| m.contains("min (5) <= max (2)"))
    );
}

#[test]
fn bad_schedules_are_reported_with_their_line() {
    let yaml = GOOD.replace("08:00-20:00", "08:00-25:00");
    let e = errors(&yaml);
    assert!(e[0].starts_with("8:"), "{e:?}");
}

#[test]
fn the_operator_key_is_input_not_a_loop() {
    // op -> closed-msg (play) -> op: the way back is the operator key, which needs a key.
    let yaml = "\
start: op
defaults:
  operator: op
nodes:
  op:
    branch:
      var: today
      default: closed-msg
  closed-msg:
    play:
      prompts: [a]
      next: bye
  bye:
    hangup: {}
";
    let (_, warnings) = load_str(yaml, "t.yaml", &catalog()).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn an_empty_key_turns_an_inherited_key_off() {
    let yaml = GOOD
        .replace("  operator: op\n", "  operator: op\n  back_key: \"#\"\n")
        .replace(
            "      short_greeting: [b]\n",
            "      short_greeting: [b]\n      back_key: \"\"\n      repeat_key: \"\"\n",
        );
    let (tree, _) = load_str(&yaml, "t.yaml", &catalog()).unwrap();
    let Node::Menu(m) = tree.node(tree.start) else {
        panic!("menu")
    };
    assert_eq!((m.back_key, m.repeat_key), (None, None));
}
