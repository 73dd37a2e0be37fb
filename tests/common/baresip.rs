//! [`Baresip`]: the baresip 1.0.0 softphone as an operator's phone, headless on loopback.
//!
//! Each instance gets a config directory of its own (baresip writes a `uuid` file there)
//! with a `config` (null audio sink `aubridge,nil`, a generated tone as microphone through
//! `aufile`, never ALSA), an `accounts` file, free SIP/control ports and an RTP block.
//! The test drives it over `ctrl_tcp`: netstring-framed JSON (`<len>:<json>,`), commands
//! in, responses and events (`REGISTER_OK`, `REGISTER_FAIL`, `CALL_INCOMING`,
//! `CALL_ESTABLISHED`, `CALL_CLOSED`, …) out; a background thread reads them all.
//!
//! The account is created with the `uanew` command once the control connection is up,
//! not from the `accounts` file: baresip registers the file's accounts as soon as it
//! starts, within milliseconds, and `ctrl_tcp` does not replay events sent before a
//! client connected, so a `REGISTER_OK` (or `REGISTER_FAIL`) would be lost. The
//! `accounts` file holds the same line commented out, to rerun by hand.
//!
//! Missing baresip or missing modules fail the test (never a skip).

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

/// Where Debian's baresip keeps its modules.
pub const BARESIP_MODULES: &str = "/usr/lib/baresip/modules";

/// The modules the harness loads (all in `baresip-core` on Debian 12).
const MODULES: [&str; 7] = [
    "g711.so",
    "aufile.so",
    "aubridge.so",
    "ctrl_tcp.so",
    "uuid.so",
    "account.so",
    "menu.so",
];

/// Length of the generated microphone tone: baresip hangs up when its `aufile` source
/// ends, so it must outlast every call a test makes.
pub const BARESIP_TONE_SECONDS: u32 = 60;

/// Path of the baresip binary; panics (the test fails, it never passes silently) if it
/// is not on PATH or its modules are missing.
pub fn baresip_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let bin = std::env::split_paths(&path)
        .map(|dir| dir.join("baresip"))
        .find(|c| c.is_file())
        .unwrap_or_else(|| panic!("baresip not found: install it with `apt-get install baresip`"));
    let dir = Path::new(BARESIP_MODULES);
    assert!(
        dir.is_dir(),
        "baresip module directory {BARESIP_MODULES} not found (baresip at {}): \
         install Debian's package with `apt-get install baresip`",
        bin.display()
    );
    let missing: Vec<&str> = MODULES
        .iter()
        .copied()
        .filter(|m| !dir.join(m).is_file())
        .collect();
    assert!(
        missing.is_empty(),
        "baresip modules missing from {BARESIP_MODULES}: {missing:?} \
         (install `baresip` / `baresip-core`)"
    );
    bin
}

/// One SIP account of a softphone.
#[derive(Clone, Debug)]
pub struct BaresipAccount {
    /// SIP user: the AOR's user part and the digest user name.
    pub user: String,
    pub password: String,
    /// The registrar (the daemon): AOR host and REGISTER destination.
    pub registrar: SocketAddr,
    /// Registration interval, s (`regint`); 0 = do not register.
    pub regint: u32,
    /// `answermode=auto`: answer INVITEs at once.
    pub auto_answer: bool,
    /// The phone's microphone: a sine tone at this frequency (Hz).
    pub tone_hz: f64,
}

impl BaresipAccount {
    pub fn new(user: &str, password: &str, registrar: SocketAddr) -> BaresipAccount {
        BaresipAccount {
            user: user.to_string(),
            password: password.to_string(),
            registrar,
            regint: 60,
            auto_answer: true,
            tone_hz: 440.0,
        }
    }

    /// The `accounts` line (also the `uanew` parameter).
    pub fn line(&self) -> String {
        format!(
            "<sip:{user}@{registrar}>;auth_user={user};auth_pass={password};answermode={mode};\
             regint={regint};audio_codecs=PCMU,PCMA",
            user = self.user,
            registrar = self.registrar,
            password = self.password,
            mode = if self.auto_answer { "auto" } else { "manual" },
            regint = self.regint,
        )
    }

    /// The address of record baresip reports in events (`accountaor`).
    pub fn aor(&self) -> String {
        format!("sip:{}@{}", self.user, self.registrar)
    }
}

/// A running baresip, driven over `ctrl_tcp`; killed on drop.
pub struct Baresip {
    name: String,
    child: Option<Child>,
    pub account: BaresipAccount,
    /// Where baresip listens for SIP (UDP and TCP; TLS would take the next port).
    pub sip: SocketAddr,
    /// The `ctrl_tcp` address.
    pub ctrl: SocketAddr,
    pub rtp: RtpBlock,
    log_path: PathBuf,
    dir: Option<tempfile::TempDir>,
    stream: TcpStream,
    incoming: Receiver<Value>,
    /// Every event and response received, in order, with "already returned" marks.
    seen: Vec<(Value, bool)>,
    /// Sequence for command tokens.
    next_token: u64,
}

impl Baresip {
    /// Starts baresip for `account`, connects to its control port and creates the
    /// account (so registration starts now, unless `regint` is 0).
    pub fn start(name: &str, account: BaresipAccount) -> Baresip {
        Self::start_with(name, account, None)
    }

    /// Like [`Baresip::start`], and records what the phone hears and sends with the
    /// `sndfile` module: `record_dir/dump-<time>-dec.wav` (received, decoded) and
    /// `…-enc.wav` (sent), 8 kHz mono PCM16, complete once the call has closed.
    pub fn start_recording(name: &str, account: BaresipAccount, record_dir: &Path) -> Baresip {
        let module = Path::new(BARESIP_MODULES).join("sndfile.so");
        assert!(
            module.is_file(),
            "{} missing: recording needs baresip's sndfile module",
            module.display()
        );
        Self::start_with(name, account, Some(record_dir))
    }

    fn start_with(name: &str, account: BaresipAccount, record_dir: Option<&Path>) -> Baresip {
        let bin = baresip_binary();
        let mut last_failure = String::new();
        // A free port can be taken between our check and baresip's bind: retry then.
        for attempt in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix(&format!("baresip-{name}-"))
                .tempdir()
                .expect("create baresip config dir");
            let sip_port = free_sip_port_for_baresip();
            let sip: SocketAddr = format!("{LOOPBACK}:{sip_port}").parse().unwrap();
            let ctrl_port = free_tcp_port();
            let ctrl: SocketAddr = format!("{LOOPBACK}:{ctrl_port}").parse().unwrap();
            let rtp = RtpBlock::claim();
            let tone = dir.path().join("tone.wav");
            write_tone_wav(&tone, BARESIP_TONE_SECONDS, account.tone_hz);
            fs::write(
                dir.path().join("config"),
                config_text(sip, ctrl, &rtp, &tone, record_dir),
            )
            .expect("write baresip config");
            fs::write(
                dir.path().join("accounts"),
                format!(
                    "# Created over ctrl_tcp with `uanew` by the test harness (see \
                     tests/common/baresip.rs);\n# to rerun by hand, uncomment:\n# {}\n",
                    account.line()
                ),
            )
            .expect("write baresip accounts");
            let log_path = dir.path().join("baresip.log");
            let log = File::create(&log_path).expect("create baresip log");
            let mut cmd = Command::new(&bin);
            // -s: SIP trace into the log, for failure reports.
            cmd.arg("-s")
                .arg("-f")
                .arg(dir.path())
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log));
            eprintln!(
                "[{name}] starting baresip (attempt {}): {cmd:?}\n[{name}] baresip log: {}",
                attempt + 1,
                log_path.display()
            );
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot spawn {}: {e}", bin.display()));
            let mut child = Some(child);
            match connect_ctrl(&mut child, ctrl, Duration::from_secs(5)) {
                Ok(stream) => {
                    let reader = stream.try_clone().expect("clone ctrl_tcp stream");
                    let (tx, rx) = mpsc::channel();
                    let reader_name = name.to_string();
                    thread::spawn(move || read_netstrings(reader, tx, &reader_name));
                    let mut phone = Baresip {
                        name: name.to_string(),
                        child,
                        account: account.clone(),
                        sip,
                        ctrl,
                        rtp,
                        log_path,
                        dir: Some(dir),
                        stream,
                        incoming: rx,
                        seen: Vec::new(),
                        next_token: 0,
                    };
                    let reply = phone.command(json!({
                        "command": "uanew",
                        "params": account.line(),
                    }));
                    assert_eq!(
                        reply.get("ok"),
                        Some(&Value::Bool(true)),
                        "[{name}] baresip refused uanew: {reply}"
                    );
                    return phone;
                }
                Err(why) => {
                    let text = fs::read_to_string(&log_path).unwrap_or_default();
                    last_failure = format!(
                        "{why}\n--- baresip log tail ---\n{}",
                        tail(&strip_ansi(&text), 40)
                    );
                    if let Some(mut c) = child.take() {
                        let _ = c.kill();
                        let _ = c.wait();
                    }
                    eprintln!("[{name}] baresip did not start, retrying: {why}");
                }
            }
        }
        panic!("[{name}] baresip did not start: {last_failure}");
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// baresip's stdout+stderr so far (with its SIP trace), colours removed.
    pub fn log(&self) -> String {
        let bytes = fs::read(&self.log_path).unwrap_or_default();
        strip_ansi(&String::from_utf8_lossy(&bytes))
    }

    /// Moves whatever the reader thread has received into `seen`, waiting until
    /// `deadline` for at least one message if none is queued.
    fn pump(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.incoming.recv_timeout(left) {
            Ok(v) => {
                self.seen.push((v, false));
                while let Ok(v) = self.incoming.try_recv() {
                    self.seen.push((v, false));
                }
                true
            }
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => {
                // The control connection is gone (baresip exited): nothing more comes.
                thread::sleep(left.min(Duration::from_millis(20)));
                false
            }
        }
    }

    /// The first event of type `kind` (`"REGISTER_OK"`, `"CALL_ESTABLISHED"`, …) not
    /// returned before, including ones that arrived earlier; `None` after `limit`.
    pub fn wait_event(&mut self, kind: &str, limit: Duration) -> Option<Value> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some((v, used)) = self.seen.iter_mut().find(|(v, used)| {
                !*used
                    && v.get("event") == Some(&Value::Bool(true))
                    && v.get("type").and_then(Value::as_str) == Some(kind)
            }) {
                *used = true;
                return Some(v.clone());
            }
            if Instant::now() >= deadline {
                return None;
            }
            self.pump(deadline);
        }
    }

    /// Every event type received so far, in order (for assertion messages).
    pub fn event_types(&mut self) -> Vec<String> {
        while let Ok(v) = self.incoming.try_recv() {
            self.seen.push((v, false));
        }
        self.seen
            .iter()
            .filter(|(v, _)| v.get("event") == Some(&Value::Bool(true)))
            .map(|(v, _)| {
                let t = v.get("type").and_then(Value::as_str).unwrap_or("?");
                match v.get("param").and_then(Value::as_str) {
                    Some(p) => format!("{t}({p})"),
                    None => t.to_string(),
                }
            })
            .collect()
    }

    /// Sends one command without waiting (a `token` is added when absent); returns
    /// the token.
    pub fn send_command(&mut self, mut cmd: Value) -> String {
        self.next_token += 1;
        let token = match cmd.get("token").and_then(Value::as_str) {
            Some(t) => t.to_string(),
            None => {
                let t = format!("t{}", self.next_token);
                if let Some(obj) = cmd.as_object_mut() {
                    obj.insert("token".into(), Value::String(t.clone()));
                }
                t
            }
        };
        let text = cmd.to_string();
        let frame = format!("{}:{text},", text.len());
        self.stream
            .write_all(frame.as_bytes())
            .and_then(|()| self.stream.flush())
            .unwrap_or_else(|e| panic!("[{}] ctrl_tcp write {text}: {e}", self.name));
        token
    }

    /// Sends a command (`{"command": "dial", "params": "sip:…"}`) and waits up to 5 s for
    /// its response (`{"response": true, "ok": …, "data": …}`); panics without one.
    pub fn command(&mut self, cmd: Value) -> Value {
        let shown = cmd.to_string();
        let token = self.send_command(cmd);
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some((v, used)) = self.seen.iter_mut().find(|(v, used)| {
                !*used
                    && v.get("response") == Some(&Value::Bool(true))
                    && v.get("token").and_then(Value::as_str) == Some(token.as_str())
            }) {
                *used = true;
                return v.clone();
            }
            if Instant::now() >= deadline {
                panic!(
                    "[{}] no ctrl_tcp response to {shown} within 5 s\n--- baresip log tail ---\n{}",
                    self.name,
                    tail(&self.log(), 40)
                );
            }
            self.pump(deadline);
        }
    }

    /// Graceful stop: the `quit` command (baresip un-registers first), then waits up to
    /// `limit` for the process to exit; its status, or `None` if it is still running.
    pub fn quit(&mut self, limit: Duration) -> Option<ExitStatus> {
        // The answer may race the exit: do not wait for it.
        let _ = self.send_command(json!({"command": "quit"}));
        self.wait_exit(limit)
    }

    /// Polls every 20 ms, up to `limit`, for baresip to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then SIGKILL after 1 s (baresip tries to un-register on SIGTERM, which
    /// can wait on a registrar that is already gone).
    fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(None) = child.try_wait() {
            // SAFETY: a plain syscall on our own unreaped child's pid.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(1);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        self.kill();
        if thread::panicking() {
            let events = self.event_types();
            eprintln!(
                "[{}] baresip events: {events:?}\n[{}] --- baresip log tail ({}) ---\n{}\n[{}] --- end of baresip log ---",
                self.name,
                self.name,
                self.log_path.display(),
                tail(&self.log(), 80),
                self.name
            );
            if let Some(dir) = self.dir.take() {
                let kept = dir.keep();
                eprintln!("[{}] kept {}", self.name, kept.display());
            }
        }
    }
}

/// The `config` file: loopback only, null audio sink, the tone as microphone.
fn config_text(
    sip: SocketAddr,
    ctrl: SocketAddr,
    rtp: &RtpBlock,
    tone: &Path,
    record_dir: Option<&Path>,
) -> String {
    let recording = record_dir
        .map(|dir| {
            format!(
                "module\t\t\tsndfile.so\n\
                 snd_path\t\t{}\n",
                dir.display()
            )
        })
        .unwrap_or_default();
    format!(
        "# baresip config written by tests/common/baresip.rs\n\
         poll_method\t\tepoll\n\
         sip_listen\t\t{sip}\n\
         # without it the SDP advertises eth0\n\
         net_interface\t\t{LOOPBACK}\n\
         # a paced null sink; never alsa (a full core per call)\n\
         audio_player\t\taubridge,nil\n\
         audio_source\t\taufile,{tone}\n\
         audio_alert\t\taubridge,nil\n\
         rtp_ports\t\t{low}-{high}\n\
         module_path\t\t{BARESIP_MODULES}\n\
         module\t\t\tg711.so\n\
         module\t\t\taufile.so\n\
         module\t\t\taubridge.so\n\
         module\t\t\tctrl_tcp.so\n\
         module_tmp\t\tuuid.so\n\
         module_tmp\t\taccount.so\n\
         module_app\t\tmenu.so\n\
         ctrl_tcp_listen\t\t{ctrl}\n\
         {recording}",
        tone = tone.display(),
        low = rtp.low,
        high = rtp.high,
    )
}

/// A port whose UDP and TCP are free and whose next port is free on TCP: baresip binds
/// `sip_listen` on UDP and TCP and its TLS listener on the port after.
fn free_sip_port_for_baresip() -> u16 {
    for _ in 0..100 {
        let port = free_udp_tcp_port();
        if port < u16::MAX && TcpListener::bind((LOOPBACK, port + 1)).is_ok() {
            return port;
        }
    }
    panic!("no port p on 127.0.0.1 with UDP p, TCP p and TCP p+1 free");
}

/// A TCP port free on loopback right now.
fn free_tcp_port() -> u16 {
    let l = TcpListener::bind((LOOPBACK, 0)).expect("bind TCP 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

/// Connects to `ctrl_tcp`, retrying every 50 ms up to `limit` while baresip starts.
fn connect_ctrl(
    child: &mut Option<Child>,
    ctrl: SocketAddr,
    limit: Duration,
) -> Result<TcpStream, String> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            return Err(format!("baresip exited early with {status}"));
        }
        match TcpStream::connect_timeout(&ctrl, Duration::from_millis(200)) {
            Ok(s) => {
                s.set_nodelay(true).ok();
                return Ok(s);
            }
            Err(e) if Instant::now() >= deadline => {
                return Err(format!(
                    "ctrl_tcp on {ctrl} not accepting within {limit:?}: {e}"
                ));
            }
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Reader thread: netstrings (`<len>:<payload>,`) of JSON from `ctrl_tcp` into `tx`,
/// until the connection closes.
fn read_netstrings(mut stream: TcpStream, tx: mpsc::Sender<Value>, name: &str) {
    let mut buf: VecDeque<u8> = VecDeque::new();
    let mut chunk = [0u8; 8192];
    loop {
        // Take every complete frame.
        loop {
            let bytes = buf.make_contiguous();
            let Some(colon) = bytes.iter().position(|&b| b == b':') else {
                break;
            };
            let Some(len) = std::str::from_utf8(&bytes[..colon])
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
            else {
                eprintln!(
                    "[{name}] ctrl_tcp: bad netstring length {:?}; dropping input",
                    String::from_utf8_lossy(&bytes[..colon])
                );
                buf.clear();
                break;
            };
            if bytes.len() < colon + 1 + len + 1 {
                break;
            }
            let payload = &bytes[colon + 1..colon + 1 + len];
            match serde_json::from_slice::<Value>(payload) {
                Ok(v) => {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
                Err(e) => eprintln!(
                    "[{name}] ctrl_tcp: not JSON ({e}): {}",
                    String::from_utf8_lossy(payload)
                ),
            }
            buf.drain(..colon + 1 + len + 1);
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend(&chunk[..n]),
        }
    }
}

/// Writes `seconds` of a sine tone at `hz` as an 8 kHz mono 16-bit PCM WAV.
pub fn write_tone_wav(path: &Path, seconds: u32, hz: f64) {
    const RATE: u32 = 8000;
    let samples = RATE * seconds;
    let data_len = samples * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for i in 0..samples {
        let t = f64::from(i) / f64::from(RATE);
        let s = (8000.0 * (2.0 * std::f64::consts::PI * hz * t).sin()).round() as i16;
        out.extend_from_slice(&s.to_le_bytes());
    }
    fs::write(path, out).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
