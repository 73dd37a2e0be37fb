//! Linea INPS tickets opened by an operator, end to end with real peers (the harness is
//! `tests/common/centre.rs`: callers are literal SIP over UDP with an RTP socket of the
//! test, operators are baresip softphones): the operator's blind transfer (REFER) of
//! the connected caller to a `ticket` node of the menu, after which the caller is read
//! the ticket id, the ticket names the operator, and the operator is free for the next
//! caller; and the operator console's `POST /api/tickets` for the caller the operator is
//! talking to. Tickets go to the embedded back end (`<outbox>/delivered/tickets.jsonl`).
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

// This crate uses no sipp: the shared harness re-exports it all the same.
#[allow(unused_imports)]
mod common;

use common::centre::*;
use common::*;
use serde_json::{Value, json};
use std::fs;
use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

const OP1_PASSWORD: &str = "Rossi-2024!";
/// The caller's number (`CALLER_NUMBER`, an Italian geographic number) in E.164.
const CALLER_E164: &str = "+390612345678";

/// The menu: straight into the queue `pensioni`; an operator can send the caller to
/// `ticket-pensioni`, which opens the ticket at once (no recorded question).
const TREE: &str = "\
name: coda e richieste
start: coda
nodes:
  coda:
    queue: {target: pensioni, fallback: bye}
  ticket-pensioni:
    ticket: {target: pensioni, record: false}
  bye:
    hangup:
      prompts: [arrivederci]
";

/// A short wrap-up, so that the operator is offered the next caller soon.
const PENSIONI: &str = "{ring_timeout_ms: 8000, wrapup_ms: 500}";

fn op1() -> OperatorSpec {
    OperatorSpec {
        id: "op1",
        password: OP1_PASSWORD,
        queues: vec!["pensioni"],
        auto_login: true,
    }
}

/// The centre with op1's phone registered and op1 available.
fn start(name: &str, admin: Option<SocketAddr>) -> (Centre, Baresip) {
    let centre = start_centre_admin(name, TREE, &[op1()], &[("pensioni", PENSIONI)], admin);
    let account = BaresipAccount::new("op1", OP1_PASSWORD, centre.daemon.sip);
    let phone = start_operator_as(&centre, account, None);
    let available = centre.wait_log(Duration::from_secs(3), |v| {
        v["event"] == "operator_state" && v["op"] == "op1" && v["to"] == "available"
    });
    assert!(
        available.is_some(),
        "auto_login: op1 registered but is not available; queue log:\n{}",
        centre.log_text()
    );
    (centre, phone)
}

/// The queue-log line of `event` about `call`, waiting up to `limit`.
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

/// A caller placed and answered by op1: the caller, its media and its queue-log id.
fn caller_reaches_op1(
    centre: &Centre,
    phone: &mut Baresip,
    known: &[Value],
) -> (Caller, CallerMedia, Value) {
    let (caller, media) = place_call(centre);
    let call = centre.new_joined_call("pensioni", known);
    phone
        .wait_event("CALL_ESTABLISHED", Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "op1's phone did not take the caller within 5 s; events: {:?}; queue log:\n{}",
                phone.event_types(),
                centre.log_text()
            )
        });
    let connected = must_log(centre, Duration::from_secs(3), "connected", &call);
    assert_eq!(connected["op"], "op1", "connected: {connected}");
    (caller, media, call)
}

/// Whether a ticket's `call.caller` is our caller's number, as sent or in E.164 (which
/// form the ticket carries is `ticket_delivery::tickets_carry_the_callers_number_in_e164`).
fn is_our_caller(caller: &Value) -> bool {
    caller == CALLER_NUMBER || caller == CALLER_E164
}

/// The tickets the embedded back end has received, waiting until `id` is among them.
fn wait_delivered_ticket(outbox: &Path, id: &str) -> Value {
    let file = outbox.join("delivered").join("tickets.jsonl");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = fs::read_to_string(&file).unwrap_or_default();
        let found = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .find(|t| t["id"] == id);
        if let Some(t) = found {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "{id} not in {} within 10 s:\n{text}",
            file.display()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// The id after `id` (`LI-2026-000001` -> `LI-2026-000002`).
fn next_ticket_id(id: &str) -> String {
    let (prefix, number) = id.rsplit_once('-').expect("LI-<year>-NNNNNN");
    let n: u32 = number.parse().expect("a six-digit number");
    format!("{prefix}-{:06}", n + 1)
}

/// Prompts played back to back, as the player does: each in whole 20 ms frames.
fn phrase(ids: &[String]) -> Vec<f32> {
    let mut out = Vec::new();
    for id in ids {
        out.extend(read_wav(
            &crate_root().join("prompts").join(format!("{id}.wav")),
        ));
        out.resize(out.len().div_ceil(160) * 160, 0.0);
    }
    out
}

/// The caller's audio from `from` (time since its media started) on.
fn audio_from(packets: &[RtpPacket], from: Duration) -> Vec<f32> {
    let picked: Vec<RtpPacket> = packets.iter().filter(|p| p.at >= from).cloned().collect();
    decode(&picked)
}

#[test]
fn an_operator_transfers_the_caller_to_a_ticket_node() {
    let (centre, mut phone) = start("ticket-transfer", None);
    let (mut caller, media, call) = caller_reaches_op1(&centre, &mut phone, &[]);

    // op1 talks, then transfers the caller (blind) to the ticket node.
    thread::sleep(Duration::from_secs(1));
    let transfer_at = media.started.elapsed();
    let target = format!("sip:ticket-pensioni@{}", centre.daemon.sip);
    let reply = phone.command(json!({"command": "transfer", "params": target}));
    eprintln!("op1 transfer reply: {reply}");
    assert_eq!(
        reply.get("ok"),
        Some(&Value::Bool(true)),
        "baresip refused to transfer to {target}: {reply}"
    );
    assert!(
        centre
            .daemon
            .wait_for_log("caller transferred to the menu", Duration::from_secs(5)),
        "the daemon did not take the caller back into the menu"
    );
    let id = {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(id) = stored_ticket_id(&centre.daemon.log()) {
                break id;
            }
            assert!(Instant::now() < deadline, "no `ticket stored` within 5 s");
            thread::sleep(Duration::from_millis(50));
        }
    };
    eprintln!("stored {id}");

    // The operator's call ends and, after the wrap-up, op1 is available again.
    assert!(
        phone
            .wait_event("CALL_CLOSED", Duration::from_secs(5))
            .is_some(),
        "op1's call did not close after the transfer; events: {:?}",
        phone.event_types()
    );
    // The phone was told the transfer succeeded: the REFER's NOTIFYs (RFC 3515) carry
    // sipfrag `200 OK` (baresip's SIP trace; each entry ends at a `#` line).
    let trace = phone.log();
    let sipfrags: Vec<&str> = trace
        .split("NOTIFY sip:")
        .skip(1)
        .map(|m| m.split("\n#\n").next().unwrap_or_default())
        .map(|m| m.split_once("\r\n\r\n").map_or("", |(_, body)| body.trim()))
        .collect();
    eprintln!("op1's phone got NOTIFYs with {sipfrags:?}");
    assert!(
        sipfrags.iter().any(|b| b.starts_with("SIP/2.0 200 OK")),
        "op1's phone was not told the transfer succeeded; trace:\n{}",
        tail(&trace, 120)
    );
    let completed = must_log(&centre, Duration::from_secs(3), "completed", &call);
    assert_eq!(completed["op"], "op1", "completed: {completed}");
    let free = centre.wait_log(Duration::from_secs(3), |v| {
        v["event"] == "operator_state"
            && v["op"] == "op1"
            && v["to"] == "available"
            && v["from"] == "wrap_up"
    });
    assert!(
        free.is_some(),
        "op1 is not available again after the transfer; queue log:\n{}",
        centre.log_text()
    );

    // The caller hears the confirmation and the id, then goodbye: the menu hangs up.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !caller.requests_seen().iter().any(|r| r.starts_with("BYE ")) {
        assert!(
            Instant::now() < deadline,
            "the menu did not end the caller's call within 60 s of the transfer; got {:?}",
            caller.requests_seen()
        );
        caller.serve(Instant::now() + Duration::from_millis(200));
    }
    let heard = audio_from(&media.finish(), transfer_at);
    let confirmation = read_wav(&prompt_path("ticket/registrata"));
    let s_confirm = similarity(&heard, &confirmation);
    // The id read character by character; the next id differs in its last digit only,
    // so it must match less well.
    let said = |id: &str| similarity(&heard, &phrase(&centralino::ivr::say_it::digits(id)));
    let next = next_ticket_id(&id);
    let (s_id, s_next) = (said(&id), said(&next));
    eprintln!(
        "after the transfer the caller heard {:.1} s: ticket/registrata {s_confirm:.3}, \
         {id} {s_id:.3} ({next} {s_next:.3})",
        heard.len() as f64 / 8000.0
    );
    assert!(s_confirm > 0.8, "the caller did not hear ticket/registrata");
    assert!(
        s_id > 0.9 && s_id > s_next,
        "the caller was not read the id {id}"
    );

    // The ticket names the operator who transferred the caller.
    let t = wait_delivered_ticket(&centre.outbox, &id);
    eprintln!("delivered: {t}");
    assert_eq!(
        t["origin"],
        json!({"by": "transfer", "operator": "op1"}),
        "{t}"
    );
    assert_eq!(t["section"], "pensioni", "{t}");
    assert_eq!(t["destination"], "CRIC Lazio — pensioni", "{t}");
    assert!(is_our_caller(&t["call"]["caller"]), "{t}");
    assert_eq!(t["call"]["region"], "Lazio", "{t}");
    assert_eq!(t["question_wav"], Value::Null, "{t}");

    // op1 takes the next caller.
    let (mut next, next_media, next_call) =
        caller_reaches_op1(&centre, &mut phone, std::slice::from_ref(&call));
    let bye = next.transaction("BYE", None);
    assert_eq!(bye.status(), Some(200), "next caller's BYE:\n{}", bye.raw);
    drop(next_media);
    must_log(&centre, Duration::from_secs(3), "completed", &next_call);
}

#[test]
fn the_console_opens_a_ticket_for_the_operators_caller() {
    let admin = free_admin_addr();
    let (centre, mut phone) = start("ticket-console", Some(admin));
    wait_admin_up(&centre.daemon, admin, Duration::from_secs(5));
    let notes = "Versamenti volontari: chiede il riepilogo";
    let body = json!({"operator": "op1", "section": "contribuente", "notes": notes});

    // No caller with op1 yet, and none named: nothing to open.
    let early = post_json(admin, "/api/tickets", &[], &body);
    assert_eq!(early.status, 422, "without a caller: {early:?}");

    let (mut caller, media, call) = caller_reaches_op1(&centre, &mut phone, &[]);
    let key = format!("console-{}", token());
    let created = post_json(admin, "/api/tickets", &[("Idempotency-Key", &key)], &body);
    assert_eq!(created.status, 201, "POST /api/tickets: {created:?}");
    let t = created.json();
    eprintln!("stored: {t}");
    let id = t["id"].as_str().expect("an id").to_string();
    assert!(is_our_caller(&t["call"]["caller"]), "not op1's caller: {t}");
    assert_eq!(t["section"], "contribuente", "{t}");
    assert_eq!(
        t["destination"], "CRIC Lazio — soggetto contribuente",
        "{t}"
    );
    assert_eq!(t["call"]["region"], "Lazio", "{t}");
    assert_eq!(t["origin"], json!({"by": "api", "operator": "op1"}), "{t}");
    assert_eq!(t["notes"], notes, "{t}");
    assert_eq!(t["idempotency_key"], key.as_str(), "{t}");
    let path = t["call"]["path"].as_array().expect("a menu path");
    assert!(
        path.first()
            .and_then(Value::as_str)
            .is_some_and(|p| p.starts_with("coda")),
        "the menu path of the caller's call: {t}"
    );

    // The call goes on: the caller is still with op1 until they hang up.
    thread::sleep(Duration::from_secs(1));
    assert!(
        caller.requests_seen().is_empty(),
        "the daemon sent the caller {:?}",
        caller.requests_seen()
    );
    assert!(
        !centre.log().iter().any(|v| is(v, "completed", &call)),
        "the console's ticket ended the call; queue log:\n{}",
        centre.log_text()
    );
    let bye = caller.transaction("BYE", None);
    assert_eq!(bye.status(), Some(200), "caller's BYE:\n{}", bye.raw);
    drop(media);
    must_log(&centre, Duration::from_secs(3), "completed", &call);

    let delivered = wait_delivered_ticket(&centre.outbox, &id);
    assert_eq!(delivered["origin"], t["origin"], "{delivered}");
    assert_eq!(delivered["call"], t["call"], "{delivered}");
    assert_eq!(delivered["notes"], notes, "{delivered}");
}
