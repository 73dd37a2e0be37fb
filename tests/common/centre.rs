//! The contact centre end to end with real peers, shared by `tests/queue.rs` and
//! `tests/queue_more.rs`: a daemon with a menu, operators and queues ([`Centre`], with
//! its queue log), callers spoken as literal SIP over UDP ([`Caller`]) with an RTP
//! socket that sends a tone and records what the daemon sends ([`CallerMedia`]),
//! baresip operators ([`start_operator_as`]), and audio analysis ([`decode`],
//! [`dominant_hz`], [`rms`]).
//!
//! Not glob-exported by `common`: other test crates have `Caller`s of their own. Use it
//! as `use common::centre::*;`.

use centralino::operators::passwd_entry;
use serde_json::Value;
use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::*;

pub const REALM: &str = "centralino";
/// The caller's number (From user part): the operator must see it.
pub const CALLER_NUMBER: &str = "0612345678";
/// The number the caller dialled (Request-URI user part), not a test line.
pub const DIALLED: &str = "803164";
/// The caller's microphone.
pub const CALLER_HZ: f64 = 1000.0;

/// One operator of the operators file.
#[derive(Clone, Debug)]
pub struct OperatorSpec {
    pub id: &'static str,
    pub password: &'static str,
    pub queues: Vec<&'static str>,
    pub auto_login: bool,
}

/// A daemon with a menu, operators, queues and the queue log.
pub struct Centre {
    _dir: tempfile::TempDir,
    pub daemon: Daemon,
    pub queue_log: PathBuf,
    /// The daemon's ticket and booking outbox (`--outbox`).
    pub outbox: PathBuf,
}

/// Starts the daemon: `tree_text` is the menu, `operators` the operators file in this
/// order (it is the queues' member order), `queues` each queue's name and the YAML flow
/// mapping of its settings.
pub fn start_centre_spec(
    name: &str,
    tree_text: &str,
    operators: &[OperatorSpec],
    queues: &[(&str, &str)],
) -> Centre {
    start_centre_admin(name, tree_text, operators, queues, None)
}

/// As [`start_centre_spec`], with the admin endpoint (the operator console's API) on
/// `admin` when given; without, it is off.
pub fn start_centre_admin(
    name: &str,
    tree_text: &str,
    operators: &[OperatorSpec],
    queues: &[(&str, &str)],
    admin: Option<SocketAddr>,
) -> Centre {
    let dir = tempfile::tempdir().expect("temp dir");
    let tree = dir.path().join("coda.yaml");
    fs::write(&tree, tree_text).expect("write tree");
    let mut entries = String::new();
    for op in operators {
        let queues_line = format!("queues: [{}]", op.queues.join(", "));
        let login_line = format!("auto_login: {}", op.auto_login);
        let entry = passwd_entry(op.id, REALM, op.password)
            .replace("queues: []", &queues_line)
            .replace("auto_login: false", &login_line);
        assert!(
            entry.contains(&queues_line) && entry.contains(&login_line),
            "passwd_entry changed shape:\n{entry}"
        );
        entries.push_str(&entry);
        if !entry.ends_with('\n') {
            entries.push('\n');
        }
    }
    let operators_file = dir.path().join("operators.yaml");
    fs::write(
        &operators_file,
        format!("realm: {REALM}\noperators:\n{entries}"),
    )
    .expect("write operators.yaml");
    let queue_log = dir.path().join("queue.jsonl");
    let queues_yaml: String = queues
        .iter()
        .map(|(q, settings)| format!("  {q}: {settings}\n"))
        .collect();
    let admin = admin.map_or("null".to_string(), |a| a.to_string());
    let config = format!(
        "admin:\n  listen: {admin}\n\
         ivr:\n  tree: '{}'\n  watch_ms: 0\n\
         operators:\n  file: '{}'\n  algorithms: [MD5]\n\
         queues:\n{queues_yaml}\
         queue_log: '{}'\n",
        tree.display(),
        operators_file.display(),
        queue_log.display()
    );
    eprintln!("[{name}] config:\n{config}");
    let outbox = dir.path().join("outbox");
    let daemon = Daemon::start_with(
        name,
        DaemonOptions {
            config_yaml: Some(config),
            extra_args: vec!["--outbox".into(), outbox.display().to_string()],
        },
    );
    Centre {
        _dir: dir,
        daemon,
        queue_log,
        outbox,
    }
}

impl Centre {
    /// Every line of the queue log so far (panics on a line that is not JSON).
    pub fn log(&self) -> Vec<Value> {
        fs::read_to_string(&self.queue_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("queue log line {l:?}: {e}"))
            })
            .collect()
    }

    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.queue_log).unwrap_or_default()
    }

    /// The first queue-log line matching `pred`, waiting up to `limit`.
    pub fn wait_log(&self, limit: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = self.log().into_iter().find(&pred) {
                return Some(v);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The `event` names of the lines about `call`, in order.
    pub fn events_of(&self, call: &Value) -> Vec<String> {
        self.log()
            .iter()
            .filter(|v| &v["call"] == call)
            .map(|v| v["event"].as_str().unwrap_or("?").to_string())
            .collect()
    }

    /// Waits for a `joined` line not about any of `known` calls and returns its `call`
    /// value, checking it joined `queue`.
    pub fn new_joined_call(&self, queue: &str, known: &[Value]) -> Value {
        let joined = self
            .wait_log(Duration::from_secs(5), |v| {
                v["event"] == "joined" && !known.contains(&v["call"])
            })
            .unwrap_or_else(|| {
                panic!(
                    "no new `joined` in the queue log within 5 s of the 200; queue log:\n{}",
                    self.log_text()
                )
            });
        assert_eq!(joined["queue"], queue, "joined another queue: {joined}");
        joined["call"].clone()
    }

    /// Waits for the caller's `joined` line (in `queue`) and returns its `call` value.
    pub fn joined_call(&self, queue: &str) -> Value {
        self.new_joined_call(queue, &[])
    }
}

/// A queue-log line of `event` about `call`.
pub fn is(v: &Value, event: &str, call: &Value) -> bool {
    v["event"] == event && &v["call"] == call
}

/// Starts an operator's baresip (optionally recording into `record`) and waits for its
/// registration on both sides.
pub fn start_operator_as(
    centre: &Centre,
    account: BaresipAccount,
    record: Option<&Path>,
) -> Baresip {
    let user = account.user.clone();
    let mut op = match record {
        Some(dir) => Baresip::start_recording(&user, account, dir),
        None => Baresip::start(&user, account),
    };
    assert!(
        op.wait_event("REGISTER_OK", Duration::from_secs(5))
            .is_some(),
        "{user} did not register within 5 s; events: {:?}",
        op.event_types()
    );
    let registered = |log: &str| {
        log.lines()
            .any(|l| l.contains("operator registered") && l.contains(&format!("user={user}")))
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while !registered(&centre.daemon.log()) {
        assert!(
            Instant::now() < deadline,
            "daemon did not log `operator registered` for {user}"
        );
        thread::sleep(Duration::from_millis(50));
    }
    op
}

/// One caller's dialog, spoken as literal SIP over UDP: builds its requests (RFC 3261
/// §8.1.1) and runs its client transactions to their final response.
pub struct Caller {
    pub sip: SipUdp,
    pub call_id: String,
    pub from_tag: String,
    pub to_tag: Option<String>,
    pub cseq: u32,
    /// The number dialled (request-URI and To user).
    pub dialled: String,
    /// The caller's own number (From and Contact user).
    pub number: String,
    /// Every SIP message received, for failure reports.
    pub seen: Vec<SipMessage>,
}

impl Caller {
    /// A caller of [`CALLER_NUMBER`] dialling [`DIALLED`].
    pub fn new(daemon: SocketAddr) -> Caller {
        Caller::dialling(SipUdp::new(daemon), DIALLED, CALLER_NUMBER)
    }

    /// A new dialog (new Call-ID and tag) on `sip` from `number` to `dialled`.
    pub fn dialling(sip: SipUdp, dialled: &str, number: &str) -> Caller {
        Caller {
            sip,
            call_id: format!("chiamata-{}@{LOOPBACK}", token()),
            from_tag: format!("chiamante{}", token()),
            to_tag: None,
            cseq: 0,
            dialled: dialled.to_string(),
            number: number.to_string(),
            seen: Vec::new(),
        }
    }

    /// A request in this dialog (the To tag once known) with an SDP body, if any;
    /// `branch` names the transaction.
    pub fn request(&self, method: &str, cseq: u32, branch: &str, sdp: Option<&str>) -> String {
        self.request_with(method, cseq, branch, sdp.map(|s| ("application/sdp", s)))
    }

    /// A request in this dialog with a body of any type: `(content type, text)`.
    pub fn request_with(
        &self,
        method: &str,
        cseq: u32,
        branch: &str,
        body: Option<(&str, &str)>,
    ) -> String {
        let me = self.sip.local_port();
        let d = self.sip.daemon;
        let (dialled, number) = (&self.dialled, &self.number);
        let to_tag = self
            .to_tag
            .as_ref()
            .map(|t| format!(";tag={t}"))
            .unwrap_or_default();
        let (content_type, body) = match body {
            Some((ctype, text)) => (format!("Content-Type: {ctype}\r\n"), text),
            None => (String::new(), ""),
        };
        format!(
            "{method} sip:{dialled}@{d} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {LOOPBACK}:{me};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: \"Chiamante\" <sip:{number}@{LOOPBACK}:{me}>;tag={}\r\n\
             To: <sip:{dialled}@{d}>{to_tag}\r\n\
             Call-ID: {}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:{number}@{LOOPBACK}:{me}>\r\n\
             User-Agent: centralino-tests\r\n\
             {content_type}\
             Content-Length: {}\r\n\r\n{body}",
            self.from_tag,
            self.call_id,
            body.len()
        )
    }

    /// Sends `method` (with an SDP body, if any) with the next CSeq; returns its final
    /// response (panics after 5 s without one). An INVITE's 2xx is ACKed (RFC 3261
    /// §13.2.2.4).
    pub fn transaction(&mut self, method: &str, sdp: Option<&str>) -> SipMessage {
        self.transaction_with(method, sdp.map(|s| ("application/sdp", s)))
    }

    /// [`Caller::transaction`] with a body of any type: `(content type, text)`.
    pub fn transaction_with(&mut self, method: &str, body: Option<(&str, &str)>) -> SipMessage {
        self.cseq += 1;
        let cseq = self.cseq;
        let branch = format!("z9hG4bK-{}-{cseq}-{}", method.to_ascii_lowercase(), token());
        self.sip
            .send(self.request_with(method, cseq, &branch, body).as_bytes());
        let call_id = self.call_id.clone();
        let last = self
            .sip
            .wait_response(
                Duration::from_secs(5),
                |m| {
                    m.header("call-id") == Some(call_id.as_str())
                        && m.cseq_number() == Some(cseq)
                        && m.cseq_method() == Some(method)
                        && m.status().is_some_and(|s| s >= 200)
                },
                &mut self.seen,
            )
            .unwrap_or_else(|| {
                panic!(
                    "no final response to {method} (CSeq {cseq}, Call-ID {call_id}) within \
                     5 s; got {:?}",
                    self.seen.iter().map(|m| &m.start_line).collect::<Vec<_>>()
                )
            });
        if method == "INVITE" && last.status().is_some_and(|s| (200..300).contains(&s)) {
            if self.to_tag.is_none() {
                self.to_tag = last.to_tag();
            }
            let ack_branch = format!("z9hG4bK-ack-{cseq}-{}", token());
            self.sip
                .send(self.request("ACK", cseq, &ack_branch, None).as_bytes());
        }
        last
    }

    /// A key pressed, sent as SIP INFO `application/dtmf-relay`.
    pub fn press(&mut self, key: char) -> SipMessage {
        let body = format!("Signal={key}\r\nDuration=160\r\n");
        self.transaction_with("INFO", Some(("application/dtmf-relay", &body)))
    }

    /// Requests the daemon sent us in this dialog (a BYE would show here).
    pub fn requests_seen(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter(|m| !m.is_response())
            .map(|m| m.start_line.clone())
            .collect()
    }

    /// Receives what the daemon sends until `deadline`, answering its requests with
    /// `200 OK` (an ACK gets no answer); everything goes into `seen`.
    pub fn serve(&mut self, deadline: Instant) {
        while let Some(m) = self.sip.recv_until(deadline) {
            if !m.is_response() && m.method() != Some("ACK") {
                let resp = format!(
                    "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\n\
                     CSeq: {}\r\nContent-Length: 0\r\n\r\n",
                    m.header("via").unwrap_or_default(),
                    m.header("from").unwrap_or_default(),
                    m.header("to").unwrap_or_default(),
                    m.header("call-id").unwrap_or_default(),
                    m.header("cseq").unwrap_or_default()
                );
                self.sip.send(resp.as_bytes());
            }
            self.seen.push(m);
        }
    }
}

/// Where the daemon wants our RTP: `c=` address and `m=audio` port of an SDP body.
pub fn sdp_rtp_address(sdp: &str) -> SocketAddr {
    let mut ip = None;
    let mut port = None;
    for line in sdp.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("c=IN IP4 ") {
            ip = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.strip_prefix("m=audio ") {
            port = rest.split_whitespace().next().map(str::to_string);
        }
    }
    let (Some(ip), Some(port)) = (ip, port) else {
        panic!("SDP without c=IN IP4 and m=audio:\n{sdp}");
    };
    format!("{ip}:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("SDP address {ip}:{port}: {e}"))
}

/// The caller's media: one UDP socket (the port in the offer) that sends 20 ms PCMU
/// frames of a tone to the daemon (so symmetric-RTP latching keeps this address) and
/// records every RTP packet the daemon sends.
pub struct CallerMedia {
    pub started: Instant,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<RtpPacket>>>,
}

impl CallerMedia {
    pub fn start(sock: UdpSocket, dest: SocketAddr, hz: f64) -> CallerMedia {
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let started = Instant::now();
        let handle = thread::spawn(move || {
            let ssrc: u32 = 0x1234_5678;
            let mut seq: u16 = 1000;
            let mut ts: u32 = 50_000;
            let mut sample: u64 = 0;
            let mut next_send = started;
            let mut packets = Vec::new();
            let mut buf = [0u8; 2048];
            let mut first = true;
            while !stop2.load(Ordering::Relaxed) {
                let now = Instant::now();
                if now >= next_send {
                    let mut pkt = Vec::with_capacity(172);
                    pkt.push(0x80);
                    pkt.push(if first { 0x80 } else { 0x00 }); // marker, PT 0 (PCMU)
                    pkt.extend_from_slice(&seq.to_be_bytes());
                    pkt.extend_from_slice(&ts.to_be_bytes());
                    pkt.extend_from_slice(&ssrc.to_be_bytes());
                    for _ in 0..160 {
                        let t = sample as f64 / 8000.0;
                        let s = (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()) as i16;
                        pkt.push(linear_to_ulaw(s));
                        sample += 1;
                    }
                    let _ = sock.send_to(&pkt, dest);
                    first = false;
                    seq = seq.wrapping_add(1);
                    ts = ts.wrapping_add(160);
                    next_send += Duration::from_millis(20);
                    continue;
                }
                let wait = (next_send - now).max(Duration::from_millis(1));
                sock.set_read_timeout(Some(wait)).unwrap();
                if let Ok((n, from)) = sock.recv_from(&mut buf)
                    && let Some(p) = parse_rtp(&buf[..n], started.elapsed(), from)
                {
                    packets.push(p);
                }
            }
            packets
        });
        CallerMedia {
            started,
            stop,
            handle: Some(handle),
        }
    }

    pub fn finish(mut self) -> Vec<RtpPacket> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .unwrap()
            .join()
            .expect("caller media thread")
    }
}

impl Drop for CallerMedia {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Places the caller's call: INVITE with a PCMU offer for a fresh media socket, 200,
/// ACK; the caller's tone starts at once.
pub fn place_call(centre: &Centre) -> (Caller, CallerMedia) {
    let rtp = UdpSocket::bind((LOOPBACK, 0)).expect("bind caller RTP socket");
    let port = rtp.local_addr().unwrap().port();
    let mut caller = Caller::new(centre.daemon.sip);
    let ok = caller.transaction("INVITE", Some(&sdp_offer(port)));
    assert_eq!(ok.status(), Some(200), "caller's INVITE:\n{}", ok.raw);
    let dest = sdp_rtp_address(&ok.body);
    let media = CallerMedia::start(rtp, dest, CALLER_HZ);
    (caller, media)
}

/// G.711 audio of `packets` in arrival order, as samples in -1.0..1.0.
pub fn decode(packets: &[RtpPacket]) -> Vec<f32> {
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

pub fn rms(x: &[f32]) -> f64 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / x.len() as f64).sqrt()
}

/// The frequency (5 Hz steps, 100–3800 Hz) with the most energy: Goertzel power summed
/// over 200 ms blocks (each block resolves ±5 Hz, so a step never misses a tone).
pub fn dominant_hz(x: &[f32]) -> f64 {
    const BLOCK: usize = 1600;
    let mut best = (0.0f64, 0.0f64);
    for hz in (100..=3800).step_by(5) {
        let hz = hz as f64;
        let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
        let mut power = 0.0;
        for block in x.chunks_exact(BLOCK) {
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for &v in block {
                let s0 = v as f64 + coeff * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            power += s1 * s1 + s2 * s2 - coeff * s1 * s2;
        }
        if power > best.1 {
            best = (hz, power);
        }
    }
    best.0
}
