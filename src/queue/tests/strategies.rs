//! Each strategy offers the right operator; ring-all's first answer wins.

use super::*;

/// Queues `call` and connects it to whichever operator rings; returns that operator.
fn take(h: &mut H, call: u64) -> String {
    let evs = h.join(call, "pensioni", 0);
    let o = rung(&evs)
        .into_iter()
        .find(|(c, _)| *c == call)
        .map(|(_, o)| o)
        .unwrap_or_else(|| panic!("call {call} is not ringing: {evs:?}"));
    h.answer(&o, call);
    o
}

fn rung(evs: &[Event]) -> Vec<(u64, String)> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Ring { call, op } => Some((call.0, op.0.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn longest_idle_offers_the_operator_whose_last_call_ended_first() {
    let mut h = H::new(&yaml("wrapup_ms: 0"));
    h.login(&["a", "b", "c"]);
    // Nobody has had a call: member order.
    assert_eq!(rung(&h.join(1, "pensioni", 0)), vec![(1, "a".into())]);
    h.answer("a", 1);
    assert_eq!(rung(&h.join(2, "pensioni", 0)), vec![(2, "b".into())]);
    h.answer("b", 2);
    assert_eq!(rung(&h.join(3, "pensioni", 0)), vec![(3, "c".into())]);
    h.answer("c", 3);
    h.advance(10_000);
    h.complete("c");
    h.advance(10_000);
    h.complete("a");
    h.advance(10_000);
    h.complete("b");
    // c's call ended first (longest idle), then a, then b.
    assert_eq!(rung(&h.join(4, "pensioni", 0)), vec![(4, "c".into())]);
    assert_eq!(rung(&h.join(5, "pensioni", 0)), vec![(5, "a".into())]);
    assert_eq!(rung(&h.join(6, "pensioni", 0)), vec![(6, "b".into())]);
}

#[test]
fn round_robin_rotates_through_the_members() {
    let mut h = H::new(&yaml("strategy: round_robin\nwrapup_ms: 0"));
    h.login(&["a", "b", "c"]);
    let mut order = Vec::new();
    for call in 1..=5 {
        order.push(take(&mut h, call));
        h.advance(1_000);
        h.complete(&order[order.len() - 1].clone());
    }
    assert_eq!(order, ["a", "b", "c", "a", "b"]);
}

#[test]
fn round_robin_skips_busy_operators_and_resumes_after_the_last_rung() {
    let mut h = H::new(&yaml("strategy: round_robin\nwrapup_ms: 0"));
    h.login(&["a", "b", "c"]);
    assert_eq!(take(&mut h, 1), "a");
    assert_eq!(take(&mut h, 2), "b");
    h.complete("a");
    // After b comes c; a is free again but later in the rotation.
    assert_eq!(take(&mut h, 3), "c");
    assert_eq!(take(&mut h, 4), "a");
}

#[test]
fn fewest_calls_offers_the_operator_who_answered_least() {
    let mut h = H::new(&yaml("strategy: fewest_calls\nwrapup_ms: 0"));
    h.login(&["a", "b"]);
    for call in 1..=3 {
        let o = take(&mut h, call);
        h.advance(1_000);
        h.complete(&o);
    }
    // a: 2 calls (ties broken by idle time), b: 1.
    assert_eq!(h.acd.store().operator(&op("a")).unwrap().calls_taken, 2);
    assert_eq!(h.acd.store().operator(&op("b")).unwrap().calls_taken, 1);
    h.login(&["c"]);
    assert_eq!(take(&mut h, 4), "c");
    // c is busy: b (1 call) before a (2 calls).
    assert_eq!(take(&mut h, 5), "b");
}

#[test]
fn ring_all_rings_everyone_and_the_first_answer_wins() {
    let mut h = H::new(&yaml("strategy: ring_all"));
    h.login(&["a", "b", "c"]);
    h.acd.operator_pause(h.now, &op("c"), "pranzo").unwrap();
    let evs = h.join(1, "pensioni", 0);
    assert_eq!(
        rung(&evs),
        vec![(1, "a".into()), (1, "b".into())],
        "paused operators are not rung"
    );
    h.advance(2_000);
    let evs = h.answer("b", 1);
    assert_eq!(evs, vec![connect(1, "b"), stop(1, "a")]);
    assert_eq!(h.state("a"), OperatorState::Available);
    assert_eq!(h.state("b"), OperatorState::OnCall { call: CallId(1) });
    // A late answer from a is refused: the driver hangs that leg up.
    assert_eq!(
        h.acd.operator_answered(h.now, &op("a"), CallId(1)),
        Err(AcdError::NotRinging {
            op: op("a"),
            call: CallId(1)
        })
    );
    // The next caller rings only the free one.
    assert_eq!(rung(&h.join(2, "pensioni", 0)), vec![(2, "a".into())]);
}

#[test]
fn ring_all_timeout_stops_every_phone() {
    let mut h = H::new(&yaml("strategy: ring_all\nring_timeout_ms: 10000"));
    h.login(&["a", "b"]);
    h.join(1, "pensioni", 0);
    let evs = h.advance(10_000);
    assert_eq!(actions(&evs), vec![stop(1, "a"), stop(1, "b")]);
    // After the retry delay both ring again.
    let evs = h.advance(5_000);
    assert_eq!(actions(&evs), vec![ring(1, "a"), ring(1, "b")]);
}

#[test]
fn an_operator_in_two_queues_takes_the_caller_who_waited_longest() {
    let mut h = H::new("queues:\n  pensioni:\n    members: [a]\n  reddito:\n    members: [a]\n");
    h.join(1, "reddito", 0);
    h.advance(1_000);
    h.join(2, "pensioni", 0);
    let evs = h.login(&["a"]);
    assert_eq!(actions(&evs), vec![ring(1, "a")]);
}

#[test]
fn unregistered_phones_are_not_rung_and_registration_alone_does_not_log_in() {
    let mut h = H::new(&format!(
        "{}operators:\n  b: {{auto_login: true}}\n",
        yaml("")
    ));
    h.acd.operator_registered(h.now, &op("a")).unwrap();
    h.acd.operator_registered(h.now, &op("b")).unwrap();
    assert_eq!(h.state("a"), OperatorState::LoggedOut);
    assert_eq!(h.state("b"), OperatorState::Available, "auto_login");
    h.acd.operator_login(h.now, &op("c")).unwrap(); // logged in, phone not registered
    let evs = h.join(1, "pensioni", 0);
    assert_eq!(actions(&evs), vec![ring(1, "b")]);
    h.acd.operator_unregistered(h.now, &op("b")).unwrap();
    let evs = h.drain();
    assert_eq!(actions(&evs), vec![stop(1, "b")]);
    assert_eq!(
        h.state("b"),
        OperatorState::LoggedOut,
        "auto_login logs out too"
    );
}
