//! Outgoing calls (RFC 3261 §13.2, §9.1, §17.1.1 with RFC 6026): INVITE with our offer,
//! provisional and final responses, the 2xx ACK and its retransmission, CANCEL races,
//! failures and Timer B.

use super::*;
use ezk_sip_types::Method;

const OPERATOR: &str = "192.0.2.20:5080";

fn outgoing() -> OutgoingCall {
    OutgoingCall {
        target: "sip:op1-0x1234@192.0.2.20:5080".into(),
        to: "<sip:op1@198.51.100.1>".into(),
        from_user: "3331234567".into(),
        from_display: Some("Mario \"M\"".into()),
        flow: Flow::Udp(sock(OPERATOR)),
        rtp_port: 41000,
        headers: vec![("X-Centralino-Queue".into(), "pensioni".into())],
    }
}

/// A response from the operator to our INVITE, echoing its headers.
fn answer_to(invite: &SipMessage, code: u16, to_tag: &str, extra: &str, body: &str) -> String {
    let h = |n: &Name| invite.first(n).unwrap().to_string();
    let ctype = if body.is_empty() {
        String::new()
    } else {
        "Content-Type: application/sdp\r\n".into()
    };
    format!(
        "SIP/2.0 {code} Whatever\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag={to_tag}\r\nCall-ID: {}\r\nCSeq: {}\r\n{extra}{ctype}Content-Length: {}\r\n\r\n{body}",
        h(&Name::VIA),
        h(&Name::FROM),
        h(&Name::TO),
        h(&Name::CALL_ID),
        h(&Name::CSEQ),
        body.len()
    )
}

fn operator_sdp() -> String {
    "v=0\r\no=op 1 1 IN IP4 192.0.2.20\r\ns=-\r\nc=IN IP4 192.0.2.20\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n".into()
}

fn place(h: &mut Harness) -> (CallId, SipMessage) {
    h.flow = Flow::Udp(sock(OPERATOR));
    let call = h.ep.place_call(h.now, outgoing());
    h.collect();
    let mut reqs = h.requests();
    assert_eq!(reqs.len(), 1);
    (call, reqs.remove(0))
}

#[test]
fn invite_carries_our_offer_caller_id_and_context() {
    let mut h = Harness::new();
    let (_, inv) = place(&mut h);
    assert_eq!(request_uri(&inv), "sip:op1-0x1234@192.0.2.20:5080");
    assert!(must(&inv, "From").starts_with("\"Mario M\" <sip:3331234567@198.51.100.1>;tag="));
    assert_eq!(must(&inv, "To"), "<sip:op1@198.51.100.1>");
    assert_eq!(must(&inv, "X-Centralino-Queue"), "pensioni");
    assert_eq!(must(&inv, "CSeq"), "1 INVITE");
    assert!(
        body(&inv).contains("m=audio 41000 RTP/AVP 0 8 101"),
        "{}",
        body(&inv)
    );
    // Timer A: retransmitted at 500 ms over UDP until a response.
    h.run_until(500);
    assert_eq!(h.requests().len(), 1);
}

#[test]
fn answered_call_is_acked_and_retransmitted_2xx_reacked() {
    let mut h = Harness::new();
    let (call, inv) = place(&mut h);
    h.send(&answer_to(&inv, 180, "op-tag", "", ""));
    assert_eq!(h.events(), vec![Event::Progress { call, status: 180 }]);
    let ok = answer_to(
        &inv,
        200,
        "op-tag",
        "Contact: <sip:op1-0x1234@192.0.2.20:5080>\r\nRecord-Route: <sip:p1;lr>, <sip:p2;lr>\r\n",
        &operator_sdp(),
    );
    h.send(&ok);
    let acks = h.requests();
    assert_eq!(acks.len(), 1);
    let ack = &acks[0];
    assert_eq!(ack.method(), Some(&Method::ACK));
    assert_eq!(request_uri(ack), "sip:op1-0x1234@192.0.2.20:5080");
    assert_eq!(must(ack, "CSeq"), "1 ACK");
    assert_eq!(to_tag(ack).as_deref(), Some("op-tag"));
    // §12.1.2: the UAC's route set is the Record-Route reversed.
    assert_eq!(
        ack.values(&Name::ROUTE)
            .map(|v| v.to_string())
            .collect::<Vec<_>>(),
        vec!["<sip:p2;lr>", "<sip:p1;lr>"]
    );
    assert_ne!(
        ack.essentials().unwrap().branch,
        inv.essentials().unwrap().branch
    );
    match h.events().as_slice() {
        [Event::Answered { call: c, media }] => {
            assert_eq!(*c, call);
            assert_eq!(media.codec, Codec::Pcma);
            assert_eq!(media.remote_rtp, Some(sock("192.0.2.20:7000")));
        }
        other => panic!("expected Answered, got {other:?}"),
    }
    // A retransmitted 200 gets the same ACK again, and no second Answered.
    h.send(&ok);
    let again = h.requests();
    assert_eq!(again.len(), 1);
    assert_eq!(text_of(&again[0]), text_of(ack));
    assert!(h.events().is_empty());
    // Our BYE goes to the operator's Contact through the route set, CSeq 2.
    h.ep.hangup(h.now, call);
    h.collect();
    let bye = h.requests().remove(0);
    assert_eq!(bye.method(), Some(&Method::BYE));
    assert_eq!(must(&bye, "CSeq"), "2 BYE");
    assert_eq!(must(&bye, "Route"), "<sip:p2;lr>");
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::LocalBye
        }]
    );
}

#[test]
fn the_operator_hanging_up_ends_the_call() {
    let mut h = Harness::new();
    let (call, inv) = place(&mut h);
    h.send(&answer_to(
        &inv,
        200,
        "op-tag",
        "Contact: <sip:op1@192.0.2.20:5080>\r\n",
        &operator_sdp(),
    ));
    h.sent();
    h.events();
    let from_tag = inv.essentials().unwrap().from_tag.unwrap();
    let bye = format!(
        "BYE sip:centralino@198.51.100.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP {OPERATOR};branch=z9hG4bK-opbye\r\nFrom: <sip:op1@198.51.100.1>;tag=op-tag\r\nTo: <sip:3331234567@198.51.100.1>;tag={from_tag}\r\nCall-ID: {}\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n",
        inv.essentials().unwrap().call_id
    );
    h.send(&bye);
    assert_eq!(codes(&h.responses()), vec![200]);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::RemoteBye
        }]
    );
}

#[test]
fn busy_operator_is_acked_and_reported() {
    let mut h = Harness::new();
    let (call, inv) = place(&mut h);
    h.send(&answer_to(&inv, 486, "op-tag", "", ""));
    let acks = h.requests();
    assert_eq!(acks.len(), 1);
    assert_eq!(must(&acks[0], "CSeq"), "1 ACK");
    // §17.1.1.3: the non-2xx ACK has the INVITE's branch.
    assert_eq!(
        acks[0].essentials().unwrap().branch,
        inv.essentials().unwrap().branch
    );
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::Failed(486)
        }]
    );
    assert_eq!(h.ep.active_calls(), 0);
}

#[test]
fn cancel_after_ringing_then_487_is_acked() {
    let mut h = Harness::new();
    let (call, inv) = place(&mut h);
    h.send(&answer_to(&inv, 180, "op-tag", "", ""));
    h.events();
    h.ep.hangup(h.now, call);
    h.collect();
    // The application hears at once; the CANCEL has the INVITE's branch.
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::LocalBye
        }]
    );
    let cancel = h.requests().remove(0);
    assert_eq!(cancel.method(), Some(&Method::CANCEL));
    assert_eq!(must(&cancel, "CSeq"), "1 CANCEL");
    assert_eq!(
        cancel.essentials().unwrap().branch,
        inv.essentials().unwrap().branch
    );
    let c = SipMessage::parse(Bytes::from(answer_to(&inv, 200, "op-tag", "", "")), false).unwrap();
    let cancel_ok = text_of(&c).replace("1 INVITE", "1 CANCEL");
    h.send(&cancel_ok);
    h.send(&answer_to(&inv, 487, "op-tag", "", ""));
    let acks = h.requests();
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].method(), Some(&Method::ACK));
    assert!(h.events().is_empty(), "Ended was reported once already");
    assert_eq!(h.ep.active_calls(), 0);
    assert_eq!(h.ep.stats.stray_responses, 0);
}

#[test]
fn hangup_before_any_response_cancels_after_the_first_provisional() {
    let mut h = Harness::new();
    let (call, inv) = place(&mut h);
    h.ep.hangup(h.now, call);
    h.collect();
    // §9.1: no CANCEL before a provisional response.
    assert!(h.requests().is_empty());
    assert_eq!(h.events().len(), 1);
    h.send(&answer_to(&inv, 100, "", "", "").replace(";tag=", ""));
    h.send(&answer_to(&inv, 180, "op-tag", "", ""));
    let cancel = h.requests();
    assert_eq!(cancel.len(), 1);
    assert_eq!(cancel[0].method(), Some(&Method::CANCEL));
    assert!(h.events().is_empty());
}

#[test]
fn a_200_that_races_our_cancel_is_acked_and_byed() {
    let mut h = Harness::new();
    let (call, inv) = place(&mut h);
    h.send(&answer_to(&inv, 180, "op-tag", "", ""));
    h.ep.hangup(h.now, call);
    h.collect();
    h.sent();
    h.events();
    h.send(&answer_to(
        &inv,
        200,
        "op-tag",
        "Contact: <sip:op1@192.0.2.20:5080>\r\n",
        &operator_sdp(),
    ));
    let reqs = h.requests();
    let methods: Vec<_> = reqs
        .iter()
        .map(|r| r.method().unwrap().to_string())
        .collect();
    assert_eq!(methods, vec!["ACK", "BYE"]);
    assert!(
        h.events().is_empty(),
        "the application already heard it ended"
    );
}

#[test]
fn no_answer_at_all_times_out_with_timer_b() {
    let mut h = Harness::new();
    let (call, _) = place(&mut h);
    h.run_until(31_999);
    assert!(h.events().is_empty());
    h.run_until(32_000);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::Timeout
        }]
    );
    let sends = h.sent().len();
    assert_eq!(
        sends, 6,
        "INVITE retransmitted at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s"
    );
}
