//! Ring outcomes, operator states, join rules, overflow, abandon, transfer, exit key.

use super::*;

#[test]
fn ring_timeout_then_the_next_operator_after_the_retry_delay() {
    let mut h = H::new(&yaml(""));
    h.login(&["a", "b"]);
    assert_eq!(actions(&h.join(1, "pensioni", 0)), vec![ring(1, "a")]);
    assert!(actions(&h.advance(14_999)).is_empty());
    assert_eq!(actions(&h.advance(1)), vec![stop(1, "a")]);
    assert_eq!(h.state("a"), OperatorState::Available);
    assert!(actions(&h.advance(4_999)).is_empty(), "retry delay");
    assert_eq!(
        actions(&h.advance(1)),
        vec![ring(1, "b")],
        "b was not tried yet"
    );
    assert_eq!(h.log_lines("no_answer")[0]["cause"], "timeout");
}

#[test]
fn a_caller_pausing_after_a_failed_offer_is_not_overtaken() {
    let mut h = H::new(&yaml(""));
    h.login(&["a"]);
    h.join(1, "pensioni", 0);
    h.join(2, "pensioni", 0);
    h.advance(15_000); // a did not answer call 1
    // During call 1's retry delay, a stays reserved for call 1.
    assert!(actions(&h.advance(4_999)).is_empty());
    assert_eq!(actions(&h.advance(1)), vec![ring(1, "a")]);
}

#[test]
fn no_answers_in_a_row_pause_the_operator_and_the_caller_keeps_their_place() {
    let mut h = H::new(&yaml("max_no_answer: 3"));
    h.login(&["a"]);
    h.join(1, "pensioni", 0);
    h.join(2, "pensioni", 0);
    let mut evs = Vec::new();
    for _ in 0..3 {
        evs.extend(h.advance(20_000)); // 15 s ringing + 5 s retry
    }
    let rung: Vec<_> = actions(&evs)
        .into_iter()
        .filter(|e| matches!(e, Event::Ring { .. }))
        .collect();
    assert_eq!(rung, vec![ring(1, "a"), ring(1, "a")], "only call 1 rings");
    assert_eq!(
        h.state("a"),
        OperatorState::Paused {
            reason: "no answer".into()
        }
    );
    assert_eq!(h.ahead(1), Some(0), "still first");
    assert_eq!(h.ahead(2), Some(1));
    let paused = h.log_lines("operator_state");
    assert!(
        paused
            .iter()
            .any(|l| l["to"] == "paused" && l["reason"] == "no answer")
    );
    // Resuming restarts the streak; the first caller is offered first.
    h.acd.operator_resume(h.now, &op("a")).unwrap();
    assert_eq!(actions(&h.drain()), vec![ring(1, "a")]);
    assert_eq!(
        h.acd.store().operator(&op("a")).unwrap().no_answer_streak,
        0
    );
}

#[test]
fn an_answer_resets_the_no_answer_streak() {
    let mut h = H::new(&yaml("max_no_answer: 2\nretry_ms: 0"));
    h.login(&["a"]);
    h.join(1, "pensioni", 0);
    h.advance(15_000);
    h.answer("a", 1);
    assert_eq!(
        h.acd.store().operator(&op("a")).unwrap().no_answer_streak,
        0
    );
}

#[test]
fn driver_reported_no_answer_and_busy_count_like_a_timeout() {
    let mut h = H::new(&yaml("max_no_answer: 2"));
    h.login(&["a", "b"]);
    h.join(1, "pensioni", 0);
    h.acd
        .operator_no_answer(h.now, &op("a"), CallId(1))
        .unwrap();
    assert!(actions(&h.drain()).is_empty(), "the phone already stopped");
    h.advance(5_000);
    h.acd
        .operator_busy_or_unreachable(h.now, &op("b"), CallId(1))
        .unwrap();
    let causes: Vec<_> = h
        .log_lines("no_answer")
        .iter()
        .map(|l| l["cause"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(causes, ["no_answer", "busy_or_unreachable"]);
    assert_eq!(
        h.acd.operator_no_answer(h.now, &op("b"), CallId(1)),
        Err(AcdError::NotRinging {
            op: op("b"),
            call: CallId(1)
        })
    );
}

#[test]
fn wrap_up_then_available() {
    let mut h = H::new(&yaml("wrapup_ms: 10000"));
    h.login(&["a"]);
    h.join(1, "pensioni", 0);
    h.answer("a", 1);
    h.advance(60_000);
    h.complete("a");
    assert_eq!(h.state("a"), OperatorState::WrapUp);
    assert!(actions(&h.join(2, "pensioni", 0)).is_empty());
    assert!(actions(&h.advance(9_999)).is_empty());
    assert_eq!(actions(&h.advance(1)), vec![ring(2, "a")]);
    let done = &h.log_lines("completed")[0];
    assert_eq!(done["talk_ms"], 60_000);
    assert_eq!(done["by"], "operator");
}

#[test]
fn pause_or_logout_during_a_call_applies_after_wrap_up() {
    let mut h = H::new(&yaml("wrapup_ms: 5000"));
    h.login(&["a", "b"]);
    h.join(1, "pensioni", 0);
    h.answer("a", 1);
    h.acd
        .operator_pause(h.now, &op("a"), "pausa caffè")
        .unwrap();
    assert_eq!(h.state("a"), OperatorState::OnCall { call: CallId(1) });
    h.complete("a");
    h.advance(5_000);
    assert_eq!(
        h.state("a"),
        OperatorState::Paused {
            reason: "pausa caffè".into()
        }
    );
    h.join(2, "pensioni", 0);
    h.answer("b", 2);
    h.acd.operator_logout(h.now, &op("b")).unwrap();
    h.acd.caller_left(h.now, CallId(2)).unwrap(); // the caller hangs up
    assert_eq!(h.state("b"), OperatorState::WrapUp);
    h.advance(5_000);
    assert_eq!(h.state("b"), OperatorState::LoggedOut);
    assert_eq!(h.log_lines("completed")[1]["by"], "caller");
}

#[test]
fn operator_logs_out_while_ringing() {
    let mut h = H::new(&yaml(""));
    h.login(&["a", "b"]);
    h.join(1, "pensioni", 0);
    h.acd.operator_logout(h.now, &op("a")).unwrap();
    // Withdrawn without delay: b rings at once, no penalty for the caller.
    assert_eq!(actions(&h.drain()), vec![stop(1, "a"), ring(1, "b")]);
    assert_eq!(h.state("a"), OperatorState::LoggedOut);
    // With nobody else the caller just waits, still first.
    h.acd.operator_pause(h.now, &op("b"), "riunione").unwrap();
    assert_eq!(actions(&h.drain()), vec![stop(1, "b")]);
    assert_eq!(h.ahead(1), Some(0));
    assert_eq!(
        h.acd.store().operator(&op("b")).unwrap().no_answer_streak,
        0
    );
}

#[test]
fn positions_are_zero_based_and_priority_goes_first() {
    let mut h = H::new(&yaml(""));
    h.join(1, "pensioni", 0);
    h.advance(1_000);
    h.join(2, "pensioni", 0);
    h.advance(1_000);
    h.join(3, "pensioni", 5);
    h.advance(1_000);
    h.join(4, "pensioni", 5);
    h.join(5, "pensioni", -1);
    let ahead: Vec<_> = (1..=5).map(|c| h.ahead(c).unwrap()).collect();
    assert_eq!(ahead, [2, 3, 0, 1, 4]);
    assert_eq!(
        h.acd.waiting(&q("pensioni")),
        [3, 4, 1, 2, 5].map(CallId).to_vec()
    );
    // An operator takes the head: the highest priority that waited longest.
    assert_eq!(actions(&h.login(&["a"])), vec![ring(3, "a")]);
}

#[test]
fn max_wait_sends_the_caller_to_overflow() {
    let mut h = H::new(&yaml(
        "max_wait_ms: 600000\noverflow: {max_wait: ticket-pensioni}",
    ));
    h.join(1, "pensioni", 0);
    h.advance(60_000);
    h.join(2, "pensioni", 0);
    let evs = actions(&h.advance(540_000));
    assert_eq!(
        evs,
        vec![Event::Overflow {
            call: CallId(1),
            queue: q("pensioni"),
            target_node: "ticket-pensioni".into(),
            reason: OverflowReason::MaxWait
        }]
    );
    assert_eq!(h.ahead(1), None);
    assert_eq!(h.ahead(2), Some(0));
    assert_eq!(h.log_lines("overflow")[0]["wait_ms"], 600_000);
}

#[test]
fn max_wait_during_a_ring_waits_for_the_ring_to_end() {
    let mut h = H::new(&yaml(
        "max_wait_ms: 20000\noverflow: {max_wait: ticket-pensioni}",
    ));
    h.join(1, "pensioni", 0);
    h.advance(10_000);
    assert_eq!(actions(&h.login(&["a"])), vec![ring(1, "a")]);
    h.advance(14_000);
    // 20 s passed while a rings: the ring is not cut ...
    assert_eq!(h.state("a"), OperatorState::Ringing { call: CallId(1) });
    // ... and when it times out the caller overflows instead of retrying.
    let evs = actions(&h.advance(1_000));
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0], stop(1, "a"));
    assert!(matches!(
        evs[1],
        Event::Overflow {
            reason: OverflowReason::MaxWait,
            ..
        }
    ));
    // An answer in time connects normally.
    assert_eq!(actions(&h.join(2, "pensioni", 0)), vec![ring(2, "a")]);
    h.advance(14_000);
    let evs = h.answer("a", 2);
    assert_eq!(evs, vec![connect(2, "a")]);
    assert!(actions(&h.advance(100_000)).is_empty());
}

#[test]
fn max_length_sends_new_callers_to_overflow() {
    let mut h = H::new(&yaml("max_len: 2\noverflow: {max_len: ticket-pensioni}"));
    h.join(1, "pensioni", 0);
    h.join(2, "pensioni", 0);
    let evs = actions(&h.join(3, "pensioni", 0));
    assert_eq!(
        evs,
        vec![Event::Overflow {
            call: CallId(3),
            queue: q("pensioni"),
            target_node: "ticket-pensioni".into(),
            reason: OverflowReason::MaxLen
        }]
    );
    assert_eq!(h.acd.store().len(&q("pensioni")), 2);
    // A refused caller is not known to the engine: their call id is free again.
    assert_eq!(h.ahead(3), None);
    h.acd.caller_left(h.now, CallId(1)).unwrap();
    assert!(actions(&h.join(3, "pensioni", 0)).is_empty());
}

#[test]
fn join_when_nobody_is_logged_in_refuses_or_queues_as_configured() {
    let mut h = H::new(&yaml("join_when_empty: false\noverflow: {empty: chiuso}"));
    let evs = actions(&h.join(1, "pensioni", 0));
    assert_eq!(
        evs,
        vec![Event::Overflow {
            call: CallId(1),
            queue: q("pensioni"),
            target_node: "chiuso".into(),
            reason: OverflowReason::Empty
        }]
    );
    // Logged in but on a break still counts as present.
    h.login(&["a"]);
    h.acd.operator_pause(h.now, &op("a"), "pausa").unwrap();
    assert!(actions(&h.join(2, "pensioni", 0)).is_empty());
    assert_eq!(h.ahead(2), Some(0));

    let mut h = H::new(&yaml("join_when_empty: true"));
    let evs = h.join(1, "pensioni", 0);
    assert_eq!(actions(&evs), vec![]);
    assert_eq!(announced(&evs), vec![(1, 0)]);
    assert_eq!(h.ahead(1), Some(0));
}

#[test]
fn caller_abandons_while_waiting_and_while_ringing() {
    let mut h = H::new(&yaml(""));
    h.join(1, "pensioni", 0);
    h.join(2, "pensioni", 0);
    h.join(3, "pensioni", 0);
    h.advance(30_000);
    h.acd.caller_left(h.now, CallId(2)).unwrap();
    assert_eq!(h.ahead(3), Some(1));
    let ab = &h.log_lines("abandoned")[0];
    assert_eq!(ab["ahead"], 1);
    assert_eq!(ab["wait_ms"], 30_000);

    h.login(&["a"]);
    h.acd.caller_left(h.now, CallId(1)).unwrap();
    let evs = actions(&h.drain());
    assert_eq!(
        evs,
        vec![stop(1, "a"), ring(3, "a")],
        "ringing stopped, next caller"
    );
}

#[test]
fn transfer_keeps_the_waited_time() {
    let mut h = H::new("queues:\n  pensioni:\n    members: [a]\n  reddito:\n    members: [b]\n");
    h.join(1, "pensioni", 0);
    h.advance(10_000);
    h.join(2, "reddito", 0);
    h.advance(10_000);
    h.acd.transfer(h.now, CallId(1), &q("reddito")).unwrap();
    h.drain();
    // Call 1 joined first, so it goes ahead of call 2 in the new queue.
    assert_eq!(h.ahead(1), Some(0));
    assert_eq!(h.ahead(2), Some(1));
    let t = &h.log_lines("transferred")[0];
    assert_eq!(
        (t["queue"].as_str(), t["to_queue"].as_str()),
        (Some("pensioni"), Some("reddito"))
    );
    assert_eq!(t["wait_ms"], 20_000);
    let joined = h.log_lines("joined");
    assert_eq!(joined[2]["transferred_from"], "pensioni");
    assert_eq!(joined[2]["wait_ms"], 20_000);
    // Connected later: the wait counts from the first join.
    h.login(&["b"]);
    h.answer("b", 1);
    assert_eq!(h.log_lines("connected")[0]["wait_ms"], 20_000);
}

#[test]
fn transfer_from_an_operator_ends_their_call_and_requeues_the_caller() {
    let mut h = H::new("queues:\n  pensioni:\n    members: [a]\n  reddito:\n    members: [b]\n");
    h.login(&["a"]);
    h.join(1, "pensioni", 3);
    h.advance(5_000);
    h.answer("a", 1);
    h.advance(60_000);
    h.acd.transfer(h.now, CallId(1), &q("reddito")).unwrap();
    assert_eq!(h.state("a"), OperatorState::WrapUp);
    assert_eq!(h.acd.queue_of(CallId(1)), Some(&q("reddito")));
    assert_eq!(h.log_lines("completed")[0]["by"], "transfer");
    // Priority travels along.
    h.join(2, "reddito", 0);
    assert_eq!(h.ahead(1), Some(0));
}

#[test]
fn exit_key_keeps_the_place_until_confirmed() {
    let mut h = H::new(&yaml("keys: {exit: '1', exit_node: ticket-pensioni}"));
    h.join(1, "pensioni", 0);
    h.join(2, "pensioni", 0);
    h.join(3, "pensioni", 0);
    assert_eq!(
        h.acd.caller_requested_exit(h.now, CallId(2), '5'),
        Ok(false)
    );
    assert_eq!(h.acd.caller_requested_exit(h.now, CallId(2), '1'), Ok(true));
    assert_eq!(
        h.drain(),
        vec![Event::ExitRequested {
            call: CallId(2),
            key: '1',
            target_node: Some("ticket-pensioni".into())
        }]
    );
    assert_eq!(h.ahead(2), Some(1));
    assert_eq!(h.ahead(3), Some(2));
    // Backing out keeps the place.
    h.acd.caller_exit_cancelled(h.now, CallId(2)).unwrap();
    assert_eq!(h.ahead(2), Some(1));
    // Confirming removes the caller; the one behind moves up.
    h.acd.caller_requested_exit(h.now, CallId(2), '1').unwrap();
    h.acd.caller_exit_confirmed(h.now, CallId(2)).unwrap();
    assert_eq!(h.ahead(2), None);
    assert_eq!(h.ahead(3), Some(1));
    assert_eq!(h.log_lines("exit_confirmed").len(), 1);
    assert_eq!(
        h.acd.caller_exit_confirmed(h.now, CallId(3)),
        Err(AcdError::NotWaiting(CallId(3)))
    );
}

#[test]
fn an_operator_answering_during_the_exit_flow_wins() {
    let mut h = H::new(&yaml(""));
    h.join(1, "pensioni", 0);
    h.acd.caller_requested_exit(h.now, CallId(1), '1').unwrap();
    h.drain();
    assert_eq!(actions(&h.login(&["a"])), vec![ring(1, "a")]);
    assert_eq!(h.answer("a", 1), vec![connect(1, "a")]);
    assert_eq!(
        h.acd.caller_exit_confirmed(h.now, CallId(1)),
        Err(AcdError::NotWaiting(CallId(1)))
    );
}

#[test]
fn max_wait_during_the_exit_flow_waits_for_the_outcome() {
    let mut h = H::new(&yaml("max_wait_ms: 60000\noverflow: {max_wait: ticket}"));
    h.join(1, "pensioni", 0);
    h.advance(50_000);
    h.acd.caller_requested_exit(h.now, CallId(1), '1').unwrap();
    h.drain();
    assert!(h.advance(30_000).is_empty(), "no overflow, no announcement");
    h.acd.caller_exit_cancelled(h.now, CallId(1)).unwrap();
    assert!(matches!(
        actions(&h.drain())[..],
        [Event::Overflow {
            reason: OverflowReason::MaxWait,
            ..
        }]
    ));
}
