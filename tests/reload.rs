//! Versioned reload of the menu tree: a valid new file serves new calls while calls in
//! progress keep the version they started on; an invalid file is refused with located
//! diagnostics (`file:line:col: error: …`) and the version in service stays. Reloads
//! come from SIGHUP, or from the file's modification time when `ivr.watch_ms` is set.
//!
//! Callers are literal SIP over UDP; each one's SDP points at a UDP socket of the test,
//! whose RTP (G.711) is decoded and correlated with the prompt WAVs to tell which prompt
//! was heard. Keys are pressed with SIP INFO (`application/dtmf-relay`).
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

// This crate uses no sipp: the shared harness re-exports it all the same.
#[allow(unused_imports)]
mod common;

use common::centre;
use common::*;
use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

/// Audio kept after the ACK to recognise a greeting.
const GREETING_WINDOW: Duration = Duration::from_millis(2200);
/// Audio kept after a key press: the tail of the interrupted prompt, the answer
/// (`cifra-N`, ~0.3 s), then the (empty) short greeting of the menu.
const ANSWER_WINDOW: Duration = Duration::from_millis(1500);
/// Correlation with the right prompt must exceed this.
const HEARD: f64 = 0.8;

/// The tree under test. `option1` is where key 1 leads (`digit` when valid).
fn tree_yaml(greeting: &str, digit_prompt: &str, option1: &str) -> String {
    format!(
        "\
name: reload-test
start: menu
defaults:
  timeout_ms: 30000
nodes:
  menu:
    menu:
      greeting: [{greeting}]
      options:
        \"1\": {option1}
        \"2\": bye
  digit:
    play:
      prompts: [{digit_prompt}]
      next: menu
  bye:
    hangup:
      prompts: [arrivederci]
"
    )
}

/// Replaces the file atomically (write beside it, rename over it), with a modification
/// time strictly after the previous one, so a reader never sees half a file and a
/// watcher always sees a change.
fn replace_file(path: &Path, text: &str) {
    let previous = fs::metadata(path).and_then(|m| m.modified()).ok();
    let tmp = path.with_extension("yaml.new");
    fs::write(&tmp, text).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
    let now = SystemTime::now();
    let mtime = match previous {
        Some(p) if p + Duration::from_secs(1) > now => p + Duration::from_secs(1),
        _ => now,
    };
    fs::File::options()
        .write(true)
        .open(&tmp)
        .and_then(|f| f.set_modified(mtime))
        .unwrap_or_else(|e| panic!("set mtime of {}: {e}", tmp.display()));
    fs::rename(&tmp, path).unwrap_or_else(|e| panic!("rename onto {}: {e}", path.display()));
}

/// The first log line satisfying `pred`, waiting up to `limit`.
fn wait_log_line(daemon: &Daemon, limit: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(l) = daemon.log().lines().find(|l| pred(l)) {
            return Some(l.to_string());
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// `field=value` as a whole field of a log line (not `version=21` for `version=2`).
fn has_field(line: &str, field: &str, value: &str) -> bool {
    line.split_whitespace()
        .any(|w| w == format!("{field}={value}") || w == format!("{field}=\"{value}\""))
}

fn in_service_line(daemon: &Daemon, version: u64, limit: Duration) -> Option<String> {
    wait_log_line(daemon, limit, |l| {
        l.contains("menu tree in service") && has_field(l, "version", &version.to_string())
    })
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

/// A caller's media socket, recording every RTP packet (RFC 3550) with its arrival time.
struct Media {
    port: u16,
    packets: Arc<Mutex<Vec<(Instant, RtpPacket)>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Media {
    fn start() -> Media {
        let sock = UdpSocket::bind((LOOPBACK, 0)).expect("bind RTP socket");
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
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    let now = Instant::now();
                    if let Some(p) = parse_rtp(&buf[..n], now - started, from) {
                        packets2.lock().unwrap().push((now, p));
                    }
                }
            }
        });
        Media {
            port,
            packets,
            stop,
            handle: Some(handle),
        }
    }

    /// Waits until `from + window`, then returns the G.711 audio that arrived in
    /// between, in arrival order, with a one-line description.
    fn audio(&self, from: Instant, window: Duration) -> (Vec<f32>, String) {
        let until = from + window;
        if let Some(left) = until.checked_duration_since(Instant::now()) {
            thread::sleep(left);
        }
        // Let the recorder thread take what the kernel already holds.
        thread::sleep(Duration::from_millis(40));
        let packets = self.packets.lock().unwrap();
        let chosen: Vec<&RtpPacket> = packets
            .iter()
            .filter(|(at, p)| *at >= from && *at <= until && (p.pt == PT_PCMU || p.pt == PT_PCMA))
            .map(|(_, p)| p)
            .collect();
        let audio = chosen
            .iter()
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
            .collect();
        let what = format!(
            "{} audio packets in {window:?} ({} received in all)",
            chosen.len(),
            packets.len()
        );
        (audio, what)
    }
}

impl Drop for Media {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Asserts that `audio` is prompt `want` (correlation > [`HEARD`]) and fits it better
/// than prompt `other`.
fn assert_heard(who: &str, audio: &[f32], what: &str, want: &str, other: &str) {
    let right = similarity(audio, &read_wav(&prompt_path(want)));
    let wrong = similarity(audio, &read_wav(&prompt_path(other)));
    eprintln!("{who}: {what}; similarity to {want} {right:.3}, to {other} {wrong:.3}");
    assert!(
        right > HEARD && right > wrong,
        "{who} should hear `{want}`: similarity {right:.3} (need > {HEARD}), \
         while `{other}` gives {wrong:.3}; {what}"
    );
}

/// One caller's dialog, spoken as literal SIP over UDP, with its own media socket.
struct Caller {
    name: &'static str,
    media: Media,
    dialog: centre::Caller,
}

impl Caller {
    fn new(name: &'static str, daemon: SocketAddr) -> Caller {
        Caller {
            name,
            media: Media::start(),
            dialog: centre::Caller::dialling(SipUdp::new(daemon), "servizio", "0633333333"),
        }
    }

    /// INVITE (PCMU offer to our media socket), 200, ACK; returns when the ACK left.
    fn call(&mut self) -> Instant {
        let sdp = sdp_offer(self.media.port);
        let ok = self
            .dialog
            .transaction_with("INVITE", Some(("application/sdp", &sdp)));
        assert_eq!(
            ok.status(),
            Some(200),
            "[{}] INVITE:\n{}",
            self.name,
            ok.raw
        );
        assert!(
            self.dialog.to_tag.is_some() && ok.body.contains("m=audio "),
            "[{}] 200 without a To tag or an SDP answer:\n{}",
            self.name,
            ok.raw
        );
        Instant::now()
    }

    /// Presses `key` with SIP INFO (`application/dtmf-relay`); returns when it was sent.
    fn press(&mut self, key: char) -> Instant {
        let at = Instant::now();
        let body = format!("Signal={key}\r\nDuration=160\r\n");
        let ok = self
            .dialog
            .transaction_with("INFO", Some(("application/dtmf-relay", &body)));
        assert_eq!(
            ok.status(),
            Some(200),
            "[{}] INFO {key}:\n{}",
            self.name,
            ok.raw
        );
        at
    }

    fn hang_up(&mut self) {
        let ok = self.dialog.transaction_with("BYE", None);
        assert_eq!(ok.status(), Some(200), "[{}] BYE:\n{}", self.name, ok.raw);
    }

    /// The greeting heard right after the ACK sent at `acked`.
    fn assert_greeting(&self, acked: Instant, want: &str, other: &str) {
        let (audio, what) = self.media.audio(acked, GREETING_WINDOW);
        assert_heard(
            &format!("call {} greeting", self.name),
            &audio,
            &what,
            want,
            other,
        );
    }

    /// Presses `key` and checks that the answer is prompt `want`.
    fn assert_answer(&mut self, key: char, want: &str, other: &str) {
        let at = self.press(key);
        let (audio, what) = self.media.audio(at, ANSWER_WINDOW);
        assert_heard(
            &format!("call {} after key {key}", self.name),
            &audio,
            &what,
            want,
            other,
        );
    }
}

/// `GET path` over HTTP/1.1 on a fresh connection, read to EOF: (status code, body).
fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("connect to the admin endpoint {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    // One write: the admin endpoint reads the request with a single read.
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("send GET {path}: {e}"));
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("read the answer to GET {path} (to EOF): {e}"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("GET {path}: no header/body split in {text:?}"));
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: bad status line in {head:?}"));
    (status, body.to_string())
}

/// The value of an unlabelled sample `name` in Prometheus text.
fn sample(metrics: &str, name: &str) -> Option<u64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?.strip_prefix(' ')?;
        rest.trim().parse().ok()
    })
}

/// Starts the daemon on `tree` with the admin endpoint on a free port.
fn start(name: &str, tree: &Path, watch_ms: u64) -> (Daemon, SocketAddr) {
    let admin: SocketAddr = format!("{LOOPBACK}:{}", free_udp_tcp_port())
        .parse()
        .unwrap();
    let yaml = format!(
        "ivr:\n  tree: '{}'\n  watch_ms: {watch_ms}\nadmin:\n  listen: {admin}\n",
        tree.display()
    );
    let daemon = Daemon::start_with(
        name,
        DaemonOptions {
            config_yaml: Some(yaml),
            ..Default::default()
        },
    );
    let up = wait_log_line(&daemon, Duration::from_secs(5), |l| {
        l.contains("admin endpoint") && l.contains(&admin.to_string())
    });
    match up {
        Some(l) if !l.contains("not started") => {}
        other => panic!("admin endpoint on {admin} not up: {other:?}"),
    }
    (daemon, admin)
}

fn tree_file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("menu.yaml")
}

#[test]
fn reload_serves_new_calls_keeps_old_ones_and_refuses_broken_trees() {
    let dir = tempfile::Builder::new()
        .prefix("centralino-reload-")
        .tempdir()
        .expect("create temp dir");
    let path = tree_file(&dir);
    fs::write(&path, tree_yaml("benvenuto", "cifra-1", "digit")).unwrap();
    let (mut daemon, admin) = start("reload-sighup", &path, 0);
    let v1 = in_service_line(&daemon, 1, Duration::from_secs(1));
    assert!(v1.is_some(), "no `menu tree in service` version=1 at start");

    // Call A on version 1: hears its greeting.
    let mut a = Caller::new("A", daemon.sip);
    let a_acked = a.call();
    a.assert_greeting(a_acked, "benvenuto", "arrivederci");

    // Version 2, by SIGHUP.
    replace_file(&path, &tree_yaml("arrivederci", "cifra-2", "digit"));
    daemon.signal(libc::SIGHUP);
    let v2 = in_service_line(&daemon, 2, Duration::from_secs(5));
    assert!(
        v2.is_some(),
        "no `menu tree in service` version=2 within 5 s of SIGHUP; reload lines:\n{}",
        lines_with(&daemon.log(), "tree").join("\n")
    );
    eprintln!("reloaded: {}", v2.unwrap());

    // Call B starts on version 2; A stays on version 1.
    let mut b = Caller::new("B", daemon.sip);
    let b_acked = b.call();
    b.assert_greeting(b_acked, "arrivederci", "benvenuto");
    a.assert_answer('1', "cifra-1", "cifra-2");
    b.assert_answer('1', "cifra-2", "cifra-1");

    // A broken version 3: refused with a located diagnostic; version 2 stays.
    let broken = tree_yaml("benvenuto", "cifra-1", "nowhere");
    let (line, col) = broken
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find("nowhere").map(|c| (i + 1, c + 1)))
        .unwrap();
    replace_file(&path, &broken);
    daemon.signal(libc::SIGHUP);
    let refused = wait_log_line(&daemon, Duration::from_secs(5), |l| {
        l.contains("new tree refused")
    });
    let log = daemon.log();
    assert!(
        refused.is_some(),
        "no `new tree refused` within 5 s of the second SIGHUP; log lines about the tree:\n{}",
        lines_with(&log, "tree").join("\n")
    );
    let refused = refused.unwrap();
    eprintln!("refused: {refused}");
    assert!(
        has_field(&refused, "version", "2"),
        "the refusal should say version 2 stays: {refused}"
    );
    let diag = format!("{}:{line}:{col}: error: unknown node", path.display());
    assert!(
        log.contains(&diag),
        "the log lacks the diagnostic `{diag}…`; lines with `error:`:\n{}",
        lines_with(&log, "error:").join("\n")
    );
    assert!(
        in_service_line(&daemon, 3, Duration::ZERO).is_none(),
        "a broken tree was put in service"
    );

    // Call C still gets version 2.
    let mut c = Caller::new("C", daemon.sip);
    let c_acked = c.call();
    c.assert_greeting(c_acked, "arrivederci", "benvenuto");

    // Counters and health.
    let (status, metrics) = http_get(admin, "/metrics");
    assert_eq!(status, 200, "GET /metrics:\n{metrics}");
    assert_eq!(
        sample(&metrics, "centralino_tree_reloads_total"),
        Some(1),
        "reloads counter:\n{metrics}"
    );
    assert_eq!(
        sample(&metrics, "centralino_tree_reload_failures_total"),
        Some(1),
        "reload failures counter:\n{metrics}"
    );
    let entered = metrics.lines().find(|l| {
        l.starts_with("centralino_menu_node_total{")
            && l.contains("node=\"menu\"")
            && l.contains("event=\"entered\"")
    });
    let count: u64 = entered
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no entered count for the menu node:\n{metrics}"));
    assert!(
        count >= 3,
        "menu node entered {count} times, want >= 3 (calls A, B, C): {}",
        entered.unwrap()
    );
    let (status, body) = http_get(admin, "/health");
    assert_eq!((status, body.as_str()), (200, "ok\n"), "GET /health");

    for caller in [&mut a, &mut b, &mut c] {
        caller.hang_up();
    }
    daemon.assert_alive();
}

#[test]
fn file_change_is_noticed_without_sighup() {
    let dir = tempfile::Builder::new()
        .prefix("centralino-reload-watch-")
        .tempdir()
        .expect("create temp dir");
    let path = tree_file(&dir);
    fs::write(&path, tree_yaml("benvenuto", "cifra-1", "digit")).unwrap();
    let (daemon, admin) = start("reload-watch", &path, 200);
    assert!(
        in_service_line(&daemon, 1, Duration::from_secs(1)).is_some(),
        "no `menu tree in service` version=1 at start"
    );
    // Unchanged, the file is not reloaded.
    thread::sleep(Duration::from_millis(600));
    assert!(
        !daemon.log().contains("reloading the menu tree"),
        "reloaded although the file did not change:\n{}",
        lines_with(&daemon.log(), "tree").join("\n")
    );

    replace_file(&path, &tree_yaml("arrivederci", "cifra-2", "digit"));
    let changed = Instant::now();
    let v2 = in_service_line(&daemon, 2, Duration::from_secs(3));
    assert!(
        v2.is_some(),
        "no `menu tree in service` version=2 within 3 s of the file change; tree lines:\n{}",
        lines_with(&daemon.log(), "tree").join("\n")
    );
    eprintln!("noticed after {:?}: {}", changed.elapsed(), v2.unwrap());
    let (status, metrics) = http_get(admin, "/metrics");
    assert_eq!(status, 200, "GET /metrics:\n{metrics}");
    assert_eq!(
        (
            sample(&metrics, "centralino_tree_reloads_total"),
            sample(&metrics, "centralino_tree_reload_failures_total")
        ),
        (Some(1), Some(0)),
        "one reload, no failure:\n{metrics}"
    );
}
