//! [`Daemon`]: the `centralino run` binary on free loopback ports, ready once it answers
//! OPTIONS (RFC 3261 §11) over UDP, stopped on drop (log tail dumped if the test failed).

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// How to start a daemon.
#[derive(Default, Clone)]
pub struct DaemonOptions {
    /// Written to `<tmp>/centralino.yaml` and passed with `--config`.
    pub config_yaml: Option<String>,
    /// Appended to the command line after the harness's own flags.
    pub extra_args: Vec<String>,
}

/// A running `centralino run` on free loopback ports; killed on drop.
pub struct Daemon {
    name: String,
    child: Option<Child>,
    /// SIP address (UDP and TCP).
    pub sip: SocketAddr,
    pub rtp: RtpBlock,
    log_path: PathBuf,
    dir: Option<tempfile::TempDir>,
}

impl Daemon {
    /// Default config, free ports.
    pub fn start(name: &str) -> Daemon {
        Self::start_with(name, DaemonOptions::default())
    }

    /// With a config file (YAML text).
    pub fn start_with_config(name: &str, yaml: &str) -> Daemon {
        Self::start_with(
            name,
            DaemonOptions {
                config_yaml: Some(yaml.to_string()),
                ..Default::default()
            },
        )
    }

    pub fn start_with(name: &str, opts: DaemonOptions) -> Daemon {
        let bin = env!("CARGO_BIN_EXE_centralino");
        // A free port can be taken between our check and the daemon's bind: retry then.
        let mut last_failure = String::new();
        for attempt in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix(&format!("centralino-{name}-"))
                .tempdir()
                .expect("create temp dir");
            let port = free_udp_tcp_port();
            let sip: SocketAddr = format!("{LOOPBACK}:{port}").parse().unwrap();
            let rtp = RtpBlock::claim();
            let log_path = dir.path().join("centralino.log");
            let log = File::create(&log_path).expect("create daemon log");
            let mut cmd = Command::new(bin);
            cmd.current_dir(crate_root())
                .arg("run")
                .arg("--sip-listen")
                .arg(sip.to_string())
                .arg("--rtp-ports")
                .arg(format!("{}-{}", rtp.low, rtp.high))
                .arg("--prompts")
                .arg(crate_root().join("prompts"));
            if let Some(yaml) = &opts.config_yaml {
                let cfg = dir.path().join("centralino.yaml");
                fs::write(&cfg, yaml).expect("write config");
                cmd.arg("--config").arg(cfg);
            }
            // Tickets and bookings stay in the test's directory, never in the checkout.
            let own_outbox = opts.extra_args.iter().any(|a| a == "--outbox")
                || opts
                    .config_yaml
                    .as_deref()
                    .is_some_and(|y| y.contains("outbox_dir"));
            if !own_outbox {
                cmd.arg("--outbox").arg(dir.path().join("outbox"));
            }
            cmd.args(&opts.extra_args);
            if std::env::var_os("RUST_LOG").is_none() {
                cmd.env("RUST_LOG", "debug");
            }
            cmd.env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone().unwrap()))
                .stderr(Stdio::from(log));
            eprintln!(
                "[{name}] starting daemon (attempt {}): {:?}\n[{name}] daemon log: {}",
                attempt + 1,
                cmd,
                log_path.display()
            );
            let child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("cannot spawn {bin}: {e}"));
            let mut daemon = Daemon {
                name: name.to_string(),
                child: Some(child),
                sip,
                rtp,
                log_path,
                dir: Some(dir),
            };
            match daemon.wait_ready(Duration::from_secs(10)) {
                Ok(()) => return daemon,
                Err(why) => {
                    let log = daemon.log();
                    let in_use = log.contains("in use") || log.contains("AddrInUse");
                    last_failure = format!("{why}\n--- daemon log tail ---\n{}", tail(&log, 60));
                    daemon.kill();
                    if !in_use {
                        break;
                    }
                    eprintln!("[{name}] port clash, retrying: {why}");
                }
            }
        }
        panic!("[{name}] daemon did not become ready: {last_failure}");
    }

    /// Polls with OPTIONS over UDP every 50 ms until a 200 comes back.
    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let client = SipUdp::new(self.sip);
        let deadline = Instant::now() + limit;
        let call_id = format!("ready-{}@{LOOPBACK}", token());
        let mut cseq = 0u32;
        while Instant::now() < deadline {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!("daemon exited early with {status}"));
            }
            cseq += 1;
            let req = client.options_request(&call_id, cseq);
            client.send(req.as_bytes());
            let until = Instant::now() + Duration::from_millis(50);
            while let Some(msg) = client.recv_until(until) {
                if msg.is_response() && msg.cseq_number() == Some(cseq) {
                    if msg.status() == Some(200) {
                        return Ok(());
                    }
                    return Err(format!(
                        "OPTIONS answered with {:?} instead of 200:\n{}",
                        msg.start_line, msg.raw
                    ));
                }
            }
        }
        Err(format!(
            "no 200 to OPTIONS on udp {} within {limit:?}",
            self.sip
        ))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The whole log so far, ANSI colours removed.
    pub fn log(&self) -> String {
        let bytes = fs::read(&self.log_path).unwrap_or_default();
        strip_ansi(&String::from_utf8_lossy(&bytes))
    }

    /// Panics (with the log tail) if the daemon process has exited.
    pub fn assert_alive(&mut self) {
        if let Some(status) = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            panic!(
                "[{}] daemon exited with {status}\n--- daemon log tail ---\n{}",
                self.name,
                tail(&self.log(), 60)
            );
        }
    }

    /// Process id of the daemon (panics if it was already reaped by the harness).
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("daemon process already reaped")
            .id()
    }

    /// Sends signal `sig` (e.g. `libc::SIGTERM`) to the daemon; panics if `kill(2)` fails.
    /// Call it before `wait_exit` has returned a status: once the child is reaped its
    /// pid may belong to another process.
    pub fn signal(&self, sig: i32) {
        let pid = self.pid() as libc::pid_t;
        // SAFETY: a plain syscall on our own child's pid; an exited but unreaped child
        // stays a zombie, so the pid is still ours.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(
            rc,
            0,
            "[{}] kill({pid}, {sig}) failed: {}",
            self.name,
            std::io::Error::last_os_error()
        );
    }

    /// Polls every 20 ms, up to `limit`, for the daemon to exit; its status, or `None`
    /// if it is still running. The child stays owned, so drop still cleans up.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
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

    /// Waits up to `limit` for `needle` to appear in the log.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM (the daemon's shutdown path, which also flushes its log), then SIGKILL
    /// if it has not exited within 2 s.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(None) = child.try_wait() {
                let kill = ["/usr/bin/kill", "/bin/kill"]
                    .into_iter()
                    .find(|p| Path::new(p).exists())
                    .unwrap_or("kill");
                let _ = Command::new(kill)
                    .arg("-TERM")
                    .arg(child.id().to_string())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
                let deadline = Instant::now() + Duration::from_secs(2);
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
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!(
                "[{}] --- daemon log tail ({}) ---\n{}\n[{}] --- end of daemon log ---",
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
