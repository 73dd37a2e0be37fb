//! The other nodes: play, branch (schedule, variable, office, province, region),
//! language, hand-offs, test line, hang-up, and built-in values spoken.

use super::*;

// ---- 7. play nodes

const PLAY: &str = r#"
start: main
nodes:
  main:
    menu:
      greeting: [menu]
      short_greeting: [menu-breve]
      options:
        "1": info
        "2": ultimo
        "3": salta
  info:
    play:
      prompts: [info, a]
      next: main
  ultimo:
    play:
      prompts: [arrivederci]
  salta:
    play:
      prompts: [info]
      skippable: true
      next: main
"#;

#[test]
fn a_play_node_goes_to_next_when_its_prompts_end() {
    let mut c = Call::new(PLAY);
    c.finish_prompt();
    c.key('1');
    assert_eq!(c.actions(), ["play it/menu", "play it/info it/a"]);
    // Not skippable: keys are recorded but change nothing.
    c.key('5');
    assert_eq!(c.actions(), Vec::<String>::new());
    c.finish_prompt();
    assert_eq!(c.actions(), ["play it/menu-breve"]);
    assert_eq!(c.path(), [("main", "1"), ("info", "5"), ("main", "")]);
}

#[test]
fn a_play_node_without_next_hangs_up_at_the_end() {
    let mut c = Call::new(PLAY);
    c.finish_prompt();
    c.key('2');
    c.stats();
    assert_eq!(c.actions(), ["play it/menu", "play it/arrivederci"]);
    c.finish_prompt();
    assert_eq!(c.actions(), ["hangup"]);
    assert_eq!(c.stats(), st(&[("ultimo", Stat::Completed)]));
    assert_eq!(c.poll_timeout_ms(), None);
}

#[test]
fn a_key_skips_a_skippable_play_node() {
    let mut c = Call::new(PLAY);
    c.finish_prompt();
    c.key('3');
    c.actions();
    c.stats();
    let skipped = c.last_token();
    c.key('9');
    assert_eq!(c.actions(), ["stop", "play it/menu-breve"]);
    assert_eq!(
        c.stats(),
        st(&[("salta", Stat::Completed), ("main", Stat::Entered)])
    );
    // The end of the skipped prompts, reported late, is ignored.
    c.finish_token(skipped);
    assert_eq!(c.actions(), Vec::<String>::new());
    assert_eq!(c.path(), [("main", "3"), ("salta", "9"), ("main", "")]);
}

// ---- 9. branch on schedule

const SCHEDULE: &str = r#"
start: orario
schedules:
  ufficio:
    hours:
      mon-fri: ["08:00-20:00"]
      sat: ["08:00-14:00"]
nodes:
  orario:
    branch:
      schedule: ufficio
      open: aperto
      closed: chiuso
  aperto:
    play:
      prompts: [aperto]
  chiuso:
    play:
      prompts: [chiuso]
"#;

fn open_or_closed(started_at: NaiveDateTime) -> String {
    let mut c = Call::with(SCHEDULE, ctx(started_at));
    let actions = c.actions();
    assert_eq!(actions.len(), 1, "{actions:?}");
    actions[0].clone()
}

#[test]
fn schedule_branch_follows_hours_and_holidays() {
    let cases = [
        (at(2026, 3, 2, 10, 0, 0), "play it/aperto"), // Monday morning
        (at(2026, 3, 2, 7, 59, 59), "play it/chiuso"), // before opening
        (at(2026, 3, 2, 20, 0, 0), "play it/chiuso"), // the closing minute is closed
        (at(2026, 3, 7, 13, 59, 0), "play it/aperto"), // Saturday morning
        (at(2026, 3, 7, 14, 0, 0), "play it/chiuso"), // Saturday afternoon
        (at(2026, 3, 8, 10, 0, 0), "play it/chiuso"), // Sunday
        (at(2026, 4, 6, 10, 0, 0), "play it/chiuso"), // Easter Monday
        (at(2026, 6, 2, 10, 0, 0), "play it/chiuso"), // Festa della Repubblica, Tuesday
        (at(2026, 12, 8, 10, 0, 0), "play it/chiuso"), // Immacolata, Tuesday
        (at(2026, 12, 9, 10, 0, 0), "play it/aperto"), // the day after
    ];
    for (when, expected) in cases {
        assert_eq!(open_or_closed(when), expected, "at {when}");
    }
}

#[test]
fn schedule_branch_path_and_counters() {
    let mut c = Call::with(SCHEDULE, ctx(at(2026, 3, 8, 10, 0, 0)));
    assert_eq!(
        c.stats(),
        st(&[
            ("orario", Stat::Entered),
            ("orario", Stat::Completed),
            ("chiuso", Stat::Entered),
        ])
    );
    assert_eq!(c.path(), [("orario", ""), ("chiuso", "")]);
}

#[test]
fn the_schedule_is_read_when_the_branch_is_reached_not_when_the_call_started() {
    let yaml = SCHEDULE.replace(
        "nodes:\n",
        "nodes:\n  benvenuto:\n    play:\n      prompts: [info]\n      next: orario\n",
    );
    let yaml = yaml.replace("start: orario", "start: benvenuto");
    // Answered at 19:59:00; the welcome lasts 30 s: still open.
    let mut c = Call::with(&yaml, ctx(at(2026, 3, 2, 19, 59, 0)));
    c.advance(30_000);
    c.finish_prompt();
    assert_eq!(c.actions(), ["play it/info", "play it/aperto"]);
    // The welcome lasts 90 s: the branch is reached at 20:00:30, closed.
    let mut c = Call::with(&yaml, ctx(at(2026, 3, 2, 19, 59, 0)));
    c.advance(90_000);
    c.finish_prompt();
    assert_eq!(c.actions(), ["play it/info", "play it/chiuso"]);
    assert_eq!(
        c.path_times(),
        [("benvenuto", 0), ("orario", 90_000), ("chiuso", 90_000)]
    );
}

// ---- 10. branch on var, office, province, region

const BRANCHES: &str = r#"
start: sede
nodes:
  sede:
    collect:
      var: sede
      prompt: [numero]
      max: 1
      next: per_var
  per_var:
    branch:
      var: sede
      cases:
        "1": per_ufficio
        "2": per_provincia
      default: per_regione
  per_ufficio:
    branch:
      office: true
      cases:
        "0659051234": a
        milano-nord: b
      default: c
  per_provincia:
    branch:
      province: true
      cases:
        RM: a
        MI: b
      default: c
  per_regione:
    branch:
      region: true
      cases:
        Lazio: a
        Lombardia: b
      default: c
  a: {hangup: {prompts: [a]}}
  b: {hangup: {prompts: [b]}}
  c: {hangup: {prompts: [c]}}
"#;

/// Types `choice` into the collect and returns the prompt of the leaf reached and
/// the node ids on the way.
fn branch_walk(choice: char, ctx: CallContext) -> (Vec<String>, Vec<String>) {
    let mut c = Call::with(BRANCHES, ctx);
    c.finish_prompt();
    c.actions();
    c.key(choice);
    let path = c.path().iter().map(|(n, _)| (*n).to_owned()).collect();
    (c.actions(), path)
}

#[test]
fn branch_on_a_variable_with_cases_and_default() {
    let rome = || ctx(monday_morning());
    let (actions, path) = branch_walk('1', rome());
    assert_eq!(actions, ["play it/a"]);
    assert_eq!(path, ["sede", "per_var", "per_ufficio", "a"]);
    let (_, path) = branch_walk('2', rome());
    assert_eq!(path, ["sede", "per_var", "per_provincia", "a"]);
    let (_, path) = branch_walk('7', rome());
    assert_eq!(path, ["sede", "per_var", "per_regione", "a"]);
}

#[test]
fn branch_on_office_province_and_region() {
    let with = |dialled: &str, province: Option<&str>, region: Option<&str>| CallContext {
        office_prompt: None,
        office: None,
        dialled: dialled.into(),
        province: province.map(Into::into),
        region: region.map(Into::into),
        started_at: monday_morning(),
    };
    // Office: the dialled number, else the default.
    assert_eq!(
        branch_walk('1', with("0659051234", None, None)).0,
        ["play it/a"]
    );
    assert_eq!(
        branch_walk('1', with("0287654321", None, None)).0,
        ["play it/c"]
    );
    // The daemon gives the number in E.164: a case written in national format matches.
    assert_eq!(
        branch_walk('1', with("+390659051234", None, None)).0,
        ["play it/a"]
    );
    // A case may name the office by its directory id.
    let mut milan = with("+390287654321", Some("MI"), Some("Lombardia"));
    milan.office = Some("milano-nord".into());
    assert_eq!(branch_walk('1', milan).0, ["play it/b"]);
    // Province: the sigla (any case), else the default; unknown province → default.
    assert_eq!(
        branch_walk('2', with("x", Some("MI"), None)).0,
        ["play it/b"]
    );
    assert_eq!(
        branch_walk('2', with("x", Some("mi"), None)).0,
        ["play it/b"]
    );
    assert_eq!(
        branch_walk('2', with("x", Some("NA"), None)).0,
        ["play it/c"]
    );
    assert_eq!(branch_walk('2', with("x", None, None)).0, ["play it/c"]);
    // Region.
    assert_eq!(
        branch_walk('3', with("x", None, Some("Lombardia"))).0,
        ["play it/b"]
    );
    assert_eq!(
        branch_walk('3', with("x", None, Some("Campania"))).0,
        ["play it/c"]
    );
    assert_eq!(branch_walk('3', with("x", None, None)).0, ["play it/c"]);
}

// ---- 11. language

const LANGUAGE: &str = r#"
start: lingua
nodes:
  lingua:
    menu:
      greeting: [lingua]
      options:
        "1": main
        "2": english
  english:
    language:
      set: en
      next: main
  main:
    menu:
      greeting: [menu]
      short_greeting: [menu-breve]
      options:
        "1": coda
        "2": pratica
  coda:
    queue:
      target: pensioni
      fallback: main
  pratica:
    collect:
      var: pratica
      prompt: [pratica]
      confirm: true
      next: bye
  bye:
    hangup:
      prompts: [arrivederci]
"#;

#[test]
fn after_a_language_node_prompts_come_from_its_folder() {
    let mut c = Call::new(LANGUAGE);
    c.finish_prompt();
    c.key('2');
    assert_eq!(c.actions(), ["play it/lingua", "play en/menu"]);
    assert_eq!(c.interp().language(), "en");
    assert_eq!(
        c.stats(),
        st(&[
            ("lingua", Stat::Entered),
            ("lingua", Stat::Completed),
            ("english", Stat::Entered),
            ("english", Stat::Completed),
            ("main", Stat::Entered),
        ])
    );
    c.finish_prompt();
    // System prompts follow the language too.
    c.key('1');
    assert_eq!(c.actions(), ["play en/sistema/non-disponibile"]);
    c.finish_prompt();
    assert_eq!(c.actions(), ["play en/menu-breve"]);
    c.finish_prompt();
    c.key('2');
    c.finish_prompt();
    c.keys("12#");
    // Digits are read from the Italian fragments: there are no others.
    assert_eq!(
        c.actions(),
        [
            "play en/pratica",
            "play en/sistema/ha-inserito it/num/1 it/num/2 en/sistema/conferma"
        ]
    );
    c.key('1');
    assert_eq!(c.actions(), ["stop", "play en/arrivederci"]);
}

#[test]
fn without_a_language_node_prompts_stay_italian() {
    let mut c = Call::new(LANGUAGE);
    c.key('1');
    assert_eq!(c.actions(), ["play it/lingua", "stop", "play it/menu"]);
    assert_eq!(c.interp().language(), "it");
}

// ---- 12. hand-offs

#[test]
fn handoffs_say_not_available_then_follow_the_fallback_or_hang_up() {
    for kind in ["queue", "ticket", "appointment", "transfer"] {
        let yaml = format!(
            r#"
start: main
nodes:
  main:
    menu:
      greeting: [menu]
      short_greeting: [menu-breve]
      options:
        "1": con_fallback
        "2": senza
  con_fallback:
    {kind}:
      target: pensioni
      fallback: main
  senza:
    {kind}:
      target: pensioni
"#
        );
        let mut c = Call::new(&yaml);
        c.finish_prompt();
        c.actions();
        c.stats();
        c.key('1');
        assert_eq!(c.actions(), ["play it/sistema/non-disponibile"], "{kind}");
        c.finish_prompt();
        assert_eq!(c.actions(), ["play it/menu-breve"], "{kind}");
        assert_eq!(
            c.stats(),
            st(&[
                ("main", Stat::Completed),
                ("con_fallback", Stat::Entered),
                ("con_fallback", Stat::Completed),
                ("main", Stat::Entered),
            ]),
            "{kind}"
        );
        c.finish_prompt();
        c.key('2');
        assert_eq!(c.actions(), ["play it/sistema/non-disponibile"], "{kind}");
        c.finish_prompt();
        assert_eq!(c.actions(), ["hangup"], "{kind}");
        assert_eq!(
            c.path(),
            [
                ("main", "1"),
                ("con_fallback", ""),
                ("main", "2"),
                ("senza", "")
            ]
        );
    }
}

// ---- 13. test line and hang-up

const ENDINGS: &str = r#"
start: main
nodes:
  main:
    menu:
      greeting: [menu]
      options:
        "1": prova
        "2": muto
        "3": saluto
  prova:
    test_line: {}
  muto:
    hangup: {}
  saluto:
    hangup:
      prompts: [arrivederci, a]
"#;

#[test]
fn a_test_line_node_hands_the_call_over() {
    let mut c = Call::new(ENDINGS);
    c.finish_prompt();
    c.actions();
    c.stats();
    c.key('1');
    assert_eq!(c.actions(), ["test_line"]);
    assert_eq!(
        c.stats(),
        st(&[
            ("main", Stat::Completed),
            ("prova", Stat::Entered),
            ("prova", Stat::Completed)
        ])
    );
    assert_eq!(c.poll_timeout_ms(), None);
    // Further keys belong to the test line, not to the menu.
    c.key('1');
    assert_eq!(c.actions(), Vec::<String>::new());
}

#[test]
fn hangup_with_and_without_prompts() {
    let mut c = Call::new(ENDINGS);
    c.finish_prompt();
    c.actions();
    c.stats();
    c.key('2');
    assert_eq!(c.actions(), ["hangup"]);
    assert_eq!(
        c.stats(),
        st(&[
            ("main", Stat::Completed),
            ("muto", Stat::Entered),
            ("muto", Stat::Completed)
        ])
    );

    let mut c = Call::new(ENDINGS);
    c.finish_prompt();
    c.actions();
    c.stats();
    c.key('3');
    assert_eq!(c.actions(), ["play it/arrivederci it/a"]);
    assert_eq!(
        c.stats(),
        st(&[("main", Stat::Completed), ("saluto", Stat::Entered)])
    );
    c.key('1');
    assert_eq!(c.actions(), Vec::<String>::new());
    c.finish_prompt();
    assert_eq!(c.actions(), ["hangup"]);
    assert_eq!(c.stats(), st(&[("saluto", Stat::Completed)]));
}

// ---- 14. built-in values

const PENSION: &str = r#"
start: pagamento
nodes:
  pagamento:
    play:
      prompts: [pagamento, {say: date, var: pension_payment_date}]
"#;

#[test]
fn the_pension_payment_date_is_spoken_for_the_day_of_the_call() {
    // 2 December 2026: December's payment (Tuesday 1st) is past; January 2027 pays on its
    // second banking day: 1 Jan is a holiday, 2–3 a weekend, Monday 4 is the first,
    // Tuesday 5 the second.
    let mut c = Call::with(PENSION, ctx(at(2026, 12, 2, 9, 0, 0)));
    assert_eq!(
        c.actions(),
        ["play it/pagamento it/giorno/martedi it/num/5 it/mese/gennaio"]
    );
    // On 1 December itself, that day's payment.
    let mut c = Call::with(PENSION, ctx(at(2026, 12, 1, 9, 0, 0)));
    assert_eq!(
        c.actions(),
        ["play it/pagamento it/giorno/martedi it/parola/primo it/mese/dicembre"]
    );
    // 30 April 2026 → 1 May is a holiday (Friday): Monday 4 May.
    let mut c = Call::with(PENSION, ctx(at(2026, 4, 30, 9, 0, 0)));
    assert_eq!(
        c.actions(),
        ["play it/pagamento it/giorno/lunedi it/num/4 it/mese/maggio"]
    );
}

#[test]
fn the_date_is_taken_when_the_prompt_is_built_not_when_the_call_started() {
    // Answered at 23:59:50 on 1 December 2026 (payment day); the date is spoken 20 s
    // later, on the 2nd: the next payment is January's.
    let yaml = PENSION.replace(
        "nodes:\n",
        "nodes:\n  attesa:\n    play:\n      prompts: [info]\n      next: pagamento\n",
    );
    let yaml = yaml.replace("start: pagamento", "start: attesa");
    let mut c = Call::with(&yaml, ctx(at(2026, 12, 1, 23, 59, 50)));
    c.advance(20_000);
    c.finish_prompt();
    assert_eq!(
        c.actions(),
        [
            "play it/info",
            "play it/pagamento it/giorno/martedi it/num/5 it/mese/gennaio"
        ]
    );
}

#[test]
fn literal_values_are_spoken_by_kind() {
    let yaml = r#"
start: valori
nodes:
  valori:
    play:
      prompts:
        - {say: number, value: "21"}
        - {say: time, value: "13:05"}
        - {say: euro, value: "12.50"}
        - {say: digits, var: office}
"#;
    let mut c = Call::with(
        yaml,
        CallContext {
            office_prompt: None,
            office: None,
            dialled: "06".into(),
            ..ctx(monday_morning())
        },
    );
    assert_eq!(
        c.actions(),
        ["play it/num/vent it/num/1 \
          it/parola/alle-ore it/num/13 it/parola/e it/num/5 \
          it/num/12 it/parola/euro it/parola/e it/num/50 it/parola/centesimi \
          it/num/0 it/num/6"]
    );
}

#[test]
fn the_operator_key_works_during_a_canned_answer() {
    let tree = "\
start: info
defaults:
  operator: op
nodes:
  info:
    play:
      prompts: [a]
      next: bye
  op:
    hangup:
      prompts: [b]
  bye:
    hangup: {}
";
    let mut c = Call::new(tree);
    assert_eq!(c.actions(), ["play it/a"]);
    c.key('0');
    assert_eq!(c.actions(), ["stop", "play it/b"]);
    assert_eq!(
        c.stats(),
        st(&[
            ("info", Stat::Entered),
            ("info", Stat::Completed),
            ("op", Stat::Entered)
        ])
    );
}

const QUEUE_TREE: &str = "\
start: q
nodes:
  q:
    queue:
      target: pensioni
      fallback: ticket
  ticket:
    play:
      prompts: [a]
      next: bye
  bye:
    hangup:
      prompts: [b]
";

#[test]
fn an_offered_queue_takes_the_call_and_can_send_it_back() {
    use crate::ivr::tree::HandoffKind;
    let mut c = Call::offering(QUEUE_TREE, ctx(monday_morning()), &[HandoffKind::Queue]);
    assert_eq!(c.actions(), ["handoff queue pensioni priority 0"]);
    // Keys while queued are the queue's business, not the menu's.
    c.key('1');
    assert!(c.actions().is_empty());
    // The queue overflows to a menu node.
    assert!(c.resume_at("bye"));
    assert_eq!(c.actions(), ["play it/b"]);
    assert!(!c.resume_at("nowhere"));
}

#[test]
fn a_queue_that_cannot_take_the_call_falls_back() {
    use crate::ivr::tree::HandoffKind;
    let mut c = Call::offering(QUEUE_TREE, ctx(monday_morning()), &[HandoffKind::Queue]);
    c.actions();
    c.handoff_failed();
    assert_eq!(c.actions(), ["play it/sistema/non-disponibile"]);
    c.finish_prompt();
    assert_eq!(c.actions(), ["play it/a"]);
}

#[test]
fn a_queue_node_carries_its_priority() {
    use crate::ivr::tree::HandoffKind;
    let tree = QUEUE_TREE.replace(
        "      target: pensioni\n",
        "      target: pensioni\n      priority: 5\n",
    );
    let mut c = Call::offering(&tree, ctx(monday_morning()), &[HandoffKind::Queue]);
    assert_eq!(c.actions(), ["handoff queue pensioni priority 5"]);
}
