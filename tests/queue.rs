//! The contact-centre queue end to end with real peers: a caller (literal SIP over UDP,
//! with an RTP socket of the test that both sends a 1 kHz tone and records what the
//! daemon sends) walks a one-node menu into the ACD queue `pensioni`; the operator is a
//! real baresip softphone (registered with digest auth, auto-answering, its microphone a
//! 440 Hz tone). The daemon calls the operator's registered contact and bridges the two
//! RTP streams.
//!
//! What is checked: the callers-ahead announcement, the INVITE to the operator (From =
//! the caller's number, `X-Centralino-Dialled`, `X-Centralino-Path`), audio both ways
//! (the caller hears ~440 Hz, baresip's `sndfile` recording holds ~1 kHz), one SSRC and
//! +1 sequence numbers towards the caller across the bridge, hang-up propagation, and the
//! queue log (`queue_log`, JSON lines). Also: logging in with the `*51` feature code, and
//! an operator who does not answer being paused while the caller keeps their place.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

// This crate uses no sipp: the shared harness re-exports it all the same.
#[allow(unused_imports)]
mod common;

use common::centre::*;
use common::*;
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

const OP1_PASSWORD: &str = "Rossi-2024!";
/// The operator's (baresip harness) tone; the caller's is `CALLER_HZ`.
const OPERATOR_HZ: f64 = 440.0;

/// How long the operator lets the phone ring before answering by hand: longer than
/// `coda/lei-e-il-prossimo` (1.23 s).
const ANSWER_AFTER: Duration = Duration::from_millis(1800);

/// The menu: straight into the queue; `bye` is the fallback.
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

/// A daemon with the tree above, op1 serving `pensioni`; `queue` is the YAML flow
/// mapping of `pensioni`'s settings.
fn start_centre(name: &str, auto_login: bool, queue: &str) -> Centre {
    start_centre_with_tree(name, auto_login, queue, TREE)
}

fn start_centre_with_tree(name: &str, auto_login: bool, queue: &str, tree_text: &str) -> Centre {
    let op1 = OperatorSpec {
        id: "op1",
        password: OP1_PASSWORD,
        queues: vec!["pensioni"],
        auto_login,
    };
    start_centre_spec(name, tree_text, &[op1], &[("pensioni", queue)])
}

/// Starts op1's baresip (optionally recording into `record`) and waits for its
/// registration on both sides.
fn start_operator(centre: &Centre, auto_answer: bool, record: Option<&Path>) -> Baresip {
    let mut account = BaresipAccount::new("op1", OP1_PASSWORD, centre.daemon.sip);
    account.auto_answer = auto_answer;
    start_operator_as(centre, account, record)
}

/// Waits for the daemon's call to reach the operator's phone and be established:
/// baresip 1.0 reports `CALL_INCOMING` only in manual answer mode, so an auto-answering
/// phone is seen by its `CALL_ESTABLISHED` for an incoming call. Checks that the call
/// shows the caller's number.
fn wait_queue_call_established(op: &mut Baresip, limit: Duration, centre: &Centre) -> Value {
    let established = op.wait_event("CALL_ESTABLISHED", limit).unwrap_or_else(|| {
        panic!(
            "op1's phone did not establish a call from the daemon within {limit:?}; \
                 events: {:?}; queue log:\n{}",
            op.event_types(),
            centre.log_text()
        )
    });
    eprintln!("op1: {established}");
    assert_eq!(
        established["direction"], "incoming",
        "the established call is not the daemon's incoming call: {established}"
    );
    let peer = established["peeruri"].as_str().unwrap_or_default();
    assert!(
        peer.starts_with(&format!("sip:{CALLER_NUMBER}@")),
        "the operator's phone shows {peer:?}, not the caller's number {CALLER_NUMBER}: {established}"
    );
    established
}

/// Position of the first event whose `TYPE(param)` text starts with `prefix`.
fn event_position(op: &mut Baresip, prefix: &str) -> Option<usize> {
    op.event_types().iter().position(|e| e.starts_with(prefix))
}

/// The INVITE the daemon sent to baresip, from baresip's `-s` SIP trace.
fn invite_received_by(op: &Baresip) -> String {
    let log = op.log();
    let start = log
        .find("INVITE sip:")
        .unwrap_or_else(|| panic!("no INVITE in baresip's SIP trace:\n{}", tail(&log, 80)));
    let rest = &log[start..];
    // The message ends at the blank line before its body (or at the next trace entry).
    let end = rest.find("\r\n\r\n").or_else(|| rest.find("\n\n"));
    rest[..end.unwrap_or(rest.len()).min(4000)].to_string()
}

fn header_line<'a>(msg: &'a str, name: &str) -> Option<&'a str> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    msg.lines()
        .map(str::trim)
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
}

#[test]
fn caller_reaches_an_operator_and_audio_flows_both_ways() {
    let centre = start_centre("queue-connect", true, "{ring_timeout_ms: 8000}");
    let rec = tempfile::tempdir().expect("recording dir");
    // op1 answers by hand (ctrl_tcp `accept`) once the callers-ahead phrase has played:
    // an auto-answering phone picks up within milliseconds and the bridge cuts the
    // phrase before its first packet (see `operator_logs_in_with_a_feature_code` for the
    // auto-answer path).
    let mut op1 = start_operator(&centre, false, Some(rec.path()));
    // auto_login: registering logged op1 in.
    let available = centre.wait_log(Duration::from_secs(3), |v| {
        v["event"] == "operator_state" && v["op"] == "op1" && v["to"] == "available"
    });
    assert!(
        available.is_some(),
        "auto_login: op1 registered but is not available; queue log:\n{}",
        centre.log_text()
    );

    let (mut caller, media) = place_call(&centre);
    let call = centre.joined_call("pensioni");

    let incoming = op1
        .wait_event("CALL_INCOMING", Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "op1's phone did not ring within 5 s; events: {:?}; queue log:\n{}",
                op1.event_types(),
                centre.log_text()
            )
        });
    eprintln!("op1: {incoming}");
    // Let the phrase (1.2 s) play out, then answer.
    thread::sleep(ANSWER_AFTER);
    let reply = op1.command(json!({"command": "accept"}));
    assert_eq!(
        reply.get("ok"),
        Some(&Value::Bool(true)),
        "baresip refused to accept the call: {reply}"
    );
    wait_queue_call_established(&mut op1, Duration::from_secs(5), &centre);
    let bridged_at = media.started.elapsed();
    assert!(
        centre
            .wait_log(Duration::from_secs(3), |v| is(v, "connected", &call))
            .is_some(),
        "no `connected` in the queue log; queue log:\n{}",
        centre.log_text()
    );

    // Talk for a while; the caller hangs up.
    thread::sleep(Duration::from_secs(4));
    let bye = caller.transaction("BYE", None);
    assert_eq!(bye.status(), Some(200), "caller's BYE:\n{}", bye.raw);
    let heard = media.finish();
    assert!(
        caller.requests_seen().is_empty(),
        "the daemon sent requests to the caller before its BYE: {:?}",
        caller.requests_seen()
    );

    // The caller's BYE ends the operator's call.
    assert!(
        op1.wait_event("CALL_CLOSED", Duration::from_secs(5))
            .is_some(),
        "op1's call did not close within 5 s of the caller's BYE; events: {:?}",
        op1.event_types()
    );

    // The INVITE to the operator: the caller's number in From, the dialled number and
    // the menu path in the X-Centralino headers.
    let invite = invite_received_by(&op1);
    eprintln!("INVITE received by op1:\n{invite}");
    let from = header_line(&invite, "From").unwrap_or_else(|| panic!("no From:\n{invite}"));
    assert!(
        from.contains(&format!("sip:{CALLER_NUMBER}@")),
        "From does not carry the caller's number {CALLER_NUMBER}: {from}"
    );
    let dialled = header_line(&invite, "X-Centralino-Dialled")
        .unwrap_or_else(|| panic!("no X-Centralino-Dialled in the INVITE:\n{invite}"));
    assert!(
        dialled.ends_with(DIALLED),
        "X-Centralino-Dialled is not {DIALLED}: {dialled}"
    );
    let path = header_line(&invite, "X-Centralino-Path")
        .unwrap_or_else(|| panic!("no X-Centralino-Path in the INVITE:\n{invite}"));
    assert!(
        path.contains("coda"),
        "X-Centralino-Path lacks `coda`: {path}"
    );
    let waited = header_line(&invite, "X-Centralino-Waited")
        .unwrap_or_else(|| panic!("no X-Centralino-Waited in the INVITE:\n{invite}"));
    let secs: u64 = waited
        .rsplit(':')
        .next()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("X-Centralino-Waited is not seconds: {waited}"));
    assert!(
        secs < 10,
        "X-Centralino-Waited {secs} s for a caller rung at once"
    );

    // The queue log tells the story in order.
    assert!(
        centre
            .wait_log(Duration::from_secs(3), |v| is(v, "completed", &call))
            .is_some(),
        "no `completed` in the queue log; queue log:\n{}",
        centre.log_text()
    );
    let events = centre.events_of(&call);
    let position = |e: &str| events.iter().position(|x| x == e);
    for e in ["joined", "announced", "ring", "connected", "completed"] {
        assert!(
            position(e).is_some(),
            "queue log lacks `{e}` for the call: {events:?}"
        );
    }
    assert!(
        position("joined") < position("ring")
            && position("ring") < position("connected")
            && position("connected") < position("completed")
            && position("announced") < position("connected"),
        "queue log out of order: {events:?}"
    );
    let log = centre.log();
    let announced = log
        .iter()
        .find(|v| is(v, "announced", &call))
        .expect("announced line");
    assert_eq!(announced["ahead"], 0, "announced: {announced}");
    let ring = log.iter().find(|v| is(v, "ring", &call)).unwrap();
    assert_eq!(ring["op"], "op1", "ring: {ring}");
    let completed = log.iter().find(|v| is(v, "completed", &call)).unwrap();
    assert_eq!(completed["op"], "op1", "completed: {completed}");
    assert!(
        !events.iter().any(|e| e == "abandoned" || e == "no_answer"),
        "unexpected queue events: {events:?}"
    );

    // RTP to the caller: one SSRC and +1 sequence numbers across announcement and bridge.
    let audio: Vec<RtpPacket> = heard
        .iter()
        .filter(|p| p.pt == PT_PCMU || p.pt == PT_PCMA)
        .cloned()
        .collect();
    assert!(
        audio.len() > 100,
        "the caller received {} audio packets in ~5 s",
        audio.len()
    );
    let ssrcs: std::collections::BTreeSet<u32> = audio.iter().map(|p| p.ssrc).collect();
    assert_eq!(ssrcs.len(), 1, "the caller saw several SSRCs: {ssrcs:08x?}");
    for pair in audio.windows(2) {
        assert_eq!(
            pair[1].seq,
            pair[0].seq.wrapping_add(1),
            "RTP sequence to the caller jumps from {} to {} (at {:?} -> {:?}; bridge at ~{bridged_at:?})",
            pair[0].seq,
            pair[1].seq,
            pair[0].at,
            pair[1].at
        );
    }
    for p in &audio {
        assert_eq!(
            p.from, audio[0].from,
            "RTP to the caller came from two addresses"
        );
    }

    // The announcement starts with a marker bit (the player), the music on hold after it
    // starts another talk spurt, and so does the bridge (the relay marks the new
    // source): the last marker is where the operator begins.
    let markers: Vec<usize> = audio
        .iter()
        .enumerate()
        .filter(|(_, p)| p.marker)
        .map(|(i, _)| i)
        .collect();
    assert!(
        markers.first() == Some(&0) && markers.len() >= 2,
        "expected the marker bit on the announcement's first packet, on the music's and on \
         the bridge's, got it at packets {markers:?} of {}",
        audio.len()
    );
    let bridge = *markers.last().unwrap();
    // Between the announcement and the operator: the music on hold, from its first piece.
    if markers.len() >= 3 {
        let music = decode(&audio[markers[1]..bridge]);
        let piece = read_wav(&prompt_path("attesa/musica-01"));
        let m = similarity(&music, &piece);
        eprintln!(
            "music on hold: {:.2} s, correlation with attesa/musica-01 {m:.3}",
            music.len() as f64 / 8000.0
        );
        assert!(m > 0.8, "the caller did not hear the music on hold: {m:.3}");
    }
    eprintln!(
        "caller: {} packets, {bridge} before the bridge; first at {:?}, bridge at {:?} \
         (baresip established by {bridged_at:?})",
        audio.len(),
        audio[0].at,
        audio[bridge].at
    );
    // The callers-ahead phrase, whole, before the operator.
    let before = decode(&audio[..bridge]);
    let prompt = read_wav(&prompt_path("coda/lei-e-il-prossimo"));
    let heard_phrase = similarity(&before, &prompt);
    eprintln!(
        "before the operator: {:.2} s of audio; correlation with coda/lei-e-il-prossimo \
         ({:.2} s) {heard_phrase:.3}",
        before.len() as f64 / 8000.0,
        prompt.len() as f64 / 8000.0
    );
    assert!(
        before.len() >= prompt.len() * 9 / 10,
        "only {:.2} s of audio reached the caller before the operator (the phrase is {:.2} s)",
        before.len() as f64 / 8000.0,
        prompt.len() as f64 / 8000.0
    );
    assert!(
        heard_phrase > 0.8,
        "the caller did not hear `coda/lei-e-il-prossimo` before the operator \
         (correlation {heard_phrase:.3})"
    );
    // Skip the first 300 ms of the bridge (jitter buffer start) and the last 200 ms.
    let after = decode(&audio[bridge..]);
    assert!(
        after.len() > 8000 * 3,
        "only {:.2} s of audio after the bridge",
        after.len() as f64 / 8000.0
    );
    let talk = &after[2400..after.len() - 1600];
    let (hz, level) = (dominant_hz(talk), rms(talk));
    eprintln!("caller hears {hz} Hz at rms {level:.3} from the operator");
    assert!(
        level > 0.05,
        "the caller hears (near) silence from the operator: rms {level:.4}"
    );
    assert!(
        (hz - OPERATOR_HZ).abs() <= 15.0,
        "the caller hears {hz} Hz, not the operator's {OPERATOR_HZ} Hz tone"
    );

    // The operator heard the caller: baresip's recording of the decoded audio.
    let op_name = op1.name().to_string();
    drop(op1);
    let recordings: Vec<PathBuf> = fs::read_dir(rec.path())
        .expect("read recording dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let dec = recordings
        .iter()
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .unwrap_or_else(|| panic!("[{op_name}] no *-dec.wav recording: {recordings:?}"));
    let got = read_wav(dec);
    eprintln!(
        "[{op_name}] recording {}: {:.2} s",
        dec.display(),
        got.len() as f64 / 8000.0
    );
    assert!(
        got.len() > 8000 * 3,
        "the operator's recording is only {:.2} s",
        got.len() as f64 / 8000.0
    );
    let talk = &got[2400..got.len() - 1600];
    let (hz, level) = (dominant_hz(talk), rms(talk));
    eprintln!("operator hears {hz} Hz at rms {level:.3} from the caller");
    assert!(
        level > 0.05,
        "the operator hears (near) silence from the caller: rms {level:.4}"
    );
    assert!(
        (hz - CALLER_HZ).abs() <= 15.0,
        "the operator hears {hz} Hz, not the caller's {CALLER_HZ} Hz tone"
    );
}

#[test]
fn operator_logs_in_with_a_feature_code() {
    let centre = start_centre("queue-login", false, "{ring_timeout_ms: 8000}");
    let mut op1 = start_operator(&centre, true, None);

    let (mut caller, media) = place_call(&centre);
    let call = centre.joined_call("pensioni");
    // Nobody is logged in: the caller waits, nobody is rung.
    thread::sleep(Duration::from_millis(1500));
    assert!(
        !centre.log().iter().any(|v| is(v, "ring", &call)),
        "op1 was rung before logging in; queue log:\n{}",
        centre.log_text()
    );
    assert_eq!(
        event_position(&mut op1, "CALL_"),
        None,
        "op1's phone got a call before logging in; events: {:?}",
        op1.event_types()
    );

    // *51 from the registered phone: answered, a confirmation, then the daemon hangs up.
    let target = format!("sip:*51@{}", centre.daemon.sip);
    let reply = op1.command(json!({"command": "dial", "params": target}));
    assert_eq!(
        reply.get("ok"),
        Some(&Value::Bool(true)),
        "baresip refused to dial {target}: {reply}"
    );
    let answered = op1
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "the *51 call was not answered within 5 s; events: {:?}",
                op1.event_types()
            )
        });
    assert_eq!(
        answered["direction"], "outgoing",
        "the first established call is not *51: {answered}"
    );
    let closed = op1
        .wait_event("CALL_CLOSED", Duration::from_secs(10))
        .unwrap_or_else(|| {
            panic!(
                "the *51 call did not end by itself within 10 s; events: {:?}",
                op1.event_types()
            )
        });
    assert!(
        closed["peeruri"]
            .as_str()
            .unwrap_or_default()
            .contains("*51"),
        "the call that closed is not *51: {closed}"
    );
    assert!(
        centre
            .daemon
            .wait_for_log("feature code", Duration::from_secs(2)),
        "the daemon did not log `feature code`"
    );
    let line = centre
        .daemon
        .log()
        .lines()
        .find(|l| l.contains("feature code"))
        .unwrap()
        .to_string();
    eprintln!("{line}");
    assert!(
        line.contains("done=true") && line.contains("op1") && line.contains("Login"),
        "feature code not done for op1: {line}"
    );
    assert!(
        centre.log().iter().any(|v| v["event"] == "operator_state"
            && v["op"] == "op1"
            && v["from"] == "logged_out"),
        "no operator_state out of logged_out for op1; queue log:\n{}",
        centre.log_text()
    );

    // Now the waiting caller is offered to op1 and connected: once the *51 call is over
    // (the phone is not offered a call while it is still on the feature code).
    wait_queue_call_established(&mut op1, Duration::from_secs(8), &centre);
    let connected = centre.wait_log(Duration::from_secs(3), |v| is(v, "connected", &call));
    assert!(
        connected.is_some(),
        "no `connected` for the waiting caller; queue log:\n{}",
        centre.log_text()
    );
    let events = centre.events_of(&call);
    let ring = events.iter().position(|e| e == "ring");
    let conn = events.iter().position(|e| e == "connected");
    assert!(
        ring.is_some() && ring < conn,
        "expected `ring` then `connected`: {events:?}"
    );

    thread::sleep(Duration::from_millis(500));
    let bye = caller.transaction("BYE", None);
    assert_eq!(bye.status(), Some(200), "caller's BYE:\n{}", bye.raw);
    drop(media);
    assert!(
        op1.wait_event("CALL_CLOSED", Duration::from_secs(5))
            .is_some(),
        "op1's call did not close after the caller's BYE; events: {:?}",
        op1.event_types()
    );
    assert!(
        centre
            .wait_log(Duration::from_secs(3), |v| is(v, "completed", &call))
            .is_some(),
        "no `completed`; queue log:\n{}",
        centre.log_text()
    );

    // The phone was not offered a call while it was still on the feature code.
    let closed_at = event_position(&mut op1, "CALL_CLOSED");
    // An auto-answering baresip shows the daemon's INVITE as the offer it received.
    let offered_at = event_position(&mut op1, "CALL_REMOTE_SDP(offer)");
    assert!(
        closed_at < offered_at,
        "op1 was offered the queued caller while still on the *51 call; events: {:?}; \
         queue log:\n{}",
        op1.event_types(),
        centre.log_text()
    );
}

#[test]
fn unanswered_operator_is_paused_and_caller_keeps_place() {
    let centre = start_centre(
        "queue-no-answer",
        true,
        "{ring_timeout_ms: 2000, max_no_answer: 1, retry_ms: 500}",
    );
    let mut op1 = start_operator(&centre, false, None);
    assert!(
        centre
            .wait_log(Duration::from_secs(3), |v| {
                v["event"] == "operator_state" && v["op"] == "op1" && v["to"] == "available"
            })
            .is_some(),
        "auto_login: op1 is not available; queue log:\n{}",
        centre.log_text()
    );

    let (mut caller, media) = place_call(&centre);
    let call = centre.joined_call("pensioni");
    assert!(
        op1.wait_event("CALL_INCOMING", Duration::from_secs(5))
            .is_some(),
        "op1's phone did not ring; events: {:?}; queue log:\n{}",
        op1.event_types(),
        centre.log_text()
    );
    let rang_at = Instant::now();
    // Not answered: the daemon gives up after ring_timeout_ms and cancels.
    assert!(
        op1.wait_event("CALL_CLOSED", Duration::from_secs(5))
            .is_some(),
        "the unanswered offer was not withdrawn within 5 s; events: {:?}",
        op1.event_types()
    );
    let withdrawn = rang_at.elapsed();
    eprintln!("offer withdrawn after {withdrawn:?}");
    assert!(
        withdrawn >= Duration::from_millis(1500),
        "the offer was withdrawn after {withdrawn:?}, before ring_timeout_ms (2 s)"
    );
    let no_answer = centre
        .wait_log(Duration::from_secs(2), |v| is(v, "no_answer", &call))
        .unwrap_or_else(|| panic!("no `no_answer`; queue log:\n{}", centre.log_text()));
    assert_eq!(no_answer["op"], "op1", "no_answer: {no_answer}");
    let paused = centre
        .wait_log(Duration::from_secs(2), |v| {
            v["event"] == "operator_state" && v["op"] == "op1" && v["to"] == "paused"
        })
        .unwrap_or_else(|| {
            panic!(
                "op1 was not paused after max_no_answer 1; queue log:\n{}",
                centre.log_text()
            )
        });
    eprintln!("paused: {paused}");
    // The caller stays queued: past retry_ms nobody is rung (op1 is paused), the caller
    // is not dropped or sent to the fallback, and its dialog is still up.
    thread::sleep(Duration::from_millis(1500));
    assert!(
        op1.wait_event("CALL_INCOMING", Duration::from_millis(10))
            .is_none(),
        "the paused operator was rung again; events: {:?}",
        op1.event_types()
    );
    let events = centre.events_of(&call);
    assert_eq!(
        events.iter().filter(|e| *e == "ring").count(),
        1,
        "expected exactly one offer: {events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e == "abandoned" || e == "overflow" || e == "completed"),
        "the caller left the queue: {events:?}"
    );
    assert!(
        caller.requests_seen().is_empty(),
        "the daemon sent the caller {:?}",
        caller.requests_seen()
    );
    let bye = caller.transaction("BYE", None);
    assert_eq!(
        bye.status(),
        Some(200),
        "the waiting caller's dialog:\n{}",
        bye.raw
    );
    drop(media);
    let abandoned = centre
        .wait_log(Duration::from_secs(3), |v| is(v, "abandoned", &call))
        .unwrap_or_else(|| {
            panic!(
                "no `abandoned` after the waiting caller hung up; queue log:\n{}",
                centre.log_text()
            )
        });
    assert!(
        abandoned["wait_ms"].as_u64().is_some_and(|w| w >= 3000),
        "abandoned: {abandoned}"
    );

    // The pause is the consequence of the unanswered offer: logged after it.
    let log = centre.log();
    let no_answer_at = log.iter().position(|v| is(v, "no_answer", &call));
    let paused_at = log.iter().position(|v| v == &paused);
    assert!(
        no_answer_at < paused_at,
        "`operator_state … paused` logged before `no_answer`:\n{}",
        centre.log_text()
    );
}

/// The exit flow: a node the caller reaches with the queue's exit key while keeping their
/// place: "2" goes back to waiting, "1" leaves (here a goodbye; a ticket in a real tree).
const EXIT_TREE: &str = "\
name: coda con uscita
start: coda
nodes:
  coda:
    queue: {target: pensioni, fallback: bye}
  uscita:
    menu:
      greeting: [cifra-1, cifra-2]
      options:
        \"1\": bye
        \"2\": coda
  bye:
    hangup:
      prompts: [arrivederci]
";

#[test]
fn the_exit_key_keeps_the_place_until_the_caller_confirms() {
    let centre = start_centre_with_tree(
        "queue-exit",
        false,
        "{keys: {exit: '1', exit_node: uscita}}",
        EXIT_TREE,
    );
    let (mut caller, media) = place_call(&centre);
    let call = centre.joined_call("pensioni");
    // Nobody is logged in: the caller waits. "1" opens the exit flow…
    thread::sleep(Duration::from_millis(500));
    assert_eq!(caller.press('1').status(), Some(200));
    centre
        .wait_log(Duration::from_secs(3), |v| is(v, "exit_requested", &call))
        .unwrap_or_else(|| panic!("no exit_requested; queue log:\n{}", centre.log_text()));
    // …and "2" goes back to waiting, in the same place.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(caller.press('2').status(), Some(200));
    centre
        .wait_log(Duration::from_secs(3), |v| is(v, "exit_cancelled", &call))
        .unwrap_or_else(|| panic!("no exit_cancelled; queue log:\n{}", centre.log_text()));
    // "1" again, then "1" in the exit menu: the caller leaves the queue with a goodbye.
    thread::sleep(Duration::from_millis(300));
    assert_eq!(caller.press('1').status(), Some(200));
    thread::sleep(Duration::from_millis(300));
    assert_eq!(caller.press('1').status(), Some(200));
    // (Confirmed when the flow ends the call: after the goodbye, about 3 s.)
    centre
        .wait_log(Duration::from_secs(8), |v| is(v, "exit_confirmed", &call))
        .unwrap_or_else(|| panic!("no exit_confirmed; queue log:\n{}", centre.log_text()));
    let events = centre.events_of(&call);
    assert!(
        !events.iter().any(|e| e == "abandoned"),
        "the caller was counted as abandoned: {events:?}"
    );
    // After the goodbye the daemon hangs up.
    let deadline = Instant::now() + Duration::from_secs(8);
    while !caller.requests_seen().iter().any(|r| r.starts_with("BYE")) && Instant::now() < deadline
    {
        caller.serve(Instant::now() + Duration::from_millis(200));
    }
    assert!(
        caller.requests_seen().iter().any(|r| r.starts_with("BYE")),
        "the daemon did not hang up after the exit flow; seen {:?}",
        caller.requests_seen()
    );
    drop(media);
}
