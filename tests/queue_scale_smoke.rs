//! CI-sized run of the "queue at scale" scenario (`tests/perf/queue_scale.sh`,
//! docs/performance.md): `centralino-load` registers 4 operators (digest auth) and places
//! 40 calls into one queue with announcements; the operators answer and hang up after
//! 1 s, callers still waiting after 6 s hang up. Asserted: no failed call, every caller
//! connected or abandoned, every `announced` count equal to the replayed queue, no gap
//! under the minimum interval, as many calls answered by the operators as `connected`
//! lines (give or take callers who hung up while a phone rang), audio on every caller's
//! stream. No timing assertions.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

// This crate uses no sipp or baresip: the shared harness re-exports them all the same.
#[allow(unused_imports)]
mod common;

use common::centre::*;
use serde_json::Value;
use std::process::Command;

const CALLERS: u64 = 40;
const PASSWORD: &str = "centralino-load";

/// The menu: every dialled number goes straight into the queue.
const TREE: &str = "\
name: coda a regime
start: coda
nodes:
  coda:
    queue: {target: scala, fallback: bye}
  bye:
    hangup:
      prompts: [arrivederci]
";

const QUEUE: &str = "{ring_timeout_ms: 5000, retry_ms: 500, wrapup_ms: 225, max_len: 100, \
     join_when_empty: true, overflow: {max_len: bye}, \
     announce: {on_entry: true, on_change: true, every_ms: 3000, min_interval_ms: 1000, limit: 5}}";

#[test]
fn forty_callers_four_operators_counts_right() {
    let operators: Vec<OperatorSpec> = ["op1", "op2", "op3", "op4"]
        .into_iter()
        .map(|id| OperatorSpec {
            id,
            password: PASSWORD,
            queues: vec!["scala"],
            auto_login: true,
        })
        .collect();
    let centre = start_centre_spec("queue-scale-smoke", TREE, &operators, &[("scala", QUEUE)]);
    let out = Command::new(env!("CARGO_BIN_EXE_centralino-load"))
        .args([
            "--target",
            &centre.daemon.sip.to_string(),
            "--number",
            DIALLED,
        ])
        .args([
            "--operators",
            "4",
            "--operator-password",
            PASSWORD,
            "--talk",
            "1",
        ])
        .args([
            "--calls",
            &CALLERS.to_string(),
            "--rate",
            "20",
            "--hold",
            "6",
        ])
        .args([
            "--drain",
            "10",
            "--daemon-pid",
            &centre.daemon.pid().to_string(),
        ])
        .arg("--queue-log")
        .arg(&centre.queue_log)
        .args([
            "--announce-every-ms",
            "3000",
            "--announce-min-interval-ms",
            "1000",
            "--announce-limit",
            "5",
            "--json",
        ])
        .output()
        .expect("run centralino-load");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let context = || {
        format!(
            "exit {:?}\nstdout: {stdout}\nstderr: {}\nqueue log:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            centre.log_text()
        )
    };
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("report is not JSON ({e}): {}", context()));
    let int = |path: &[&str]| -> u64 {
        let mut v = &report;
        for k in path {
            v = &v[*k];
        }
        v.as_u64()
            .unwrap_or_else(|| panic!("{path:?} missing: {}", context()))
    };
    assert!(out.status.success(), "{}", context());
    assert_eq!(int(&["failed"]), 0, "{}", context());
    assert_eq!(int(&["answered"]), CALLERS, "{}", context());
    assert_eq!(int(&["operators", "registered"]), 4, "{}", context());

    let q = |k: &str| int(&["queue_log", k]);
    assert_eq!(q("bad_lines"), 0, "{}", context());
    assert_eq!(q("joined"), CALLERS, "{}", context());
    assert_eq!(q("overflowed"), 0, "{}", context());
    // With 4 operators answering ~3 callers a second, some of the 40 are served and the
    // rest give up at 6 s: both ends of the queue are exercised.
    assert!(q("connected") > 0, "{}", context());
    assert_eq!(q("connected") + q("abandoned"), CALLERS, "{}", context());
    assert_eq!(q("ahead_mismatches"), 0, "{}", context());
    assert_eq!(q("joined_mismatches"), 0, "{}", context());
    assert_eq!(q("limit_flag_mismatches"), 0, "{}", context());
    assert_eq!(q("min_interval_violations"), 0, "{}", context());
    assert_eq!(q("never_announced"), 0, "{}", context());
    assert!(q("gaps") > 0, "{}", context());
    // Every connected caller was answered by a farm operator. An operator may also have
    // answered a caller who hung up while the phone rang (the daemon then ends that leg
    // at once): only those may make the two counts differ.
    let answered = int(&["operators", "answered"]);
    assert!(
        q("connected") <= answered && answered <= q("connected") + q("abandoned_ringing"),
        "{}",
        context()
    );
    // Connected callers were hung up by the daemon (their operator's BYE), not failed.
    assert!(int(&["hung_up_by_daemon"]) > 0, "{}", context());
    assert_eq!(int(&["streams_with_media"]), CALLERS, "{}", context());
}
