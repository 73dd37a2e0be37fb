//! Graceful stop: on SIGTERM the daemon refuses new calls (503 + Retry-After), sends BYE
//! to every live call, and exits with status 0 as soon as every BYE has its final
//! response, or when `sip.shutdown_grace_ms` runs out.
//!
//! One caller is literal SIP from a Rust socket (so the test decides when, or whether, to
//! answer the daemon's BYE), the other is sipp (`tests/sipp/uac_wait_bye.xml`), which
//! passes only if the daemon's BYE reaches it.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

mod common;

use common::centre::Caller;
use common::*;
use std::net::UdpSocket;
use std::thread;
use std::time::{Duration, Instant};

/// A UDP socket standing in for a caller's media port: its port goes into the SDP.
fn rtp_socket() -> UdpSocket {
    UdpSocket::bind((LOOPBACK, 0)).expect("bind RTP socket")
}

/// The first RTP packet (RFC 3550) that reaches `sock` within `limit`.
fn wait_rtp(sock: &UdpSocket, limit: Duration) -> Option<RtpPacket> {
    let started = Instant::now();
    let deadline = started + limit;
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        if left.is_zero() {
            return None;
        }
        sock.set_read_timeout(Some(left)).unwrap();
        if let Ok((n, from)) = sock.recv_from(&mut buf)
            && let Some(p) = parse_rtp(&buf[..n], started.elapsed(), from)
        {
            return Some(p);
        }
    }
}

/// A caller of 0611111111 dialling `service`, in a new dialog on `sip`.
fn caller_on(sip: SipUdp) -> Caller {
    Caller::dialling(sip, "service", "0611111111")
}

/// What these tests do with a caller beyond plain transactions.
trait Stopping {
    fn establish(&mut self, rtp_port: u16);
    fn wait_request(&self, method: &str, limit: Duration) -> Result<SipMessage, String>;
    fn answer_ok(&self, req: &SipMessage);
}

impl Stopping for Caller {
    /// INVITE with a PCMU offer to `rtp_port`, 200 (with an SDP answer), ACK.
    fn establish(&mut self, rtp_port: u16) {
        let branch = format!("z9hG4bK-inv-{}", token());
        let invite = self.request("INVITE", 1, &branch, Some(&sdp_offer(rtp_port)));
        self.sip.send(invite.as_bytes());
        let mut seen = Vec::new();
        let ok = self.sip.wait_response(
            Duration::from_secs(5),
            |m| m.cseq_method() == Some("INVITE") && m.status().is_some_and(|s| s >= 200),
            &mut seen,
        );
        let ok = ok.unwrap_or_else(|| {
            panic!(
                "no final response to the INVITE within 5 s; got {:?}",
                starts(&seen)
            )
        });
        assert_eq!(ok.status(), Some(200), "INVITE answered with:\n{}", ok.raw);
        assert!(
            ok.body.contains("m=audio "),
            "200 without an SDP answer:\n{}",
            ok.raw
        );
        self.to_tag = Some(ok.to_tag().expect("200 to INVITE without a To tag"));
        let ack = self.request("ACK", 1, &format!("z9hG4bK-ack-{}", token()), None);
        self.sip.send(ack.as_bytes());
    }

    /// Waits up to `limit` for a request `method` of this dialog, ignoring anything else.
    fn wait_request(&self, method: &str, limit: Duration) -> Result<SipMessage, String> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        while let Some(m) = self.sip.recv_until(deadline) {
            if m.method() == Some(method) && m.header("call-id") == Some(self.call_id.as_str()) {
                return Ok(m);
            }
            seen.push(m.start_line);
        }
        Err(format!(
            "no {method} for Call-ID {} within {limit:?}; saw {seen:?}",
            self.call_id
        ))
    }

    /// Answers a request from the daemon with `200 OK` (RFC 3261 §8.2.6.2).
    fn answer_ok(&self, req: &SipMessage) {
        let mut resp = String::from("SIP/2.0 200 OK\r\n");
        for via in req.headers_named("via") {
            resp.push_str(&format!("Via: {via}\r\n"));
        }
        for name in ["from", "to", "call-id", "cseq"] {
            let value = req
                .header(name)
                .unwrap_or_else(|| panic!("request without {name}:\n{}", req.raw));
            resp.push_str(&format!("{name}: {value}\r\n"));
        }
        resp.push_str("Content-Length: 0\r\n\r\n");
        self.sip.send(resp.as_bytes());
    }
}

fn starts(msgs: &[SipMessage]) -> Vec<String> {
    msgs.iter().map(|m| m.start_line.clone()).collect()
}

/// Log lines containing `needle`.
fn count_lines(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// The daemon's final log line (`stopped calls_left=N`), if it wrote one.
fn stopped_line(log: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains(" stopped") && l.contains("calls_left="))
        .map(str::to_string)
}

#[test]
fn sigterm_hangs_up_live_calls_refuses_new_ones_and_exits() {
    let mut daemon = Daemon::start("shutdown-live");

    // Call 1: literal SIP, media to our socket.
    let rtp = rtp_socket();
    let mut caller = caller_on(SipUdp::new(daemon.sip));
    caller.establish(rtp.local_addr().unwrap().port());

    // Call 2: sipp, which waits (at most 15 s) for the daemon's BYE.
    let sipp_rtp = rtp_socket();
    let sipp_port = sipp_rtp.local_addr().unwrap().port();
    let target = daemon.sip;
    let sipp = thread::spawn(move || {
        Sipp::new("uac_wait_bye.xml")
            .set("probe_port", sipp_port)
            .run(target)
    });

    // Both calls are live: two INVITEs logged and the greeting reaching both callers
    // (it starts only after the ACK, so sipp's ACK has arrived too).
    let two_calls = daemon.wait_for_log("incoming call", Duration::from_secs(5)) && {
        let deadline = Instant::now() + Duration::from_secs(5);
        while count_lines(&daemon.log(), "incoming call") < 2 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        count_lines(&daemon.log(), "incoming call") >= 2
    };
    assert!(
        two_calls,
        "the daemon did not log two `incoming call` lines within 10 s"
    );
    let first = wait_rtp(&rtp, Duration::from_secs(3))
        .expect("no RTP reached the literal-SIP caller within 3 s of its ACK");
    assert_eq!(first.pt, PT_PCMU, "greeting not in PCMU: {first:?}");
    let sipp_first = wait_rtp(&sipp_rtp, Duration::from_secs(5))
        .expect("no RTP reached sipp's SDP port within 5 s: its call was not established");
    assert_eq!(sipp_first.pt, PT_PCMU);
    daemon.assert_alive();

    let signalled = Instant::now();
    daemon.signal(libc::SIGTERM);

    // The daemon hangs up on us; leave its BYE unanswered for now.
    let bye = caller
        .wait_request("BYE", Duration::from_secs(2))
        .unwrap_or_else(|why| panic!("after SIGTERM: {why}"));
    eprintln!(
        "BYE {:?} after SIGTERM: {}",
        signalled.elapsed(),
        bye.start_line
    );
    assert_eq!(
        bye.to_tag().as_deref(),
        Some(caller.from_tag.as_str()),
        "the daemon's BYE does not carry our tag in To:\n{}",
        bye.raw
    );

    // A new call while stopping: 503 with Retry-After (RFC 3261 §21.5.4).
    // Same client socket, new Call-ID.
    let mut late = caller_on(SipUdp {
        sock: caller.sip.sock.try_clone().unwrap(),
        daemon: daemon.sip,
    });
    let late_rtp = rtp_socket();
    let branch = format!("z9hG4bK-late-{}", token());
    let invite = late.request(
        "INVITE",
        1,
        &branch,
        Some(&sdp_offer(late_rtp.local_addr().unwrap().port())),
    );
    late.sip.send(invite.as_bytes());
    let mut seen = Vec::new();
    let refused = late
        .sip
        .wait_response(
            Duration::from_secs(2),
            |m| {
                m.header("call-id") == Some(late.call_id.as_str())
                    && m.status().is_some_and(|s| s >= 200)
            },
            &mut seen,
        )
        .unwrap_or_else(|| {
            panic!(
                "no final response within 2 s to an INVITE sent while stopping; got {:?}",
                starts(&seen)
            )
        });
    eprintln!(
        "INVITE while stopping -> {} (Retry-After: {:?})",
        refused.start_line,
        refused.header("retry-after")
    );
    assert_eq!(
        refused.status(),
        Some(503),
        "INVITE while stopping:\n{}",
        refused.raw
    );
    let retry_after = refused
        .header("retry-after")
        .unwrap_or_else(|| panic!("503 without Retry-After:\n{}", refused.raw));
    assert!(
        retry_after
            .split([';', '('])
            .next()
            .is_some_and(|v| v.trim().parse::<u32>().is_ok()),
        "Retry-After is not delta-seconds: {retry_after:?}"
    );
    // ACK the 503 (same branch, RFC 3261 §17.1.1.3) so it is not retransmitted.
    late.to_tag = refused.to_tag();
    late.sip
        .send(late.request("ACK", 1, &branch, None).as_bytes());

    // Now answer the BYE: with sipp's answered too, nothing holds the daemon any more.
    caller.answer_ok(&bye);
    let answered = Instant::now();
    let run = sipp.join().expect("sipp thread panicked");
    run.assert_success();
    assert!(
        run.messages.contains("BYE sip:"),
        "sipp passed but its message log shows no BYE from the daemon"
    );

    let left = Duration::from_secs(5).saturating_sub(signalled.elapsed());
    let status = daemon.wait_exit(left).unwrap_or_else(|| {
        panic!(
            "the daemon was still running 5 s after SIGTERM\n--- log tail ---\n{}",
            tail(&daemon.log(), 40)
        )
    });
    let exited = signalled.elapsed();
    eprintln!(
        "daemon exited {exited:?} after SIGTERM ({:?} after our 200 to its BYE) with {status}",
        answered.elapsed()
    );
    assert!(
        status.success(),
        "the daemon exited with {status} after SIGTERM"
    );
    // Every BYE had its final response well before the 3 s grace period (default) ran
    // out: the daemon must exit then, not sit out the deadline.
    assert!(
        exited < Duration::from_millis(2500),
        "the daemon took {exited:?} to exit although both BYEs were answered {:?} after \
         SIGTERM (it should exit as soon as they are, not at the 3 s grace deadline)",
        answered.duration_since(signalled)
    );

    let log = daemon.log();
    assert_eq!(
        count_lines(&log, "stopping: refusing new calls"),
        1,
        "the log does not say once that the daemon began stopping:\n{}",
        tail(&log, 30)
    );
    let stopped = stopped_line(&log)
        .unwrap_or_else(|| panic!("the log does not say it stopped:\n{}", tail(&log, 30)));
    assert!(
        stopped.contains("calls_left=0") && stopped.contains("refused=1"),
        "want calls_left=0 (both calls hung up) and refused=1 (the INVITE while stopping): \
         {stopped}"
    );
    // The refused INVITE never became a call.
    assert_eq!(count_lines(&log, "incoming call"), 2, "{}", tail(&log, 30));
}

#[test]
fn stop_deadline_is_kept_when_a_caller_never_answers_bye() {
    let grace = Duration::from_millis(1000);
    let mut daemon =
        Daemon::start_with_config("shutdown-deadline", "sip:\n  shutdown_grace_ms: 1000\n");
    let rtp = rtp_socket();
    let mut caller = caller_on(SipUdp::new(daemon.sip));
    caller.establish(rtp.local_addr().unwrap().port());
    wait_rtp(&rtp, Duration::from_secs(3))
        .expect("no RTP reached the caller within 3 s of its ACK");
    daemon.assert_alive();

    let signalled = Instant::now();
    daemon.signal(libc::SIGTERM);
    let bye = caller
        .wait_request("BYE", Duration::from_secs(2))
        .unwrap_or_else(|why| panic!("after SIGTERM: {why}"));
    let branch = bye.via_branch().expect("BYE without a Via branch");
    eprintln!(
        "BYE {:?} after SIGTERM (branch {branch}); never answering it",
        signalled.elapsed()
    );

    // Never answer. Over UDP the BYE is retransmitted (Timer E, RFC 3261 §17.1.2.2) while
    // the daemon waits for the grace period to run out.
    let mut retransmissions = 0;
    let status = loop {
        if let Some(status) = daemon.wait_exit(Duration::ZERO) {
            break Some(status);
        }
        if signalled.elapsed() > grace + Duration::from_secs(2) {
            break None;
        }
        if let Ok(again) = caller.wait_request("BYE", Duration::from_millis(20))
            && again.via_branch().as_deref() == Some(branch.as_str())
        {
            retransmissions += 1;
        }
    };
    let exited = signalled.elapsed();
    let status = status.unwrap_or_else(|| {
        panic!(
            "the daemon was still running {exited:?} after SIGTERM (grace {grace:?} + 2 s)\n\
             --- log tail ---\n{}",
            tail(&daemon.log(), 40)
        )
    });
    eprintln!(
        "daemon exited {exited:?} after SIGTERM with {status}; {retransmissions} BYE \
         retransmission(s) seen"
    );
    assert!(
        status.success(),
        "the daemon exited with {status} after SIGTERM"
    );
    assert!(
        exited >= grace - Duration::from_millis(100),
        "the daemon exited {exited:?} after SIGTERM, before its {grace:?} grace period, \
         although its BYE was never answered"
    );
    assert!(
        retransmissions >= 1,
        "the unanswered BYE was never retransmitted over UDP before the daemon exited"
    );
    let log = daemon.log();
    assert_eq!(
        count_lines(&log, "stopping: refusing new calls"),
        1,
        "the log does not say once that the daemon began stopping:\n{}",
        tail(&log, 30)
    );
    // (The call itself ends when its BYE is sent, so `calls_left` is 0 here too: what
    // held the daemon was the BYE's client transaction.)
    let stopped = stopped_line(&log)
        .unwrap_or_else(|| panic!("the log does not say it stopped:\n{}", tail(&log, 30)));
    eprintln!("{stopped}");
}
