//! "Callers ahead" announcements: entry, change, cadence, minimum interval, limit,
//! honesty of the number, estimated wait, and never delaying a connection.

use super::*;

/// Announcements only on change (no cadence), 20 s apart at least.
const CHANGE_ONLY: &str = "announce: {every_ms: 0, min_interval_ms: 20000}";

#[test]
fn a_first_announcement_always_happens_on_entry() {
    let mut h = H::new(&yaml(""));
    assert_eq!(announced(&h.join(1, "pensioni", 0)), vec![(1, 0)]);
    assert_eq!(announced(&h.join(2, "pensioni", 0)), vec![(2, 1)]);
    // Even when an operator is free at once (the Ring goes out first).
    let mut h = H::new(&yaml(""));
    h.login(&["a"]);
    let evs = h.join(1, "pensioni", 0);
    assert_eq!(evs[0], ring(1, "a"));
    assert_eq!(announced(&evs), vec![(1, 0)]);
}

#[test]
fn without_on_entry_the_first_announcement_comes_after_the_minimum_interval() {
    let mut h = H::new(&yaml("announce: {on_entry: false, min_interval_ms: 15000}"));
    assert!(h.join(1, "pensioni", 0).is_empty());
    assert!(h.advance(14_999).is_empty());
    assert_eq!(announced(&h.advance(1)), vec![(1, 0)]);
}

#[test]
fn changes_are_announced_no_more_often_than_the_minimum_interval() {
    let mut h = H::new(&yaml(CHANGE_ONLY));
    for c in 1..=4 {
        h.join(c, "pensioni", 0);
    }
    h.advance(5_000);
    h.acd.caller_left(h.now, CallId(1)).unwrap();
    assert!(announced(&h.drain()).is_empty(), "too soon after entry");
    h.advance(5_000);
    h.acd.caller_left(h.now, CallId(2)).unwrap();
    assert!(announced(&h.drain()).is_empty());
    // The pending change is said once the interval since entry has passed.
    let evs = h.advance(10_000);
    assert_eq!(announced(&evs), vec![(3, 0), (4, 1)]);
    // No change, no cadence: silence.
    assert!(h.advance(120_000).is_empty());
    // A change long after the last announcement is said at once.
    h.acd.caller_left(h.now, CallId(3)).unwrap();
    assert_eq!(announced(&h.drain()), vec![(4, 0)]);
}

#[test]
fn a_change_that_reverts_before_the_interval_is_not_announced() {
    let mut h = H::new(&yaml(CHANGE_ONLY));
    h.join(1, "pensioni", 0);
    h.join(2, "pensioni", 0);
    h.advance(5_000);
    h.acd.caller_left(h.now, CallId(1)).unwrap();
    h.join(3, "pensioni", 9); // a real worsening brings call 2 back to 1 ahead
    h.drain();
    assert!(announced(&h.advance(60_000)).is_empty());
}

#[test]
fn cadence_repeats_the_number_since_the_last_announcement() {
    let mut h = H::new(&yaml("announce: {every_ms: 60000, min_interval_ms: 20000}"));
    h.join(1, "pensioni", 0);
    h.join(2, "pensioni", 0);
    assert!(announced(&h.advance(59_999)).is_empty());
    assert_eq!(announced(&h.advance(1)), vec![(1, 0), (2, 1)]);
    // A change resets the cadence for that caller.
    h.advance(30_000);
    h.acd.caller_left(h.now, CallId(1)).unwrap();
    assert_eq!(announced(&h.drain()), vec![(2, 0)]);
    assert!(announced(&h.advance(59_999)).is_empty());
    assert_eq!(announced(&h.advance(1)), vec![(2, 0)]);
}

#[test]
fn cadence_never_goes_below_the_minimum_interval() {
    let mut h = H::new(&yaml("announce: {every_ms: 5000, min_interval_ms: 20000}"));
    h.join(1, "pensioni", 0);
    assert!(announced(&h.advance(19_999)).is_empty());
    assert_eq!(announced(&h.advance(1)), vec![(1, 0)]);
}

#[test]
fn the_number_never_gets_worse_unless_the_queue_really_did() {
    let mut h = H::new(&yaml(CHANGE_ONLY));
    h.login(&["a"]);
    h.join(1, "pensioni", 0); // rings a
    assert_eq!(announced(&h.join(2, "pensioni", 0)), vec![(2, 1)]);
    // The caller ahead is being offered and the offer fails: call 2 stays at 1 ahead,
    // it never heard 0 and then 1 again.
    let evs = h.advance(60_000);
    assert!(announced(&evs).iter().all(|&(c, n)| c != 2 || n == 1));
    assert_eq!(h.ahead(2), Some(1));
    // A higher-priority caller really gets ahead: the worse number is said.
    h.acd.operator_logout(h.now, &op("a")).unwrap();
    h.drain();
    let evs = h.join(3, "pensioni", 5);
    assert_eq!(h.ahead(2), Some(2));
    assert!(announced(&evs).contains(&(2, 2)));
}

#[test]
fn beyond_the_limit_the_phrase_is_more_than_and_changes_there_are_silent() {
    let mut h = H::new(&yaml(
        "announce: {every_ms: 0, min_interval_ms: 1000, limit: 3}",
    ));
    for c in 1..=6 {
        h.join(c, "pensioni", 0);
    }
    let last = h.join(7, "pensioni", 0);
    assert_eq!(
        last,
        vec![Event::Announce {
            call: CallId(7),
            ahead: 6,
            limit: 3,
            limit_exceeded: true,
            estimated_wait_min: None
        }]
    );
    h.advance(2_000);
    // 6 -> 5 -> 4 ahead: still "più di 3", nothing new to say.
    h.acd.caller_left(h.now, CallId(1)).unwrap();
    h.acd.caller_left(h.now, CallId(2)).unwrap();
    assert!(!announced(&h.drain()).iter().any(|&(c, _)| c == 7));
    // 3 ahead is a new phrase.
    h.acd.caller_left(h.now, CallId(3)).unwrap();
    let evs = h.drain();
    let seven: Vec<_> = evs.iter().filter(|e| e.call() == CallId(7)).collect();
    assert!(matches!(
        seven[..],
        [Event::Announce {
            ahead: 3,
            limit_exceeded: false,
            ..
        }]
    ));
}

/// Completes `n` calls of `talk_ms` each through operator a (wrap-up 0).
fn history(h: &mut H, n: u64, talk_ms: u64) {
    for i in 0..n {
        let call = 1000 + i;
        h.join(call, "pensioni", 0);
        h.answer("a", call);
        h.advance(talk_ms);
        h.complete("a");
    }
}

fn estimate(evs: &[Event], call: u64) -> Option<u32> {
    evs.iter()
        .find_map(|e| match e {
            Event::Announce {
                call: c,
                estimated_wait_min,
                ..
            } if c.0 == call => Some(*estimated_wait_min),
            _ => None,
        })
        .expect("announced")
}

#[test]
fn estimated_wait_needs_enough_completed_calls() {
    let mut h = H::new(&yaml("wrapup_ms: 0"));
    h.login(&["a"]);
    history(&mut h, 4, 120_000);
    h.join(1, "pensioni", 0);
    h.answer("a", 1); // a is busy from now on
    assert_eq!(estimate(&h.join(2, "pensioni", 0), 2), None, "4 samples");
    h.advance(120_000);
    h.complete("a"); // fifth sample; call 2 now rings a
    h.answer("a", 2);
    // 5 × 2 min, one operator: (ahead + 1) × 2 min.
    assert_eq!(estimate(&h.join(3, "pensioni", 0), 3), Some(2));
    assert_eq!(estimate(&h.join(4, "pensioni", 0), 4), Some(4));
}

#[test]
fn estimated_wait_rounds_to_whole_minutes_and_counts_operators_serving() {
    // Average 150 s (wrap-up counts toward handling time): 2.5 min -> 3.
    let mut h = H::new(&yaml("wrapup_ms: 30000"));
    h.login(&["a"]);
    for i in 0..5 {
        h.join(100 + i, "pensioni", 0);
        h.answer("a", 100 + i);
        h.advance(120_000);
        h.complete("a");
        h.advance(30_000);
    }
    h.join(1, "pensioni", 0);
    h.answer("a", 1);
    assert_eq!(estimate(&h.join(2, "pensioni", 0), 2), Some(3));
    // Two serving: 150 s / 2 = 75 s -> 1.
    h.login(&["b"]);
    h.answer("b", 2);
    assert_eq!(estimate(&h.join(3, "pensioni", 0), 3), Some(1));
    // b finishes (another 150 s sample) and goes on a break: one serving again.
    h.advance(120_000);
    h.complete("b");
    h.acd.operator_pause(h.now, &op("b"), "pausa").unwrap();
    assert_eq!(h.ahead(3), Some(0));
    // Call 4 has one caller ahead: 2 × 150 s = 5 min.
    assert_eq!(estimate(&h.join(4, "pensioni", 0), 4), Some(5));
}

#[test]
fn no_estimate_without_an_operator_logged_in() {
    let mut h = H::new(&yaml("wrapup_ms: 0"));
    h.login(&["a"]);
    history(&mut h, 5, 60_000);
    h.acd.operator_logout(h.now, &op("a")).unwrap();
    assert_eq!(estimate(&h.join(1, "pensioni", 0), 1), None);
}

#[test]
fn estimate_uses_only_the_recent_window() {
    let mut h = H::new(&yaml(
        "wrapup_ms: 0\nestimated_wait: {window: 5, min_samples: 5}",
    ));
    h.login(&["a"]);
    history(&mut h, 5, 600_000); // old, slow calls
    history(&mut h, 5, 60_000);
    h.join(1, "pensioni", 0);
    h.answer("a", 1);
    assert_eq!(estimate(&h.join(2, "pensioni", 0), 2), Some(1));
}

#[test]
fn an_answer_is_never_held_back_by_an_announcement() {
    // The cadence announcement for call 1 is due and not yet drained when a answers.
    let mut h = H::new(&yaml("ring_timeout_ms: 120000"));
    h.login(&["a"]);
    h.join(1, "pensioni", 0);
    let at = h.acd.poll_timeout().unwrap();
    h.now = at; // 60 s: cadence announcement due
    h.acd.handle_timeout(h.now);
    h.acd.operator_answered(h.now, &op("a"), CallId(1)).unwrap();
    let evs = h.drain();
    assert_eq!(
        evs,
        vec![connect(1, "a")],
        "the stale announcement is dropped"
    );
    // And nothing more is announced to a connected caller.
    assert!(announced(&h.advance(600_000)).is_empty());
}

#[test]
fn the_exit_flow_pauses_announcements() {
    let mut h = H::new(&yaml(""));
    h.join(1, "pensioni", 0);
    h.acd.caller_requested_exit(h.now, CallId(1), '1').unwrap();
    h.drain();
    assert!(h.advance(300_000).is_empty());
    h.acd.caller_exit_cancelled(h.now, CallId(1)).unwrap();
    // Back on hold after a long while: the number at once.
    assert_eq!(announced(&h.drain()), vec![(1, 0)]);
}
