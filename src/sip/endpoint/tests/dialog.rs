//! In-dialog requests: OPTIONS, BYE both ways, INFO DTMF, re-INVITE and UPDATE
//! (RFC 3261 §12, §15; RFC 6086 INFO; RFC 3311 UPDATE).

use super::*;

// ---------------------------------------------------------------- 7. OPTIONS

#[test]
fn options_lists_methods_bodies_and_extensions() {
    let mut h = Harness::new();
    h.send(&request("OPTIONS", "z9hG4bK-o", "opt-1", None, 7, "", None));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200]);
    let ok = &rs[0].1;
    let allow: Vec<String> = must(ok, "Allow")
        .split(',')
        .map(|m| m.trim().to_owned())
        .collect();
    for m in [
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE",
    ] {
        assert!(allow.iter().any(|a| a == m), "{m} missing from {allow:?}");
    }
    assert!(must(ok, "Accept").contains("application/sdp"));
    assert_eq!(must(ok, "Supported"), "timer");
    assert_eq!(must(ok, "CSeq"), "7 OPTIONS");
    assert!(to_tag(ok).is_some());
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 0);
}

// ---------------------------------------------------------------- 8. BYE

#[test]
fn bye_from_the_caller_gets_200_and_ends_the_call() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "");
    h.send(&bye("z9hG4bK-bye", "call-1", &a.to_tag, 2));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200]);
    assert_eq!(must(&rs[0].1, "CSeq"), "2 BYE");
    assert_eq!(to_tag(&rs[0].1).as_deref(), Some(a.to_tag.as_str()));
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call: a.call,
            reason: EndReason::RemoteBye
        }]
    );
    assert_eq!(h.ep.active_calls(), 0);
    // A retransmitted BYE gets the same 200 from the transaction, and no second event.
    h.send(&bye("z9hG4bK-bye", "call-1", &a.to_tag, 2));
    assert_eq!(codes(&h.responses()), vec![200]);
    assert!(h.events().is_empty());
}

#[test]
fn bye_for_an_unknown_dialog_gets_481() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "");
    h.send(&bye("z9hG4bK-bye", "call-1", "not-our-tag", 2));
    assert_eq!(codes(&h.responses()), vec![481]);
    h.send(&bye("z9hG4bK-bye2", "call-unknown", &a.to_tag, 2));
    assert_eq!(codes(&h.responses()), vec![481]);
    let stranger = Answered {
        call: a.call,
        call_id: "call-unknown".into(),
        to_tag: "nobody".into(),
        ok: a.ok.clone(),
    };
    h.send(&info("z9hG4bK-i", &stranger, 2, "application/dtmf", "1"));
    assert_eq!(codes(&h.responses()), vec![481]);
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 1);
}

#[test]
fn hangup_sends_bye_along_the_route_set_and_absorbs_its_200() {
    let mut h = Harness::new();
    let rr = "Record-Route: <sip:proxy1.example.net;lr>, <sip:192.0.2.50;lr>\r\n";
    let a = h.establish("call-1", rr);
    h.run_until(5000);
    h.ep.hangup(h.now, a.call);
    h.collect();
    let reqs = h.requests();
    assert_eq!(reqs.len(), 1);
    let bye = &reqs[0];
    assert_bye_for(bye, &a);
    assert_eq!(
        must(bye, "From"),
        format!("<sip:0612345678@198.51.100.1>;tag={}", a.to_tag)
    );
    assert_eq!(
        must(bye, "To"),
        format!("\"Mario\" <sip:3331234567@192.0.2.10>;tag={FROM_TAG}")
    );
    let routes: Vec<String> = bye.values(&Name::ROUTE).map(|v| v.to_string()).collect();
    assert_eq!(
        routes,
        ["<sip:proxy1.example.net;lr>", "<sip:192.0.2.50;lr>"]
    );
    assert_eq!(must(bye, "CSeq"), "1 BYE");
    assert!(must(bye, "Via").starts_with(&format!("SIP/2.0/UDP {LOCAL};branch=z9hG4bK")));
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call: a.call,
            reason: EndReason::LocalBye
        }]
    );
    assert!(!h.ep.is_idle(), "BYE still waiting for its response");

    h.run_until(5500);
    let again = h.requests();
    assert_eq!(again.len(), 1, "Timer E retransmits the BYE");
    h.reply_to(bye, 200);
    assert!(h.sent().is_empty());
    assert_eq!(h.ep.stats.stray_responses, 0, "the 200 matched our BYE");
    assert!(h.ep.is_idle());
    h.run_until(60_000);
    assert!(h.sent().is_empty(), "no BYE retransmission after its 200");
    assert!(h.events().is_empty());
}

#[test]
fn a_response_matching_nothing_is_counted_as_stray() {
    let mut h = Harness::new();
    let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bK-none\r\n\
                From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>;tag=2\r\nCall-ID: nope\r\n\
                CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    h.send(text);
    assert!(h.sent().is_empty());
    assert_eq!(h.ep.stats.stray_responses, 1);
}

// ---------------------------------------------------------------- 9. INFO DTMF

#[test]
fn info_dtmf_relay_and_dtmf_bodies_report_digits() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "");
    h.send(&info(
        "z9hG4bK-i1",
        &a,
        2,
        "application/dtmf-relay",
        "Signal=5\r\nDuration=160\r\n",
    ));
    assert_eq!(codes(&h.responses()), vec![200]);
    assert_eq!(
        h.events(),
        vec![Event::Digit {
            call: a.call,
            digit: '5'
        }]
    );
    h.send(&info("z9hG4bK-i2", &a, 3, "application/dtmf", "#"));
    assert_eq!(codes(&h.responses()), vec![200]);
    assert_eq!(
        h.events(),
        vec![Event::Digit {
            call: a.call,
            digit: '#'
        }]
    );
    h.send(&info(
        "z9hG4bK-i3",
        &a,
        4,
        "application/json",
        "{\"digit\":\"1\"}",
    ));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![415]);
    assert!(must(&rs[0].1, "Accept").contains("application/dtmf-relay"));
    h.send(&info(
        "z9hG4bK-i4",
        &a,
        5,
        "application/dtmf-relay",
        "Signal=X\r\n",
    ));
    assert_eq!(codes(&h.responses()), vec![400]);
    assert!(h.events().is_empty());
}

#[test]
fn out_of_order_cseq_gets_500() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "");
    h.send(&info("z9hG4bK-i1", &a, 5, "application/dtmf", "1"));
    assert_eq!(codes(&h.responses()), vec![200]);
    h.send(&info("z9hG4bK-i2", &a, 4, "application/dtmf", "2"));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![500]);
    assert_eq!(must(&rs[0].1, "Retry-After"), "1");
    assert_eq!(
        h.events(),
        vec![Event::Digit {
            call: a.call,
            digit: '1'
        }]
    );
}

// ---------------------------------------------------------------- 10. re-INVITE and UPDATE

#[test]
fn reinvite_hold_and_unhold_change_media_and_bump_the_sdp_version() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "");
    assert_eq!(sdp_version(body(&a.ok)), 1);

    h.send(&reinvite(
        "z9hG4bK-r1",
        &a,
        2,
        "",
        Some(&offer_sdp(30000, "sendonly")),
    ));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200]);
    let ok = &rs[0].1;
    assert_eq!(to_tag(ok).as_deref(), Some(a.to_tag.as_str()));
    assert!(body(ok).contains("a=recvonly\r\n"), "{}", body(ok));
    assert!(body(ok).contains("m=audio 40000 "), "same port");
    assert_eq!(sdp_version(body(ok)), 2);
    assert_eq!(
        h.events(),
        vec![Event::MediaChanged {
            call: a.call,
            media: media(30000, Direction::RecvOnly)
        }]
    );
    h.send(&ack("z9hG4bK-r1a", "call-1", &a.to_tag, 2, None));
    assert!(h.sent().is_empty());
    assert!(
        h.events().is_empty(),
        "the ACK of a re-INVITE with an offer says nothing new"
    );

    h.send(&reinvite(
        "z9hG4bK-r2",
        &a,
        3,
        "",
        Some(&offer_sdp(30000, "sendrecv")),
    ));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200]);
    assert!(body(&rs[0].1).contains("a=sendrecv\r\n"));
    assert_eq!(sdp_version(body(&rs[0].1)), 3);
    assert_eq!(
        h.events(),
        vec![Event::MediaChanged {
            call: a.call,
            media: media(30000, Direction::SendRecv)
        }]
    );
    h.send(&ack("z9hG4bK-r2a", "call-1", &a.to_tag, 3, None));
    h.run_until(60_000);
    assert!(h.sent().is_empty(), "both 200s acknowledged");
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 1);
}

#[test]
fn update_with_sdp_is_answered_and_changes_media() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "");
    let update = request(
        "UPDATE",
        "z9hG4bK-u1",
        "call-1",
        Some(&a.to_tag),
        2,
        "",
        Some(("application/sdp", &offer_sdp(30010, "sendrecv"))),
    );
    h.send(&update);
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200], "no 100 for a non-INVITE");
    let ok = &rs[0].1;
    assert_eq!(must(ok, "CSeq"), "2 UPDATE");
    assert_eq!(must(ok, "Content-Type"), "application/sdp");
    assert!(body(ok).contains("m=audio 40000 RTP/AVP 0 101\r\n"));
    assert_eq!(sdp_version(body(ok)), 2);
    assert_eq!(
        h.events(),
        vec![Event::MediaChanged {
            call: a.call,
            media: media(30010, Direction::SendRecv)
        }]
    );
}

#[test]
fn reinvite_without_sdp_gets_our_offer_and_the_ack_answer_changes_media() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "");
    h.send(&reinvite("z9hG4bK-r1", &a, 2, "", None));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200]);
    let sdp = body(&rs[0].1);
    assert!(sdp.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"), "{sdp}");
    assert_eq!(sdp_version(sdp), 2);
    assert!(h.events().is_empty(), "nothing changes until the answer");
    h.send(&ack(
        "z9hG4bK-r1a",
        "call-1",
        &a.to_tag,
        2,
        Some(&offer_sdp(30020, "sendonly")),
    ));
    assert!(h.sent().is_empty());
    assert_eq!(
        h.events(),
        vec![Event::MediaChanged {
            call: a.call,
            media: media(30020, Direction::RecvOnly)
        }]
    );
}

#[test]
fn reinvite_with_no_common_codec_gets_488_and_keeps_the_call() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "");
    let g722 = "v=0\r\no=caller 100 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
                m=audio 30000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n";
    h.send(&reinvite("z9hG4bK-r1", &a, 2, "", Some(g722)));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![488]);
    assert_eq!(to_tag(&rs[0].1).as_deref(), Some(a.to_tag.as_str()));
    h.send(&ack("z9hG4bK-r1", "call-1", &a.to_tag, 2, None));
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    h.run_until(60_000);
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 1);
}

#[test]
fn reinvite_while_our_200_awaits_its_ack_gets_500_with_retry_after() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "");
    let sdp = offer_sdp(30000, "sendrecv");
    h.send(&reinvite("z9hG4bK-r1", &a, 2, "", Some(&sdp)));
    assert_eq!(codes(&h.responses()), vec![200]);
    h.events();
    h.send(&reinvite("z9hG4bK-r2", &a, 3, "", Some(&sdp)));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![500]);
    assert!(hdr(&rs[0].1, "Retry-After").is_some());
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 1);
}

// ---------------------------------------------------------------- REFER (RFC 3515)

fn refer(a: &Answered, cseq: u32, refer_to: &str) -> String {
    request(
        "REFER",
        &format!("z9hG4bK-refer-{cseq}"),
        &a.call_id,
        Some(&a.to_tag),
        cseq,
        &format!("Refer-To: {refer_to}\r\nReferred-By: <sip:op1@192.0.2.10>\r\n"),
        None,
    )
}

#[test]
fn refer_is_accepted_reported_and_notified() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "");
    h.send(&refer(&a, 2, "<sip:contribuente@198.51.100.1:5060>"));
    let sent = h.sent();
    assert_eq!(sent.len(), 2, "202 then NOTIFY");
    assert_eq!(sent[0].msg.status(), Some(202));
    let notify = &sent[1].msg;
    assert_eq!(request_uri(notify), "sip:3331234567@192.0.2.10:5062");
    assert_eq!(must(notify, "Event"), "refer");
    assert_eq!(must(notify, "Subscription-State"), "active;expires=60");
    assert_eq!(body(notify), "SIP/2.0 100 Trying\r\n");
    assert_eq!(
        h.events(),
        vec![Event::Refer {
            call: a.call,
            target: "contribuente".into()
        }]
    );
    h.reply_to(notify, 200);
    h.ep.refer_result(h.now, a.call, 200);
    h.collect();
    let last = h.requests().remove(0);
    assert_eq!(
        must(&last, "Subscription-State"),
        "terminated;reason=noresource"
    );
    assert_eq!(body(&last), "SIP/2.0 200 OK\r\n");
    assert_eq!(must(&last, "Content-Type"), "message/sipfrag;version=2.0");
}

#[test]
fn attended_and_malformed_refers_are_refused() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "");
    h.send(&refer(
        &a,
        2,
        "<sip:op2@198.51.100.1?Replaces=abc%3Bto-tag%3Dx%3Bfrom-tag%3Dy>",
    ));
    assert_eq!(codes(&h.responses()), vec![501]);
    let no_target = request(
        "REFER",
        "z9hG4bK-r9",
        &a.call_id,
        Some(&a.to_tag),
        3,
        "",
        None,
    );
    h.send(&no_target);
    assert_eq!(codes(&h.responses()), vec![400]);
    assert!(h.events().is_empty());
}
