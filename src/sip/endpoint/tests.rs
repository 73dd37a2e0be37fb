//! Wire tests of the UAS endpoint in virtual time: literal SIP text in, parsed SIP out.
//! Covers RFC 3261 §8.2, §9.2, §12–§15, §17.2 (with RFC 6026), RFC 3264 offer/answer,
//! RFC 4028 session timers and RFC 3581 rport.

use super::*;
use crate::media::codec::Codec;
use crate::sdp::Direction;
use crate::sip::msg::StartLine;
use ezk_sip_types::Name;

const LOCAL: &str = "198.51.100.1:5060";
const CALLER: &str = "192.0.2.10:5062";
const FROM_TAG: &str = "caller-tag";

fn sock(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn config() -> EndpointConfig {
    EndpointConfig {
        local: sock(LOCAL),
        media_ip: "198.51.100.1".parse().unwrap(),
        answer_delay: Duration::ZERO,
        max_calls: 10,
        timers: TimerConfig::default(),
    }
}

// ---------------------------------------------------------------- message templates

/// A request from the caller at `CALLER`. `extra` holds whole header lines (with CRLF).
fn request(
    method: &str,
    branch: &str,
    call_id: &str,
    to_tag: Option<&str>,
    cseq: u32,
    extra: &str,
    body: Option<(&str, &str)>,
) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    let (ctype, body) = match body {
        Some((t, b)) => (format!("Content-Type: {t}\r\n"), b),
        None => (String::new(), ""),
    };
    format!(
        "{method} sip:0612345678@198.51.100.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {CALLER};branch={branch};rport\r\n\
         Max-Forwards: 70\r\n\
         From: \"Mario\" <sip:3331234567@192.0.2.10>;tag={FROM_TAG}\r\n\
         To: <sip:0612345678@198.51.100.1>{to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Contact: <sip:3331234567@192.0.2.10:5062>\r\n\
         {extra}{ctype}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn invite(branch: &str, call_id: &str, extra: &str, sdp: Option<&str>) -> String {
    let body = sdp.map(|s| ("application/sdp", s));
    request("INVITE", branch, call_id, None, 1, extra, body)
}

fn reinvite(branch: &str, c: &Answered, cseq: u32, extra: &str, sdp: Option<&str>) -> String {
    let body = sdp.map(|s| ("application/sdp", s));
    request(
        "INVITE",
        branch,
        &c.call_id,
        Some(&c.to_tag),
        cseq,
        extra,
        body,
    )
}

fn ack(branch: &str, call_id: &str, to_tag: &str, cseq: u32, sdp: Option<&str>) -> String {
    let body = sdp.map(|s| ("application/sdp", s));
    request("ACK", branch, call_id, Some(to_tag), cseq, "", body)
}

fn bye(branch: &str, call_id: &str, to_tag: &str, cseq: u32) -> String {
    request("BYE", branch, call_id, Some(to_tag), cseq, "", None)
}

/// CANCEL: same branch, Request-URI, Call-ID, From, To (no tag) and CSeq number as the INVITE.
fn cancel(branch: &str, call_id: &str) -> String {
    request("CANCEL", branch, call_id, None, 1, "", None)
}

fn info(branch: &str, c: &Answered, cseq: u32, ctype: &str, body: &str) -> String {
    let body = Some((ctype, body));
    request("INFO", branch, &c.call_id, Some(&c.to_tag), cseq, "", body)
}

/// An offer of PCMU + telephone-event 101 from the caller's media port.
fn offer_sdp(port: u16, direction: &str) -> String {
    format!(
        "v=0\r\no=caller 100 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na={direction}\r\n"
    )
}

fn media(port: u16, direction: Direction) -> MediaParams {
    MediaParams {
        codec: Codec::Pcmu,
        payload_type: 0,
        dtmf_payload_type: Some(101),
        ptime_ms: 20,
        remote_rtp: Some(SocketAddr::new("192.0.2.10".parse().unwrap(), port)),
        direction,
    }
}

// ---------------------------------------------------------------- message inspection

fn hdr(m: &SipMessage, name: &'static str) -> Option<String> {
    m.first(&Name::from(name)).map(|v| v.to_string())
}

fn must(m: &SipMessage, name: &'static str) -> String {
    hdr(m, name).unwrap_or_else(|| panic!("no {name} in\n{}", text_of(m)))
}

fn text_of(m: &SipMessage) -> String {
    format!("{:?}", m)
}

fn body(m: &SipMessage) -> &str {
    std::str::from_utf8(&m.body).unwrap()
}

fn to_tag(m: &SipMessage) -> Option<String> {
    m.essentials().unwrap().to_tag
}

fn reason(m: &SipMessage) -> &str {
    match &m.start {
        StartLine::Response { reason, .. } => reason,
        StartLine::Request { .. } => panic!("not a response"),
    }
}

fn request_uri(m: &SipMessage) -> &str {
    match &m.start {
        StartLine::Request { uri, .. } => uri,
        StartLine::Response { .. } => panic!("not a request"),
    }
}

fn codes(rs: &[(u16, SipMessage)]) -> Vec<u16> {
    rs.iter().map(|(c, _)| *c).collect()
}

/// The `o=` line's version field of an SDP body.
fn sdp_version(sdp: &str) -> u64 {
    let o = sdp.lines().find(|l| l.starts_with("o=")).unwrap();
    o.split(' ').nth(2).unwrap().parse().unwrap()
}

// ---------------------------------------------------------------- harness

/// One message the endpoint sent, with the virtual time (ms) it left.
struct Out {
    at: u64,
    flow: Flow,
    msg: SipMessage,
}

/// What the caller learns from the 200 of an answered INVITE.
struct Answered {
    call: CallId,
    call_id: String,
    to_tag: String,
    ok: SipMessage,
}

/// The endpoint on a virtual clock, with everything it sends parsed back.
struct Harness {
    ep: Endpoint,
    t0: Instant,
    now: Instant,
    flow: Flow,
    out: Vec<Out>,
}

impl Harness {
    fn new() -> Self {
        Self::with(config())
    }

    fn with(cfg: EndpointConfig) -> Self {
        let t0 = Instant::now();
        Harness {
            ep: Endpoint::new(cfg, 0x5EED),
            t0,
            now: t0,
            flow: Flow::Udp(sock(CALLER)),
            out: Vec::new(),
        }
    }

    fn ms(&self) -> u64 {
        (self.now - self.t0).as_millis() as u64
    }

    fn collect(&mut self) {
        let at = self.ms();
        while let Some(t) = self.ep.poll_transmit() {
            let stream = matches!(t.flow, Flow::Tcp(..));
            let msg = SipMessage::parse(t.bytes.clone(), stream)
                .unwrap_or_else(|e| panic!("we sent unparseable bytes ({e}): {:?}", t.bytes));
            self.out.push(Out {
                at,
                flow: t.flow,
                msg,
            });
        }
    }

    fn send(&mut self, text: &str) {
        let flow = self.flow;
        self.send_from(flow, text.as_bytes());
    }

    fn send_from(&mut self, flow: Flow, raw: &[u8]) {
        self.ep
            .handle_message(self.now, flow, Bytes::copy_from_slice(raw));
        self.collect();
    }

    /// Steps the endpoint through every deadline up to `ms`, then sets the clock there.
    fn run_until(&mut self, ms: u64) {
        let target = self.t0 + Duration::from_millis(ms);
        assert!(target >= self.now, "time runs forward");
        while let Some(at) = self.ep.poll_timeout().filter(|at| *at <= target) {
            self.now = self.now.max(at);
            self.ep.handle_timeout(self.now);
            self.collect();
        }
        self.now = target;
    }

    fn sent(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out)
    }

    /// Drains what was sent; all of it must be responses.
    fn responses(&mut self) -> Vec<(u16, SipMessage)> {
        self.sent()
            .into_iter()
            .map(|o| match o.msg.status() {
                Some(code) => (code, o.msg),
                None => panic!("expected only responses, got {}", text_of(&o.msg)),
            })
            .collect()
    }

    /// Drains what was sent; all of it must be requests.
    fn requests(&mut self) -> Vec<SipMessage> {
        self.sent()
            .into_iter()
            .map(|o| {
                assert!(
                    o.msg.method().is_some(),
                    "not a request: {}",
                    text_of(&o.msg)
                );
                o.msg
            })
            .collect()
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.ep.poll_event()).collect()
    }

    fn accept(&mut self, call: CallId, port: u16) {
        self.ep.accept_call(self.now, call, port);
        self.collect();
    }

    /// Sends an INVITE and returns the offered call, checking the 100 and the event.
    fn offer(&mut self, branch: &str, call_id: &str, extra: &str, sdp: Option<&str>) -> CallId {
        self.send(&invite(branch, call_id, extra, sdp));
        assert_eq!(codes(&self.responses()), vec![100]);
        match self.events().as_slice() {
            [Event::IncomingCall { call, dialled }] => {
                assert_eq!(dialled, "0612345678");
                *call
            }
            other => panic!("expected IncomingCall, got {other:?}"),
        }
    }

    /// INVITE with the standard offer, accepted on port 40000: returns the 200.
    fn answer(&mut self, branch: &str, call_id: &str, extra: &str) -> Answered {
        let call = self.offer(branch, call_id, extra, Some(&offer_sdp(30000, "sendrecv")));
        self.accept(call, 40000);
        let mut rs = self.responses();
        assert_eq!(codes(&rs), vec![200]);
        let ok = rs.remove(0).1;
        Answered {
            call,
            call_id: call_id.to_owned(),
            to_tag: to_tag(&ok).expect("200 has a To tag"),
            ok,
        }
    }

    /// A confirmed call: INVITE, 200, ACK, `Established`.
    fn establish(&mut self, call_id: &str, extra: &str) -> Answered {
        let a = self.answer(&format!("z9hG4bK-inv-{call_id}"), call_id, extra);
        let ack_branch = format!("z9hG4bK-ack-{call_id}");
        self.send(&ack(&ack_branch, call_id, &a.to_tag, 1, None));
        assert!(self.sent().is_empty(), "an ACK is never answered");
        assert_eq!(
            self.events(),
            vec![Event::Established {
                call: a.call,
                media: media(30000, Direction::SendRecv)
            }]
        );
        a
    }

    /// Answers a request we sent (a BYE) with `code`, as the caller would.
    fn reply_to(&mut self, req: &SipMessage, code: u16) {
        let bytes = ResponseBuilder::new(req, code, "OK", sock(LOCAL)).build();
        let flow = self.flow;
        self.send_from(flow, &bytes);
    }
}

/// The BYE we send for `a`: request line to the caller's Contact, parties swapped.
fn assert_bye_for(bye: &SipMessage, a: &Answered) {
    assert_eq!(bye.method(), Some(&ezk_sip_types::Method::BYE));
    assert_eq!(request_uri(bye), "sip:3331234567@192.0.2.10:5062");
    assert_eq!(must(bye, "Call-ID"), a.call_id);
    let e = bye.essentials().unwrap();
    assert_eq!(e.from_tag.as_deref(), Some(a.to_tag.as_str()));
    assert_eq!(e.to_tag.as_deref(), Some(FROM_TAG));
}

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
    assert_eq!(codes(&rs), vec![100], "100 Trying at once");
    assert_eq!(to_tag(&rs[0].1), None, "a 100 carries no To tag");
    let call = match h.events().as_slice() {
        [Event::IncomingCall { call, dialled }] => {
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
    assert_eq!(codes(&rs), vec![100, 488]);
    let tag = to_tag(&rs[1].1).expect("final responses carry a To tag");
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
    assert_eq!(codes(&rs), vec![100, 400]);
    assert!(
        reason(&rs[1].1).starts_with("Malformed SDP"),
        "{}",
        reason(&rs[1].1)
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
    assert_eq!(codes(&h.responses()), vec![100, 415]);
    assert!(h.events().is_empty());
}

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
    assert_eq!(codes(&rs), vec![100, 200]);
    let ok = &rs[1].1;
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
    assert_eq!(codes(&rs), vec![100, 200]);
    assert!(body(&rs[1].1).contains("a=sendrecv\r\n"));
    assert_eq!(sdp_version(body(&rs[1].1)), 3);
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
    assert_eq!(codes(&rs), vec![100, 200]);
    let sdp = body(&rs[1].1);
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
    assert_eq!(codes(&rs), vec![100, 488]);
    assert_eq!(to_tag(&rs[1].1).as_deref(), Some(a.to_tag.as_str()));
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
    assert_eq!(codes(&h.responses()), vec![100, 200]);
    h.events();
    h.send(&reinvite("z9hG4bK-r2", &a, 3, "", Some(&sdp)));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![100, 500]);
    assert!(hdr(&rs[1].1, "Retry-After").is_some());
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 1);
}

// ---------------------------------------------------------------- 11. session timers

const TIMER_1800: &str = "Supported: timer\r\nSession-Expires: 1800\r\n";

/// 1800 s minus min(32 s, 1800/3): RFC 4028 §10.
const EXPIRY_MS: u64 = 1_768_000;

#[test]
fn session_timer_is_accepted_with_the_caller_as_refresher() {
    let mut h = Harness::new();
    let a = h.answer("z9hG4bK-1", "call-1", TIMER_1800);
    assert_eq!(must(&a.ok, "Session-Expires"), "1800;refresher=uac");
    assert_eq!(must(&a.ok, "Require"), "timer");
}

#[test]
fn session_expires_below_min_se_gets_422() {
    let mut h = Harness::new();
    let extra = "Supported: timer\r\nSession-Expires: 60\r\n";
    h.send(&invite(
        "z9hG4bK-1",
        "call-1",
        extra,
        Some(&offer_sdp(30000, "sendrecv")),
    ));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![100, 422]);
    assert_eq!(must(&rs[1].1, "Min-SE"), "90");
    assert!(h.events().is_empty());
}

#[test]
fn unrefreshed_session_ends_with_bye_before_it_expires() {
    let mut h = Harness::new();
    let a = h.establish("call-1", TIMER_1800); // ACK at t = 0
    h.run_until(EXPIRY_MS - 1);
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    h.run_until(EXPIRY_MS);
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
}

#[test]
fn reinvite_refresh_pushes_the_session_expiry_out() {
    let mut h = Harness::new();
    let a = h.establish("call-1", TIMER_1800);
    h.run_until(1_000_000);
    h.send(&reinvite(
        "z9hG4bK-r1",
        &a,
        2,
        TIMER_1800,
        Some(&offer_sdp(30000, "sendrecv")),
    ));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![100, 200]);
    assert_eq!(must(&rs[1].1, "Session-Expires"), "1800;refresher=uac");
    h.send(&ack("z9hG4bK-r1a", "call-1", &a.to_tag, 2, None));
    h.events();
    h.run_until(1_000_000 + EXPIRY_MS - 1);
    assert!(h.sent().is_empty(), "the old deadline passed without a BYE");
    assert!(h.events().is_empty());
    h.run_until(1_000_000 + EXPIRY_MS);
    assert_eq!(h.requests().len(), 1);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call: a.call,
            reason: EndReason::Timeout
        }]
    );
}

#[test]
fn update_refresh_pushes_the_session_expiry_out() {
    let mut h = Harness::new();
    let a = h.establish("call-1", TIMER_1800);
    h.run_until(1_000_000);
    let update = request(
        "UPDATE",
        "z9hG4bK-u1",
        "call-1",
        Some(&a.to_tag),
        2,
        TIMER_1800,
        None,
    );
    h.send(&update);
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200]);
    // RFC 4028 §9: the 2xx to a refresh carries Session-Expires, or the caller (§7.4)
    // concludes the session no longer expires and stops refreshing.
    assert_eq!(must(&rs[0].1, "Session-Expires"), "1800;refresher=uac");
    assert_eq!(must(&rs[0].1, "Require"), "timer");
    assert!(
        h.events().is_empty(),
        "a refresh without SDP changes no media"
    );
    h.run_until(1_000_000 + EXPIRY_MS - 1);
    assert!(h.sent().is_empty());
    h.run_until(1_000_000 + EXPIRY_MS);
    assert_eq!(h.requests().len(), 1);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call: a.call,
            reason: EndReason::Timeout
        }]
    );
}

#[test]
fn no_session_timer_without_supported_timer() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "Session-Expires: 1800\r\n");
    assert_eq!(hdr(&a.ok, "Session-Expires"), None);
    assert_eq!(hdr(&a.ok, "Require"), None);
    h.run_until(EXPIRY_MS + 60_000);
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 1);
}

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
    assert_eq!(codes(&rs), vec![100, 420]);
    assert_eq!(must(&rs[1].1, "Unsupported"), "foo");
    assert!(h.events().is_empty());
}

#[test]
fn max_forwards_zero_gets_483() {
    let mut h = Harness::new();
    let text =
        invite("z9hG4bK-1", "call-1", "", None).replace("Max-Forwards: 70", "Max-Forwards: 0");
    h.send(&text);
    assert_eq!(codes(&h.responses()), vec![100, 483]);
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
    assert_eq!(codes(&rs), vec![100, 503]);
    assert_eq!(must(&rs[1].1, "Retry-After"), "30");
    assert!(h.events().is_empty());
    assert_eq!(h.ep.stats.refused, 1);
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
    assert_eq!(codes(&rs), vec![100, 503]);
    assert!(hdr(&rs[1].1, "Retry-After").is_some());
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

#[test]
fn refresh_below_min_se_gets_422_and_keeps_the_old_interval() {
    let mut h = Harness::new();
    let a = h.establish("call-1", TIMER_1800);
    let update = request(
        "UPDATE",
        "z9hG4bK-u1",
        "call-1",
        Some(&a.to_tag),
        2,
        "Supported: timer\r\nSession-Expires: 30\r\n",
        None,
    );
    h.send(&update);
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![422]);
    assert_eq!(must(&rs[0].1, "Min-SE"), "90");
    // The 1800 s session stands: the expiry BYE comes at the old time.
    h.run_until(EXPIRY_MS - 1);
    assert!(h.sent().is_empty());
    h.run_until(EXPIRY_MS);
    assert_eq!(h.requests().len(), 1);
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
