//! A minimal SIP UAC over UDP (RFC 3261): INVITE with an SDP offer (PCMU +
//! telephone-event 101), Timer A retransmissions until a response (§17.1.1.2), ACK for
//! 2xx (§13.2.2.4) and non-2xx (§17.1.1.3), BYE after the hold time with Timer E
//! retransmissions (§17.1.2.2), and 200 to the daemon's BYE (§15.1.2).

use bytes::Bytes;
use centralino::sip::msg::{ResponseBuilder, SipMessage};
use ezk_sip_types::{Method, Name};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
/// Timers B and F: 64 × T1.
const GIVE_UP: Duration = Duration::from_secs(32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Calling,
    Proceeding,
    Up,
    Closing,
    Done,
}

pub struct Call {
    pub phase: Phase,
    rtp_port: u16,
    /// The To header of the 2xx (with the daemon's tag), reused in ACK and BYE.
    to: String,
    /// Request-URI for in-dialog requests (the 2xx Contact).
    contact: String,
    invited: Option<Instant>,
    retx: u32,
    closing_since: Option<Instant>,
    pub answered: Option<Instant>,
    /// Why the call failed (status code, timeout, bad answer).
    pub failure: Option<String>,
    pub hung_up_by_daemon: bool,
    pub bye_unanswered: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Invite,
    Bye,
    ByeRetx,
}

/// What the driver loop must know about.
pub enum Event {
    Answered {
        call: usize,
        remote: SocketAddr,
    },
    /// The call left the Up state (our BYE or theirs).
    HangingUp {
        call: usize,
    },
}

pub struct Uac {
    sock: UdpSocket,
    target: SocketAddr,
    local: SocketAddr,
    run: String,
    hold: Duration,
    /// The number dialled (Request-URI user).
    pub number: String,
    /// The media address offered in the SDP (ours, or a sink).
    pub media_ip: IpAddr,
    pub calls: Vec<Call>,
    timers: BinaryHeap<Reverse<(Instant, usize, Timer)>>,
    buf: Vec<u8>,
}

impl Uac {
    pub fn new(sock: UdpSocket, target: SocketAddr, ports: &[u16], hold: Duration) -> Self {
        let local = sock.local_addr().expect("bound SIP socket");
        let calls = ports
            .iter()
            .map(|&rtp_port| Call {
                phase: Phase::Pending,
                rtp_port,
                to: String::new(),
                contact: String::new(),
                invited: None,
                retx: 0,
                closing_since: None,
                answered: None,
                failure: None,
                hung_up_by_daemon: false,
                bye_unanswered: false,
            })
            .collect();
        Uac {
            sock,
            target,
            local,
            run: format!("{:08x}", crate::stats::random_u64() as u32),
            hold,
            number: "test".to_owned(),
            media_ip: local.ip(),
            calls,
            timers: BinaryHeap::new(),
            buf: vec![0; 65_536],
        }
    }

    pub fn fd(&self) -> i32 {
        std::os::fd::AsRawFd::as_raw_fd(&self.sock)
    }

    pub fn next_timer(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, ..))| *t)
    }

    fn send(&self, text: &str) {
        let _ = self.sock.send_to(text.as_bytes(), self.target);
    }

    fn common(&self, i: usize, method: &str, cseq: u32, branch: &str, to: &str) -> String {
        format!(
            "Via: SIP/2.0/UDP {local};branch=z9hG4bK-{run}-{i}-{branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:load@{ip}>;tag={run}{i:x}\r\n\
             To: {to}\r\n\
             Call-ID: {i}.{run}@centralino-load\r\n\
             CSeq: {cseq} {method}\r\n",
            local = self.local,
            ip = self.local.ip(),
            run = self.run,
        )
    }

    fn send_invite(&self, i: usize) {
        let ip = self.media_ip;
        let sdp = format!(
            "v=0\r\no=load {i} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n\
             a=sendrecv\r\n",
            port = self.calls[i].rtp_port
        );
        let to = format!("<sip:{}@{}>", self.number, self.target);
        let msg = format!(
            "INVITE sip:{number}@{target} SIP/2.0\r\n{common}Contact: <sip:load@{local}>\r\n\
             Content-Type: application/sdp\r\nContent-Length: {len}\r\n\r\n{sdp}",
            target = self.target,
            number = self.number,
            common = self.common(i, "INVITE", 1, "inv", &to),
            local = self.local,
            len = sdp.len(),
        );
        self.send(&msg);
    }

    /// Places call `i` now.
    pub fn invite(&mut self, now: Instant, i: usize) {
        self.send_invite(i);
        let c = &mut self.calls[i];
        c.phase = Phase::Calling;
        c.invited = Some(now);
        self.timers.push(Reverse((now + T1, i, Timer::Invite)));
    }

    fn send_ack(&self, i: usize, to: &str, two_xx: bool) {
        let (uri, branch) = if two_xx {
            (self.calls[i].contact.clone(), "ack")
        } else {
            (format!("sip:{}@{}", self.number, self.target), "inv")
        };
        let msg = format!(
            "ACK {uri} SIP/2.0\r\n{}Content-Length: 0\r\n\r\n",
            self.common(i, "ACK", 1, branch, to)
        );
        self.send(&msg);
    }

    fn send_bye(&self, i: usize) {
        let c = &self.calls[i];
        let msg = format!(
            "BYE {} SIP/2.0\r\n{}Content-Length: 0\r\n\r\n",
            c.contact,
            self.common(i, "BYE", 2, "bye", &c.to)
        );
        self.send(&msg);
    }

    /// Runs the timers due at `now`.
    pub fn on_timers(&mut self, now: Instant, out: &mut Vec<Event>) {
        while let Some(&Reverse((due, i, timer))) = self.timers.peek() {
            if due > now {
                break;
            }
            self.timers.pop();
            let c = &mut self.calls[i];
            match (timer, c.phase) {
                (Timer::Invite, Phase::Calling) => {
                    if now.duration_since(c.invited.unwrap_or(now)) >= GIVE_UP {
                        c.phase = Phase::Done;
                        c.failure = Some("timeout".into());
                    } else {
                        c.retx += 1;
                        let next = now + T1 * (1 << c.retx.min(6));
                        self.timers.push(Reverse((next, i, Timer::Invite)));
                        self.send_invite(i);
                    }
                }
                (Timer::Bye, Phase::Up) => {
                    c.phase = Phase::Closing;
                    c.closing_since = Some(now);
                    c.retx = 0;
                    self.timers.push(Reverse((now + T1, i, Timer::ByeRetx)));
                    self.send_bye(i);
                    out.push(Event::HangingUp { call: i });
                }
                (Timer::ByeRetx, Phase::Closing) => {
                    if now.duration_since(c.closing_since.unwrap_or(now)) >= GIVE_UP {
                        c.phase = Phase::Done;
                        c.bye_unanswered = true;
                    } else {
                        c.retx += 1;
                        let next = now + (T1 * (1 << c.retx.min(6))).min(T2);
                        self.timers.push(Reverse((next, i, Timer::ByeRetx)));
                        self.send_bye(i);
                    }
                }
                _ => {} // stale: the call moved on
            }
        }
    }

    /// Reads and handles every datagram waiting on the SIP socket.
    pub fn receive(&mut self, now: Instant, out: &mut Vec<Event>) {
        loop {
            let (n, from) = match self.sock.recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(_) => return,
            };
            let Ok(msg) = SipMessage::parse(Bytes::copy_from_slice(&self.buf[..n]), false) else {
                continue;
            };
            if msg.status().is_some() {
                self.on_response(now, &msg, out);
            } else {
                self.on_request(&msg, from, out);
            }
        }
    }

    fn call_index(&self, call_id: &str) -> Option<usize> {
        let (i, rest) = call_id.split_once('.')?;
        let i: usize = i.parse().ok()?;
        (rest.strip_prefix(self.run.as_str())?.starts_with('@') && i < self.calls.len())
            .then_some(i)
    }

    fn on_response(&mut self, now: Instant, msg: &SipMessage, out: &mut Vec<Event>) {
        let Ok(ess) = msg.essentials() else { return };
        let Some(i) = self.call_index(&ess.call_id) else {
            return;
        };
        let code = msg.status().unwrap_or(0);
        let to = msg
            .first(&Name::TO)
            .map(|v| v.to_string())
            .unwrap_or_default();
        let phase = self.calls[i].phase;
        if ess.cseq_method == Method::BYE {
            if phase == Phase::Closing && code >= 200 {
                self.calls[i].phase = Phase::Done;
            }
            return;
        }
        if ess.cseq_method != Method::INVITE {
            return;
        }
        let setting_up = matches!(phase, Phase::Calling | Phase::Proceeding);
        match code {
            100..=199 => {
                if phase == Phase::Calling {
                    self.calls[i].phase = Phase::Proceeding;
                }
            }
            200..=299 if setting_up => {
                let contact = msg
                    .first(&Name::CONTACT)
                    .and_then(|v| {
                        let s = v.as_str();
                        Some(s[s.find('<')? + 1..s.find('>')?].to_owned())
                    })
                    .unwrap_or_else(|| format!("sip:{}@{}", self.number, self.target));
                let c = &mut self.calls[i];
                c.to = to.clone();
                c.contact = contact;
                c.phase = Phase::Up;
                c.answered = Some(now);
                self.send_ack(i, &to, true);
                match sdp_remote(&msg.body) {
                    Some(remote) => {
                        self.timers.push(Reverse((now + self.hold, i, Timer::Bye)));
                        out.push(Event::Answered { call: i, remote });
                    }
                    None => {
                        // An answer we cannot use: fail the call and hang up at once.
                        self.calls[i].failure = Some("no usable SDP answer".into());
                        self.timers.push(Reverse((now, i, Timer::Bye)));
                    }
                }
            }
            // A retransmitted 2xx: our ACK was lost.
            200..=299 => self.send_ack(i, &to, true),
            _ => {
                if setting_up {
                    let c = &mut self.calls[i];
                    c.phase = Phase::Done;
                    c.failure = Some(code.to_string());
                }
                self.send_ack(i, &to, false);
            }
        }
    }

    fn on_request(&mut self, msg: &SipMessage, from: SocketAddr, out: &mut Vec<Event>) {
        let (code, reason) = match msg.method() {
            Some(&Method::ACK) | None => return,
            Some(&Method::BYE) | Some(&Method::OPTIONS) => (200, "OK"),
            Some(_) => (501, "Not Implemented"),
        };
        if msg.method() == Some(&Method::BYE)
            && let Some(i) = msg
                .first(&Name::CALL_ID)
                .and_then(|id| self.call_index(id.as_str()))
        {
            let c = &mut self.calls[i];
            if matches!(c.phase, Phase::Up | Phase::Closing) {
                if c.phase == Phase::Up {
                    out.push(Event::HangingUp { call: i });
                }
                c.phase = Phase::Done;
                c.hung_up_by_daemon = true;
            }
        }
        let resp = ResponseBuilder::new(msg, code, reason, from).build();
        let _ = self.sock.send_to(&resp, from);
    }

    /// At the deadline: calls still setting up failed; calls still up were not torn down.
    pub fn give_up(&mut self) {
        for c in &mut self.calls {
            match c.phase {
                Phase::Pending | Phase::Calling | Phase::Proceeding => {
                    c.failure = Some("timeout".into());
                }
                Phase::Up | Phase::Closing => c.bye_unanswered = true,
                Phase::Done => {}
            }
            c.phase = Phase::Done;
        }
    }
}

/// The audio destination in an SDP answer (session- or media-level `c=`, `m=audio`).
pub fn sdp_remote(body: &[u8]) -> Option<SocketAddr> {
    let text = std::str::from_utf8(body).ok()?;
    let mut ip = None;
    let mut port = None;
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("c=IN IP4 ") {
            ip = c.split('/').next()?.trim().parse().ok();
        } else if let Some(m) = line.strip_prefix("m=audio ") {
            port = m.split_whitespace().next()?.parse::<u16>().ok();
        }
    }
    Some(SocketAddr::new(
        std::net::IpAddr::V4(ip?),
        port.filter(|&p| p != 0)?,
    ))
}
