//! The call set-up benchmark at CI size (the full run is tests/perf/call_rate.sh): sipp
//! places 300 answer-and-BYE calls at 100 calls/s on the DTMF test line; every call must
//! succeed and every RTP socket must be released when its call ends.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

#[allow(unused_imports)]
mod common;

use common::*;
use std::time::{Duration, Instant};

/// Open file descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn three_hundred_calls_at_one_hundred_per_second_all_succeed() {
    let daemon = Daemon::start("call-rate");
    let idle_fds = open_fds(daemon.pid());
    let run = Sipp::new("uac_answer_bye.xml")
        .calls(300, 100)
        .run(daemon.sip);
    run.assert_success();
    // Every call's RTP socket is closed at its BYE: back to the idle count.
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_fds(daemon.pid()) > idle_fds && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        open_fds(daemon.pid()),
        idle_fds,
        "file descriptors left open after all calls ended"
    );
    // Log lines reach the file within ~10 ms of the event: wait for the last ones.
    let ended = || {
        let log = daemon.log();
        log.lines().filter(|l| l.contains("call ended")).count()
    };
    let deadline = Instant::now() + Duration::from_secs(2);
    while ended() < 300 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(ended(), 300, "calls ended in the daemon log");
}
