//! The benchmark scripts of docs/performance.md (`tests/perf/*.sh`) run end to end at a
//! tiny size, on this build's debug binaries (`BINS`, so they build nothing), each on
//! its own free ports: the scripts, their knobs and their result tables cannot rot
//! unseen. No timing assertions: only that every call went through and the tables say so.
//! (`media_sink.sh` is left out: it needs root to create a veth pair.)
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

#[allow(unused_imports)]
mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `tests/perf/<script>` with `env` plus a private SIP port, RTP block and
/// directories; panics with its output unless it exits 0. Returns its standard output.
fn run_script(script: &str, env: &[(&str, &str)]) -> String {
    for (tool, package) in [("python3", "python3"), ("ss", "iproute2")] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} not found: install it with `apt-get install {package}`"
        );
    }
    let bins = Path::new(env!("CARGO_BIN_EXE_centralino"))
        .parent()
        .expect("the binaries' directory");
    let rtp = RtpBlock::claim();
    let work = tempfile::tempdir().expect("temp dir");
    let out: Output = Command::new("bash")
        .arg(crate_root().join("tests/perf").join(script))
        .env("BINS", bins)
        .env("SIP_PORT", free_udp_tcp_port().to_string())
        .env("RTP_PORTS", format!("{}-{}", rtp.low, rtp.high))
        .env("OUT", work.path().join("out"))
        .env("TMPDIR", work.path())
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{script} exited {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The table row whose first cells are `start` (e.g. `| 10 | 1/1 |`).
fn row<'a>(table: &'a str, start: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no row starting {start:?} in:\n{table}"))
}

#[test]
fn media_density_script_reports_ten_clean_calls() {
    let out = run_script(
        "media_density.sh",
        &[
            ("NS", "10"),
            ("RUNS", "1"),
            ("RATE", "20"),
            ("HOLD", "2"),
            ("KEY_AT", "1.5"),
        ],
    );
    // N, runs, loadavg, then answered, failed, lost, dropped by the generator.
    let r = row(&out, "| 10 | 1/1 |");
    assert!(
        r.contains("| 10 (10–10) | 0 (0–0) | 0 (0–0) | 0 (0–0) |"),
        "10 answered, none failed, lost or dropped:\n{out}"
    );
}

#[test]
fn call_rate_script_reports_forty_calls_without_failure() {
    sipp_binary(); // the script needs sipp: fail with the install hint if it is missing
    let out = run_script(
        "call_rate.sh",
        &[("RATES", "20"), ("DURATION", "2"), ("RUNS", "1")],
    );
    // rate, run, calls, achieved/s, failed, refused, failed %.
    let r = row(&out, "| 20 | 1 |");
    assert!(
        r.starts_with("| 20 | 1 | 40 | 20 | 0 | 0 | 0.00 |"),
        "40 calls at 20/s, none failed:\n{out}"
    );
}

#[test]
fn queue_scale_script_reports_eight_callers_served() {
    let out = run_script(
        "queue_scale.sh",
        &[
            ("N", "8"),
            ("M", "2"),
            ("RATE", "4"),
            ("HOLD", "10"),
            ("TALK", "1"),
            ("RUNS", "1"),
        ],
    );
    // runs, loadavg, failed, peak waiting, connected, abandoned, overflowed, answered by
    // the farm; later cells: count mismatches, min-interval violations, late.
    let r = row(&out, "| 1/1 |");
    let cells: Vec<&str> = r.split('|').map(str::trim).collect();
    assert_eq!(cells[3], "0 (0–0)", "failed callers:\n{out}");
    assert_eq!(cells[5], "8 (8–8)", "connected callers:\n{out}");
    assert_eq!(cells[8], "8 (8–8)", "calls the operators answered:\n{out}");
    assert_eq!(cells[12], "0 (0–0)", "wrong counts announced:\n{out}");
    assert_eq!(cells[13], "0 (0–0)", "announcements too close:\n{out}");
}
