//! Call set-up: answer, ACK and its absence, INVITE retransmissions, ringing and CANCEL,
//! offers in the 200, bad offers (RFC 3261 §13, §9.2, §17.2.1 with RFC 6026; RFC 3264).

use super::*;

// ---------------------------------------------------------------- 1. basic call

#[test]
fn invite_with_sdp_is_answered_and_ack_establishes_the_call() {
    let mut h = Harness::new();
    h.send(&invite(
        "z9hG4bK-1",
        "call-1",
        "",
        Some(&offer_sdp(30000, "sendrecv")),
    ));
    let rs = h.responses();
    assert_eq!(
        codes(&rs),
        vec![100],
        "unanswered when the turn ends: 100 Trying"
    );
    assert_eq!(to_tag(&rs[0].1), None, "a 100 carries no To tag");
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, dialled, .. }] => {
            assert_eq!(dialled, "0612345678");
            *call
        }
        other => panic!("{other:?}"),
    };

    h.accept(call, 40000);
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200]);
    let ok = &rs[0].1;
    let tag = to_tag(ok).expect("To tag on the 200");
    assert!(!tag.is_empty());
    assert_eq!(must(ok, "Contact"), format!("<sip:centralino@{LOCAL}>"));
    assert_eq!(must(ok, "CSeq"), "1 INVITE");
    assert_eq!(must(ok, "Content-Type"), "application/sdp");
    assert_eq!(
        hdr(ok, "Session-Expires"),
        None,
        "caller asked for no timer"
    );
    let sdp = body(ok);
    assert!(sdp.contains("c=IN IP4 198.51.100.1\r\n"), "{sdp}");
    assert!(sdp.contains("m=audio 40000 RTP/AVP 0 101\r\n"), "{sdp}");
    assert!(sdp.contains("a=rtpmap:0 PCMU/8000\r\n"), "{sdp}");
    assert!(
        sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"),
        "{sdp}"
    );
    assert!(sdp.contains("a=sendrecv\r\n"), "{sdp}");
    assert_eq!(sdp_version(sdp), 1);
    assert!(h.events().is_empty(), "nothing before the ACK");

    h.run_until(100);
    h.send(&ack("z9hG4bK-ack1", "call-1", &tag, 1, None));
    assert!(h.sent().is_empty());
    assert_eq!(
        h.events(),
        vec![Event::Established {
            call,
            media: media(30000, Direction::SendRecv)
        }]
    );
    assert_eq!(h.ep.active_calls(), 1);
    // A retransmitted ACK changes nothing.
    h.send(&ack("z9hG4bK-ack1", "call-1", &tag, 1, None));
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
}

#[test]
fn forwarded_invite_reports_the_office_dialled_from_diversion() {
    // A carrier forwarded the agency's number (twice: agency -> directorate -> us); the
    // Request-URI still names the switchboard's own number.
    let mut h = Harness::new();
    h.send(&invite(
        "z9hG4bK-fwd",
        "call-fwd",
        "Diversion: <sip:0689001000@pbx.example>;reason=unconditional;counter=1\r\n\
         Diversion: \"INPS, Roma EUR\" <sip:0659051000@carrier.example;user=phone>;reason=no-answer;counter=1;privacy=off\r\n",
        Some(&offer_sdp(30000, "sendrecv")),
    ));
    assert_eq!(codes(&h.responses()), vec![100]);
    match h.events().as_slice() {
        [
            Event::IncomingCall {
                dialled,
                request_user,
                caller,
                ..
            },
        ] => {
            assert_eq!(dialled, "0659051000", "the bottom-most Diversion");
            assert_eq!(
                request_user, "0612345678",
                "the Request-URI user, unchanged"
            );
            assert_eq!(caller, "3331234567");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn udp_200_is_retransmitted_with_backoff_until_the_ack() {
    let mut h = Harness::new();
    let a = h.answer("z9hG4bK-1", "call-1", "");
    h.run_until(4000);
    let again = h.sent();
    assert_eq!(
        again.iter().map(|o| o.at).collect::<Vec<_>>(),
        vec![500, 1500, 3500]
    );
    for o in &again {
        assert_eq!(o.msg.status(), Some(200));
        assert_eq!(to_tag(&o.msg).as_deref(), Some(a.to_tag.as_str()));
        assert_eq!(body(&o.msg), body(&a.ok), "the same 200 each time");
    }
    h.send(&ack("z9hG4bK-ack", "call-1", &a.to_tag, 1, None));
    assert!(matches!(h.events().as_slice(), [Event::Established { .. }]));
    h.run_until(60_000);
    assert!(h.sent().is_empty(), "no retransmission after the ACK");
    assert!(h.events().is_empty(), "no timeout after the ACK");
    assert_eq!(h.ep.active_calls(), 1);
}

// ---------------------------------------------------------------- 2. no ACK

#[test]
fn no_ack_within_64_t1_sends_bye_and_ends_with_timeout() {
    let mut h = Harness::new();
    let a = h.answer("z9hG4bK-1", "call-1", "");
    h.run_until(31_999);
    let sent = h.responses();
    assert_eq!(
        sent.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        vec![200; 10],
        "500, 1500, 3500, then every T2 up to 31.5 s"
    );
    assert!(h.events().is_empty());
    h.run_until(32_000);
    let reqs = h.requests();
    assert_eq!(reqs.len(), 1);
    assert_bye_for(&reqs[0], &a);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call: a.call,
            reason: EndReason::Timeout
        }]
    );
    assert_eq!(h.ep.active_calls(), 0);
    // A late ACK finds no call.
    h.send(&ack("z9hG4bK-late", "call-1", &a.to_tag, 1, None));
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
}

// ---------------------------------------------------------------- 3. INVITE retransmissions

#[test]
fn invite_retransmission_resends_the_last_response_without_a_second_call() {
    let mut h = Harness::with(EndpointConfig {
        answer_delay: Duration::from_secs(2),
        ..config()
    });
    let sdp = offer_sdp(30000, "sendrecv");
    let inv = invite("z9hG4bK-1", "call-1", "", Some(&sdp));
    let call = h.offer("z9hG4bK-1", "call-1", "", Some(&sdp));

    h.run_until(200);
    h.send(&inv);
    assert_eq!(
        codes(&h.responses()),
        vec![100],
        "Proceeding: the 100 again"
    );
    assert!(h.events().is_empty(), "no second IncomingCall");

    h.accept(call, 40000);
    let ringing = h.responses();
    assert_eq!(codes(&ringing), vec![180]);
    h.send(&inv);
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![180], "the last provisional");
    assert_eq!(to_tag(&rs[0].1), to_tag(&ringing[0].1));

    h.run_until(2200);
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200]);
    h.send(&inv);
    let again = h.responses();
    assert_eq!(codes(&again), vec![200], "the 200 again");
    assert_eq!(to_tag(&again[0].1), to_tag(&rs[0].1));
    assert_eq!(body(&again[0].1), body(&rs[0].1));
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 1);
}

// ---------------------------------------------------------------- 4. ringing and CANCEL

#[test]
fn answer_delay_rings_with_a_tag_then_answers_when_the_timer_fires() {
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
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![180]);
    assert_eq!(reason(&rs[0].1), "Ringing");
    let tag = to_tag(&rs[0].1).expect("180 has a To tag: it makes an early dialog");
    assert_eq!(
        must(&rs[0].1, "Contact"),
        format!("<sip:centralino@{LOCAL}>")
    );
    assert!(rs[0].1.body.is_empty());

    h.run_until(1999);
    assert!(
        h.sent().is_empty(),
        "no 200 before the delay, no 180 retransmission"
    );
    h.run_until(2000);
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200]);
    assert_eq!(
        to_tag(&rs[0].1).as_deref(),
        Some(tag.as_str()),
        "same dialog"
    );
    assert!(body(&rs[0].1).contains("m=audio 40000 "));
    h.send(&ack("z9hG4bK-ack", "call-1", &tag, 1, None));
    assert!(matches!(h.events().as_slice(), [Event::Established { call: c, .. }] if *c == call));
}

#[test]
fn cancel_while_ringing_gets_200_and_487_and_the_ack_is_absorbed() {
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
    let tag = to_tag(&h.responses()[0].1).unwrap();

    h.run_until(300);
    h.send(&cancel("z9hG4bK-1", "call-1"));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200, 487]);
    let (ok, terminated) = (&rs[0].1, &rs[1].1);
    assert_eq!(must(ok, "CSeq"), "1 CANCEL");
    assert!(must(ok, "Via").contains("branch=z9hG4bK-1"));
    assert_eq!(must(terminated, "CSeq"), "1 INVITE");
    assert_eq!(reason(terminated), "Request Terminated");
    assert_eq!(to_tag(terminated).as_deref(), Some(tag.as_str()));
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::Cancelled
        }]
    );
    assert_eq!(h.ep.active_calls(), 0);

    h.run_until(1000);
    let again = h.sent();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].at, again[0].msg.status()), (800, Some(487)));

    // The ACK for the 487 reuses the INVITE's branch (§17.1.1.3).
    h.send(&ack("z9hG4bK-1", "call-1", &tag, 1, None));
    assert!(h.sent().is_empty(), "the ACK is absorbed");
    h.run_until(60_000);
    assert!(h.sent().is_empty(), "no 487 retransmission, no late 200");
    assert!(h.events().is_empty());
    assert!(h.ep.is_idle());
}

#[test]
fn cancel_matching_no_invite_gets_481() {
    let mut h = Harness::new();
    h.send(&cancel("z9hG4bK-nobody", "call-x"));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![481]);
    assert_eq!(must(&rs[0].1, "CSeq"), "1 CANCEL");
    assert!(h.events().is_empty());
}

#[test]
fn cancel_after_the_200_gets_200_only_and_the_call_stays_up() {
    let mut h = Harness::new();
    let a = h.answer("z9hG4bK-1", "call-1", "");
    h.send(&cancel("z9hG4bK-1", "call-1"));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200]);
    assert_eq!(must(&rs[0].1, "CSeq"), "1 CANCEL");
    assert!(h.events().is_empty());
    h.send(&ack("z9hG4bK-ack", "call-1", &a.to_tag, 1, None));
    assert_eq!(
        h.events(),
        vec![Event::Established {
            call: a.call,
            media: media(30000, Direction::SendRecv)
        }]
    );
    assert_eq!(h.ep.active_calls(), 1);
}

#[test]
fn cancel_before_the_application_answers_makes_accept_a_no_op() {
    let mut h = Harness::new();
    let call = h.offer(
        "z9hG4bK-1",
        "call-1",
        "",
        Some(&offer_sdp(30000, "sendrecv")),
    );
    h.send(&cancel("z9hG4bK-1", "call-1"));
    assert_eq!(codes(&h.responses()), vec![200, 487]);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::Cancelled
        }]
    );
    h.accept(call, 40000);
    assert!(h.sent().is_empty(), "the cancelled call is gone");
    assert!(h.events().is_empty());
}

#[test]
fn reject_and_hangup_before_the_answer_send_final_responses() {
    let mut h = Harness::new();
    let sdp = offer_sdp(30000, "sendrecv");
    let first = h.offer("z9hG4bK-1", "call-1", "", Some(&sdp));
    h.ep.reject_call(h.now, first, 503, "No Media Port");
    h.collect();
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![503]);
    assert_eq!(reason(&rs[0].1), "No Media Port");
    assert_eq!(must(&rs[0].1, "Retry-After"), "30");
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call: first,
            reason: EndReason::Rejected
        }]
    );

    let second = h.offer("z9hG4bK-2", "call-2", "", Some(&sdp));
    assert_ne!(first, second);
    h.ep.hangup(h.now, second);
    h.collect();
    assert_eq!(codes(&h.responses()), vec![480]);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call: second,
            reason: EndReason::LocalBye
        }]
    );
    assert_eq!(h.ep.active_calls(), 0);
}

// ---------------------------------------------------------------- 5. INVITE without SDP

#[test]
fn invite_without_sdp_gets_an_offer_and_the_ack_answer_establishes() {
    let mut h = Harness::new();
    let call = h.offer("z9hG4bK-1", "call-1", "", None);
    h.accept(call, 40000);
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200]);
    let sdp = body(&rs[0].1);
    assert!(sdp.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"), "{sdp}");
    assert!(sdp.contains("a=rtpmap:0 PCMU/8000\r\n"), "{sdp}");
    assert!(sdp.contains("a=rtpmap:8 PCMA/8000\r\n"), "{sdp}");
    assert!(
        sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"),
        "{sdp}"
    );
    let tag = to_tag(&rs[0].1).unwrap();

    let answer = "v=0\r\no=caller 5 5 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\n\
                  t=0 0\r\nm=audio 30002 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n\
                  a=rtpmap:101 telephone-event/8000\r\n";
    h.send(&ack("z9hG4bK-ack", "call-1", &tag, 1, Some(answer)));
    assert!(h.sent().is_empty());
    assert_eq!(
        h.events(),
        vec![Event::Established {
            call,
            media: MediaParams {
                codec: Codec::Pcma,
                payload_type: 8,
                dtmf_payload_type: Some(101),
                ptime_ms: 20,
                remote_rtp: Some(sock("192.0.2.10:30002")),
                direction: Direction::SendRecv,
            }
        }]
    );
}

#[test]
fn ack_without_a_usable_answer_to_our_offer_gets_bye() {
    let mut h = Harness::new();
    let call = h.offer("z9hG4bK-1", "call-1", "", None);
    h.accept(call, 40000);
    let ok = h.responses().remove(0).1;
    let a = Answered {
        call,
        call_id: "call-1".into(),
        to_tag: to_tag(&ok).unwrap(),
        ok,
    };
    h.send(&ack("z9hG4bK-ack", "call-1", &a.to_tag, 1, None));
    let reqs = h.requests();
    assert_eq!(reqs.len(), 1);
    assert_bye_for(&reqs[0], &a);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call,
            reason: EndReason::LocalBye
        }]
    );
    // The ACK did stop the 200's retransmissions.
    h.reply_to(&reqs[0], 200);
    h.run_until(40_000);
    assert!(h.sent().is_empty());
    assert_eq!(h.ep.stats.stray_responses, 0);
}

// ---------------------------------------------------------------- 6. bad offers

#[test]
fn offer_with_only_g722_gets_488_and_no_call() {
    let mut h = Harness::new();
    let g722 = "v=0\r\no=caller 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
                m=audio 30000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n";
    h.send(&invite("z9hG4bK-1", "call-1", "", Some(g722)));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![488]);
    let tag = to_tag(&rs[0].1).expect("final responses carry a To tag");
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 0);
    h.send(&ack("z9hG4bK-1", "call-1", &tag, 1, None));
    h.run_until(40_000);
    assert!(h.sent().is_empty(), "ACK stops the 488 retransmissions");
}

#[test]
fn malformed_sdp_gets_400_naming_the_fault() {
    let mut h = Harness::new();
    h.send(&invite(
        "z9hG4bK-1",
        "call-1",
        "",
        Some("v=0\r\nthis is not sdp\r\n"),
    ));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![400]);
    assert!(
        reason(&rs[0].1).starts_with("Malformed SDP"),
        "{}",
        reason(&rs[0].1)
    );
    assert!(h.events().is_empty());
}

#[test]
fn non_sdp_body_gets_415() {
    let mut h = Harness::new();
    let text = request(
        "INVITE",
        "z9hG4bK-1",
        "call-1",
        None,
        1,
        "",
        Some(("text/plain", "hello")),
    );
    h.send(&text);
    assert_eq!(codes(&h.responses()), vec![415]);
    assert!(h.events().is_empty());
}

#[test]
fn hangup_before_the_ack_waits_for_it_then_sends_bye() {
    let mut h = Harness::new();
    let a = h.answer("z9hG4bK-1", "call-1", "");
    h.ep.hangup(h.now, a.call);
    h.collect();
    // §15: no BYE on a dialog whose 2xx is not yet acknowledged.
    assert!(h.requests().is_empty());
    assert!(h.events().is_empty());
    h.send(&ack("z9hG4bK-ack", "call-1", &a.to_tag, 1, None));
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
    h.reply_to(&reqs[0], 200);
    // The 2xx is no longer retransmitted, and the BYE is done.
    h.run_until(40_000);
    assert!(h.sent().is_empty());
    assert!(h.ep.is_idle());
}
