//! Real-peer tests of the DTMF test line: the `centralino` binary on loopback, driven by
//! sipp (scenarios in `tests/sipp/`) and by literal SIP text from Rust sockets.
//!
//! Each test starts its own daemon on free ports (see `common::Daemon`). What the caller
//! hears is checked by capturing the daemon's RTP on a probe socket whose port is in the
//! caller's SDP, decoding G.711 and correlating with the prompt WAVs in `prompts/it/`.
//!
//! Needs sipp (`apt-get install sip-tester`) and root for sipp's pcap replay of RFC 4733
//! digits; a missing sipp fails the tests (it never passes them silently).
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

mod common;

use common::*;
use std::time::{Duration, Instant};

/// Correlation above which a prompt counts as heard, and below which a wrong one must stay.
const HEARD: f64 = 0.8;
const NOT_HEARD: f64 = 0.3;

/// Asserts that the first `window` of the captured audio is the start of the greeting.
fn assert_greeting_heard(capture: &Capture, window: Duration) {
    eprintln!("probe: {}", capture.summary());
    capture.assert_rtp_basics(Duration::from_secs(2).min(window));
    let heard = capture.audio_by_timestamp(window);
    assert!(
        heard.len() >= 8000,
        "less than 1 s of greeting audio captured ({} samples): {}",
        heard.len(),
        capture.summary()
    );
    let benvenuto = read_wav(&prompt_path("benvenuto"));
    let arrivederci = read_wav(&prompt_path("arrivederci"));
    let right = similarity(&heard, &benvenuto);
    let wrong = similarity(&heard, &arrivederci);
    eprintln!("greeting correlation: benvenuto {right:.3}, arrivederci {wrong:.3}");
    assert!(
        right > HEARD,
        "the caller did not hear it/benvenuto: correlation {right:.3} (want > {HEARD})"
    );
    assert!(
        wrong < NOT_HEARD,
        "greeting resembles it/arrivederci: correlation {wrong:.3} (want < {NOT_HEARD})"
    );
}

/// Call over UDP; RFC 4733 digits 1, 5, # from sipp's pcaps; the daemon hangs up.
fn rfc4733_call(name: &str, tcp: bool) {
    let daemon = Daemon::start(name);
    let probe = RtpProbe::start();
    let mut sipp = Sipp::new("uac_dtmf_2833.xml").probe(&probe);
    if tcp {
        sipp = sipp.tcp();
    }
    let run = sipp.run(daemon.sip);
    let capture = probe.finish();
    run.assert_success();
    // sipp pauses 2.5 s after the ACK before the first digit: the greeting plays to the
    // probe until the daemon latches onto sipp's media port (RFC 4733 packets).
    assert_greeting_heard(&capture, Duration::from_secs(2));
    // Symmetric RTP: once sipp's digits arrive (2.5 s after the ACK) the daemon must send
    // to their source, so the probe (the SDP address) hears nothing more of a ~9 s call.
    let stream = capture.first_stream();
    let span = stream.last().unwrap().at - stream[0].at;
    assert!(
        span < Duration::from_millis(3500) && capture.packets.len() == stream.len(),
        "the daemon kept sending to the SDP address after RTP arrived from sipp's media port \
         (no symmetric-RTP latching): {}",
        capture.summary()
    );
    let log = daemon.log();
    assert_digits_in_order(&log, &["1", "5", "#"]);
    assert_each_digit_once(&log, &["1", "5", "#"]);
}

#[test]
fn udp_call_greeting_rfc4733_digits_and_daemon_hangs_up() {
    rfc4733_call("udp-rfc4733", false);
}

#[test]
fn tcp_call_greeting_rfc4733_digits_and_daemon_hangs_up() {
    rfc4733_call("tcp-rfc4733", true);
}

#[test]
fn sip_info_digits_and_daemon_hangs_up() {
    let daemon = Daemon::start("sip-info");
    let probe = RtpProbe::start();
    let run = Sipp::new("uac_dtmf_info.xml").probe(&probe).run(daemon.sip);
    let capture = probe.finish();
    run.assert_success();
    let log = daemon.log();
    assert_digits_in_order(&log, &["5", "#"]);
    assert_each_digit_once(&log, &["5", "#"]);

    // sipp sends no RTP here, so the probe heard the whole call: greeting (cut by the
    // first INFO after 1 s), "cinque", then "arrivederci".
    eprintln!("probe: {}", capture.summary());
    assert!(!capture.packets.is_empty(), "no RTP reached the caller");
    let heard = capture.audio_in_arrival_order();
    let greeting = capture.audio_by_timestamp(Duration::from_millis(900));
    let benvenuto = similarity(&greeting, &read_wav(&prompt_path("benvenuto")));
    let cinque = similarity(&heard, &read_wav(&prompt_path("cifra-5")));
    let arrivederci = similarity(&heard, &read_wav(&prompt_path("arrivederci")));
    eprintln!(
        "correlation: benvenuto {benvenuto:.3}, cifra-5 {cinque:.3}, arrivederci {arrivederci:.3}"
    );
    assert!(benvenuto > HEARD, "greeting not heard: {benvenuto:.3}");
    assert!(
        cinque > HEARD,
        "INFO digit 5 was not spoken back (cifra-5): {cinque:.3}"
    );
    assert!(
        arrivederci > HEARD,
        "it/arrivederci not heard before the BYE: {arrivederci:.3}"
    );
}

#[test]
fn cancel_before_answer_gets_200_and_487() {
    let daemon = Daemon::start_with_config("cancel", "sip:\n  answer_delay_ms: 3000\n");
    let probe = RtpProbe::start();
    let run = Sipp::new("uac_cancel.xml").probe(&probe).run(daemon.sip);
    run.assert_success();
    // The cancelled call must never be answered: wait past the answer delay, then look.
    std::thread::sleep(Duration::from_millis(3200));
    let capture = probe.finish();
    assert!(
        capture.packets.is_empty(),
        "RTP reached a cancelled caller: {}",
        capture.summary()
    );
}

#[test]
fn invite_without_sdp_gets_offer_in_200_and_answer_in_ack() {
    let daemon = Daemon::start("late-offer");
    let probe = RtpProbe::start();
    let run = Sipp::new("uac_late_offer.xml")
        .probe(&probe)
        .run(daemon.sip);
    let capture = probe.finish();
    run.assert_success();
    // The media address came from the ACK's answer: the greeting must reach it.
    assert_greeting_heard(&capture, Duration::from_secs(2));
}

#[test]
fn offer_with_only_unsupported_codec_gets_488() {
    let daemon = Daemon::start("g722-only");
    let probe = RtpProbe::start();
    let run = Sipp::new("uac_unsupported_codec.xml")
        .probe(&probe)
        .run(daemon.sip);
    let capture = probe.finish();
    run.assert_success();
    assert!(
        capture.packets.is_empty(),
        "RTP sent after a 488: {}",
        capture.summary()
    );
}

#[test]
fn options_lists_allowed_methods() {
    let daemon = Daemon::start("options");
    Sipp::new("uac_options.xml")
        .run(daemon.sip)
        .assert_success();

    // The same from Rust, to show the headers in the test output.
    let client = SipUdp::new(daemon.sip);
    client.send(
        client
            .options_request(&format!("opt-{}", token()), 1)
            .as_bytes(),
    );
    let resp = client
        .recv_until(Instant::now() + Duration::from_secs(3))
        .expect("no answer to OPTIONS");
    assert_eq!(resp.status(), Some(200), "{}", resp.raw);
    let allow = resp.headers_named("allow").join(", ");
    eprintln!(
        "Allow: {allow}\nAccept: {:?}\nSupported: {:?}",
        resp.header("accept"),
        resp.header("supported")
    );
    for m in ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO"] {
        assert!(
            allow.split(',').any(|x| x.trim() == m),
            "Allow lacks {m}: {allow:?}"
        );
    }
    assert!(
        resp.header("accept").is_some(),
        "200 to OPTIONS lacks Accept"
    );
}

#[test]
fn unknown_methods_get_405_and_unknown_dialogs_481() {
    let daemon = Daemon::start("405-481");
    let client = SipUdp::new(daemon.sip);
    let me = client.local_port();
    let d = daemon.sip;
    let request = |method: &str, to_tag: &str| {
        format!(
            "{method} sip:service@{d} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {LOOPBACK}:{me};branch=z9hG4bK-{}-{method};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:caller@{LOOPBACK}:{me}>;tag=c1\r\n\
             To: <sip:service@{d}>{to_tag}\r\n\
             Call-ID: nodialog-{}@{LOOPBACK}\r\n\
             CSeq: 1 {method}\r\n\
             Content-Length: 0\r\n\r\n",
            token(),
            token()
        )
    };
    let ask = |method: &str, to_tag: &str| -> SipMessage {
        client.send(request(method, to_tag).as_bytes());
        let mut seen = Vec::new();
        client
            .wait_response(
                Duration::from_secs(3),
                |m| m.cseq_method() == Some(method) && m.status().is_some_and(|s| s >= 200),
                &mut seen,
            )
            .unwrap_or_else(|| panic!("no final response to {method}"))
    };
    for method in ["PUBLISH", "MESSAGE", "FROBNICATE"] {
        let r = ask(method, "");
        eprintln!(
            "{method} -> {} (Allow: {:?})",
            r.start_line,
            r.header("allow")
        );
        assert_eq!(r.status(), Some(405), "{method}: {}", r.raw);
        // RFC 3261 §21.4.6: a 405 MUST carry Allow.
        assert!(r.header("allow").is_some(), "405 without Allow: {}", r.raw);
    }
    for method in ["BYE", "INFO"] {
        let r = ask(method, ";tag=no-such-dialog");
        eprintln!("{method} (unknown dialog) -> {}", r.start_line);
        assert_eq!(
            r.status(),
            Some(481),
            "{method} in an unknown dialog: {}",
            r.raw
        );
    }
}

// --- malformed input ---------------------------------------------------------------------

/// What the daemon must do with one malformed datagram.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Usable Via, a syntax fault: exactly 400 with a reason naming the fault.
    BadRequest,
    /// Usable Via, over a limit: some 4xx/5xx rejection (400 or 513 both fit).
    Rejected,
    /// Usable Via but the request may be unreadable: silence, or a 4xx/5xx.
    SilenceOrRejected,
    /// No usable Via (garbage, binary, missing Via): nothing can be answered.
    Nothing,
    /// Well-formed and within the limits: any answer (or none) is fine.
    Any,
}

struct Case {
    name: &'static str,
    expect: Expect,
    bytes: Vec<u8>,
    branch: Option<String>,
}

/// Builds one malformed datagram of kind `kind` (0..KINDS) for round `round`.
fn malformed_case(kind: usize, round: usize, daemon: std::net::SocketAddr, me: u16) -> Case {
    let branch = format!("z9hG4bK-mal-{kind}-{round}-{}", token());
    let via = format!("Via: SIP/2.0/UDP {LOOPBACK}:{me};branch={branch};rport\r\n");
    let from = format!("From: <sip:abuse@{LOOPBACK}:{me}>;tag=mal{round}\r\n");
    let to = format!("To: <sip:service@{daemon}>\r\n");
    let call_id = format!("Call-ID: mal-{kind}-{round}-{}@{LOOPBACK}\r\n", token());
    let ruri = format!("sip:service@{daemon}");
    let req = |method: &str, cseq: &str, extra: &str, body: &str, content_length: Option<&str>| {
        let cl = content_length
            .map(|s| s.to_string())
            .unwrap_or_else(|| body.len().to_string());
        format!(
            "{method} {ruri} SIP/2.0\r\n{via}Max-Forwards: 70\r\n{from}{to}{call_id}CSeq: {cseq}\r\n{extra}Content-Length: {cl}\r\n\r\n{body}"
        )
    };
    let (name, expect, text): (&str, Expect, Vec<u8>) = match kind {
        0 => ("cseq-not-a-number", Expect::BadRequest, req("OPTIONS", "abc OPTIONS", "", "", None).into_bytes()),
        1 => ("cseq-method-mismatch", Expect::BadRequest, req("OPTIONS", "1 INVITE", "", "", None).into_bytes()),
        2 => (
            "content-length-beyond-body",
            Expect::BadRequest,
            req("OPTIONS", "1 OPTIONS", "Content-Type: text/plain\r\n", "only ten b", Some("500")).into_bytes(),
        ),
        3 => ("content-length-not-a-number", Expect::BadRequest, req("OPTIONS", "1 OPTIONS", "", "", Some("banana")).into_bytes()),
        4 => (
            "missing-call-id",
            Expect::BadRequest,
            format!("OPTIONS {ruri} SIP/2.0\r\n{via}Max-Forwards: 70\r\n{from}{to}CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").into_bytes(),
        ),
        5 => (
            "max-forwards-not-a-number",
            Expect::BadRequest,
            format!("OPTIONS {ruri} SIP/2.0\r\n{via}Max-Forwards: lots\r\n{from}{to}{call_id}CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").into_bytes(),
        ),
        6 => {
            let many: String = (0..200).map(|i| format!("X-Riga-{i}: valore {i}\r\n")).collect();
            ("200-header-lines", Expect::Rejected, req("OPTIONS", "1 OPTIONS", &many, "", None).into_bytes())
        }
        7 => (
            "truncated-after-via",
            Expect::SilenceOrRejected,
            format!("INVITE {ruri} SIP/2.0\r\n{via}Max-Forwards: 70\r\nFrom: <sip:abuse@{LOOPBACK}").into_bytes(),
        ),
        8 => (
            "missing-from-and-to",
            Expect::SilenceOrRejected,
            format!("OPTIONS {ruri} SIP/2.0\r\n{via}Max-Forwards: 70\r\n{call_id}CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").into_bytes(),
        ),
        9 => (
            "sip-version-3",
            Expect::Rejected,
            req("OPTIONS", "1 OPTIONS", "", "", None).replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1).into_bytes(),
        ),
        10 => {
            // Near the UDP datagram limit (65,507 bytes, just under the 64 KiB message
            // cap): one huge header value. Valid, so a 200 is as fine as a rejection;
            // the 70 KB case is sent over TCP below (UDP cannot carry it).
            let big = "x".repeat(64_000);
            ("64-kb-datagram", Expect::Any, req("OPTIONS", "1 OPTIONS", &format!("X-Grande: {big}\r\n"), "", None).into_bytes())
        }
        11 => (
            "missing-via",
            Expect::Nothing,
            format!("OPTIONS {ruri} SIP/2.0\r\nMax-Forwards: 70\r\n{from}{to}{call_id}CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n").into_bytes(),
        ),
        12 => ("truncated-request-line", Expect::Nothing, format!("INVITE sip:service@{LOOPBACK}").into_bytes()),
        13 => ("ascii-garbage", Expect::Nothing, b"Ciao, sono un datagramma qualsiasi e non parlo SIP.\r\n\r\n".to_vec()),
        14 => {
            // Deterministic binary junk (xorshift), with NULs and high bytes.
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ (round as u64 + 1);
            let junk: Vec<u8> = (0..(300 + round * 37))
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            ("binary-junk", Expect::Nothing, junk)
        }
        15 => (
            "via-without-sent-by",
            Expect::Nothing,
            req("OPTIONS", "1 OPTIONS", "", "", None)
                .replacen(&format!("SIP/2.0/UDP {LOOPBACK}:{me}"), "SIP/2.0/UDP ", 1)
                .into_bytes(),
        ),
        16 => ("empty-headers", Expect::Nothing, b"OPTIONS sip:x SIP/2.0\r\n\r\n".to_vec()),
        _ => unreachable!(),
    };
    let branch = (expect != Expect::Nothing).then_some(branch);
    Case {
        name,
        expect,
        bytes: text,
        branch,
    }
}
const KINDS: usize = 17;

#[test]
fn malformed_burst_gets_400s_and_daemon_keeps_serving() {
    let mut daemon = Daemon::start("malformed");
    let client = SipUdp::new(daemon.sip);
    let me = client.local_port();

    // ~200 datagrams: every kind each round, the 64 KB one only twice.
    let mut cases = Vec::new();
    for round in 0..12 {
        for kind in 0..KINDS {
            if kind == 10 && round >= 2 {
                continue;
            }
            cases.push(malformed_case(kind, round, daemon.sip, me));
        }
    }
    eprintln!("sending {} malformed datagrams", cases.len());

    // Receive in the background while sending (paced: 1 ms apart).
    let recv_sock = client.sock.try_clone().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let receiver = std::thread::spawn(move || {
        recv_sock
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            if let Ok((n, _)) = recv_sock.recv_from(&mut buf)
                && let Some(m) = SipMessage::parse(&buf[..n])
            {
                got.push(m);
            }
        }
        got
    });
    for case in &cases {
        client.send(&case.bytes);
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let responses = receiver.join().unwrap();
    daemon.assert_alive();

    let mut failures = Vec::new();
    let mut reasons = std::collections::BTreeMap::new();
    for case in &cases {
        let Some(branch) = &case.branch else { continue };
        let answers: Vec<&SipMessage> = responses
            .iter()
            .filter(|m| m.via_branch().as_deref() == Some(branch.as_str()))
            .collect();
        let statuses: Vec<u16> = answers.iter().filter_map(|m| m.status()).collect();
        if let Some(a) = answers.first() {
            reasons
                .entry(case.name)
                .or_insert_with(|| format!("{} {}", a.status().unwrap_or(0), a.reason()));
        }
        let ok = match case.expect {
            Expect::BadRequest => {
                statuses.contains(&400)
                    && statuses.iter().all(|&s| s == 400)
                    && answers.iter().all(|a| {
                        let r = a.reason().to_ascii_lowercase();
                        !r.is_empty() && r != "bad request"
                    })
            }
            Expect::Rejected => !statuses.is_empty() && statuses.iter().all(|&s| s >= 400),
            Expect::SilenceOrRejected => statuses.iter().all(|&s| s >= 400),
            Expect::Nothing | Expect::Any => true,
        };
        if !ok {
            failures.push(format!(
                "{} ({:?}): got {:?}",
                case.name,
                case.expect,
                answers
                    .iter()
                    .map(|a| a.start_line.clone())
                    .collect::<Vec<_>>()
            ));
        }
    }
    for (name, reason) in &reasons {
        eprintln!("  {name:32} -> {reason}");
    }
    failures.dedup();
    assert!(
        failures.is_empty(),
        "{} malformed datagrams were not answered as expected:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // TCP: a malformed request gets a 400 and the connection keeps working.
    let mut tcp = SipTcp::connect(daemon.sip);
    let tme = tcp.local_port();
    let tcp_req = |cseq: &str, branch: &str| {
        format!(
            "OPTIONS sip:service@{d} SIP/2.0\r\n\
             Via: SIP/2.0/TCP {LOOPBACK}:{tme};branch={branch}\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:abuse@{LOOPBACK}:{tme}>;tag=tcp\r\n\
             To: <sip:service@{d}>\r\n\
             Call-ID: tcp-mal-{t}@{LOOPBACK}\r\n\
             CSeq: {cseq}\r\n\
             Content-Length: 0\r\n\r\n",
            d = daemon.sip,
            t = token()
        )
    };
    assert!(tcp.send(tcp_req("abc OPTIONS", "z9hG4bK-tcp-bad").as_bytes()));
    let bad = tcp
        .recv(Duration::from_secs(3))
        .expect("no answer over TCP to a bad CSeq");
    eprintln!("TCP bad CSeq -> {}", bad.start_line);
    assert_eq!(bad.status(), Some(400), "TCP bad CSeq: {}", bad.raw);
    assert!(tcp.send(tcp_req("2 OPTIONS", "z9hG4bK-tcp-good").as_bytes()));
    let good = tcp
        .recv(Duration::from_secs(3))
        .expect("the TCP connection stopped working after a 400");
    assert_eq!(
        good.status(),
        Some(200),
        "OPTIONS after a 400 on the same TCP connection: {}",
        good.raw
    );
    tcp.close();

    // TCP: a 70 KB message (over the 64 KiB cap): rejected or dropped, never fatal.
    let mut big = SipTcp::connect(daemon.sip);
    let bme = big.local_port();
    let huge = "y".repeat(70_000);
    let msg = format!(
        "OPTIONS sip:service@{d} SIP/2.0\r\n\
         Via: SIP/2.0/TCP {LOOPBACK}:{bme};branch=z9hG4bK-tcp-huge\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:abuse@{LOOPBACK}:{bme}>;tag=huge\r\n\
         To: <sip:service@{d}>\r\n\
         Call-ID: tcp-huge-{t}@{LOOPBACK}\r\n\
         CSeq: 1 OPTIONS\r\n\
         X-Enorme: {huge}\r\n\
         Content-Length: 0\r\n\r\n",
        d = daemon.sip,
        t = token()
    );
    let _ = big.send(msg.as_bytes());
    match big.recv(Duration::from_secs(2)) {
        Ok(m) => {
            eprintln!("TCP 70 KB message -> {}", m.start_line);
            assert!(
                m.status().is_some_and(|s| s >= 400),
                "70 KB message accepted: {}",
                m.start_line
            );
        }
        Err(why) => eprintln!("TCP 70 KB message -> no response ({why})"),
    }
    big.close();
    let mut fresh = SipTcp::connect(daemon.sip);
    let fme = fresh.local_port();
    let ok = format!(
        "OPTIONS sip:service@{d} SIP/2.0\r\n\
         Via: SIP/2.0/TCP {LOOPBACK}:{fme};branch=z9hG4bK-tcp-after\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:ok@{LOOPBACK}:{fme}>;tag=ok\r\n\
         To: <sip:service@{d}>\r\n\
         Call-ID: tcp-after-{t}@{LOOPBACK}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        d = daemon.sip,
        t = token()
    );
    assert!(fresh.send(ok.as_bytes()));
    let after = fresh
        .recv(Duration::from_secs(3))
        .expect("TCP OPTIONS after abuse");
    assert_eq!(after.status(), Some(200));
    fresh.close();

    // And a normal call still works.
    daemon.assert_alive();
    let probe = RtpProbe::start();
    let run = Sipp::new("uac_basic.xml").probe(&probe).run(daemon.sip);
    let capture = probe.finish();
    run.assert_success();
    assert!(
        !capture.packets.is_empty(),
        "no RTP on the call after the abuse"
    );
    daemon.assert_alive();
}

#[test]
fn compact_headers_and_folded_lines_are_understood() {
    let daemon = Daemon::start("compact");
    let probe = RtpProbe::start();
    let client = SipUdp::new(daemon.sip);
    let me = client.local_port();
    let d = daemon.sip;
    let call_id = format!("compatto-{}@{LOOPBACK}", token());
    let sdp = sdp_offer(probe.port());
    let invite = format!(
        "INVITE sip:service@{d} SIP/2.0\r\n\
         v: SIP/2.0/UDP {LOOPBACK}:{me};branch=z9hG4bK-compact-inv;rport\r\n\
         Max-Forwards: 70\r\n\
         f: \"Compatto\" <sip:0698765432@{LOOPBACK}:{me}>;tag=compatto1\r\n\
         t: <sip:service@{d}>\r\n\
         i: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         m: <sip:compatto@{LOOPBACK}:{me}>\r\n\
         Subject: una prova\r\n \tcon una riga ripiegata\r\n\
         User-Agent: centralino-tests\r\n\
         \x20 (folded too)\r\n\
         c: application/sdp\r\n\
         l: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    client.send(invite.as_bytes());
    let mut seen = Vec::new();
    let ok = client.wait_response(
        Duration::from_secs(5),
        |m| m.status().is_some_and(|s| s >= 200),
        &mut seen,
    );
    let statuses: Vec<String> = seen.iter().map(|m| m.start_line.clone()).collect();
    eprintln!("responses: {statuses:?}");
    // The daemon answers in the turn the INVITE arrived in: the 200 alone, no 100 ahead
    // of it (RFC 3261 §17.2.1).
    assert!(
        seen.iter().all(|m| m.status() != Some(100)),
        "a 100 Trying ahead of the 200 of the same turn; got {statuses:?}"
    );
    let ok = ok
        .unwrap_or_else(|| panic!("no final response to a compact-form INVITE; got {statuses:?}"));
    assert_eq!(ok.status(), Some(200), "final response: {}", ok.raw);
    assert!(
        ok.body.contains("m=audio "),
        "200 without SDP answer: {}",
        ok.raw
    );
    assert_eq!(
        ok.header("call-id"),
        Some(call_id.as_str()),
        "Call-ID not echoed"
    );
    let tag = ok.to_tag().expect("200 without To tag");

    let in_dialog = |method: &str, cseq: u32, branch: &str| {
        format!(
            "{method} sip:service@{d} SIP/2.0\r\n\
             v: SIP/2.0/UDP {LOOPBACK}:{me};branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             f: \"Compatto\" <sip:0698765432@{LOOPBACK}:{me}>;tag=compatto1\r\n\
             t: <sip:service@{d}>;tag={tag}\r\n\
             i: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             l: 0\r\n\r\n"
        )
    };
    client.send(in_dialog("ACK", 1, "z9hG4bK-compact-ack").as_bytes());
    std::thread::sleep(Duration::from_millis(600));
    client.send(in_dialog("BYE", 2, "z9hG4bK-compact-bye").as_bytes());
    let mut seen = Vec::new();
    let bye_ok = client.wait_response(
        Duration::from_secs(3),
        |m| m.cseq_method() == Some("BYE") && m.status().is_some_and(|s| s >= 200),
        &mut seen,
    );
    let bye_ok = bye_ok.unwrap_or_else(|| {
        panic!(
            "no final response to BYE; got {:?}",
            seen.iter()
                .map(|m| m.start_line.clone())
                .collect::<Vec<_>>()
        )
    });
    assert_eq!(bye_ok.status(), Some(200), "{}", bye_ok.raw);
    let capture = probe.finish();
    eprintln!("probe: {}", capture.summary());
    assert!(
        !capture.packets.is_empty(),
        "no RTP on the compact-form call"
    );
}

// --- harness self-checks (no daemon) ---------------------------------------------------------

/// The audio comparison the call tests rely on: a G.711-coded piece of a prompt matches
/// it (≈ 1.0) and does not match other prompts (< 0.2).
#[test]
fn harness_audio_comparison_separates_prompts() {
    let benvenuto = read_wav(&prompt_path("benvenuto"));
    let arrivederci = read_wav(&prompt_path("arrivederci"));
    let servizio = read_wav(&prompt_path("servizio-non-disponibile"));
    let cinque = read_wav(&prompt_path("cifra-5"));
    let via_ulaw = |x: &[f32]| -> Vec<f32> {
        x.iter()
            .map(|&v| ulaw_to_linear(linear_to_ulaw((v * 32767.0) as i16)) as f32 / 32768.0)
            .collect()
    };
    // 2 s of greeting from its start, as a caller would hear it.
    let heard = via_ulaw(&benvenuto[..16000]);
    let right = similarity(&heard, &benvenuto);
    let wrong = similarity(&heard, &arrivederci);
    let wrong2 = similarity(&heard, &servizio);
    eprintln!("benvenuto {right:.3}, arrivederci {wrong:.3}, servizio {wrong2:.3}");
    assert!(right > 0.98, "{right}");
    assert!(wrong < 0.2, "{wrong}");
    assert!(wrong2 < 0.2, "{wrong2}");
    // A digit inside a longer stream of other speech.
    let mut stream = via_ulaw(&benvenuto[..8000]);
    stream.extend(via_ulaw(&cinque));
    stream.extend(via_ulaw(&arrivederci));
    assert!(similarity(&stream, &cinque) > 0.95);
    assert!(similarity(&stream, &arrivederci) > 0.95);
    assert!(similarity(&stream, &read_wav(&prompt_path("cifra-9"))) < 0.5);
    // µ-law round trip stays within the quantisation step.
    for s in (-32768i32..32768).step_by(97) {
        let back = ulaw_to_linear(linear_to_ulaw(s as i16)) as i32;
        assert!(
            (back - s).abs() <= (s.abs() / 16).max(8) + 4,
            "{s} -> {back}"
        );
    }
    assert_eq!(ulaw_to_linear(0xff), 0);
    assert_eq!(alaw_to_linear(0xd5), 8);
}

/// Every prompt in the manifest exists as 8 kHz mono PCM16, trimmed and short.
#[test]
fn prompts_match_manifest() {
    let manifest = std::fs::read_to_string(crate_root().join("prompts/it/manifest.tsv")).unwrap();
    let mut ids = Vec::new();
    for line in manifest
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let (id, text) = line.split_once('\t').expect("manifest line without a TAB");
        assert!(!text.trim().is_empty(), "{id}: empty text");
        let samples = read_wav(&prompt_path(id));
        let secs = samples.len() as f64 / 8000.0;
        assert!(secs > 0.1 && secs < 15.0, "{id}: {secs:.2} s");
        if id.starts_with("cifra-") {
            assert!(
                secs < 1.2,
                "{id} is {secs:.2} s: digits must be short (trim silence)"
            );
        }
        // Trimmed: speech starts within 100 ms.
        let onset = samples
            .iter()
            .position(|s| s.abs() > 0.02)
            .unwrap_or(samples.len());
        assert!(onset < 800, "{id}: {onset} samples of leading silence");
        ids.push(id.to_string());
    }
    for required in [
        "benvenuto",
        "cifra-0",
        "cifra-1",
        "cifra-2",
        "cifra-3",
        "cifra-4",
        "cifra-5",
        "cifra-6",
        "cifra-7",
        "cifra-8",
        "cifra-9",
        "cifra-asterisco",
        "cifra-cancelletto",
        "cifra-a",
        "cifra-b",
        "cifra-c",
        "cifra-d",
        "arrivederci",
        "servizio-non-disponibile",
    ] {
        assert!(
            ids.iter().any(|i| i == required),
            "manifest lacks {required}"
        );
    }
}

/// A call on the test line whose greeting reaches the probe; checks that every G.711
/// packet came from one address, the daemon's RTP port for the call (RFC 4961: the port
/// it answered with is the port it sends from).
fn greeting_from_one_call_port(daemon: &Daemon) {
    let probe = RtpProbe::start();
    let run = Sipp::new("uac_dtmf_2833.xml").probe(&probe).run(daemon.sip);
    let capture = probe.finish();
    run.assert_success();
    assert_greeting_heard(&capture, Duration::from_secs(2));
    let stream = capture.first_stream();
    let from = stream[0].from;
    assert!(
        stream.iter().all(|p| p.from == from),
        "audio from more than one address: {}",
        capture.summary()
    );
    assert_eq!(from.ip(), daemon.sip.ip(), "{}", capture.summary());
    assert!(
        (daemon.rtp.low..=daemon.rtp.high).contains(&from.port()),
        "audio from port {} outside the daemon's RTP range {}-{}",
        from.port(),
        daemon.rtp.low,
        daemon.rtp.high
    );
}

/// By default the media workers send a tick's prompt packets in batches through a raw
/// socket (root here, so CAP_NET_RAW): the caller hears the same audio from its call's
/// own port.
#[test]
fn batched_raw_sends_come_from_the_calls_own_port() {
    let daemon = Daemon::start("raw-send");
    greeting_from_one_call_port(&daemon);
    // SAFETY: geteuid cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let expected = if root {
        "sends prompts in batches (raw socket)"
    } else {
        "no raw socket (CAP_NET_RAW)"
    };
    assert!(
        daemon.log().contains(expected),
        "the log does not say `{expected}`:\n{}",
        tail(&daemon.log(), 40)
    );
}

/// `rtp.raw_send: false`: every packet goes through its call's socket, same audio.
#[test]
fn with_raw_sends_off_each_packet_goes_through_its_call_socket() {
    let daemon = Daemon::start_with_config("per-socket-send", "rtp:\n  raw_send: false\n");
    greeting_from_one_call_port(&daemon);
    assert!(
        !daemon.log().contains("raw socket"),
        "a raw socket was tried although raw_send is off:\n{}",
        tail(&daemon.log(), 40)
    );
}
