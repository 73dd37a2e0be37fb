//! Request checks, malformed input, capacity and shutdown, TCP flows and Via stamping
//! (RFC 3261 §8.2, §18; RFC 3581).

use super::*;

// ---------------------------------------------------------------- 12. request checks

#[test]
fn unsupported_required_extension_gets_420() {
    let mut h = Harness::new();
    let sdp = offer_sdp(30000, "sendrecv");
    h.send(&invite(
        "z9hG4bK-1",
        "call-1",
        "Require: foo, timer\r\n",
        Some(&sdp),
    ));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![420]);
    assert_eq!(must(&rs[0].1, "Unsupported"), "foo");
    assert!(h.events().is_empty());
}

#[test]
fn max_forwards_zero_gets_483() {
    let mut h = Harness::new();
    let text =
        invite("z9hG4bK-1", "call-1", "", None).replace("Max-Forwards: 70", "Max-Forwards: 0");
    h.send(&text);
    assert_eq!(codes(&h.responses()), vec![483]);
    assert!(h.events().is_empty());
}

#[test]
fn unknown_methods_get_405_with_allow() {
    let mut h = Harness::new();
    for (i, method) in ["SUBSCRIBE", "REGISTER", "MESSAGE"].into_iter().enumerate() {
        h.send(&request(
            method,
            &format!("z9hG4bK-m{i}"),
            "m-1",
            None,
            1,
            "",
            None,
        ));
        let rs = h.responses();
        assert_eq!(codes(&rs), vec![405], "{method}");
        assert_eq!(must(&rs[0].1, "Allow"), ALLOW);
        assert_eq!(must(&rs[0].1, "CSeq"), format!("1 {method}"));
    }
    assert!(h.events().is_empty());
}

// ---------------------------------------------------------------- 13. malformed input

#[test]
fn malformed_requests_get_400_or_are_dropped_and_service_goes_on() {
    let mut h = Harness::new();
    let no_call_id: String = invite("z9hG4bK-1", "call-1", "", None)
        .lines()
        .filter(|l| !l.starts_with("Call-ID"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    h.send(&no_call_id);
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![400]);
    assert_eq!(reason(&rs[0].1), "Missing Call-ID Header");
    assert_eq!(h.ep.stats.bad_requests, 1);

    let junk: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
    h.send_from(h.flow, &junk);
    assert!(h.sent().is_empty());
    assert_eq!(h.ep.stats.dropped, 1);

    let many: String = (0..200).map(|i| format!("X-Filler-{i}: {i}\r\n")).collect();
    h.send(&invite("z9hG4bK-2", "call-2", &many, None));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![400]);
    assert_eq!(reason(&rs[0].1), "Too Many Header Lines");
    assert!(must(&rs[0].1, "Via").contains("branch=z9hG4bK-2"));
    assert_eq!(h.ep.stats.bad_requests, 2);
    assert!(h.events().is_empty());

    h.answer("z9hG4bK-3", "call-3", "");
    assert_eq!(h.ep.active_calls(), 1);
}

// ---------------------------------------------------------------- 14. capacity and shutdown

#[test]
fn calls_over_capacity_get_503_with_retry_after() {
    let mut h = Harness::with(EndpointConfig {
        max_calls: 1,
        ..config()
    });
    h.establish("call-1", "");
    h.send(&invite(
        "z9hG4bK-2",
        "call-2",
        "",
        Some(&offer_sdp(30002, "sendrecv")),
    ));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![503]);
    assert_eq!(must(&rs[0].1, "Retry-After"), "30");
    assert!(h.events().is_empty());
    assert_eq!(h.ep.stats.refused, 1);
}

#[test]
fn under_overload_new_calls_get_a_stateless_503_and_calls_up_are_served() {
    let mut h = Harness::new();
    let up = h.establish("call-1", "");
    let ringing = h.offer(
        "z9hG4bK-2",
        "call-2",
        "",
        Some(&offer_sdp(30002, "sendrecv")),
    );
    h.ep.set_overloaded(true);

    let new_call = invite(
        "z9hG4bK-3",
        "call-3",
        "",
        Some(&offer_sdp(30004, "sendrecv")),
    );
    h.send(&new_call);
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![503], "no 100: nothing is taken on");
    assert_eq!(must(&rs[0].1, "Retry-After"), "5");
    assert!(to_tag(&rs[0].1).is_some());
    assert!(h.events().is_empty());
    assert_eq!((h.ep.stats.shed, h.ep.active_calls()), (1, 2));
    // No transaction was kept: its retransmission is answered the same way, and no
    // timer retransmits the 503.
    h.send(&new_call);
    assert_eq!(codes(&h.responses()), vec![503]);
    assert_eq!(h.ep.stats.shed, 2);
    h.run_until(40_000);
    assert!(h.responses().is_empty());

    // The INVITE taken before the overload is still served by its transaction...
    h.send(&invite(
        "z9hG4bK-2",
        "call-2",
        "",
        Some(&offer_sdp(30002, "sendrecv")),
    ));
    assert_eq!(codes(&h.responses()), vec![100]);
    h.accept(ringing, 40002);
    assert_eq!(codes(&h.responses()), vec![200]);
    // ...and the call already up hangs up normally.
    h.send(&bye("z9hG4bK-4", "call-1", &up.to_tag, 2));
    assert_eq!(codes(&h.responses()), vec![200]);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call: up.call,
            reason: EndReason::RemoteBye
        }]
    );

    // Overload over: new calls are taken again.
    h.ep.set_overloaded(false);
    h.offer(
        "z9hG4bK-5",
        "call-5",
        "",
        Some(&offer_sdp(30006, "sendrecv")),
    );
    assert_eq!(h.ep.stats.refused, 0, "overload refusals are counted apart");
}

#[test]
fn shutdown_hangs_up_refuses_new_calls_and_becomes_idle() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "");
    h.ep.shutdown(h.now);
    h.collect();
    let reqs = h.requests();
    assert_eq!(reqs.len(), 1);
    assert_bye_for(&reqs[0], &a);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call: a.call,
            reason: EndReason::LocalBye
        }]
    );
    assert!(!h.ep.is_idle());

    h.send(&invite(
        "z9hG4bK-2",
        "call-2",
        "",
        Some(&offer_sdp(30002, "sendrecv")),
    ));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![503]);
    assert!(hdr(&rs[0].1, "Retry-After").is_some());
    assert!(h.events().is_empty());
    assert!(!h.ep.is_idle());

    h.reply_to(&reqs[0], 200);
    assert!(h.ep.is_idle());
    assert_eq!(h.ep.stats.stray_responses, 0);
}

#[test]
fn shutdown_refuses_a_call_still_ringing_with_480() {
    let mut h = Harness::with(EndpointConfig {
        answer_delay: Duration::from_secs(2),
        ..config()
    });
    let call = h.offer(
        "z9hG4bK-1",
        "call-1",
        "",
        Some(&offer_sdp(30000, "sendrecv")),
    );
    h.accept(call, 40000);
    assert_eq!(codes(&h.responses()), vec![180]);
    h.ep.shutdown(h.now);
    h.collect();
    assert_eq!(codes(&h.responses()), vec![480]);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::LocalBye
        }]
    );
    h.run_until(3000);
    assert!(
        h.responses().iter().all(|(c, _)| *c == 480),
        "the 480 may be retransmitted, the 200 never goes out"
    );
    assert!(h.ep.is_idle());
}

// ---------------------------------------------------------------- 15. TCP

#[test]
fn tcp_responses_use_the_connection_and_are_not_retransmitted() {
    let mut h = Harness::new();
    let flow = Flow::Tcp(ConnId(1), sock(CALLER));
    h.flow = flow;
    let sdp = offer_sdp(30000, "sendrecv");
    h.send(&invite("z9hG4bK-1", "call-1", "", Some(&sdp)).replace("SIP/2.0/UDP", "SIP/2.0/TCP"));
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("{other:?}"),
    };
    h.accept(call, 40000);
    let sent = h.sent();
    assert_eq!(
        sent.iter().map(|o| o.msg.status()).collect::<Vec<_>>(),
        vec![Some(100), Some(200)]
    );
    assert!(sent.iter().all(|o| o.flow == flow));
    let ok = &sent[1].msg;
    assert_eq!(
        must(ok, "Contact"),
        format!("<sip:centralino@{LOCAL};transport=tcp>")
    );
    let tag = to_tag(ok).unwrap();

    h.run_until(20_000);
    assert!(h.sent().is_empty(), "no 200 retransmission over TCP");
    let a = Answered {
        call,
        call_id: "call-1".into(),
        to_tag: tag.clone(),
        ok: ok.clone(),
    };
    h.send(&ack("z9hG4bK-ack", "call-1", &tag, 1, None).replace("SIP/2.0/UDP", "SIP/2.0/TCP"));
    assert!(matches!(h.events().as_slice(), [Event::Established { .. }]));

    h.ep.hangup(h.now, call);
    h.collect();
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].flow, flow);
    assert_bye_for(&sent[0].msg, &a);
    assert!(must(&sent[0].msg, "Via").starts_with("SIP/2.0/TCP "));
    h.run_until(60_000);
    assert!(h.sent().is_empty(), "no BYE retransmission over TCP");
}

// ---------------------------------------------------------------- 16. Via / rport

#[test]
fn top_via_gets_received_and_rport_for_the_source_address() {
    let mut h = Harness::new();
    let nat = Flow::Udp(sock("203.0.113.7:40123"));
    let text = request("OPTIONS", "z9hG4bK-o", "opt-1", None, 1, "", None).replace(
        "Max-Forwards: 70\r\n",
        "Via: SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK-proxy\r\nMax-Forwards: 70\r\n",
    );
    h.send_from(nat, text.as_bytes());
    let sent = h.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].flow, nat, "sent back where it came from");
    let vias: Vec<String> = sent[0]
        .msg
        .values(&Name::VIA)
        .map(|v| v.to_string())
        .collect();
    assert_eq!(
        vias,
        [
            format!("SIP/2.0/UDP {CALLER};branch=z9hG4bK-o;rport=40123;received=203.0.113.7"),
            "SIP/2.0/UDP 10.1.1.1:5060;branch=z9hG4bK-proxy".to_owned(),
        ]
    );

    // Without `;rport` only `received` is added.
    let text = request("OPTIONS", "z9hG4bK-o2", "opt-2", None, 1, "", None).replace(";rport", "");
    h.send_from(nat, text.as_bytes());
    let sent = h.sent();
    assert_eq!(
        must(&sent[0].msg, "Via"),
        format!("SIP/2.0/UDP {CALLER};branch=z9hG4bK-o2;received=203.0.113.7")
    );
}
