//! Menus: greetings, barge-in, timeouts, invalid keys, multi-digit options and patterns,
//! the repeat, back and operator keys.

use super::*;

pub(super) const MENU: &str = r##"
name: menu di prova
start: main
defaults:
  operator: op
  invalid: [invalido]
  timeout: [timeout]
  back_key: "#"
nodes:
  main:
    menu:
      greeting: [menu]
      short_greeting: [menu-breve]
      timeout_ms: 4000
      options:
        "1": info
        "2": sub
        "3": bye
        "4": quiet
        "5": no_op
      exit: bye
  info:
    play:
      prompts: [info]
      next: main
  sub:
    menu:
      greeting: [sub]
      short_greeting: [sub-breve]
      options:
        "1": info
  quiet:
    menu:
      greeting: [a]
      short_greeting: [b]
      barge_in: false
      options:
        "1": info
  no_op:
    menu:
      greeting: [c]
      operator: false
      max_failures: 2
      options:
        "1": info
  op:
    hangup:
      prompts: [operatore]
  bye:
    hangup:
      prompts: [arrivederci]
"##;

/// A call that has heard the main greeting to the end and now waits for a key.
fn waiting_in_main() -> Call {
    let mut c = Call::new(MENU);
    assert_eq!(c.actions(), ["play it/menu"]);
    c.finish_prompt();
    assert_eq!(c.actions(), Vec::<String>::new());
    c.stats();
    c
}

// ---- 1. greetings and barge-in

#[test]
fn long_greeting_first_short_greeting_on_return() {
    let mut c = Call::new(MENU);
    assert_eq!(c.actions(), ["play it/menu"]);
    assert_eq!(c.stats(), st(&[("main", Stat::Entered)]));
    // No key timer while the greeting plays.
    assert_eq!(c.poll_timeout_ms(), None);
    c.finish_prompt();
    assert_eq!(c.poll_timeout_ms(), Some(4000));
    c.key('1');
    assert_eq!(c.actions(), ["play it/info"]);
    c.finish_prompt();
    // Back in main through the play node: the short greeting.
    assert_eq!(c.actions(), ["play it/menu-breve"]);
    assert_eq!(
        c.stats(),
        st(&[
            ("main", Stat::Completed),
            ("info", Stat::Entered),
            ("info", Stat::Completed),
            ("main", Stat::Entered),
        ])
    );
    assert_eq!(c.path(), [("main", "1"), ("info", ""), ("main", "")]);
}

#[test]
fn barge_in_selects_at_once_with_stop_first() {
    let mut c = Call::new(MENU);
    c.actions();
    let greeting = c.last_token();
    c.key('2');
    assert_eq!(c.actions(), ["stop", "play it/sub"]);
    assert_eq!(c.path(), [("main", "2"), ("sub", "")]);
    // The driver's late "finished" for the interrupted greeting changes nothing.
    c.finish_token(greeting);
    assert_eq!(c.actions(), Vec::<String>::new());
    assert_eq!(c.poll_timeout_ms(), None);
    c.finish_prompt();
    assert_eq!(c.poll_timeout_ms(), Some(5000));
}

#[test]
fn without_barge_in_keys_during_the_greeting_are_ignored() {
    let mut c = waiting_in_main();
    c.key('4');
    assert_eq!(c.actions(), ["play it/a"]);
    c.key('1');
    c.key('7');
    assert_eq!(c.actions(), Vec::<String>::new());
    assert_eq!(
        c.stats(),
        st(&[("main", Stat::Completed), ("quiet", Stat::Entered)])
    );
    c.finish_prompt();
    c.key('1');
    assert_eq!(c.actions(), ["play it/info"]);
    // Ignored keys are still recorded as pressed in the node.
    assert_eq!(c.path(), [("main", "4"), ("quiet", "171"), ("info", "")]);
}

#[test]
fn without_barge_in_an_invalid_key_after_the_greeting_counts() {
    let mut c = waiting_in_main();
    c.key('4');
    c.finish_prompt();
    c.actions();
    c.stats();
    c.key('9');
    assert_eq!(c.actions(), ["play it/invalido it/b"]);
    assert_eq!(c.stats(), st(&[("quiet", Stat::Invalid)]));
}

// ---- 2. timeouts

#[test]
fn no_key_after_the_greeting_plays_the_timeout_prompt_and_short_greeting() {
    let mut c = waiting_in_main();
    c.advance(3999);
    assert_eq!(c.actions(), Vec::<String>::new());
    c.advance(1);
    assert_eq!(c.actions(), ["play it/timeout it/menu-breve"]);
    assert_eq!(c.stats(), st(&[("main", Stat::TimedOut)]));
    // The next wait starts only when that prompt ends.
    assert_eq!(c.poll_timeout_ms(), None);
    c.advance(60_000);
    assert_eq!(c.actions(), Vec::<String>::new());
    c.finish_prompt();
    assert_eq!(c.poll_timeout_ms(), Some(64_000 + 4000));
    c.key('1');
    assert_eq!(c.actions(), ["play it/info"]);
}

#[test]
fn max_timeouts_plays_the_timeout_prompt_then_goes_to_exit() {
    let mut c = waiting_in_main();
    for _ in 0..2 {
        c.advance(4000);
        assert_eq!(c.actions(), ["play it/timeout it/menu-breve"]);
        c.finish_prompt();
    }
    c.advance(4000);
    assert_eq!(c.actions(), ["play it/timeout"]);
    assert_eq!(c.poll_timeout_ms(), None);
    c.finish_prompt();
    assert_eq!(c.actions(), ["play it/arrivederci"]);
    c.finish_prompt();
    assert_eq!(c.actions(), ["hangup"]);
    assert_eq!(
        c.stats(),
        st(&[
            ("main", Stat::TimedOut),
            ("main", Stat::TimedOut),
            ("main", Stat::TimedOut),
            ("bye", Stat::Entered),
            ("bye", Stat::Completed),
        ])
    );
    assert_eq!(c.path(), [("main", ""), ("bye", "")]);
    assert_eq!(c.path_times(), [("main", 0), ("bye", 12_000)]);
}

#[test]
fn max_timeouts_without_exit_hangs_up() {
    let mut c = waiting_in_main();
    c.key('2');
    c.finish_prompt();
    c.actions();
    c.stats();
    for _ in 0..2 {
        c.advance(5000);
        assert_eq!(c.actions(), ["play it/timeout it/sub-breve"]);
        c.finish_prompt();
    }
    c.advance(5000);
    assert_eq!(c.actions(), ["play it/timeout"]);
    c.finish_prompt();
    assert_eq!(c.actions(), ["hangup"]);
    assert_eq!(c.stats(), st(&[("sub", Stat::TimedOut); 3]));
    assert_eq!(c.poll_timeout_ms(), None);
}

#[test]
fn coming_back_to_a_menu_starts_a_fresh_timeout_count() {
    let mut c = waiting_in_main();
    for _ in 0..2 {
        c.advance(4000);
        c.finish_prompt();
    }
    c.key('1');
    c.finish_prompt(); // info ends: main again
    c.finish_prompt(); // its short greeting ends
    c.actions();
    // Two more timeouts do not reach the limit of three.
    for _ in 0..2 {
        c.advance(4000);
        assert_eq!(c.actions(), ["play it/timeout it/menu-breve"]);
        c.finish_prompt();
    }
}

// ---- 3. invalid keys

#[test]
fn an_invalid_key_plays_the_invalid_prompt_and_short_greeting() {
    let mut c = waiting_in_main();
    c.key('9');
    assert_eq!(c.actions(), ["play it/invalido it/menu-breve"]);
    assert_eq!(c.stats(), st(&[("main", Stat::Invalid)]));
    // An invalid key during the greeting (barge-in) is judged at once too.
    let mut c = Call::new(MENU);
    c.actions();
    c.key('8');
    assert_eq!(c.actions(), ["play it/invalido it/menu-breve"]);
}

#[test]
fn max_failures_goes_to_exit_after_the_invalid_prompt() {
    let mut c = waiting_in_main();
    c.key('9');
    c.finish_prompt();
    c.key('7');
    assert_eq!(
        c.actions(),
        [
            "play it/invalido it/menu-breve",
            "play it/invalido it/menu-breve"
        ]
    );
    c.finish_prompt();
    c.key('6');
    assert_eq!(c.actions(), ["play it/invalido"]);
    c.finish_prompt();
    assert_eq!(c.actions(), ["play it/arrivederci"]);
    assert_eq!(
        c.stats(),
        st(&[
            ("main", Stat::Invalid),
            ("main", Stat::Invalid),
            ("main", Stat::Invalid),
            ("bye", Stat::Entered),
        ])
    );
    assert_eq!(c.path(), [("main", "976"), ("bye", "")]);
}

#[test]
fn timeouts_and_failures_are_counted_apart() {
    // Two invalid keys and two timeouts: neither budget of three is spent.
    let mut c = waiting_in_main();
    c.key('9');
    c.finish_prompt();
    c.advance(4000);
    c.finish_prompt();
    c.key('9');
    c.finish_prompt();
    c.advance(4000);
    c.finish_prompt();
    assert_eq!(
        c.actions(),
        [
            "play it/invalido it/menu-breve",
            "play it/timeout it/menu-breve",
            "play it/invalido it/menu-breve",
            "play it/timeout it/menu-breve",
        ]
    );
    c.key('1');
    assert_eq!(c.actions(), ["play it/info"]);
}

#[test]
fn keys_during_the_goodbye_of_a_menu_that_gave_up_are_ignored() {
    // After the last invalid key the menu plays its invalid prompt and leaves for `exit`:
    // a key during that prompt must not reopen the menu.
    let mut c = waiting_in_main();
    for k in ['9', '9'] {
        c.key(k);
        c.finish_prompt();
    }
    c.key('9');
    assert_eq!(
        c.actions(),
        [
            "play it/invalido it/menu-breve",
            "play it/invalido it/menu-breve",
            "play it/invalido"
        ]
    );
    c.key('1');
    assert_eq!(c.actions(), Vec::<String>::new());
    c.finish_prompt();
    assert_eq!(c.actions(), ["play it/arrivederci"]);
    assert_eq!(c.path().last(), Some(&("bye", "")));

    // The same during the timeout prompt after the last timeout.
    let mut c = waiting_in_main();
    for _ in 0..2 {
        c.advance(4000);
        c.finish_prompt();
    }
    c.advance(4000);
    c.actions();
    c.key('2');
    assert_eq!(c.actions(), Vec::<String>::new());
    c.finish_prompt();
    assert_eq!(c.actions(), ["play it/arrivederci"]);
}

// ---- 4. multi-digit options and patterns

const DIGITS: &str = r#"
start: main
defaults:
  invalid: [invalido]
nodes:
  main:
    menu:
      greeting: [menu]
      short_greeting: [menu-breve]
      inter_digit_ms: 1500
      options:
        "1": uno
        "12": dodici
        _9X: nove
        "95": novantacinque
        "3": tre
        "45": quarantacinque
  uno: {hangup: {prompts: [uno]}}
  dodici: {hangup: {prompts: [dodici]}}
  nove: {hangup: {prompts: [nove]}}
  novantacinque: {hangup: {prompts: [novantacinque]}}
  tre: {hangup: {prompts: [tre]}}
  quarantacinque: {hangup: {prompts: [quarantacinque]}}
"#;

fn waiting_in_digits() -> Call {
    let mut c = Call::new(DIGITS);
    c.finish_prompt();
    c.actions();
    c.stats();
    c
}

#[test]
fn a_key_that_starts_a_longer_option_waits_the_inter_digit_time() {
    let mut c = waiting_in_digits();
    c.advance(1000);
    c.key('1');
    assert_eq!(c.actions(), Vec::<String>::new());
    assert_eq!(c.poll_timeout_ms(), Some(2500));
    c.advance(1499);
    assert_eq!(c.actions(), Vec::<String>::new());
    c.advance(1);
    assert_eq!(c.actions(), ["play it/uno"]);
    assert_eq!(
        c.stats(),
        st(&[("main", Stat::Completed), ("uno", Stat::Entered)])
    );
    assert_eq!(c.path(), [("main", "1"), ("uno", "")]);
}

#[test]
fn two_quick_keys_select_the_two_digit_option() {
    let mut c = waiting_in_digits();
    c.key('1');
    c.advance(1400);
    c.key('2');
    assert_eq!(c.actions(), ["play it/dodici"]);
    assert_eq!(c.path(), [("main", "12"), ("dodici", "")]);
    // During the greeting: the first key stops it, the second selects.
    let mut c = Call::new(DIGITS);
    c.actions();
    c.key('1');
    assert_eq!(c.actions(), ["stop"]);
    c.key('2');
    assert_eq!(c.actions(), ["play it/dodici"]);
}

#[test]
fn a_single_key_with_no_longer_option_selects_at_once() {
    let mut c = waiting_in_digits();
    c.key('3');
    assert_eq!(c.actions(), ["play it/tre"]);
}

#[test]
fn a_pattern_catches_keys_and_an_exact_key_wins_over_it() {
    let mut c = waiting_in_digits();
    c.keys("96");
    assert_eq!(c.actions(), ["play it/nove"]);
    let mut c = waiting_in_digits();
    c.keys("95");
    assert_eq!(c.actions(), ["play it/novantacinque"]);
    assert_eq!(c.path(), [("main", "95"), ("novantacinque", "")]);
}

#[test]
fn a_prefix_with_no_completion_then_timeout_is_invalid() {
    let mut c = waiting_in_digits();
    c.key('4');
    assert_eq!(c.actions(), Vec::<String>::new());
    c.advance(1500);
    assert_eq!(c.actions(), ["play it/invalido it/menu-breve"]);
    assert_eq!(c.stats(), st(&[("main", Stat::Invalid)]));
    // The buffer was cleared: "45" now works from scratch.
    c.finish_prompt();
    c.keys("45");
    assert_eq!(c.actions(), ["play it/quarantacinque"]);

    // A pattern prefix alone is invalid too, and so is a wrong second key at once.
    let mut c = waiting_in_digits();
    c.key('9');
    c.advance(1500);
    assert_eq!(c.actions(), ["play it/invalido it/menu-breve"]);
    let mut c = waiting_in_digits();
    c.keys("46");
    assert_eq!(c.actions(), ["play it/invalido it/menu-breve"]);
    assert_eq!(c.stats(), st(&[("main", Stat::Invalid)]));
}

// ---- 5. repeat and back keys

#[test]
fn the_repeat_key_replays_the_long_greeting() {
    let mut c = waiting_in_main();
    c.key('*');
    assert_eq!(c.actions(), ["play it/menu"]);
    assert_eq!(c.poll_timeout_ms(), None);
    assert_eq!(c.stats(), Vec::new());
    c.finish_prompt();
    c.key('1');
    assert_eq!(c.actions(), ["play it/info"]);
    assert_eq!(c.path(), [("main", "*1"), ("info", "")]);
}

#[test]
fn the_back_key_returns_to_the_previous_menu_with_its_short_greeting() {
    let mut c = waiting_in_main();
    c.key('2');
    c.finish_prompt();
    c.key('#');
    assert_eq!(c.actions(), ["play it/sub", "play it/menu-breve"]);
    assert_eq!(c.path(), [("main", "2"), ("sub", "#"), ("main", "")]);
    assert_eq!(
        c.stats(),
        st(&[
            ("main", Stat::Completed),
            ("sub", Stat::Entered),
            ("sub", Stat::Completed),
            ("main", Stat::Entered),
        ])
    );
    // During the sub greeting the back key stops it first.
    c.finish_prompt();
    c.key('2');
    c.actions();
    c.key('#');
    assert_eq!(c.actions(), ["stop", "play it/menu-breve"]);
}

#[test]
fn back_through_a_play_node_returns_to_the_menu_before() {
    // main → sub → info → main(short) → sub(short) → back → main.
    let mut c = waiting_in_main();
    c.key('2');
    c.finish_prompt();
    c.key('1');
    c.finish_prompt();
    c.finish_prompt();
    c.key('2');
    c.finish_prompt();
    c.key('#');
    assert_eq!(
        c.actions(),
        [
            "play it/sub",
            "play it/info",
            "play it/menu-breve",
            "play it/sub-breve",
            "play it/menu-breve",
        ]
    );
}

#[test]
fn back_on_the_first_menu_is_invalid() {
    let mut c = waiting_in_main();
    c.key('#');
    assert_eq!(c.actions(), ["play it/invalido it/menu-breve"]);
    assert_eq!(c.stats(), st(&[("main", Stat::Invalid)]));
    assert_eq!(c.path(), [("main", "#")]);
}

// ---- 6. operator key

#[test]
fn the_operator_key_works_from_any_menu_and_during_the_greeting() {
    let mut c = waiting_in_main();
    c.key('0');
    assert_eq!(c.actions(), ["play it/operatore"]);
    assert_eq!(
        c.stats(),
        st(&[("main", Stat::Completed), ("op", Stat::Entered)])
    );
    c.finish_prompt();
    assert_eq!(c.actions(), ["hangup"]);

    let mut c = Call::new(MENU);
    c.actions();
    c.key('0');
    assert_eq!(c.actions(), ["stop", "play it/operatore"]);

    let mut c = waiting_in_main();
    c.key('2');
    c.key('0');
    assert_eq!(c.actions(), ["play it/sub", "stop", "play it/operatore"]);
    assert_eq!(c.path(), [("main", "2"), ("sub", "0"), ("op", "")]);
}

#[test]
fn without_barge_in_the_operator_key_waits_for_the_greeting_to_end() {
    let mut c = waiting_in_main();
    c.key('4');
    c.key('0');
    assert_eq!(c.actions(), ["play it/a"]);
    c.finish_prompt();
    c.key('0');
    assert_eq!(c.actions(), ["play it/operatore"]);
}

#[test]
fn a_menu_without_the_operator_treats_zero_as_a_normal_key() {
    let mut c = waiting_in_main();
    c.key('5');
    c.finish_prompt();
    c.actions();
    c.stats();
    c.key('0');
    // `no_op` has no short greeting: its greeting serves.
    assert_eq!(c.actions(), ["play it/invalido it/c"]);
    c.finish_prompt();
    c.key('0');
    assert_eq!(c.actions(), ["play it/invalido"]);
    assert_eq!(
        c.stats(),
        st(&[("no_op", Stat::Invalid), ("no_op", Stat::Invalid)])
    );
    // max_failures 2 and no exit of its own: the default (none) hangs up.
    c.finish_prompt();
    assert_eq!(c.actions(), ["hangup"]);
}

#[test]
fn the_checker_refuses_an_option_on_the_operator_key() {
    let yaml = MENU.replace("\"5\": no_op", "\"0\": no_op");
    let errors: Vec<String> = load_str(&yaml, "t.yaml", &catalog())
        .expect_err("option 0 collides with the operator key")
        .iter()
        .filter(|d| d.is_error())
        .map(|d| format!("{}:{} {}", d.line, d.column, d.message))
        .collect();
    assert_eq!(
        errors,
        ["20:14 option `0` can never be chosen: `0` is the operator key of this menu"]
    );
    // Where the operator key is off, "0" is an ordinary option.
    let yaml = MENU.replace("\"1\": info\n  op:", "\"0\": info\n  op:");
    let tree = tree(&yaml);
    let Node::Menu(m) = tree.node(tree.find("no_op").unwrap()) else {
        panic!("no_op is a menu")
    };
    assert_eq!(m.options[0].0, "0");
    assert_eq!(m.operator, None);
}
