//! [`Sipp`]: one bounded run of a `tests/sipp/` scenario, with its logs kept for reports.

use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// Path of the sipp binary; panics (the test fails, it never passes silently) if absent.
pub fn sipp_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("sipp");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("sipp not found: install it with `apt-get install sip-tester`");
}

/// One sipp run of a scenario in `tests/sipp/`.
pub struct Sipp {
    scenario: String,
    tcp: bool,
    vars: Vec<(String, String)>,
    service: String,
    /// Calls to place (`-m`) and new calls per second (`-r`).
    calls: u32,
    rate: u32,
    /// sipp's own limit (`-timeout`), and when the harness kills it.
    timeout: Duration,
    kill_after: Duration,
}

/// What a sipp run left behind.
pub struct SippRun {
    pub scenario: String,
    /// `None` when the harness had to kill sipp.
    pub status: Option<ExitStatus>,
    pub command: String,
    pub stdout: String,
    pub stderr: String,
    pub errors: String,
    pub messages: String,
    pub elapsed: Duration,
}

impl Sipp {
    pub fn new(scenario: &str) -> Sipp {
        Sipp {
            scenario: scenario.to_string(),
            tcp: false,
            vars: Vec::new(),
            // The daemon's DTMF test line answers this number (config `ivr.test_line`).
            service: "test".to_string(),
            calls: 1,
            rate: 10,
            timeout: Duration::from_secs(30),
            kill_after: Duration::from_secs(40),
        }
    }

    /// A longer scenario (sipp's `-timeout`; the harness waits 10 s more).
    pub fn timeout(mut self, limit: Duration) -> Sipp {
        self.timeout = limit;
        self.kill_after = limit + Duration::from_secs(10);
        self
    }

    /// Use TCP (`-t t1`: one connection).
    pub fn tcp(mut self) -> Sipp {
        self.tcp = true;
        self
    }

    /// Places `calls` calls at `rate` new calls per second (default: one call).
    pub fn calls(mut self, calls: u32, rate: u32) -> Sipp {
        self.calls = calls;
        self.rate = rate;
        self
    }

    /// The number dialled (Request-URI user); default `test`, the DTMF test line.
    pub fn service(mut self, number: &str) -> Sipp {
        self.service = number.to_string();
        self
    }

    /// `-set name value` (the scenario must declare `<Global variables="name"/>`).
    pub fn set(mut self, name: &str, value: impl ToString) -> Sipp {
        self.vars.push((name.to_string(), value.to_string()));
        self
    }

    /// Puts the probe's port into the scenario's SDP (`[$probe_port]`).
    pub fn probe(self, probe: &RtpProbe) -> Sipp {
        let port = probe.port();
        self.set("probe_port", port)
    }

    /// Runs sipp against `target` and waits (at most `kill_after`) for it to finish.
    /// If one of sipp's freshly chosen ports was taken in the meantime (sipp exits before
    /// sending anything), it is run again on new ports.
    pub fn run(&self, target: SocketAddr) -> SippRun {
        let mut run = self.run_once(target);
        for _ in 0..2 {
            let clash =
                run.stderr.contains("Unable to bind") || run.errors.contains("Unable to bind");
            if run.succeeded() || !clash || !run.messages.trim().is_empty() {
                break;
            }
            eprintln!("sipp could not bind its ports; retrying on new ones");
            run = self.run_once(target);
        }
        run
    }

    fn run_once(&self, target: SocketAddr) -> SippRun {
        let sipp = sipp_binary();
        let scenario = crate_root().join("tests").join("sipp").join(&self.scenario);
        assert!(
            scenario.is_file(),
            "missing scenario {}",
            scenario.display()
        );
        let dir = tempfile::Builder::new()
            .prefix("centralino-sipp-")
            .tempdir()
            .expect("create sipp temp dir");
        let errors = dir.path().join("errors.log");
        let messages = dir.path().join("messages.log");
        let stdout = dir.path().join("stdout.txt");
        let stderr = dir.path().join("stderr.txt");
        let local_port = free_udp_tcp_port();
        let media_port = free_udp_port_run(4);
        let mut cmd = Command::new(&sipp);
        cmd.current_dir(dir.path())
            .arg(target.to_string())
            .arg("-sf")
            .arg(&scenario)
            .args(["-i", LOOPBACK, "-mi", LOOPBACK, "-bind_local"])
            .args(["-m", &self.calls.to_string(), "-r", &self.rate.to_string()])
            .args([
                "-timeout",
                &format!("{}s", self.timeout.as_secs()),
                "-timeout_error",
            ])
            .arg("-trace_err")
            .arg("-error_file")
            .arg(&errors)
            .arg("-trace_msg")
            .arg("-message_file")
            .arg(&messages)
            .arg("-nostdin")
            .args(["-s", &self.service])
            .args(["-p", &local_port.to_string()])
            .args(["-mp", &media_port.to_string()]);
        if self.tcp {
            cmd.args(["-t", "t1"]);
        }
        for (k, v) in &self.vars {
            cmd.arg("-set").arg(k).arg(v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(File::create(&stdout).unwrap()))
            .stderr(Stdio::from(File::create(&stderr).unwrap()));
        let command = format!("{cmd:?}");
        eprintln!("running: {command}");
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", sipp.display()));
        let deadline = started + self.kill_after;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                Ok(None) => thread::sleep(Duration::from_millis(20)),
                Err(e) => panic!("waiting for sipp: {e}"),
            }
        };
        let read =
            |p: &Path| String::from_utf8_lossy(&fs::read(p).unwrap_or_default()).into_owned();
        SippRun {
            scenario: self.scenario.clone(),
            status,
            command,
            stdout: read(&stdout),
            stderr: read(&stderr),
            errors: read(&errors),
            messages: read(&messages),
            elapsed: started.elapsed(),
        }
    }
}

impl SippRun {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// Asserts sipp exited 0; otherwise prints its error log, messages and screen.
    pub fn assert_success(&self) {
        if self.succeeded() {
            eprintln!("sipp {} passed in {:?}", self.scenario, self.elapsed);
            return;
        }
        let status = match self.status {
            Some(s) => format!("{s}"),
            None => "killed by the harness after its time limit".to_string(),
        };
        panic!(
            "sipp scenario {} failed ({status}) after {:?}\ncommand: {}\n\
             --- sipp error log ---\n{}\n--- sipp stderr ---\n{}\n--- sipp messages (last 120 lines) ---\n{}\n\
             --- sipp screen (last 40 lines) ---\n{}",
            self.scenario,
            self.elapsed,
            self.command,
            self.errors,
            self.stderr,
            tail(&self.messages, 120),
            tail(&self.stdout, 40),
        );
    }
}
