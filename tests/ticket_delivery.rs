//! Linea INPS tickets from the running daemon to a real HTTP back office
//! (`common::WebhookServer`), end to end: a ticket opened through the operator console's
//! `POST /api/tickets` or confirmed to a caller in the menu is delivered exactly once,
//! with its idempotency key, whether the back office is down for a while or the daemon
//! is killed right after the confirmation and started again on the same outbox; a
//! repeated console request (same `Idempotency-Key`) is the same ticket; and when the
//! outbox cannot be written the console gets `503` and nothing is ever delivered.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

// This crate uses no sipp or baresip: the shared harness re-exports them all the same.
#[allow(unused_imports)]
mod common;

use common::centre::Caller;
use common::*;
use serde_json::{Value, json};
use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Delivery retries of these daemons: 200 ms doubling up to 1 s.
const RETRY: &str = "{initial_ms: 200, max_ms: 1000}";
/// More than three retry periods at `max_ms`: a second delivery would have happened.
const SETTLE: Duration = Duration::from_millis(3500);
/// How long a delivery may take once the back office is reachable.
const DELIVERY: Duration = Duration::from_secs(10);
/// The caller's number and the office number in the console's requests.
const CALLER: &str = "+393331234567";
/// Direzione provinciale di Bari (province BA, region Puglia) in `directory/inps.yaml`.
const BARI: &str = "080 010 1000";

/// The daemon's configuration: its own outbox, retries, a webhook back end for tickets,
/// the admin endpoint on `admin` (or off), and `extra` YAML.
fn config(outbox: &Path, webhook: &str, admin: Option<SocketAddr>, extra: &str) -> String {
    let admin = admin.map_or("null".to_string(), |a| a.to_string());
    format!(
        "admin:\n  listen: {admin}\n\
         plugins:\n  outbox_dir: '{}'\n  retry: {RETRY}\n  \
         tickets: {{backend: webhook, url: \"{webhook}\", timeout_ms: 2000}}\n\
         {extra}",
        outbox.display()
    )
}

fn start_daemon(name: &str, yaml: String) -> Daemon {
    eprintln!("[{name}] config:\n{yaml}");
    Daemon::start_with(
        name,
        DaemonOptions {
            config_yaml: Some(yaml),
            ..Default::default()
        },
    )
}

/// A back office that acknowledges tickets with its own id, down for now: the URL is
/// known, nothing listens there yet.
fn back_office_down() -> WebhookServer {
    let mut server = WebhookServer::start();
    server.reply(201, r#"{"id": "CRM-1"}"#);
    server.stop();
    server
}

/// The console's request for a caller and office named in the body.
fn console_ticket(notes: &str) -> Value {
    json!({
        "operator": "op1",
        "section": "pensioni",
        "caller": CALLER,
        "dialled": BARI,
        "notes": notes,
    })
}

/// `POST /api/tickets` with an `Idempotency-Key`.
fn open_ticket(admin: SocketAddr, key: &str, body: &Value) -> HttpReply {
    post_json(admin, "/api/tickets", &[("Idempotency-Key", key)], body)
}

/// Polls `probe` every 50 ms until it gives a value; panics with `what` after `limit`.
fn wait_for<T>(limit: Duration, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// The item file `<outbox>/<sub>/<id>.json`, if it is there.
fn outbox_item(outbox: &Path, sub: &str, id: &str) -> Option<Value> {
    let text = fs::read_to_string(outbox.join(sub).join(format!("{id}.json"))).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{sub}/{id}.json: {e}: {text}")))
}

/// Waits until the outbox has moved `id` to `done/` as delivered; returns the item.
fn wait_delivered(outbox: &Path, id: &str) -> Value {
    let item = wait_for(DELIVERY, &format!("{id} in done/"), || {
        outbox_item(outbox, "done", id)
    });
    assert_eq!(
        item["status"]["state"], "delivered",
        "done/{id}.json: {item}"
    );
    assert!(
        outbox_item(outbox, "pending", id).is_none(),
        "{id} is both delivered and pending"
    );
    item
}

/// Checks an id of the form `LI-<year>-NNNNNN` for `year`.
fn assert_ticket_id(id: &str, year: &str) {
    let parts: Vec<&str> = id.split('-').collect();
    let well_formed = parts.len() == 3
        && parts[0] == "LI"
        && parts[1] == year
        && parts[2].len() == 6
        && parts[2].bytes().all(|b| b.is_ascii_digit());
    assert!(well_formed, "ticket id {id:?} is not LI-{year}-NNNNNN");
}

/// The ticket ids in the bodies of the requests the back office received.
fn delivered_ids(server: &WebhookServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|r| r.json()["id"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[test]
fn a_console_ticket_reaches_a_back_office_that_was_down_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let mut server = back_office_down();
    let admin = free_admin_addr();
    let daemon = start_daemon(
        "ticket-webhook-down",
        config(&outbox, &server.url("/tickets"), Some(admin), ""),
    );
    wait_admin_up(&daemon, admin, Duration::from_secs(5));

    // The console opens a ticket while the back office is down: it is stored, and the
    // answer is the stored ticket.
    let key = format!("console-{}", token());
    let body = console_ticket("Chiede il ricalcolo della pensione");
    let created = open_ticket(admin, &key, &body);
    assert_eq!(created.status, 201, "POST /api/tickets: {created:?}");
    assert!(
        created
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{created:?}"
    );
    let t = created.json();
    eprintln!("stored: {t}");
    let id = t["id"].as_str().expect("an id").to_string();
    let created_at = t["created_at"].as_str().expect("created_at");
    assert_ticket_id(&id, &created_at[..4]);
    assert!(
        id.ends_with("-000001"),
        "first ticket of a new outbox: {id}"
    );
    assert_eq!(t["idempotency_key"], key.as_str(), "{t}");
    assert_eq!(t["section"], "pensioni", "{t}");
    assert_eq!(t["destination"], "CRIC Puglia — pensioni", "{t}");
    assert_eq!(t["call"]["caller"], CALLER, "{t}");
    assert_eq!(t["call"]["office"], "bari", "{t}");
    assert_eq!(t["call"]["province"], "BA", "{t}");
    assert_eq!(t["call"]["region"], "Puglia", "{t}");
    assert_eq!(t["origin"], json!({"by": "api", "operator": "op1"}), "{t}");
    assert_eq!(t["notes"], "Chiede il ricalcolo della pensione", "{t}");
    assert_eq!(t["question_wav"], Value::Null, "{t}");

    // It waits in the outbox while the daemon keeps trying.
    let pending = outbox_item(&outbox, "pending", &id)
        .unwrap_or_else(|| panic!("{id} confirmed by the API but not in pending/"));
    assert_eq!(pending["id"], id.as_str());
    assert!(
        daemon.wait_for_log(
            &format!("{id} not delivered (attempt 2)"),
            Duration::from_secs(5)
        ),
        "the daemon did not retry {id} while the back office was down"
    );

    // The console repeats its request (same key) meanwhile: the same ticket.
    let again = open_ticket(admin, &key, &body);
    assert_eq!(again.status, 201, "repeated POST /api/tickets: {again:?}");
    let again = again.json();
    assert_eq!(
        (&again["id"], &again["created_at"]),
        (&t["id"], &t["created_at"]),
        "a repeated request is the same ticket: {again}"
    );

    // The back office comes up: one POST, the ticket with its key.
    server.restart();
    let got = server.wait_requests(1, DELIVERY);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/tickets"));
    assert_eq!(r.header("idempotency-key"), Some(key.as_str()), "{r:?}");
    let sent = r.json();
    assert_eq!(sent["id"], id.as_str(), "{sent}");
    assert_eq!(sent["idempotency_key"], key.as_str(), "{sent}");
    assert_eq!(sent["section"], "pensioni", "{sent}");
    assert_eq!(sent["destination"], "CRIC Puglia — pensioni", "{sent}");
    assert_eq!(sent["call"]["region"], "Puglia", "{sent}");
    assert_eq!(sent["origin"], json!({"by": "api", "operator": "op1"}));
    let done = wait_delivered(&outbox, &id);
    assert_eq!(done["status"]["remote_id"], "CRM-1", "{done}");
    assert!(daemon.wait_for_log(&format!("{id} delivered (CRM-1)"), Duration::from_secs(2)));

    // The same request once more, after the delivery: still the same ticket.
    let late = open_ticket(admin, &key, &body);
    assert_eq!(late.status, 201, "repeated POST after delivery: {late:?}");
    assert_eq!(late.json()["id"], id.as_str(), "{late:?}");

    thread::sleep(SETTLE);
    assert_eq!(
        delivered_ids(&server),
        [id.as_str()],
        "the back office must receive the ticket exactly once"
    );

    // A new request (a new key) is a new ticket, delivered in turn.
    let other = open_ticket(admin, &format!("console-{}", token()), &body);
    assert_eq!(other.status, 201, "{other:?}");
    let other_id = other.json()["id"].as_str().unwrap().to_string();
    assert_ne!(other_id, id);
    server.wait_requests(2, DELIVERY);
    wait_delivered(&outbox, &other_id);
    assert_eq!(delivered_ids(&server), [id.as_str(), other_id.as_str()]);
}

/// The caller's RTP socket: records every packet the daemon sends to it, readable while
/// the call goes on.
struct LiveRtp {
    port: u16,
    packets: Arc<Mutex<Vec<RtpPacket>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl LiveRtp {
    fn start() -> LiveRtp {
        let sock = UdpSocket::bind((LOOPBACK, 0)).expect("bind the caller's RTP socket");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let packets = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (packets2, stop2) = (packets.clone(), stop.clone());
        let handle = thread::spawn(move || {
            let started = Instant::now();
            let mut buf = [0u8; 2048];
            while !stop2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf)
                    && let Some(p) = parse_rtp(&buf[..n], started.elapsed(), from)
                {
                    packets2.lock().unwrap().push(p);
                }
            }
        });
        LiveRtp {
            port,
            packets,
            stop,
            handle: Some(handle),
        }
    }

    /// The G.711 audio received so far, in arrival order.
    fn audio(&self) -> Vec<f32> {
        let packets = self.packets.lock().unwrap();
        packets
            .iter()
            .filter(|p| p.pt == PT_PCMU || p.pt == PT_PCMA)
            .flat_map(|p| {
                p.payload.iter().map(move |&b| {
                    let s = if p.pt == PT_PCMA {
                        alaw_to_linear(b)
                    } else {
                        ulaw_to_linear(b)
                    };
                    s as f32 / 32768.0
                })
            })
            .collect()
    }
}

impl Drop for LiveRtp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The `ivr:` configuration of a menu, written in `dir`, that opens a ticket at once
/// (no recorded question) and reads its id back.
fn ticket_menu(dir: &Path) -> String {
    let tree = dir.join("ticket.yaml");
    fs::write(
        &tree,
        "name: ticket di prova\nstart: ticket-pensioni\nnodes:\n  \
         ticket-pensioni:\n    ticket: {target: pensioni, record: false}\n",
    )
    .unwrap();
    format!("ivr:\n  tree: '{}'\n  watch_ms: 0\n", tree.display())
}

#[test]
fn a_ticket_confirmed_to_a_caller_survives_sigkill_and_is_delivered_once() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let mut server = back_office_down();
    let yaml = config(
        &outbox,
        &server.url("/tickets"),
        None,
        &ticket_menu(dir.path()),
    );
    let config_file = dir.path().join("centralino.yaml");
    fs::write(&config_file, &yaml).unwrap();
    let mut first = start_daemon("ticket-sigkill-1", yaml.clone());

    // A caller (literal SIP over UDP) is confirmed the ticket.
    let rtp = LiveRtp::start();
    let mut caller = Caller::new(first.sip);
    let ok = caller.transaction("INVITE", Some(&sdp_offer(rtp.port)));
    assert_eq!(ok.status(), Some(200), "caller's INVITE:\n{}", ok.raw);
    let id = wait_for(
        Duration::from_secs(10),
        "`ticket stored` in the log",
        || stored_ticket_id(&first.log()),
    );
    eprintln!("stored {id}");
    // "La Sua richiesta è stata registrata…": the caller hears the confirmation begin.
    let confirmation = read_wav(&prompt_path("ticket/registrata"));
    let opening = &confirmation[..confirmation.len().min(12_000)];
    let score = wait_for(
        Duration::from_secs(10),
        "the caller hearing ticket/registrata",
        || {
            let heard = rtp.audio();
            let s = similarity(&heard, opening);
            (heard.len() > opening.len() && s > 0.8).then_some(s)
        },
    );
    eprintln!("the caller heard the confirmation (similarity {score:.3})");
    // By then the ticket is durable, with the key every delivery will carry.
    let pending = outbox_item(&outbox, "pending", &id)
        .unwrap_or_else(|| panic!("{id} was confirmed but is not in pending/"));
    let key = pending["idempotency_key"]
        .as_str()
        .expect("an idempotency key")
        .to_string();
    assert_eq!(pending["origin"], json!({"by": "menu"}), "{pending}");
    assert_eq!(pending["section"], "pensioni", "{pending}");

    // The daemon dies at once, mid-confirmation.
    first.signal(libc::SIGKILL);
    let status = first
        .wait_exit(Duration::from_secs(5))
        .expect("the daemon did not die on SIGKILL");
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status}");
    drop(caller);
    assert!(server.requests().is_empty(), "delivered while down?");

    // The back office is up; a new daemon on the same outbox delivers it, once.
    server.restart();
    let second = start_daemon("ticket-sigkill-2", yaml);
    let got = server.wait_requests(1, DELIVERY);
    let r = &got[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/tickets"));
    assert_eq!(r.header("idempotency-key"), Some(key.as_str()), "{r:?}");
    let sent = r.json();
    assert_eq!(sent["id"], id.as_str(), "{sent}");
    assert_eq!(sent["idempotency_key"], key.as_str(), "{sent}");
    assert_eq!(sent["origin"], json!({"by": "menu"}), "{sent}");
    let done = wait_delivered(&outbox, &id);
    assert_eq!(done["status"]["remote_id"], "CRM-1", "{done}");
    thread::sleep(SETTLE);
    assert_eq!(
        delivered_ids(&server),
        [id.as_str()],
        "the back office must receive the ticket exactly once"
    );

    // What an administrator sees: the ticket delivered as the back office's id.
    let list = Command::new(env!("CARGO_BIN_EXE_centralino"))
        .args(["outbox", "list", "--config"])
        .arg(&config_file)
        .output()
        .expect("run centralino outbox list");
    let text = String::from_utf8_lossy(&list.stdout);
    eprintln!("centralino outbox list:\n{text}");
    assert!(list.status.success(), "centralino outbox list: {list:?}");
    let row = text
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} not listed:\n{text}"));
    assert!(
        row.contains("delivered") && row.contains("as CRM-1"),
        "{id} is not shown delivered: {row}"
    );
    assert!(
        text.contains("1 item: 0 pending, 1 delivered, 0 failed"),
        "{text}"
    );
    drop(second);
}

#[test]
fn an_outbox_that_cannot_be_written_gets_no_confirmation_and_no_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let server = WebhookServer::start();
    server.reply(201, r#"{"id": "CRM-9"}"#);
    let admin = free_admin_addr();
    let daemon = start_daemon(
        "ticket-outbox-broken",
        config(&outbox, &server.url("/tickets"), Some(admin), ""),
    );
    wait_admin_up(&daemon, admin, Duration::from_secs(5));
    let body = console_ticket("Domanda di ricostituzione");

    // While the outbox works, a ticket is stored and delivered.
    let first = open_ticket(admin, &format!("console-{}", token()), &body);
    assert_eq!(first.status, 201, "{first:?}");
    let first_id = first.json()["id"].as_str().unwrap().to_string();
    server.wait_requests(1, DELIVERY);
    wait_delivered(&outbox, &first_id);

    // Pending items can no longer be written: `pending/` is now a regular file.
    let pending_dir = outbox.join("pending");
    fs::remove_dir(&pending_dir).expect("pending/ is empty once all is delivered");
    fs::write(&pending_dir, b"not a directory\n").unwrap();

    let key = format!("console-{}", token());
    let refused = open_ticket(admin, &key, &body);
    eprintln!("with pending/ unwritable: {refused:?}");
    assert_eq!(
        refused.status, 503,
        "a ticket not stored must not be confirmed"
    );
    assert!(
        refused
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{refused:?}"
    );
    let error = refused.json();
    assert!(
        error["error"].as_str().is_some_and(|e| !e.is_empty()),
        "503 without an error message: {error}"
    );
    assert!(
        error.get("id").is_none(),
        "a refused ticket has no id: {error}"
    );
    assert!(daemon.wait_for_log("ticket NOT stored", Duration::from_secs(2)));

    thread::sleep(SETTLE);
    assert_eq!(
        delivered_ids(&server),
        [first_id.as_str()],
        "nothing of the refused ticket may be delivered"
    );

    // The disk is repaired; the console tries again with the same key: a new ticket,
    // the only one delivered after the first.
    fs::remove_file(&pending_dir).unwrap();
    fs::create_dir(&pending_dir).unwrap();
    let retried = open_ticket(admin, &key, &body);
    assert_eq!(retried.status, 201, "{retried:?}");
    let retried = retried.json();
    let retried_id = retried["id"].as_str().unwrap().to_string();
    assert_ne!(retried_id, first_id);
    assert_eq!(retried["idempotency_key"], key.as_str());
    server.wait_requests(2, DELIVERY);
    wait_delivered(&outbox, &retried_id);
    thread::sleep(SETTLE);
    assert_eq!(
        delivered_ids(&server),
        [first_id.as_str(), retried_id.as_str()]
    );
    // The outbox holds exactly the two confirmed tickets, both delivered.
    let settled: Vec<PathBuf> = fs::read_dir(outbox.join("done"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(settled.len(), 2, "done/: {settled:?}");
    assert!(
        fs::read_dir(&pending_dir).unwrap().next().is_none(),
        "pending/ is not empty"
    );
}

/// `CallInfo::caller` is "the caller's number (E.164 when it could be normalised)", as
/// `dialled` is (`docs/plugins.md` shows both as `+39…`): a back office calls back the
/// number the ticket carries.
#[test]
fn tickets_carry_the_callers_number_in_e164() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let server = WebhookServer::start();
    let admin = free_admin_addr();
    let daemon = start_daemon(
        "ticket-caller-e164",
        config(
            &outbox,
            &server.url("/tickets"),
            Some(admin),
            &ticket_menu(dir.path()),
        ),
    );
    wait_admin_up(&daemon, admin, Duration::from_secs(5));

    // A caller whose From is a national number (`0612345678`), through the menu.
    let rtp = LiveRtp::start();
    let mut caller = Caller::new(daemon.sip);
    let ok = caller.transaction("INVITE", Some(&sdp_offer(rtp.port)));
    assert_eq!(ok.status(), Some(200), "caller's INVITE:\n{}", ok.raw);
    let id = wait_for(
        Duration::from_secs(10),
        "`ticket stored` in the log",
        || stored_ticket_id(&daemon.log()),
    );
    let menu = server.wait_requests(1, DELIVERY)[0].json();
    assert_eq!(menu["id"], id.as_str(), "{menu}");
    assert_eq!(menu["call"]["dialled"], "+39803164", "{menu}");

    // The console names a mobile number written as people write it.
    let mut body = console_ticket("Richiamare sul cellulare");
    body["caller"] = json!("333 123 4567");
    let api = open_ticket(admin, &format!("console-{}", token()), &body);
    assert_eq!(api.status, 201, "{api:?}");
    let api = api.json();
    assert_eq!(api["call"]["dialled"], "+390800101000", "{api}");

    assert_eq!(
        [&menu["call"]["caller"], &api["call"]["caller"]],
        [&json!("+390612345678"), &json!("+393331234567")],
        "callers' numbers in tickets (menu, console) are not E.164"
    );
}
