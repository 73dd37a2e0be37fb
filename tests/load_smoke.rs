//! CI-sized smoke run of the media load generator (`centralino-load`) against the debug
//! daemon: 20 calls held 3 s must all be answered, lose no RTP packet and receive audio.
//! No timing assertions: a debug build on a busy CI machine paces loosely.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

use std::fs::{File, OpenOptions};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// RTP ports reserved for this daemon, claimed with the same advisory lock files as the
/// other real-peer tests (`$TMPDIR/centralino-test-rtp/<base>.lock`, 200-port blocks
/// below the ephemeral range) so that parallel test processes never share ports.
struct RtpBlock {
    low: u16,
    _lock: File,
}

const BLOCK: u16 = 200;

fn claim_rtp_block() -> RtpBlock {
    let dir = std::env::temp_dir().join("centralino-test-rtp");
    std::fs::create_dir_all(&dir).expect("create RTP lock dir");
    let salt = std::process::id() as usize;
    // 10000..32600: under Linux's default ephemeral range (32768-60999).
    let bases: Vec<u16> = (10000u16..32600).step_by(BLOCK as usize).collect();
    for k in 0..bases.len() {
        let base = bases[(k + salt) % bases.len()];
        let Ok(file) = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{base}.lock")))
        else {
            continue;
        };
        if file.try_lock().is_err() {
            continue;
        }
        if (0..BLOCK).all(|i| UdpSocket::bind(("127.0.0.1", base + i)).is_ok()) {
            return RtpBlock {
                low: base,
                _lock: file,
            };
        }
    }
    panic!("no free RTP block");
}

/// A port free for both UDP and TCP on loopback (the daemon listens on both).
fn free_sip_port() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = udp.local_addr().expect("addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free SIP port");
}

/// The daemon process, killed (and reaped) on drop.
struct Daemon {
    child: Child,
    sip: SocketAddr,
    log: PathBuf,
    _rtp: RtpBlock,
}

impl Daemon {
    fn start() -> Daemon {
        let rtp = claim_rtp_block();
        let sip: SocketAddr = format!("127.0.0.1:{}", free_sip_port()).parse().unwrap();
        let log = std::env::temp_dir().join(format!("centralino-load-smoke-{}.log", sip.port()));
        let child = Command::new(env!("CARGO_BIN_EXE_centralino"))
            .current_dir(env!("CARGO_MANIFEST_DIR")) // prompts/ is relative to the cwd
            .args(["run", "--sip-listen", &sip.to_string(), "--rtp-ports"])
            .arg(format!("{}-{}", rtp.low, rtp.low + BLOCK - 1))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("daemon log"))
            .spawn()
            .expect("start centralino");
        let d = Daemon {
            child,
            sip,
            log,
            _rtp: rtp,
        };
        d.wait_ready();
        d
    }

    /// Polls with OPTIONS (RFC 3261 §11) until the daemon answers 200.
    fn wait_ready(&self) {
        let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let me = sock.local_addr().unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 4096];
        for n in 1u32.. {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "daemon did not answer OPTIONS; log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            let req = format!(
                "OPTIONS sip:ping@{d} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK-smoke-{n}\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:smoke@{me}>;tag=smoke\r\nTo: <sip:ping@{d}>\r\n\
                 Call-ID: smoke-ready@{me}\r\nCSeq: {n} OPTIONS\r\nContent-Length: 0\r\n\r\n",
                d = self.sip,
            );
            let _ = sock.send_to(req.as_bytes(), self.sip);
            if let Ok(len) = sock.recv(&mut buf)
                && buf[..len].starts_with(b"SIP/2.0 200")
            {
                return;
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The integer after `"key":` in the generator's flat JSON report.
fn json_int(json: &str, key: &str) -> i64 {
    let pat = format!("\"{key}\":");
    let at = json
        .find(&pat)
        .unwrap_or_else(|| panic!("{key} missing in {json}"))
        + pat.len();
    let digits: String = json[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '-')
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{key} not an integer in {json}"))
}

#[test]
fn twenty_calls_held_three_seconds_lose_nothing() {
    let daemon = Daemon::start();
    let out = Command::new(env!("CARGO_BIN_EXE_centralino-load"))
        .args(["--target", &daemon.sip.to_string()])
        .args([
            "--calls", "20", "--rate", "20", "--hold", "3", "--drain", "10",
        ])
        .args(["--daemon-pid", &daemon.child.id().to_string(), "--json"])
        .output()
        .expect("run centralino-load");
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "centralino-load exited {:?}\nstdout: {json}\nstderr: {}\ndaemon log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&daemon.log).unwrap_or_default()
    );
    assert_eq!(json_int(&json, "answered"), 20, "{json}");
    assert_eq!(json_int(&json, "failed"), 0, "{json}");
    assert_eq!(json_int(&json, "lost"), 0, "{json}");
    assert_eq!(json_int(&json, "dropped_by_generator"), 0, "{json}");
    assert_eq!(json_int(&json, "streams_with_media"), 20, "{json}");
    assert_eq!(json_int(&json, "ssrc_changes"), 0, "{json}");
    // About 3 s of greeting at 50 packets/s per call: demand a clear majority of it.
    assert!(json_int(&json, "packets") > 20 * 100, "{json}");
}
