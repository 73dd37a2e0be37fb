//! The `exec` back end: runs a program (argv, no shell) for each request, writes one
//! JSON request on its stdin (`{"op": "ticket" | "booking" | "slots" | "lookup", ...}`),
//! and reads one JSON reply from its stdout. Exit 0 is success, unless the reply is
//! `{"error": "...", "retry": false}` (a refusal) or `{"error": "..."}` (temporary);
//! exit 65 (`EX_DATAERR`) is a refusal; any other exit, a signal, or no exit within
//! the timeout (the program's process group is then killed) is temporary.

use super::super::config::ExecConfig;
use super::super::outbox::Item;
use super::super::{
    Ack, AppointmentBook, Booking, CallInfo, CallerInfo, CallerLookup, PluginError, Slot,
    SlotQuery, Ticket, TicketDesk,
};
use super::{item_json, parse_ack, parse_caller, parse_error, parse_slots};
use crossbeam_channel::{RecvTimeoutError, bounded};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The exit status a program uses to refuse a request for good.
pub const EXIT_REFUSED: i32 = 65;

/// Longest stdout or stderr kept, bytes.
const MAX_OUTPUT: u64 = 1 << 20;

/// A program back end.
#[derive(Debug, Clone)]
pub struct Exec {
    argv: Vec<String>,
    timeout: Duration,
    outbox_dir: PathBuf,
}

impl Exec {
    pub fn new(cfg: &ExecConfig, outbox_dir: PathBuf) -> Exec {
        Exec {
            argv: cfg.command.0.clone(),
            timeout: Duration::from_millis(cfg.timeout_ms.get()),
            outbox_dir,
        }
    }

    /// Runs the program with `request` and returns its stdout, or the failure sorted.
    pub fn call(&self, request: &Value) -> Result<String, PluginError> {
        let input = serde_json::to_vec(request)
            .map_err(|e| PluginError::Refused(format!("cannot encode the request: {e}")))?;
        let program = &self.argv[0];
        let out = run(&self.argv, input, self.timeout)?;
        let Some(status) = out.status else {
            return Err(PluginError::Temporary(format!(
                "{program} gave no reply within {} ms and was killed",
                self.timeout.as_millis()
            )));
        };
        if let Some(err) = parse_error(&out.stdout) {
            return Err(err);
        }
        let why = || {
            let last = out.stderr.trim().lines().last().unwrap_or("").to_owned();
            let how = match status.code() {
                Some(c) => format!("{program} exited with status {c}"),
                None => format!("{program} was killed by a signal"),
            };
            if last.is_empty() {
                how
            } else {
                format!("{how}: {last}")
            }
        };
        match status.code() {
            Some(0) => Ok(out.stdout),
            Some(EXIT_REFUSED) => Err(PluginError::Refused(why())),
            _ => Err(PluginError::Temporary(why())),
        }
    }
}

impl TicketDesk for Exec {
    fn deliver_ticket(&mut self, ticket: &Ticket) -> Result<Ack, PluginError> {
        let question = ticket
            .question_wav
            .as_ref()
            .map(|w| self.outbox_dir.join(w).display().to_string());
        let request = json!({
            "op": "ticket",
            "ticket": item_json(&Item::Ticket(ticket.clone())),
            "question_path": question,
        });
        Ok(parse_ack(&self.call(&request)?))
    }
}

impl AppointmentBook for Exec {
    fn free_slots(&mut self, query: &SlotQuery) -> Result<Vec<Slot>, PluginError> {
        parse_slots(&self.call(&json!({"op": "slots", "query": query}))?)
    }

    fn deliver_booking(&mut self, booking: &Booking) -> Result<Ack, PluginError> {
        let request = json!({
            "op": "booking",
            "booking": item_json(&Item::Booking(booking.clone())),
        });
        Ok(parse_ack(&self.call(&request)?))
    }
}

impl CallerLookup for Exec {
    fn lookup(&mut self, call: &CallInfo) -> Result<CallerInfo, PluginError> {
        parse_caller(&self.call(&json!({"op": "lookup", "call": call}))?)
    }
}

/// What a program run gave; `status` is `None` when it was killed at the timeout.
#[derive(Debug)]
pub struct Output {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `argv` in its own process group with `input` on stdin; after `timeout` the whole
/// group is killed.
#[allow(clippy::disallowed_methods)] // a child process's deadline is real time, like the driver's
pub fn run(argv: &[String], input: Vec<u8>, timeout: Duration) -> Result<Output, PluginError> {
    let deadline = Instant::now() + timeout;
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| PluginError::Temporary(format!("cannot run {}: {e}", argv[0])))?;
    let pgid = child.id() as libc::pid_t;
    if let Some(mut stdin) = child.stdin.take() {
        // A program that exits without reading its input gets EPIPE here: not an error.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        let (tx, rx) = bounded(1);
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(p) = pipe {
                let _ = p.take(MAX_OUTPUT).read_to_end(&mut buf);
            }
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
        rx
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let (done_tx, done) = bounded(1);
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let kill = || {
        // SAFETY: a signal to the process group we created for this program.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    };
    let status = match done.recv_deadline(deadline) {
        Ok(Ok(status)) => Some(status),
        Ok(Err(e)) => return Err(PluginError::Temporary(format!("{}: {e}", argv[0]))),
        Err(RecvTimeoutError::Timeout) => {
            kill();
            let _ = done.recv();
            None
        }
        Err(RecvTimeoutError::Disconnected) => None,
    };
    // A program's children that kept the pipes open are killed at the deadline too.
    let collect = |rx: crossbeam_channel::Receiver<String>| match rx.recv_deadline(deadline) {
        Ok(s) => s,
        Err(_) => {
            kill();
            rx.recv().unwrap_or_default()
        }
    };
    let stdout = collect(stdout);
    let stderr = collect(stderr);
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}
