//! The caller hanging up, and the path's timings in virtual time.

use super::menu::MENU;
use super::*;

#[test]
fn a_caller_hanging_up_is_counted_where_they_were() {
    let mut c = Call::new(MENU);
    c.finish_prompt();
    c.advance(1500);
    c.key('2');
    c.stats();
    c.hangup();
    assert_eq!(c.stats(), st(&[("sub", Stat::HungUp)]));
    assert_eq!(c.actions(), ["play it/menu", "play it/sub"]);
    // Nothing more happens: no timer, keys and prompt ends are ignored.
    assert_eq!(c.poll_timeout_ms(), None);
    c.finish_prompt();
    c.key('1');
    c.advance(60_000);
    assert_eq!(c.actions(), Vec::<String>::new());
    assert_eq!(c.stats(), Vec::new());
}

#[test]
fn hanging_up_while_a_menu_waits_for_a_key() {
    let mut c = Call::new(MENU);
    c.finish_prompt();
    c.advance(1000);
    c.stats();
    c.hangup();
    assert_eq!(c.stats(), st(&[("main", Stat::HungUp)]));
    assert_eq!(c.poll_timeout_ms(), None);
}

#[test]
fn a_hangup_is_counted_once() {
    let mut c = Call::new(MENU);
    c.stats();
    c.hangup();
    c.hangup();
    assert_eq!(c.stats(), st(&[("main", Stat::HungUp)]));
}

#[test]
fn no_hangup_is_counted_after_the_menu_ended_the_call() {
    // The daemon hung up (goodbye played): the end of the call that follows is not a
    // caller dropping off at `bye`.
    let mut c = Call::new(MENU);
    c.key('3');
    c.finish_prompt();
    assert_eq!(
        c.actions(),
        ["play it/menu", "stop", "play it/arrivederci", "hangup"]
    );
    c.stats();
    c.hangup();
    assert_eq!(c.stats(), Vec::new());
}

#[test]
fn path_steps_carry_the_virtual_time_they_were_entered() {
    let mut c = Call::new(MENU);
    c.advance(7000); // a long greeting: no timer runs while it plays
    c.finish_prompt();
    c.advance(2500);
    c.key('1'); // info at 9.5 s
    c.advance(3000);
    c.finish_prompt(); // main again at 12.5 s
    c.finish_prompt();
    c.advance(4000); // timeout at 16.5 s
    c.finish_prompt();
    c.advance(1000);
    c.key('2'); // sub at 17.5 s … its prompt heard, then at 20 s back to main
    c.finish_prompt();
    c.advance(2500);
    c.key('#');
    assert_eq!(
        c.path_times(),
        [
            ("main", 0),
            ("info", 9500),
            ("main", 12_500),
            ("sub", 17_500),
            ("main", 20_000),
        ]
    );
    assert_eq!(
        c.path(),
        [
            ("main", "1"),
            ("info", ""),
            ("main", "2"),
            ("sub", "#"),
            ("main", "")
        ]
    );
    assert_eq!(
        c.actions(),
        [
            "play it/menu",
            "play it/info",
            "play it/menu-breve",
            "play it/timeout it/menu-breve",
            "play it/sub",
            "play it/menu-breve",
        ]
    );
}

#[test]
fn starting_twice_changes_nothing() {
    let t0 = Instant::now();
    let mut i = Interp::new(Arc::new(tree(MENU)), ctx(monday_morning()));
    assert_eq!(i.poll_action(), None);
    i.start(t0);
    i.start(t0 + Duration::from_secs(1));
    assert_eq!(
        i.poll_action(),
        Some(Action::Play {
            prompts: vec!["it/menu".into()],
            token: 1
        })
    );
    assert_eq!(i.poll_action(), None);
    assert_eq!(i.path().len(), 1);
}

#[test]
fn an_early_timeout_call_does_nothing() {
    let mut c = Call::new(MENU);
    c.finish_prompt();
    c.actions();
    // The driver may wake early; only the deadline counts.
    let deadline = c.interp.poll_timeout().unwrap();
    c.interp.handle_timeout(deadline - Duration::from_millis(1));
    c.drain();
    assert_eq!(c.actions(), Vec::<String>::new());
    assert_eq!(c.interp.poll_timeout(), Some(deadline));
}
