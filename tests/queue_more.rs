//! More of the contact-centre queue end to end with real peers (the harness is
//! `tests/common/centre.rs`, shared with `tests/queue.rs`): callers are literal SIP over
//! UDP with an RTP socket of the test, operators are baresip softphones.
//!
//! What is checked: the callers-ahead counts of three waiting callers (queue log and the
//! third caller's audio) and how they improve when the first one hangs up; an operator
//! who does not answer being skipped for another who does; an operator's blind transfer
//! (baresip's `transfer`, a REFER) of a connected caller to another queue, where the
//! caller is offered to that queue's operator.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

// This crate uses no sipp: the shared harness re-exports it all the same.
#[allow(unused_imports)]
mod common;

use common::centre::*;
use common::*;
use serde_json::{Value, json};
use std::thread;
use std::time::{Duration, Instant};

const OP1_PASSWORD: &str = "Rossi-2024!";
const OP2_PASSWORD: &str = "Bianchi-2024!";
/// op1's microphone (the harness default) and op2's: the caller can tell them apart.
const OP1_HZ: f64 = 440.0;
const OP2_HZ: f64 = 660.0;

/// The menu: straight into the queue `pensioni`; `bye` is the fallback.
const TREE: &str = "\
name: coda di prova
start: coda
nodes:
  coda:
    queue: {target: pensioni, fallback: bye}
  bye:
    hangup:
      prompts: [arrivederci]
";

fn op1(queues: &[&'static str], auto_login: bool) -> OperatorSpec {
    OperatorSpec {
        id: "op1",
        password: OP1_PASSWORD,
        queues: queues.to_vec(),
        auto_login,
    }
}

fn op2(queues: &[&'static str], auto_login: bool) -> OperatorSpec {
    OperatorSpec {
        id: "op2",
        password: OP2_PASSWORD,
        queues: queues.to_vec(),
        auto_login,
    }
}

/// Starts an operator's phone (auto_login: registering makes them available) and waits
/// for `operator_state … available` in the queue log.
fn start_available_operator(
    centre: &Centre,
    id: &str,
    password: &str,
    auto_answer: bool,
    tone_hz: f64,
) -> Baresip {
    let mut account = BaresipAccount::new(id, password, centre.daemon.sip);
    account.auto_answer = auto_answer;
    account.tone_hz = tone_hz;
    let phone = start_operator_as(centre, account, None);
    let available = centre.wait_log(Duration::from_secs(3), |v| {
        v["event"] == "operator_state" && v["op"] == id && v["to"] == "available"
    });
    assert!(
        available.is_some(),
        "auto_login: {id} registered but is not available; queue log:\n{}",
        centre.log_text()
    );
    phone
}

/// The queue-log line of `event` about `call`, waiting up to `limit`; panics with the
/// queue log without one.
fn must_log(centre: &Centre, limit: Duration, event: &str, call: &Value) -> Value {
    centre
        .wait_log(limit, |v| is(v, event, call))
        .unwrap_or_else(|| {
            panic!(
                "no `{event}` for call {call} within {limit:?}; queue log:\n{}",
                centre.log_text()
            )
        })
}

/// The `announced` lines about `call`, in order.
fn announcements(centre: &Centre, call: &Value) -> Vec<Value> {
    centre
        .log()
        .into_iter()
        .filter(|v| is(v, "announced", call))
        .collect()
}

/// Waits for an `announced` line about `call` with `ahead`.
fn wait_announced(centre: &Centre, limit: Duration, call: &Value, ahead: u64) -> Value {
    centre
        .wait_log(limit, |v| is(v, "announced", call) && v["ahead"] == ahead)
        .unwrap_or_else(|| {
            panic!(
                "no `announced` with ahead {ahead} for call {call} within {limit:?}; \
                 queue log:\n{}",
                centre.log_text()
            )
        })
}

/// Prompt fragments as the player plays them back to back: each one in whole 20 ms
/// frames, the last frame padded with silence.
fn phrase(ids: &[&str]) -> Vec<f32> {
    let mut out = Vec::new();
    for id in ids {
        out.extend(read_wav(&prompt_path(id)));
        out.resize(out.len().div_ceil(160) * 160, 0.0);
    }
    out
}

/// The audio the caller received between `from` and `to` (times since its media
/// started).
fn audio_between(packets: &[RtpPacket], from: Duration, to: Duration) -> Vec<f32> {
    let picked: Vec<RtpPacket> = packets
        .iter()
        .filter(|p| p.at >= from && p.at <= to)
        .cloned()
        .collect();
    decode(&picked)
}

/// Checks that `audio` is a tone at `hz` (±15 Hz), loud enough.
fn assert_tone(audio: &[f32], hz: f64, what: &str) {
    assert!(
        audio.len() >= 8000,
        "{what}: only {:.2} s of audio",
        audio.len() as f64 / 8000.0
    );
    let (got, level) = (dominant_hz(audio), rms(audio));
    eprintln!("{what}: {got} Hz at rms {level:.3}");
    assert!(level > 0.05, "{what}: (near) silence, rms {level:.4}");
    assert!((got - hz).abs() <= 15.0, "{what}: {got} Hz, not {hz} Hz");
}

#[test]
fn callers_ahead_counts_are_right_for_three_waiting_callers() {
    let centre = start_centre_spec(
        "queue-ahead",
        TREE,
        &[op1(&["pensioni"], false)],
        &[(
            "pensioni",
            "{announce: {min_interval_ms: 1000, every_ms: 60000}}",
        )],
    );
    // Nobody is logged in: the three callers wait, one after the other.
    let mut callers = Vec::new();
    let mut calls: Vec<Value> = Vec::new();
    for n in 0..3u64 {
        let (caller, media) = place_call(&centre);
        let call = centre.new_joined_call("pensioni", &calls);
        let joined = must_log(&centre, Duration::from_secs(1), "joined", &call);
        assert_eq!(
            joined["ahead"],
            n,
            "caller {} joined with the wrong count ahead: {joined}",
            n + 1
        );
        let announced = must_log(&centre, Duration::from_secs(3), "announced", &call);
        assert_eq!(
            announced["ahead"],
            n,
            "caller {} was told the wrong count ahead: {announced}",
            n + 1
        );
        callers.push((caller, media));
        calls.push(call);
    }
    // The third caller's phrase ("Ci sono due persone in attesa prima di Lei") plays out.
    let two_ahead = phrase(&["coda/ci-sono", "num/2", "coda/persone-in-attesa"]);
    thread::sleep(Duration::from_millis(
        (two_ahead.len() as u64 * 1000 / 8000) + 500,
    ));
    for (i, call) in calls.iter().enumerate() {
        let events = centre.events_of(call);
        assert!(
            !events.iter().any(|e| e != "joined" && e != "announced"),
            "caller {} did more than wait: {events:?}",
            i + 1
        );
    }

    // The first caller hangs up while waiting.
    let (mut first, first_media) = callers.remove(0);
    let bye = first.transaction("BYE", None);
    assert_eq!(bye.status(), Some(200), "first caller's BYE:\n{}", bye.raw);
    drop(first_media);
    let abandoned = must_log(&centre, Duration::from_secs(3), "abandoned", &calls[0]);
    eprintln!("abandoned: {abandoned}");
    // The others move up: told so no sooner than min_interval_ms (1 s) after their
    // previous announcement, which is long past.
    let second = wait_announced(&centre, Duration::from_secs(4), &calls[1], 0);
    let third = wait_announced(&centre, Duration::from_secs(4), &calls[2], 1);
    eprintln!("second: {second}\nthird: {third}");
    let log = centre.log();
    let at = |pred: &dyn Fn(&Value) -> bool| log.iter().position(pred);
    let abandoned_at = at(&|v| is(v, "abandoned", &calls[0]));
    assert!(
        abandoned_at < at(&|v| v == &second) && abandoned_at < at(&|v| v == &third),
        "the new positions were announced before the first caller left:\n{}",
        centre.log_text()
    );
    for (i, call) in calls.iter().enumerate().skip(1) {
        let said: Vec<Value> = announcements(&centre, call)
            .iter()
            .map(|v| v["ahead"].clone())
            .collect();
        eprintln!("caller {} was told {said:?}", i + 1);
        assert_eq!(
            said,
            vec![json!(i), json!(i - 1)],
            "caller {}'s announcements",
            i + 1
        );
    }

    // Let the new phrases play out (the longer is "C'è una persona…", 2.6 s), then the
    // two remaining callers hang up.
    let one_ahead = phrase(&["coda/ce-una-persona"]);
    let next = phrase(&["coda/lei-e-il-prossimo"]);
    thread::sleep(Duration::from_millis(
        one_ahead.len().max(next.len()) as u64 * 1000 / 8000 + 600,
    ));
    let (mut second_caller, second_media) = callers.remove(0);
    let (mut third_caller, third_media) = callers.remove(0);
    for (caller, name) in [(&mut second_caller, "second"), (&mut third_caller, "third")] {
        assert!(
            caller.requests_seen().is_empty(),
            "the daemon sent the {name} caller {:?}",
            caller.requests_seen()
        );
        let bye = caller.transaction("BYE", None);
        assert_eq!(bye.status(), Some(200), "{name} caller's BYE:\n{}", bye.raw);
    }
    let second_audio = decode(&second_media.finish());
    let third_audio = decode(&third_media.finish());
    for call in &calls[1..] {
        must_log(&centre, Duration::from_secs(3), "abandoned", call);
    }

    // What they heard: the third caller "Ci sono" + "due" + "persone in attesa prima di
    // Lei", then "C'è una persona in attesa prima di Lei"; the second "C'è una persona…",
    // then "Lei è il prossimo".
    let checks = [
        (
            "third",
            &third_audio,
            two_ahead,
            "ci-sono + num/2 + persone-in-attesa",
        ),
        (
            "third",
            &third_audio,
            one_ahead.clone(),
            "coda/ce-una-persona",
        ),
        ("second", &second_audio, one_ahead, "coda/ce-una-persona"),
        ("second", &second_audio, next, "coda/lei-e-il-prossimo"),
    ];
    for (who, audio, expected, name) in checks {
        let s = similarity(audio, &expected);
        eprintln!(
            "{who} caller: {:.2} s of audio; correlation with {name} ({:.2} s) {s:.3}",
            audio.len() as f64 / 8000.0,
            expected.len() as f64 / 8000.0
        );
        assert!(
            s > 0.8,
            "the {who} caller did not hear {name} (correlation {s:.3})"
        );
    }
}

#[test]
fn an_operator_who_does_not_answer_is_skipped_and_the_caller_re_offered() {
    let centre = start_centre_spec(
        "queue-skip",
        TREE,
        // Member order: op1 then op2. Neither has had a call, so longest_idle offers op1
        // first (ties go in member order).
        &[op1(&["pensioni"], true), op2(&["pensioni"], true)],
        &[(
            "pensioni",
            "{strategy: longest_idle, ring_timeout_ms: 2000, retry_ms: 500, max_no_answer: 1}",
        )],
    );
    // op1 answers by hand and never does; op2 answers at once.
    let mut phone1 = start_available_operator(&centre, "op1", OP1_PASSWORD, false, OP1_HZ);
    let mut phone2 = start_available_operator(&centre, "op2", OP2_PASSWORD, true, OP2_HZ);

    let (mut caller, media) = place_call(&centre);
    let call = centre.joined_call("pensioni");
    let first_ring = must_log(&centre, Duration::from_secs(3), "ring", &call);
    assert_eq!(
        first_ring["op"], "op1",
        "longest_idle with two never-called operators did not offer the first member: \
         {first_ring}"
    );
    assert!(
        phone1
            .wait_event("CALL_INCOMING", Duration::from_secs(3))
            .is_some(),
        "op1's phone did not ring; events: {:?}; queue log:\n{}",
        phone1.event_types(),
        centre.log_text()
    );
    let rang_at = Instant::now();
    assert!(
        phone1
            .wait_event("CALL_CLOSED", Duration::from_secs(5))
            .is_some(),
        "the unanswered offer to op1 was not withdrawn within 5 s; events: {:?}",
        phone1.event_types()
    );
    let withdrawn = rang_at.elapsed();
    eprintln!("op1's offer withdrawn after {withdrawn:?}");
    assert!(
        withdrawn >= Duration::from_millis(1500),
        "op1's offer was withdrawn after {withdrawn:?}, before ring_timeout_ms (2 s)"
    );
    let no_answer = must_log(&centre, Duration::from_secs(2), "no_answer", &call);
    assert_eq!(no_answer["op"], "op1", "no_answer: {no_answer}");
    centre
        .wait_log(Duration::from_secs(2), |v| {
            v["event"] == "operator_state" && v["op"] == "op1" && v["to"] == "paused"
        })
        .unwrap_or_else(|| {
            panic!(
                "op1 was not paused after max_no_answer 1; queue log:\n{}",
                centre.log_text()
            )
        });

    // The caller is offered to op2, who answers.
    let established = phone2
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "op2's phone did not take the caller within 5 s of op1's timeout; events: \
                 {:?}; queue log:\n{}",
                phone2.event_types(),
                centre.log_text()
            )
        });
    assert_eq!(established["direction"], "incoming", "op2: {established}");
    assert!(
        established["peeruri"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("sip:{CALLER_NUMBER}@")),
        "op2's phone does not show the caller's number: {established}"
    );
    let connected = must_log(&centre, Duration::from_secs(3), "connected", &call);
    assert_eq!(connected["op"], "op2", "connected: {connected}");
    let connected_at = media.started.elapsed();
    let rings: Vec<Value> = centre
        .log()
        .into_iter()
        .filter(|v| is(v, "ring", &call))
        .map(|v| v["op"].clone())
        .collect();
    assert_eq!(
        rings,
        vec![json!("op1"), json!("op2")],
        "expected one offer to op1, then one to op2"
    );

    // The caller talks with op2 (its tone), then hangs up.
    thread::sleep(Duration::from_secs(3));
    let bye_at = media.started.elapsed();
    let bye = caller.transaction("BYE", None);
    assert_eq!(bye.status(), Some(200), "caller's BYE:\n{}", bye.raw);
    let heard = media.finish();
    assert_tone(
        &audio_between(
            &heard,
            connected_at + Duration::from_millis(500),
            bye_at - Duration::from_millis(200),
        ),
        OP2_HZ,
        "the caller connected to op2 hears",
    );
    assert!(
        phone2
            .wait_event("CALL_CLOSED", Duration::from_secs(5))
            .is_some(),
        "op2's call did not close after the caller's BYE; events: {:?}",
        phone2.event_types()
    );
    let completed = must_log(&centre, Duration::from_secs(3), "completed", &call);
    assert_eq!(completed["op"], "op2", "completed: {completed}");
    // op1, paused, was not rung again.
    assert!(
        phone1
            .wait_event("CALL_INCOMING", Duration::from_millis(10))
            .is_none(),
        "the paused op1 was rung again; events: {:?}",
        phone1.event_types()
    );
}

#[test]
fn an_operator_transfers_the_caller_to_another_queue() {
    let centre = start_centre_spec(
        "queue-transfer",
        TREE,
        &[op1(&["pensioni"], true), op2(&["contribuente"], true)],
        &[
            ("pensioni", "{ring_timeout_ms: 8000}"),
            ("contribuente", "{ring_timeout_ms: 8000}"),
        ],
    );
    let mut phone1 = start_available_operator(&centre, "op1", OP1_PASSWORD, true, OP1_HZ);
    let mut phone2 = start_available_operator(&centre, "op2", OP2_PASSWORD, true, OP2_HZ);

    // The caller reaches op1 (auto-answer).
    let (mut caller, media) = place_call(&centre);
    let call = centre.joined_call("pensioni");
    let established = phone1
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "op1's phone did not take the caller within 5 s; events: {:?}; queue log:\n{}",
                phone1.event_types(),
                centre.log_text()
            )
        });
    assert_eq!(established["direction"], "incoming", "op1: {established}");
    let connected = must_log(&centre, Duration::from_secs(3), "connected", &call);
    assert_eq!(connected["op"], "op1", "connected: {connected}");
    let op1_connected_at = media.started.elapsed();

    // op1 talks for a while, then transfers the caller (blind) to `contribuente`.
    thread::sleep(Duration::from_secs(2));
    let op1_until = media.started.elapsed();
    let target = format!("sip:contribuente@{}", centre.daemon.sip);
    let reply = phone1.command(json!({"command": "transfer", "params": target}));
    eprintln!("op1 transfer reply: {reply}");
    assert_eq!(
        reply.get("ok"),
        Some(&Value::Bool(true)),
        "baresip refused to transfer to {target}: {reply}"
    );
    let transferred = must_log(&centre, Duration::from_secs(3), "transferred", &call);
    eprintln!("transferred: {transferred}");
    assert_eq!(
        (&transferred["queue"], &transferred["to_queue"]),
        (&json!("pensioni"), &json!("contribuente")),
        "transferred: {transferred}"
    );
    // op1's call ends (the daemon NOTIFYs 200 and baresip hangs up its leg).
    assert!(
        phone1
            .wait_event("CALL_CLOSED", Duration::from_secs(5))
            .is_some(),
        "op1's call did not close after the transfer; events: {:?}",
        phone1.event_types()
    );
    // What op1's phone was told: the NOTIFYs of the REFER's implicit subscription
    // (RFC 3515), `100 Trying` then `200 OK`, in baresip's SIP trace.
    let trace = phone1.log();
    eprintln!("op1 events: {:?}", phone1.event_types());
    // Each trace entry ends at a `#` line; a NOTIFY's body is its sipfrag.
    let sipfrags: Vec<&str> = trace
        .split("NOTIFY sip:")
        .skip(1)
        .map(|m| m.split("\n#\n").next().unwrap_or_default())
        .map(|m| m.split_once("\r\n\r\n").map_or("", |(_, body)| body.trim()))
        .collect();
    eprintln!("op1's phone got NOTIFYs with {sipfrags:?}");
    let frag_at = |frag: &str| sipfrags.iter().position(|b| b.starts_with(frag));
    assert!(
        frag_at("SIP/2.0 100 Trying").is_some()
            && frag_at("SIP/2.0 100 Trying") < frag_at("SIP/2.0 200 OK"),
        "op1's phone did not get NOTIFY sipfrag 100 then 200; trace:\n{}",
        tail(&trace, 120)
    );

    // The caller is offered to op2 in `contribuente`, who answers.
    let ring2 = centre
        .wait_log(Duration::from_secs(3), |v| {
            is(v, "ring", &call) && v["queue"] == "contribuente"
        })
        .unwrap_or_else(|| {
            panic!(
                "the transferred caller was not rung in contribuente; queue log:\n{}",
                centre.log_text()
            )
        });
    assert_eq!(ring2["op"], "op2", "ring: {ring2}");
    let rejoined = centre
        .wait_log(Duration::from_secs(1), |v| {
            is(v, "joined", &call) && v["queue"] == "contribuente"
        })
        .unwrap_or_else(|| {
            panic!(
                "no `joined` in contribuente; queue log:\n{}",
                centre.log_text()
            )
        });
    eprintln!("joined again: {rejoined}");
    assert_eq!(
        rejoined["transferred_from"], "pensioni",
        "joined: {rejoined}"
    );
    let established2 = phone2
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "op2's phone did not take the transferred caller within 5 s; events: {:?}; \
                 queue log:\n{}",
                phone2.event_types(),
                centre.log_text()
            )
        });
    assert!(
        established2["peeruri"]
            .as_str()
            .unwrap_or_default()
            .starts_with(&format!("sip:{CALLER_NUMBER}@")),
        "op2's phone does not show the caller's number: {established2}"
    );
    let connected2 = centre
        .wait_log(Duration::from_secs(3), |v| {
            is(v, "connected", &call) && v["op"] == "op2"
        })
        .unwrap_or_else(|| {
            panic!(
                "no `connected` with op2 after the transfer; queue log:\n{}",
                centre.log_text()
            )
        });
    assert_eq!(
        connected2["queue"], "contribuente",
        "connected: {connected2}"
    );
    let op2_connected_at = media.started.elapsed();

    // The caller was not hung up; they now talk with op2.
    thread::sleep(Duration::from_secs(3));
    assert!(
        caller.requests_seen().is_empty(),
        "the daemon sent the caller {:?} during the transfer",
        caller.requests_seen()
    );
    let bye_at = media.started.elapsed();
    let bye = caller.transaction("BYE", None);
    assert_eq!(bye.status(), Some(200), "caller's BYE:\n{}", bye.raw);
    let heard = media.finish();
    assert_tone(
        &audio_between(
            &heard,
            op1_connected_at + Duration::from_millis(400),
            op1_until - Duration::from_millis(100),
        ),
        OP1_HZ,
        "the caller connected to op1 hears",
    );
    assert_tone(
        &audio_between(
            &heard,
            op2_connected_at + Duration::from_millis(500),
            bye_at - Duration::from_millis(200),
        ),
        OP2_HZ,
        "the caller transferred to op2 hears",
    );
    assert!(
        phone2
            .wait_event("CALL_CLOSED", Duration::from_secs(5))
            .is_some(),
        "op2's call did not close after the caller's BYE; events: {:?}",
        phone2.event_types()
    );
    let completed = centre
        .wait_log(Duration::from_secs(3), |v| {
            is(v, "completed", &call) && v["op"] == "op2"
        })
        .unwrap_or_else(|| panic!("no `completed` by op2; queue log:\n{}", centre.log_text()));
    eprintln!("completed: {completed}");
    // The story in order: op1's call ended by the transfer, then contribuente.
    let events = centre.events_of(&call);
    eprintln!("events: {events:?}");
    let pos = |e: &str, from: usize| {
        events[from..]
            .iter()
            .position(|x| x == e)
            .map(|p| p + from)
            .unwrap_or_else(|| panic!("no `{e}` after #{from} in {events:?}"))
    };
    let c1 = pos("connected", 0);
    let t = pos("transferred", c1);
    let j = pos("joined", t);
    let r = pos("ring", j);
    let c2 = pos("connected", r);
    pos("completed", c2);
    assert!(
        !events.iter().any(|e| e == "abandoned" || e == "no_answer"),
        "unexpected queue events: {events:?}"
    );
}
