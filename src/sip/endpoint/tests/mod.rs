//! Wire tests of the UAS endpoint in virtual time: literal SIP text in, parsed SIP out;
//! each input is a turn of its own unless a test feeds several before it ends the turn.
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

    /// Ends the endpoint's turn, as the driver does before it waits (each input of the
    /// harness is a turn of its own), and parses what was sent.
    fn collect(&mut self) {
        self.ep.end_turn(self.now);
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
        self.feed_from(flow, raw);
        self.collect();
    }

    /// Feeds a message without ending the turn: what the application does next happens
    /// in the same turn, as in the driver.
    fn feed(&mut self, text: &str) {
        let flow = self.flow;
        self.feed_from(flow, text.as_bytes());
    }

    fn feed_from(&mut self, flow: Flow, raw: &[u8]) {
        self.ep
            .handle_message(self.now, flow, Bytes::copy_from_slice(raw));
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
            [Event::IncomingCall { call, dialled, .. }] => {
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

mod calls;
mod dialog;
mod limits;
mod register;
mod timers;
mod trying;
mod uac;
