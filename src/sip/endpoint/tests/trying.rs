//! `100 Trying` only for an INVITE still unanswered when the driver's turn ends
//! (RFC 3261 §17.2.1): a call answered, rung or refused in the turn its INVITE arrived in
//! gets that response alone.

use super::*;

/// The call of the one `IncomingCall` queued.
fn incoming(h: &mut Harness) -> CallId {
    match h.events().as_slice() {
        [Event::IncomingCall { call, .. }] => *call,
        other => panic!("expected IncomingCall, got {other:?}"),
    }
}

fn standard_invite(branch: &str, call_id: &str) -> String {
    invite(branch, call_id, "", Some(&offer_sdp(30000, "sendrecv")))
}

#[test]
fn invite_answered_in_the_same_turn_gets_only_the_200() {
    let mut h = Harness::new();
    h.feed(&standard_invite("z9hG4bK-1", "call-1"));
    let call = incoming(&mut h);
    h.accept(call, 40000); // the turn ends here
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200], "no 100 before the 200");
    assert!(!h.ep.end_turn(h.now), "nothing left owed");

    // The INVITE retransmitted gets the 200 again, never a 100.
    h.send(&standard_invite("z9hG4bK-1", "call-1"));
    assert_eq!(codes(&h.responses()), vec![200]);
    let tag = to_tag(&rs[0].1).unwrap();
    h.send(&ack("z9hG4bK-ack", "call-1", &tag, 1, None));
    assert!(matches!(h.events().as_slice(), [Event::Established { .. }]));
    h.run_until(60_000);
    assert!(h.sent().is_empty());
}

#[test]
fn invite_unanswered_when_the_turn_ends_gets_one_100() {
    let mut h = Harness::new();
    h.feed(&standard_invite("z9hG4bK-1", "call-1"));
    let call = incoming(&mut h);
    assert!(
        h.ep.poll_transmit().is_none(),
        "nothing before the turn ends"
    );

    assert!(h.ep.end_turn(h.now), "the 100 is queued");
    h.collect(); // ends the turn once more
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![100], "exactly one 100");
    let trying = &rs[0].1;
    assert_eq!(reason(trying), "Trying");
    assert_eq!(to_tag(trying), None, "a 100 carries no To tag");
    assert_eq!(must(trying, "CSeq"), "1 INVITE");
    assert_eq!(must(trying, "Call-ID"), "call-1");
    assert!(must(trying, "Via").contains("branch=z9hG4bK-1"));

    assert!(!h.ep.end_turn(h.now), "owed once, sent once");
    h.collect();
    assert!(h.sent().is_empty());
    h.run_until(10_000);
    assert!(
        h.sent().is_empty(),
        "a provisional is never retransmitted by timer"
    );

    h.accept(call, 40000);
    assert_eq!(codes(&h.responses()), vec![200]);
}

#[test]
fn invite_refused_by_our_checks_gets_no_100() {
    let g722 = "v=0\r\no=caller 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
                m=audio 30000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n";
    let sdp = offer_sdp(30000, "sendrecv");
    let refused = [
        (invite("z9hG4bK-1", "call-1", "", Some(g722)), 488),
        (
            invite("z9hG4bK-2", "call-2", "Require: foo\r\n", Some(&sdp)),
            420,
        ),
        (
            invite("z9hG4bK-3", "call-3", "", None).replace("Max-Forwards: 70", "Max-Forwards: 0"),
            483,
        ),
        (
            invite("z9hG4bK-4", "call-4", "Session-Expires: 60\r\n", Some(&sdp)),
            422,
        ),
    ];
    let mut h = Harness::new();
    for (text, code) in refused {
        h.feed(&text);
        assert!(!h.ep.end_turn(h.now), "a refused INVITE owes no 100");
        h.collect();
        assert_eq!(codes(&h.responses()), vec![code]);
        assert!(h.events().is_empty());
    }
}

#[test]
fn invite_refused_by_the_application_in_the_same_turn_gets_no_100() {
    let mut h = Harness::new();
    h.feed(&standard_invite("z9hG4bK-1", "call-1"));
    let call = incoming(&mut h);
    h.ep.reject_call(h.now, call, 503, "Service Unavailable");
    h.collect();
    assert_eq!(codes(&h.responses()), vec![503]);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::Rejected
        }]
    );
}

#[test]
fn invite_cancelled_in_the_same_turn_gets_no_100() {
    let mut h = Harness::new();
    h.feed(&standard_invite("z9hG4bK-1", "call-1"));
    let call = incoming(&mut h);
    h.feed(&cancel("z9hG4bK-1", "call-1"));
    h.collect();
    assert_eq!(codes(&h.responses()), vec![200, 487]);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::Cancelled
        }]
    );
}

#[test]
fn answer_delay_rings_in_the_same_turn_without_a_100() {
    let mut h = Harness::with(EndpointConfig {
        answer_delay: Duration::from_secs(2),
        ..config()
    });
    h.feed(&standard_invite("z9hG4bK-1", "call-1"));
    let call = incoming(&mut h);
    h.accept(call, 40000);
    assert_eq!(codes(&h.responses()), vec![180], "the 180 alone");

    // Proceeding: a retransmitted INVITE gets the 180, the last provisional.
    h.run_until(500);
    h.send(&standard_invite("z9hG4bK-1", "call-1"));
    assert_eq!(codes(&h.responses()), vec![180]);
    h.run_until(2000);
    assert_eq!(codes(&h.responses()), vec![200]);
}

#[test]
fn invite_retransmitted_before_the_turn_ends_still_gets_one_100() {
    let mut h = Harness::new();
    let inv = standard_invite("z9hG4bK-1", "call-1");
    h.feed(&inv);
    h.feed(&inv);
    assert!(
        h.ep.poll_transmit().is_none(),
        "nothing to resend: the 100 is still owed"
    );
    incoming(&mut h); // one call only
    h.collect();
    assert_eq!(codes(&h.responses()), vec![100]);

    // A later retransmission gets the 100 again, as the last provisional.
    h.run_until(500);
    h.send(&inv);
    assert_eq!(codes(&h.responses()), vec![100]);
    assert!(h.events().is_empty(), "no second IncomingCall");
}

#[test]
fn calls_of_one_turn_get_a_100_each_only_when_unanswered() {
    let mut h = Harness::new();
    h.feed(&standard_invite("z9hG4bK-1", "call-1"));
    h.feed(&standard_invite("z9hG4bK-2", "call-2"));
    let calls: Vec<CallId> = h
        .events()
        .into_iter()
        .map(|e| match e {
            Event::IncomingCall { call, .. } => call,
            other => panic!("{other:?}"),
        })
        .collect();
    h.accept(calls[0], 40000);
    let rs = h.responses();
    let sent: Vec<(u16, String)> = rs
        .iter()
        .map(|(code, m)| (*code, must(m, "Call-ID")))
        .collect();
    assert_eq!(
        sent,
        vec![(200, "call-1".to_owned()), (100, "call-2".to_owned())]
    );
}
