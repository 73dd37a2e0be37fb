//! Hold and resume (RFC 3264 §8.4, RFC 6337 §5.3): a new offer with `a=sendonly` in the
//! dialog (re-INVITE, or UPDATE per RFC 3311) is answered `a=recvonly` and the daemon
//! stops sending RTP; a further offer with `a=sendrecv` is answered `a=sendrecv` and the
//! RTP flows again.
//!
//! The caller is literal SIP from a Rust socket; its SDP points at a UDP socket of the
//! test, which counts the daemon's RTP in each phase. The greeting (~7 s) is still
//! playing through the whole exchange (~2 s), so RTP stops only because of the hold.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

// This crate uses no sipp: the shared harness re-exports it all the same.
#[allow(unused_imports)]
mod common;

use common::centre::Caller;
use common::*;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

/// How long each phase (playing, held, resumed) is observed.
const PHASE: Duration = Duration::from_millis(500);
/// 20 ms packets over [`PHASE`] make 25; fewer than this means the media is not flowing.
const FLOWING: usize = 15;
/// Packets already in flight when the hold is answered (one or two 20 ms ticks).
const IN_FLIGHT: usize = 2;

/// Every RTP packet (RFC 3550) that reaches `sock` during the next `span`.
fn collect_rtp(sock: &UdpSocket, span: Duration) -> Vec<RtpPacket> {
    let started = Instant::now();
    let deadline = started + span;
    let mut packets = Vec::new();
    let mut buf = [0u8; 2048];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        if left.is_zero() {
            break;
        }
        sock.set_read_timeout(Some(left)).unwrap();
        if let Ok((n, from)) = sock.recv_from(&mut buf)
            && let Some(p) = parse_rtp(&buf[..n], started.elapsed(), from)
        {
            packets.push(p);
        }
    }
    packets
}

/// Discards what is queued on `sock` (RTP that arrived before now); returns how much.
fn drain(sock: &UdpSocket) -> usize {
    sock.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while sock.recv_from(&mut buf).is_ok() {
        n += 1;
    }
    sock.set_nonblocking(false).unwrap();
    n
}

fn describe(packets: &[RtpPacket]) -> String {
    match (packets.first(), packets.last()) {
        (Some(a), Some(b)) => format!(
            "{} packets, seq {}..{}, ts {}..{}, ssrc {:08x}, pt {}",
            packets.len(),
            a.seq,
            b.seq,
            a.ts,
            b.ts,
            a.ssrc,
            a.pt
        ),
        _ => "no packets".to_string(),
    }
}

/// The PCMU offer of `sdp_offer` with direction `dir` and SDP version `version`
/// (RFC 4566 §5.2: a changed session description carries a higher version).
fn offer(rtp_port: u16, dir: &str, version: u32) -> String {
    let sdp = sdp_offer(rtp_port)
        .replace("o=harness 1 1 ", &format!("o=harness 1 {version} "))
        .replace("a=sendrecv\r\n", &format!("a={dir}\r\n"));
    assert!(sdp.contains(&format!("a={dir}\r\n")) && sdp.contains(&format!(" 1 {version} IN")));
    sdp
}

/// The direction attribute of an SDP body (`sendrecv` when none is given, RFC 4566 §6).
fn direction(sdp: &str) -> Vec<String> {
    let dirs: Vec<String> = sdp
        .lines()
        .map(str::trim)
        .filter(|l| {
            matches!(
                *l,
                "a=sendrecv" | "a=sendonly" | "a=recvonly" | "a=inactive"
            )
        })
        .map(|l| l[2..].to_string())
        .collect();
    if dirs.is_empty() {
        vec!["sendrecv".to_string()]
    } else {
        dirs
    }
}

/// A new offer in the caller's dialog (re-INVITE or UPDATE); asserts a 200 whose SDP answer
/// has direction `want`, with the same To tag.
fn reoffer(caller: &mut Caller, method: &str, sdp: &str, want: &str) -> SipMessage {
    let ok = caller.transaction(method, Some(sdp));
    eprintln!(
        "{method} ({}) -> {} {:?}",
        direction(sdp).join(","),
        ok.start_line,
        direction(&ok.body)
    );
    assert_eq!(
        ok.status(),
        Some(200),
        "{method} with a new offer:\n{}",
        ok.raw
    );
    assert_eq!(
        ok.to_tag(),
        caller.to_tag,
        "200 to {method} changed the To tag"
    );
    assert!(
        ok.body.contains("m=audio "),
        "200 to {method} without an SDP answer:\n{}",
        ok.raw
    );
    assert_eq!(
        direction(&ok.body),
        vec![want.to_string()],
        "200 to {method}: wrong direction in the SDP answer:\n{}",
        ok.body
    );
    ok
}

/// Call, hold with `method` (`INVITE` or `UPDATE`), resume with the same method, BYE.
fn hold_and_resume(name: &str, method: &str) {
    let mut daemon = Daemon::start(name);
    let rtp = UdpSocket::bind((LOOPBACK, 0)).expect("bind RTP socket");
    let port = rtp.local_addr().unwrap().port();
    let mut caller = Caller::dialling(SipUdp::new(daemon.sip), "service", "0622222222");

    let ok = caller.transaction("INVITE", Some(&offer(port, "sendrecv", 1)));
    assert_eq!(ok.status(), Some(200), "initial INVITE:\n{}", ok.raw);
    assert!(caller.to_tag.is_some(), "200 without a To tag:\n{}", ok.raw);
    assert_eq!(
        direction(&ok.body),
        vec!["sendrecv".to_string()],
        "{}",
        ok.body
    );

    // Playing: the greeting flows at 20 ms per packet.
    let _ = collect_rtp(&rtp, Duration::from_millis(100)); // the first packets, still ramping up
    let playing = collect_rtp(&rtp, PHASE);
    eprintln!("playing: {}", describe(&playing));
    assert!(
        playing.len() >= FLOWING,
        "before the hold only {} RTP packets in {PHASE:?} (want >= {FLOWING}): {}",
        playing.len(),
        describe(&playing)
    );
    assert!(
        playing.iter().all(|p| p.pt == PT_PCMU),
        "non-PCMU RTP on a PCMU call"
    );

    // Hold: sendonly -> recvonly, and the daemon stops sending.
    reoffer(&mut caller, method, &offer(port, "sendonly", 2), "recvonly");
    let before = drain(&rtp);
    let held = collect_rtp(&rtp, PHASE);
    eprintln!(
        "held: {before} queued before the 200 was read, then {}",
        describe(&held)
    );
    assert!(
        held.len() <= IN_FLIGHT,
        "{} RTP packets reached the caller in the {PHASE:?} after the hold was answered \
         (at most {IN_FLIGHT} in flight allowed): {}",
        held.len(),
        describe(&held)
    );
    daemon.assert_alive();

    // Resume: sendrecv -> sendrecv, and the RTP flows again.
    reoffer(&mut caller, method, &offer(port, "sendrecv", 3), "sendrecv");
    let resumed = collect_rtp(&rtp, PHASE);
    eprintln!("resumed: {}", describe(&resumed));
    assert!(
        resumed.len() >= FLOWING,
        "after the resume only {} RTP packets in {PHASE:?} (want >= {FLOWING}): {}",
        resumed.len(),
        describe(&resumed)
    );
    assert!(
        resumed.iter().all(|p| p.pt == PT_PCMU),
        "non-PCMU RTP after the resume"
    );

    let bye = caller.transaction("BYE", None);
    assert_eq!(bye.status(), Some(200), "BYE:\n{}", bye.raw);
    daemon.assert_alive();
    let log = daemon.log();
    let changes = log.lines().filter(|l| l.contains("media changed")).count();
    eprintln!("daemon logged {changes} media changes");
}

#[test]
fn reinvite_sendonly_holds_and_sendrecv_resumes() {
    hold_and_resume("hold-reinvite", "INVITE");
}

#[test]
fn update_sendonly_holds_and_sendrecv_resumes() {
    hold_and_resume("hold-update", "UPDATE");
}
