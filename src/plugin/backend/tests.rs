//! Back-end tests: the JSON shapes, the embedded JSON-lines delivery and agenda on a
//! temporary directory, and the `exec` protocol with `/bin/sh` programs.

use super::embedded::{Agenda, JsonLines};
use super::exec::Exec;
use super::*;
use crate::plugin::config::{AgendaConfig, Argv, ExecConfig};
use crate::plugin::outbox::tests::{booking_request, ticket_request};
use crate::plugin::outbox::{Outbox, tests::at};
use crate::plugin::{Booking, CallInfo, SlotQuery, Ticket};
use rand::SeedableRng;
use serde_json::json;
use std::fs;
use std::num::NonZeroU64;
use std::path::Path;

fn stored(dir: &Path, question: bool) -> (Outbox, Ticket, Booking) {
    let mut ob = Outbox::open_seeded(dir, rand::rngs::StdRng::seed_from_u64(1)).unwrap();
    let q = question.then(|| vec![100i16; 800]);
    let t = ob
        .store_ticket(at(2026, 3, 2, 10, 0), ticket_request(q, None))
        .unwrap();
    let b = ob
        .store_booking(
            at(2026, 3, 2, 10, 1),
            booking_request("2026-03-03 09:00", None),
        )
        .unwrap();
    (ob, t, b)
}

#[test]
fn delivered_json_is_the_item_without_status() {
    let dir = tempfile::tempdir().unwrap();
    let (_ob, t, b) = stored(dir.path(), true);
    let v = item_json(&Item::Ticket(t.clone()));
    assert_eq!(v["id"], "LI-2026-000001");
    assert_eq!(v["idempotency_key"], t.idempotency_key.as_str());
    assert_eq!(v["created_at"], "2026-03-02T10:00:00+01:00");
    assert_eq!(v["section"], "pensioni");
    assert_eq!(v["destination"], "CRIC Lazio — pensioni");
    assert_eq!(v["call"]["office"], "roma-eur");
    assert_eq!(v["call"]["vars"]["pratica"], "123456");
    assert_eq!(v["question_wav"], "LI-2026-000001.wav");
    assert_eq!(v["question_ms"], 100);
    assert_eq!(v["origin"], json!({"by": "menu"}));
    assert!(v.get("status").is_none() && v.get("kind").is_none());
    let v = item_json(&Item::Booking(b));
    assert_eq!(v["id"], "AP-2026-000001");
    assert_eq!(
        v["slot"],
        json!({"start": "2026-03-03T09:00:00", "duration_min": 30, "slot_id": null, "officer": null})
    );
}

#[test]
fn replies_are_parsed() {
    assert_eq!(parse_ack("").remote_id, None);
    assert_eq!(parse_ack("ok").remote_id, None);
    assert_eq!(
        parse_ack(r#"{"id": "CRM-42"}"#).remote_id.as_deref(),
        Some("CRM-42")
    );
    assert_eq!(parse_ack(r#"{"id": 42}"#).remote_id.as_deref(), Some("42"));
    assert_eq!(
        parse_error(r#"{"error": "no such section", "retry": false}"#),
        Some(PluginError::Refused("no such section".into()))
    );
    assert_eq!(
        parse_error(r#"{"error": "busy"}"#),
        Some(PluginError::Temporary("busy".into()))
    );
    assert_eq!(parse_error(r#"{"id": "x"}"#), None);
    let slots = parse_slots(
        r#"{"slots": [{"start": "2026-03-03T09:00:00", "duration_min": 20, "slot_id": "s-1", "officer": "dott. Rossi"}]}"#,
    )
    .unwrap();
    assert_eq!(slots[0].slot_id.as_deref(), Some("s-1"));
    assert_eq!(slots[0].duration_min, 20);
    assert!(matches!(parse_slots("[]"), Err(PluginError::Temporary(_))));
    let info = parse_caller(r#"{"vars": {"known": "1"}}"#).unwrap();
    assert_eq!(info.vars["known"], "1");
    assert_eq!(parse_caller("").unwrap(), CallerInfo::default());
    assert_eq!(parse_caller("{}").unwrap(), CallerInfo::default());
}

#[test]
fn http_statuses_are_sorted() {
    use super::webhook::classify;
    assert!(classify(200, "u", "").is_ok() && classify(204, "u", "").is_ok());
    for temporary in [408, 429, 500, 502, 503, 504, 401, 403, 301] {
        assert!(
            matches!(classify(temporary, "u", ""), Err(PluginError::Temporary(_))),
            "{temporary}"
        );
    }
    for refused in [400, 404, 409, 410, 422] {
        assert!(
            matches!(classify(refused, "u", ""), Err(PluginError::Refused(_))),
            "{refused}"
        );
    }
    let Err(PluginError::Refused(m)) = classify(422, "http://h/t", "bad field\n") else {
        panic!()
    };
    assert_eq!(m, "POST http://h/t: HTTP 422: bad field");
}

#[test]
fn json_lines_append_once_with_the_question_beside() {
    let dir = tempfile::tempdir().unwrap();
    let (_ob, t, b) = stored(&dir.path().join("outbox"), true);
    let out = dir.path().join("delivered");
    let mut desk = JsonLines::tickets(out.clone(), dir.path().join("outbox"));
    assert_eq!(desk.deliver_ticket(&t).unwrap(), Ack::default());
    assert_eq!(desk.deliver_ticket(&t).unwrap(), Ack::default(), "a repeat");
    let text = fs::read_to_string(out.join("tickets.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(line, item_json(&Item::Ticket(t.clone())));
    assert_eq!(
        fs::read(out.join("LI-2026-000001.wav")).unwrap(),
        fs::read(dir.path().join("outbox/LI-2026-000001.wav")).unwrap()
    );
    // A line cut short by a crash does not swallow the next one.
    let path = out.join("bookings.jsonl");
    fs::write(&path, b"{\"id\": \"AP-2026-0000").unwrap();
    JsonLines::bookings(out.clone())
        .append(&Item::Booking(b.clone()))
        .unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["id"], b.id.as_str());
    // An unwritable directory is a temporary failure.
    let blocked = dir.path().join("blocked");
    fs::write(&blocked, b"x").unwrap();
    let mut desk = JsonLines::tickets(blocked, dir.path().join("outbox"));
    assert!(matches!(
        desk.deliver_ticket(&t),
        Err(PluginError::Temporary(_))
    ));
}

#[test]
fn the_agenda_counts_delivered_and_pending_bookings_per_office() {
    let dir = tempfile::tempdir().unwrap();
    let (_ob, _t, pending) = stored(&dir.path().join("outbox"), false);
    let out = dir.path().join("delivered");
    let cfg = AgendaConfig {
        desks: std::num::NonZeroU32::new(2).unwrap(),
        ..AgendaConfig::default()
    };
    let since = at(2026, 3, 1, 0, 0).naive_local();
    let mut agenda = Agenda::open(&cfg, out.clone(), [pending.clone()], since).unwrap();
    let nine = pending.slot.start;
    assert_eq!(agenda.booked(Some("roma-eur"), nine), 1);
    assert!(agenda.has_room(Some("roma-eur"), nine, None));
    let mut other = pending.clone();
    other.idempotency_key = "k2".into();
    other.id = "AP-2026-000002".into();
    agenda.deliver_booking(&other).unwrap();
    agenda.deliver_booking(&other).unwrap();
    assert_eq!(
        agenda.booked(Some("roma-eur"), nine),
        2,
        "a repeat counts once"
    );
    assert!(
        !agenda.has_room(Some("roma-eur"), nine, None),
        "both desks taken"
    );
    assert!(
        agenda.has_room(Some("roma-eur"), nine, Some("k2")),
        "the same booking again"
    );
    assert!(
        agenda.has_room(Some("milano"), nine, None),
        "another office"
    );
    let query = SlotQuery {
        office: Some("roma-eur".into()),
        service: "agenzia".into(),
        after: at(2026, 3, 3, 8, 0).naive_local(),
        limit: 2,
        call: CallInfo::default(),
        hours: None,
    };
    let starts: Vec<String> = agenda
        .free_slots(&query)
        .unwrap()
        .iter()
        .map(|s| s.start.format("%d %H:%M").to_string())
        .collect();
    assert_eq!(starts, ["03 08:30", "03 09:30"], "09:00 is full");
    // Reopened: the delivered line counts, the pending one is given again.
    let reopened = Agenda::open(&cfg, out, [pending], since).unwrap();
    assert_eq!(reopened.booked(Some("roma-eur"), nine), 2);
}

fn sh(script: &str, timeout_ms: u64) -> Exec {
    let cfg = ExecConfig {
        command: Argv(vec!["/bin/sh".into(), "-c".into(), script.into()]),
        timeout_ms: NonZeroU64::new(timeout_ms).unwrap(),
    };
    Exec::new(&cfg, "/var/spool/outbox".into())
}

#[test]
fn exec_sends_json_on_stdin_and_reads_the_reply() {
    let dir = tempfile::tempdir().unwrap();
    let (_ob, t, b) = stored(dir.path(), true);
    let input = dir.path().join("in.json");
    let script = format!("cat > '{}'; echo '{{\"id\": \"CRM-7\"}}'", input.display());
    let ack = sh(&script, 5000).deliver_ticket(&t).unwrap();
    assert_eq!(ack.remote_id.as_deref(), Some("CRM-7"));
    let req: serde_json::Value = serde_json::from_slice(&fs::read(&input).unwrap()).unwrap();
    assert_eq!(req["op"], "ticket");
    assert_eq!(req["ticket"], item_json(&Item::Ticket(t)));
    assert_eq!(req["question_path"], "/var/spool/outbox/LI-2026-000001.wav");

    let ack = sh(&format!("cat > '{}'", input.display()), 5000)
        .deliver_booking(&b)
        .unwrap();
    assert_eq!(ack, Ack::default(), "exit 0 with no output is an ack");
    let req: serde_json::Value = serde_json::from_slice(&fs::read(&input).unwrap()).unwrap();
    assert_eq!(req["op"], "booking");
    assert_eq!(req["booking"]["id"], "AP-2026-000001");

    let slots = sh(
        r#"read -r line; case "$line" in *'"op":"slots"'*) echo '{"slots": [{"start": "2026-03-03T09:00:00", "duration_min": 30}]}';; esac"#,
        5000,
    )
    .free_slots(&SlotQuery {
        office: None,
        service: "agenzia".into(),
        after: at(2026, 3, 3, 8, 0).naive_local(),
        limit: 3,
        call: CallInfo::default(),
        hours: None,
    })
    .unwrap();
    assert_eq!(slots.len(), 1);
    assert_eq!(slots[0].slot_id, None);
    let info = sh(
        r#"read -r line; case "$line" in *'"op":"lookup"'*) echo '{"vars": {"known": "1"}}';; esac"#,
        5000,
    )
    .lookup(&CallInfo::default())
    .unwrap();
    assert_eq!(info.vars["known"], "1");
}

#[test]
fn exec_failures_are_sorted() {
    let dir = tempfile::tempdir().unwrap();
    let (_ob, t, _b) = stored(dir.path(), false);
    let cases = [
        (
            "echo '{\"error\": \"unknown office\", \"retry\": false}'",
            "refused: unknown office",
        ),
        (
            "echo '{\"error\": \"db locked\"}'",
            "temporary failure: db locked",
        ),
        (
            "echo 'no such section' >&2; exit 65",
            "refused: /bin/sh exited with status 65: no such section",
        ),
        (
            "echo 'connection refused' >&2; exit 1",
            "temporary failure: /bin/sh exited with status 1: connection refused",
        ),
        (
            "kill -9 $$",
            "temporary failure: /bin/sh was killed by a signal",
        ),
    ];
    for (script, expected) in cases {
        let err = sh(&format!("cat >/dev/null; {script}"), 5000)
            .deliver_ticket(&t)
            .unwrap_err();
        assert_eq!(err.to_string(), expected, "{script}");
    }
    let missing = Exec::new(
        &ExecConfig {
            command: Argv(vec!["/nonexistent/plugin".into()]),
            timeout_ms: NonZeroU64::new(1000).unwrap(),
        },
        "/tmp".into(),
    );
    assert!(matches!(
        missing.clone().deliver_ticket(&t),
        Err(PluginError::Temporary(m)) if m.contains("cannot run /nonexistent/plugin")
    ));
}

#[test]
#[allow(clippy::disallowed_methods)] // measures that the kill happens at the timeout
fn exec_kills_a_program_past_its_timeout_with_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let (_ob, t, _b) = stored(dir.path(), false);
    let started = std::time::Instant::now();
    let err = sh("sleep 30; echo '{}'", 300)
        .deliver_ticket(&t)
        .unwrap_err();
    assert!(
        matches!(&err, PluginError::Temporary(m) if m.contains("no reply within 300 ms")),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
