//! Digit collection: terminator, maximum length, inter-digit timeout, minimum length,
//! the read-back and confirmation, and the collected value spoken later.

use super::*;

const COLLECT: &str = r#"
start: main
defaults:
  invalid: [invalido]
nodes:
  main:
    menu:
      greeting: [menu]
      options:
        "1": pratica
        "2": conferma
  pratica:
    collect:
      var: pratica
      prompt: [pratica]
      min: 3
      max: 6
      timeout_ms: 6000
      inter_digit_ms: 2500
      next: leggi
      exit: bye
  conferma:
    collect:
      var: pratica
      prompt: [pratica]
      min: 3
      max: 8
      max_failures: 2
      confirm: true
      next: leggi
  leggi:
    play:
      prompts: [numero, {say: digits, var: pratica}]
  bye:
    hangup:
      prompts: [arrivederci]
"#;

/// A call in the collect node reached by `option`, its prompt heard to the end.
fn collecting(option: char) -> Call {
    let mut c = Call::new(COLLECT);
    c.key(option);
    assert_eq!(c.actions(), ["play it/menu", "stop", "play it/pratica"]);
    c.finish_prompt();
    c.stats();
    c
}

#[test]
fn digits_until_the_terminator() {
    let mut c = collecting('1');
    c.keys("123");
    assert_eq!(c.actions(), Vec::<String>::new());
    assert_eq!(c.var("pratica"), None);
    c.key('#');
    assert_eq!(c.actions(), ["play it/numero it/num/1 it/num/2 it/num/3"]);
    assert_eq!(c.var("pratica"), Some("123"));
    assert_eq!(
        c.stats(),
        st(&[("pratica", Stat::Completed), ("leggi", Stat::Entered)])
    );
    assert_eq!(
        c.path(),
        [("main", "1"), ("pratica", "123#"), ("leggi", "")]
    );
    c.finish_prompt();
    assert_eq!(c.actions(), ["hangup"]);
}

#[test]
fn digits_until_max() {
    let mut c = collecting('1');
    c.keys("90210");
    assert_eq!(c.actions(), Vec::<String>::new());
    c.key('7');
    assert_eq!(
        c.actions(),
        ["play it/numero it/num/9 it/num/0 it/num/2 it/num/1 it/num/0 it/num/7"]
    );
    assert_eq!(c.var("pratica"), Some("902107"));
}

#[test]
fn the_first_digit_interrupts_the_prompt() {
    let mut c = Call::new(COLLECT);
    c.key('1');
    c.actions();
    c.keys("42");
    assert_eq!(c.actions(), ["stop"]);
    c.keys("1#");
    assert_eq!(c.actions(), ["play it/numero it/num/4 it/num/2 it/num/1"]);
}

#[test]
fn the_inter_digit_timeout_ends_the_input_when_long_enough() {
    let mut c = collecting('1');
    c.keys("1234");
    assert_eq!(c.poll_timeout_ms(), Some(2500));
    c.advance(2499);
    assert_eq!(c.actions(), Vec::<String>::new());
    c.advance(1);
    assert_eq!(
        c.actions(),
        ["play it/numero it/num/1 it/num/2 it/num/3 it/num/4"]
    );
    assert_eq!(c.var("pratica"), Some("1234"));
}

#[test]
fn fewer_than_min_digits_is_invalid() {
    let mut c = collecting('1');
    c.keys("12#");
    assert_eq!(c.actions(), ["play it/invalido it/pratica"]);
    assert_eq!(c.stats(), st(&[("pratica", Stat::Invalid)]));
    c.finish_prompt();
    c.keys("12");
    c.advance(2500);
    assert_eq!(c.actions(), ["play it/invalido it/pratica"]);
    c.finish_prompt();
    // The buffer starts afresh after an invalid input.
    c.keys("345#");
    assert_eq!(c.var("pratica"), Some("345"));
}

#[test]
fn a_key_that_is_not_a_digit_is_invalid() {
    let mut c = collecting('1');
    c.keys("12*");
    assert_eq!(c.actions(), ["play it/invalido it/pratica"]);
    assert_eq!(c.stats(), st(&[("pratica", Stat::Invalid)]));
}

#[test]
fn no_digits_times_out_and_asks_again_then_exits() {
    let mut c = collecting('1');
    c.advance(5999);
    assert_eq!(c.actions(), Vec::<String>::new());
    c.advance(1);
    assert_eq!(c.actions(), ["play it/pratica"]);
    assert_eq!(c.stats(), st(&[("pratica", Stat::TimedOut)]));
    c.finish_prompt();
    // Timeouts and invalid inputs share the collect's failure budget (3).
    c.keys("1#");
    c.finish_prompt();
    c.advance(6000);
    assert_eq!(
        c.actions(),
        ["play it/invalido it/pratica", "play it/arrivederci"]
    );
    assert_eq!(
        c.stats(),
        st(&[
            ("pratica", Stat::Invalid),
            ("pratica", Stat::TimedOut),
            ("bye", Stat::Entered),
        ])
    );
}

#[test]
fn keys_during_the_goodbye_of_a_collect_that_gave_up_are_ignored() {
    let mut c = collecting('1');
    c.keys("1#");
    c.finish_prompt();
    c.keys("2#");
    c.finish_prompt();
    c.keys("3#");
    assert_eq!(
        c.actions(),
        [
            "play it/invalido it/pratica",
            "play it/invalido it/pratica",
            "play it/invalido"
        ]
    );
    c.keys("456#");
    assert_eq!(c.actions(), Vec::<String>::new());
    c.finish_prompt();
    assert_eq!(c.actions(), ["play it/arrivederci"]);
    assert_eq!(c.var("pratica"), None);
}

#[test]
fn confirm_reads_back_then_1_stores_and_goes_on() {
    let mut c = collecting('2');
    c.keys("305#");
    assert_eq!(
        c.actions(),
        ["play it/sistema/ha-inserito it/num/3 it/num/0 it/num/5 it/sistema/conferma"]
    );
    // Not stored until confirmed.
    assert_eq!(c.var("pratica"), None);
    c.finish_prompt();
    assert_eq!(c.poll_timeout_ms(), Some(5000));
    c.key('1');
    assert_eq!(c.actions(), ["play it/numero it/num/3 it/num/0 it/num/5"]);
    assert_eq!(c.var("pratica"), Some("305"));
    assert_eq!(
        c.stats(),
        st(&[("conferma", Stat::Completed), ("leggi", Stat::Entered)])
    );
    assert_eq!(
        c.path(),
        [("main", "2"), ("conferma", "305#1"), ("leggi", "")]
    );
}

#[test]
fn confirm_2_asks_again() {
    let mut c = collecting('2');
    c.keys("999#");
    c.actions();
    c.key('2');
    assert_eq!(c.actions(), ["stop", "play it/pratica"]);
    assert_eq!(c.var("pratica"), None);
    c.finish_prompt();
    c.keys("4711#");
    assert_eq!(
        c.actions(),
        ["play it/sistema/ha-inserito it/num/4 it/num/7 it/num/1 it/num/1 it/sistema/conferma"]
    );
    c.finish_prompt();
    c.key('1');
    assert_eq!(
        c.actions(),
        ["play it/numero it/num/4 it/num/7 it/num/1 it/num/1"]
    );
    assert_eq!(c.var("pratica"), Some("4711"));
    assert_eq!(
        c.stats(),
        st(&[("conferma", Stat::Completed), ("leggi", Stat::Entered)])
    );
}

#[test]
fn a_wrong_or_missing_answer_to_confirm_asks_again_within_the_budget() {
    let mut c = collecting('2');
    c.keys("123#");
    c.finish_prompt();
    c.actions();
    c.key('7');
    assert_eq!(c.actions(), ["play it/invalido it/sistema/conferma"]);
    assert_eq!(c.stats(), st(&[("conferma", Stat::Invalid)]));
    c.finish_prompt();
    // No answer: counted as invalid (the question was asked), and the budget of 2 is spent.
    c.advance(5000);
    assert_eq!(c.actions(), ["play it/invalido"]);
    assert_eq!(c.stats(), st(&[("conferma", Stat::Invalid)]));
    c.finish_prompt();
    // No exit anywhere: hang up, nothing stored.
    assert_eq!(c.actions(), ["hangup"]);
    assert_eq!(c.var("pratica"), None);
}
