//! The queue event log: every line valid JSON with the common fields and the numbers of
//! its event.

use super::*;
use serde_json::Value;

#[test]
fn every_line_is_json_with_timestamp_queue_call_and_operator() {
    let mut h = H::new(&yaml("wrapup_ms: 2000"));
    h.advance(1_000);
    h.login(&["a"]);
    h.join(7, "pensioni", 2);
    h.advance(3_000);
    h.answer("a", 7);
    h.advance(90_000);
    h.complete("a");
    h.advance(2_000);
    h.join(8, "pensioni", 0);
    h.advance(1_000);
    h.acd.caller_left(h.now, CallId(8)).unwrap();
    h.drain();
    let lines: Vec<Value> = h
        .logs
        .iter()
        .map(|l| {
            assert!(!l.contains('\n'), "one line each: {l}");
            serde_json::from_str(l).expect("valid JSON")
        })
        .collect();
    for l in &lines {
        for key in ["ts", "event", "queue", "call", "op"] {
            assert!(l.get(key).is_some(), "{key} missing in {l}");
        }
        assert!(l["ts"].as_u64().unwrap() >= EPOCH_MS);
    }
    let events: Vec<&str> = lines.iter().map(|l| l["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "operator_state", // a: logged_out -> available
            "joined",
            "operator_state", // a: available -> ringing
            "ring",
            "announced",
            "operator_state", // a: ringing -> on_call
            "connected",
            "completed",
            "operator_state", // a: on_call -> wrap_up
            "operator_state", // a: wrap_up -> available
            "joined",
            "operator_state", // a: available -> ringing (call 8)
            "ring",
            "announced",
            "operator_state", // a: ringing -> available
            "abandoned",
        ]
    );
    let joined = &lines[1];
    assert_eq!(joined["ts"], EPOCH_MS + 1_000);
    assert_eq!(joined["queue"], "pensioni");
    assert_eq!(joined["call"], 7);
    assert_eq!(joined["op"], Value::Null);
    assert_eq!(
        (joined["ahead"].as_u64(), joined["priority"].as_i64()),
        (Some(0), Some(2))
    );
    let ring = &lines[3];
    assert_eq!(
        (ring["op"].as_str(), ring["timeout_ms"].as_u64()),
        (Some("a"), Some(15_000))
    );
    let connected = &lines[6];
    assert_eq!(connected["ts"], EPOCH_MS + 4_000);
    assert_eq!(
        (connected["wait_ms"].as_u64(), connected["ring_ms"].as_u64()),
        (Some(3_000), Some(3_000))
    );
    let completed = &lines[7];
    assert_eq!(
        (completed["talk_ms"].as_u64(), completed["wait_ms"].as_u64()),
        (Some(90_000), Some(3_000))
    );
    let state = &lines[8];
    assert_eq!(
        (state["from"].as_str(), state["to"].as_str()),
        (Some("on_call"), Some("wrap_up"))
    );
    assert_eq!(state["call"], 7);
    let announced = &lines[4];
    assert_eq!(announced["ahead"], 0);
    assert_eq!(announced["limit_exceeded"], false);
    assert_eq!(announced["estimated_wait_min"], Value::Null);
    let abandoned = &lines[15];
    assert_eq!(
        (abandoned["wait_ms"].as_u64(), abandoned["ahead"].as_u64()),
        (Some(1_000), Some(0))
    );
}

#[test]
fn overflow_no_answer_pause_and_exit_lines_carry_their_numbers() {
    let mut h = H::new(&yaml(
        "max_no_answer: 1\nmax_wait_ms: 30000\noverflow: {max_wait: ticket}",
    ));
    h.login(&["a"]);
    h.join(1, "pensioni", 0);
    h.advance(15_000);
    h.acd.caller_requested_exit(h.now, CallId(1), '1').unwrap();
    h.acd.caller_exit_cancelled(h.now, CallId(1)).unwrap();
    h.advance(15_000);
    let na = &h.log_lines("no_answer")[0];
    assert_eq!(
        (
            na["op"].as_str(),
            na["ring_ms"].as_u64(),
            na["streak"].as_u64()
        ),
        (Some("a"), Some(15_000), Some(1))
    );
    let paused = h
        .log_lines("operator_state")
        .into_iter()
        .find(|l| l["to"] == "paused")
        .unwrap();
    assert_eq!(
        (paused["reason"].as_str(), paused["op"].as_str()),
        (Some("no answer"), Some("a"))
    );
    let ex = &h.log_lines("exit_requested")[0];
    assert_eq!(
        (ex["key"].as_str(), ex["wait_ms"].as_u64()),
        (Some("1"), Some(15_000))
    );
    assert_eq!(h.log_lines("exit_cancelled").len(), 1);
    let of = &h.log_lines("overflow")[0];
    assert_eq!(
        (
            of["reason"].as_str(),
            of["target"].as_str(),
            of["wait_ms"].as_u64()
        ),
        (Some("max_wait"), Some("ticket"), Some(30_000))
    );
}
