//! The plugin runtime end to end on real back ends: the embedded outbox, a webhook
//! served by a real HTTP server on loopback (`common::WebhookServer`), and `/bin/sh`
//! programs. The product rule under test: a ticket or booking confirmed to the caller
//! is delivered exactly once, however the back end behaves meanwhile.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

#[allow(unused_imports)] // the harness re-exports more than these tests use
mod common;

use centralino::config::Config;
use centralino::plugin::outbox::read_all;
use centralino::plugin::{
    CallInfo, Origin, PluginError, PluginReply, PluginService, PluginsConfig, Section, SlotQuery,
    Status, Ticket, TicketRequest,
};
use common::{Reply, WebhookServer};
use crossbeam_channel::{Receiver, unbounded};
use std::path::Path;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn config(dir: &Path, yaml: &str) -> PluginsConfig {
    let text = format!(
        "plugins:\n  outbox_dir: {}\n  retry: {{initial_ms: 50, max_ms: 200}}\n{yaml}",
        dir.join("outbox").display()
    );
    Config::parse(&text, "test.yaml").unwrap().plugins
}

fn start(cfg: &PluginsConfig) -> (PluginService, Receiver<PluginReply>) {
    let (tx, rx) = unbounded();
    let service = PluginService::start(
        cfg,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    )
    .unwrap();
    (service, rx)
}

fn call() -> CallInfo {
    CallInfo {
        caller: "+393331234567".into(),
        dialled: "+390659051".into(),
        office: Some("roma-eur".into()),
        region: Some("Lazio".into()),
        ..CallInfo::default()
    }
}

fn request(question: Option<Vec<i16>>) -> TicketRequest {
    TicketRequest {
        section: Section::SostegnoReddito,
        destination: "CRIC Lazio — prestazioni a sostegno del reddito".into(),
        call: call(),
        question,
        origin: Origin::Menu,
        notes: None,
        idempotency_key: None,
    }
}

fn reply(rx: &Receiver<PluginReply>) -> PluginReply {
    rx.recv_timeout(WAIT).expect("a plugin reply")
}

fn stored(rx: &Receiver<PluginReply>, tag: u64) -> Ticket {
    match reply(rx) {
        PluginReply::TicketStored { tag: t, result } if t == tag => result.expect("stored"),
        other => panic!("expected TicketStored {tag}, got {other:?}"),
    }
}

/// Waits, checking the outbox files, until `cond` holds for the item `id`.
fn wait_status(cfg: &PluginsConfig, id: &str, what: &str, cond: impl Fn(&Status) -> bool) {
    let deadline = Instant::now() + WAIT;
    let (_never, tick) = unbounded::<()>();
    loop {
        let items = read_all(&cfg.outbox_dir).unwrap();
        if let Some(item) = items.iter().find(|i| i.id() == id)
            && cond(item.status())
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never became {what}: {items:?}"
        );
        let _ = tick.recv_timeout(Duration::from_millis(10));
    }
}

fn webhook_tickets(dir: &Path, server: &WebhookServer) -> PluginsConfig {
    config(
        dir,
        &format!(
            "  tickets: {{backend: webhook, url: \"{}\", timeout_ms: 2000, headers: {{Authorization: Bearer s3cret}}}}\n",
            server.url("/tickets")
        ),
    )
}

#[test]
fn the_embedded_back_ends_store_deliver_and_book() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "");
    let (service, rx) = start(&cfg);
    assert!(!service.has_lookup());
    service.open_ticket(1, request(Some(vec![500; 8000])));
    let t = stored(&rx, 1);
    assert!(
        t.id.starts_with("LI-") && t.id.ends_with("-000001"),
        "{}",
        t.id
    );
    assert_eq!(t.question_ms, Some(1000));
    wait_status(&cfg, &t.id, "delivered", |s| {
        matches!(s, Status::Delivered { .. })
    });
    let delivered = dir.path().join("outbox/delivered");
    let lines = std::fs::read_to_string(delivered.join("tickets.jsonl")).unwrap();
    let line: serde_json::Value = serde_json::from_str(lines.trim()).unwrap();
    assert_eq!(line["id"], t.id.as_str());
    assert_eq!(line["section"], "sostegno-reddito");
    assert!(delivered.join(format!("{}.wav", t.id)).exists());

    let query = SlotQuery {
        office: Some("roma-eur".into()),
        service: "agenzia".into(),
        after: chrono::NaiveDateTime::parse_from_str("2026-03-02 08:00", "%Y-%m-%d %H:%M").unwrap(),
        limit: 3,
        call: call(),
        hours: None,
    };
    service.free_slots(2, query.clone());
    let PluginReply::Slots { tag: 2, result } = reply(&rx) else {
        panic!()
    };
    let slots = result.unwrap();
    assert_eq!(slots.len(), 3);
    assert_eq!(slots[0].start.to_string(), "2026-03-02 08:30:00");
    let booking = |key: &str| centralino::plugin::BookingRequest {
        service: "agenzia".into(),
        office: Some("roma-eur".into()),
        slot: slots[0].clone(),
        call: call(),
        origin: Origin::Menu,
        idempotency_key: Some(key.into()),
    };
    service.book(3, booking("a"));
    let PluginReply::Booked { tag: 3, result } = reply(&rx) else {
        panic!()
    };
    let b = result.unwrap();
    assert!(b.id.starts_with("AP-"));
    service.book(4, booking("b"));
    let PluginReply::Booked { tag: 4, result } = reply(&rx) else {
        panic!()
    };
    assert!(result.unwrap_err().contains("no longer free"));
    service.book(5, booking("a"));
    let PluginReply::Booked { tag: 5, result } = reply(&rx) else {
        panic!()
    };
    assert_eq!(
        result.unwrap().id,
        b.id,
        "a repeated request is the same booking"
    );
    service.free_slots(6, query);
    let PluginReply::Slots { tag: 6, result } = reply(&rx) else {
        panic!()
    };
    assert_eq!(result.unwrap()[0].start.to_string(), "2026-03-02 09:00:00");
    service.lookup(7, call());
    assert_eq!(
        reply(&rx),
        PluginReply::CallerLooked {
            tag: 7,
            result: Ok(Default::default())
        }
    );
    wait_status(&cfg, &b.id, "delivered", |s| {
        matches!(s, Status::Delivered { .. })
    });
    service.shutdown(Duration::from_secs(5));
}

#[test]
fn a_webhook_down_for_a_while_gets_the_ticket_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = WebhookServer::start();
    server.reply(201, r#"{"id": "CRM-42"}"#);
    server.stop();
    let cfg = webhook_tickets(dir.path(), &server);
    let (service, rx) = start(&cfg);
    service.open_ticket(1, request(Some(vec![7; 400])));
    let t = stored(&rx, 1);
    wait_status(
        &cfg,
        &t.id,
        "retried",
        |s| matches!(s, Status::Pending { attempts } if *attempts >= 3),
    );
    server.restart();
    let got = server.wait_requests(1, WAIT);
    wait_status(
        &cfg,
        &t.id,
        "delivered",
        |s| matches!(s, Status::Delivered { remote_id: Some(r), .. } if r == "CRM-42"),
    );
    service.shutdown(Duration::from_secs(5));
    assert_eq!(server.requests().len(), 1, "exactly once");
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/tickets"));
    assert_eq!(
        r.header("idempotency-key"),
        Some(t.idempotency_key.as_str())
    );
    assert_eq!(r.header("authorization"), Some("Bearer s3cret"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["id"], t.id.as_str());
    assert_eq!(body["idempotency_key"], t.idempotency_key.as_str());
    assert!(body.get("status").is_none());
    let wav = body["question_wav_base64"].as_str().unwrap();
    assert!(wav.starts_with("UklGR"), "a RIFF file: {wav:.12}");
}

#[test]
fn a_503_then_a_200_is_two_attempts_and_one_ack() {
    let dir = tempfile::tempdir().unwrap();
    let server = WebhookServer::start();
    server.script([
        Reply::new(503, "busy"),
        Reply::new(200, r#"{"id": "CRM-7"}"#),
    ]);
    let cfg = webhook_tickets(dir.path(), &server);
    let (service, rx) = start(&cfg);
    service.open_ticket(1, request(None));
    let t = stored(&rx, 1);
    let got = server.wait_requests(2, WAIT);
    wait_status(
        &cfg,
        &t.id,
        "delivered",
        |s| matches!(s, Status::Delivered { remote_id: Some(r), .. } if r == "CRM-7"),
    );
    service.shutdown(Duration::from_secs(5));
    assert_eq!(server.requests().len(), 2);
    assert_eq!(got[0].body, got[1].body, "the same request again");
    assert_eq!(
        got[1].header("idempotency-key"),
        Some(t.idempotency_key.as_str())
    );
}

#[test]
fn a_422_fails_the_ticket_and_the_next_one_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = WebhookServer::start();
    server.script([Reply::new(422, "sezione sconosciuta")]);
    let cfg = webhook_tickets(dir.path(), &server);
    let (service, rx) = start(&cfg);
    service.open_ticket(1, request(None));
    let first = stored(&rx, 1);
    wait_status(
        &cfg,
        &first.id,
        "failed",
        |s| matches!(s, Status::Failed { reason } if reason.contains("422") && reason.contains("sezione sconosciuta")),
    );
    service.open_ticket(2, request(None));
    let second = stored(&rx, 2);
    wait_status(&cfg, &second.id, "delivered", |s| {
        matches!(s, Status::Delivered { .. })
    });
    service.shutdown(Duration::from_secs(5));
    let got = server.requests();
    let ids: Vec<_> = got.iter().map(|r| r.json()["id"].clone()).collect();
    assert_eq!(
        ids,
        [first.id.as_str(), second.id.as_str()],
        "no retry of the refused one"
    );
}

#[test]
fn pending_items_survive_a_restart_and_ids_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = WebhookServer::start();
    server.stop();
    let cfg = webhook_tickets(dir.path(), &server);
    let (service, rx) = start(&cfg);
    service.open_ticket(1, request(None));
    let t = stored(&rx, 1);
    service.shutdown(Duration::from_secs(5));
    assert!(matches!(
        read_all(&cfg.outbox_dir).unwrap()[0].status(),
        Status::Pending { .. }
    ));

    server.restart();
    let (service, rx) = start(&cfg);
    server.wait_requests(1, WAIT);
    wait_status(&cfg, &t.id, "delivered", |s| {
        matches!(s, Status::Delivered { .. })
    });
    service.open_ticket(2, request(None));
    let next = stored(&rx, 2);
    assert_eq!(&next.id[..8], &t.id[..8]);
    assert!(next.id.ends_with("-000002"), "{}", next.id);
    wait_status(&cfg, &next.id, "delivered", |s| {
        matches!(s, Status::Delivered { .. })
    });
    service.shutdown(Duration::from_secs(5));
    let ids: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.json()["id"].clone())
        .collect();
    assert_eq!(ids, [t.id.as_str(), next.id.as_str()]);
}

#[test]
fn shutdown_does_not_wait_past_its_deadline_for_a_hung_back_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = WebhookServer::start();
    server.hang(true);
    let cfg = config(
        dir.path(),
        &format!(
            "  tickets: {{backend: webhook, url: \"{}\", timeout_ms: 30000}}\n",
            server.url("/t")
        ),
    );
    let (service, rx) = start(&cfg);
    service.open_ticket(1, request(None));
    let t = stored(&rx, 1);
    server.wait_requests(1, WAIT);
    let started = Instant::now();
    service.shutdown(Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(5));
    wait_status(&cfg, &t.id, "pending", |s| {
        matches!(s, Status::Pending { .. })
    });
}

#[test]
fn appointments_and_lookup_over_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let server = WebhookServer::start();
    server.route(
        "/slots",
        200,
        r#"{"slots": [{"start": "2026-03-03T09:00:00", "duration_min": 20, "slot_id": "S-1", "officer": "sportello 2"}]}"#,
    );
    server.route("/book", 200, r#"{"id": "B-9"}"#);
    server.route("/lookup", 200, r#"{"vars": {"known": "1"}}"#);
    let cfg = config(
        dir.path(),
        &format!(
            "  appointments: {{backend: webhook, slots_url: \"{}\", book_url: \"{}\"}}\n  caller_lookup: {{backend: webhook, url: \"{}\"}}\n",
            server.url("/slots"),
            server.url("/book"),
            server.url("/lookup")
        ),
    );
    let (service, rx) = start(&cfg);
    assert!(service.has_lookup());
    service.lookup(1, call());
    let PluginReply::CallerLooked { tag: 1, result } = reply(&rx) else {
        panic!()
    };
    assert_eq!(result.unwrap().vars["known"], "1");
    let query = SlotQuery {
        office: Some("roma-eur".into()),
        service: "agenzia".into(),
        after: chrono::NaiveDateTime::parse_from_str("2026-03-02 08:00", "%Y-%m-%d %H:%M").unwrap(),
        limit: 3,
        call: call(),
        hours: None,
    };
    service.free_slots(2, query);
    let PluginReply::Slots { tag: 2, result } = reply(&rx) else {
        panic!()
    };
    let slots = result.unwrap();
    assert_eq!(slots[0].slot_id.as_deref(), Some("S-1"));
    service.book(
        3,
        centralino::plugin::BookingRequest {
            service: "agenzia".into(),
            office: Some("roma-eur".into()),
            slot: slots[0].clone(),
            call: call(),
            origin: Origin::Menu,
            idempotency_key: None,
        },
    );
    let PluginReply::Booked { tag: 3, result } = reply(&rx) else {
        panic!()
    };
    let b = result.unwrap();
    wait_status(
        &cfg,
        &b.id,
        "delivered",
        |s| matches!(s, Status::Delivered { remote_id: Some(r), .. } if r == "B-9"),
    );
    service.shutdown(Duration::from_secs(5));
    let got = server.requests();
    let by_path = |p: &str| got.iter().find(|r| r.path == p).unwrap().json();
    assert_eq!(by_path("/lookup")["caller"], "+393331234567");
    assert_eq!(by_path("/slots")["after"], "2026-03-02T08:00:00");
    assert_eq!(by_path("/slots")["limit"], 3);
    let book = got.iter().find(|r| r.path == "/book").unwrap();
    assert_eq!(
        book.header("idempotency-key"),
        Some(b.idempotency_key.as_str())
    );
    assert_eq!(book.json()["slot"]["slot_id"], "S-1");
}

#[test]
fn a_slow_lookup_does_not_delay_storing_a_ticket() {
    let dir = tempfile::tempdir().unwrap();
    let server = WebhookServer::start();
    server.hang(true);
    let cfg = config(
        dir.path(),
        &format!(
            "  caller_lookup: {{backend: webhook, url: \"{}\", timeout_ms: 500}}\n",
            server.url("/lookup")
        ),
    );
    let (service, rx) = start(&cfg);
    service.lookup(1, call());
    server.wait_requests(1, WAIT);
    service.open_ticket(2, request(None));
    stored(&rx, 2);
    let PluginReply::CallerLooked { tag: 1, result } = reply(&rx) else {
        panic!()
    };
    assert!(
        matches!(result, Err(PluginError::Temporary(_))),
        "{result:?}"
    );
    service.shutdown(Duration::from_secs(5));
}

#[test]
fn an_exec_back_end_takes_tickets() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let script = format!(
        "{{ cat; echo; }} >> '{}'; echo '{{\"id\": \"EX-1\"}}'",
        log.display()
    );
    let cfg = config(
        dir.path(),
        &format!(
            "  tickets: {{backend: exec, command: [/bin/sh, -c, {}]}}\n",
            serde_json::to_string(&script).unwrap()
        ),
    );
    let (service, rx) = start(&cfg);
    service.open_ticket(1, request(None));
    let t = stored(&rx, 1);
    wait_status(
        &cfg,
        &t.id,
        "delivered",
        |s| matches!(s, Status::Delivered { remote_id: Some(r), .. } if r == "EX-1"),
    );
    service.shutdown(Duration::from_secs(5));
    let text = std::fs::read_to_string(&log).unwrap();
    let req: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(req["op"], "ticket");
    assert_eq!(req["ticket"]["id"], t.id.as_str());
}

#[test]
fn an_unusable_outbox_is_a_start_error_or_a_refused_ticket() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("outbox"), b"a file").unwrap();
    let cfg = config(dir.path(), "");
    let err = PluginService::start(&cfg, Box::new(|_| {})).err().unwrap();
    assert!(err.to_string().contains("plugin outbox"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let server = WebhookServer::start();
    let cfg = webhook_tickets(dir.path(), &server);
    let (service, rx) = start(&cfg);
    let again = PluginService::start(&cfg, Box::new(|_| {})).err().unwrap();
    assert!(again.to_string().contains("in use"), "{again}");
    let pending = cfg.outbox_dir.join("pending");
    std::fs::remove_dir_all(&pending).unwrap();
    std::fs::write(&pending, b"not a directory").unwrap();
    service.open_ticket(1, request(None));
    let PluginReply::TicketStored { tag: 1, result } = reply(&rx) else {
        panic!()
    };
    assert!(result.is_err(), "{result:?}");
    service.shutdown(Duration::from_secs(5));
    assert!(server.requests().is_empty(), "nothing is delivered");
}

fn centralino(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_centralino"))
        .args(args)
        .output()
        .expect("run centralino")
}

#[test]
fn the_outbox_command_lists_and_retries() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = WebhookServer::start();
    server.reply(200, r#"{"id": "CRM-1"}"#);
    server.stop();
    let yaml = format!(
        "plugins:\n  outbox_dir: {}\n  tickets: {{backend: webhook, url: \"{}\", timeout_ms: 2000}}\n",
        dir.path().join("outbox").display(),
        server.url("/tickets")
    );
    let file = dir.path().join("centralino.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let cfg = Config::parse(&yaml, "x").unwrap().plugins;
    let (service, rx) = start(&cfg);
    service.open_ticket(1, request(None));
    let t = stored(&rx, 1);
    let config = file.to_str().unwrap();
    let busy = centralino(&["outbox", "retry", "--config", config]);
    assert_eq!(busy.status.code(), Some(2), "the daemon holds the outbox");
    service.shutdown(Duration::from_secs(5));

    let out = centralino(&["outbox", "--config", config]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(&t.id) && text.contains(" pending "), "{text}");
    assert!(
        !text.contains("3331234567"),
        "the caller is redacted: {text}"
    );
    assert!(
        text.ends_with("1 item: 1 pending, 0 delivered, 0 failed\n"),
        "{text}"
    );

    let out = centralino(&["outbox", "retry", "--config", config]);
    assert_eq!(out.status.code(), Some(1), "still down");
    server.restart();
    let out = centralino(&["outbox", "retry", "--config", config, &t.id]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        text,
        format!("{}: delivered as CRM-1\n1 item delivered, 0 not\n", t.id)
    );
    assert_eq!(server.requests().len(), 1);
    let out = centralino(&["outbox", "list", "--config", config]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(" delivered "));
}
