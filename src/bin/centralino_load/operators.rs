//! The operator farm: M operators' softphones, each on its own UDP socket (its own
//! Contact), in one thread polling every socket. Each REGISTERs (RFC 3261 §10.2) with
//! digest authentication (§22.2, RFC 2617 / RFC 7616 `qop=auth`, MD5) and refreshes
//! before expiry. As a UAS it answers the daemon's INVITEs with 180 then 200 and an SDP
//! answer (RFC 3264: PCMU + telephone-event on an RTP socket per call, which counts what
//! arrives and, while the operator talks, sends a 20 ms frame of silence per tick so the
//! caller hears the bridge), retransmits the 2xx until the ACK (§13.3.1.4), answers
//! CANCEL with 200 and the INVITE with 487 (§9.2), hangs up with BYE after the talk time
//! (Timer E, §17.1.2.2), answers the daemon's BYE with 200 (§15.1.2) and unregisters at
//! the end. Registration lives in `operators/register.rs`.

#[path = "operators/register.rs"]
mod register;

use crate::sip::sdp_remote;
use crate::stats::{quantile_u64, random_u64};
use bytes::Bytes;
use centralino::media::rtp::RtpHeader;
use centralino::sip::msg::{ResponseBuilder, SipMessage};
use ezk_sip_types::{Method, Name};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
/// Timers B, F, H: 64 × T1.
const GIVE_UP: Duration = Duration::from_secs(32);
/// One RTP frame of PCMU: 20 ms, 160 samples.
const FRAME: Duration = Duration::from_millis(20);

pub struct FarmConfig {
    pub target: SocketAddr,
    pub local_ip: IpAddr,
    pub prefix: String,
    pub password: String,
    pub count: usize,
    /// From the ACK to our BYE.
    pub talk: Duration,
    /// From the INVITE to the 200 (the phone rings meanwhile).
    pub answer_after: Duration,
    /// Registration interval asked for, s.
    pub expires: u32,
}

/// What the farm did, for the report.
#[derive(Debug, Default, Clone)]
pub struct FarmStats {
    pub operators: usize,
    pub registered: usize,
    pub reregistrations: u64,
    pub unregistered: usize,
    /// New INVITEs from the daemon (offers of a caller).
    pub invites: u64,
    pub invite_retransmissions: u64,
    /// 2xx sent and ACKed: calls the farm answered.
    pub answered: u64,
    /// 2xx never ACKed (then ended with BYE).
    pub ack_timeouts: u64,
    /// CANCEL before our 2xx: 487 sent.
    pub cancelled: u64,
    /// Our BYE after the talk time, answered 2xx.
    pub hung_up: u64,
    /// Our BYE answered with an error or not at all.
    pub bye_failed: u64,
    /// BYE from the daemon (the caller hung up first).
    pub hung_up_by_daemon: u64,
    /// Calls still up when the farm stopped.
    pub left_up: u64,
    pub rtp_packets: u64,
    pub calls_with_media: u64,
    /// RTP frames the operators sent (one per 20 ms of talk).
    pub rtp_sent: u64,
    /// How late each media tick ran, µs (sorted at the end). The daemon relays these
    /// frames to the callers as they come, so a late tick here shows up as a late
    /// packet in a connected caller's stream without being the daemon's doing.
    pub tick_late_us: Vec<u64>,
}

impl FarmStats {
    pub fn json(&self) -> String {
        format!(
            "{{\"operators\":{},\"registered\":{},\"reregistrations\":{},\"unregistered\":{},\
             \"invites\":{},\"invite_retransmissions\":{},\"answered\":{},\"ack_timeouts\":{},\
             \"cancelled\":{},\"hung_up\":{},\"bye_failed\":{},\"hung_up_by_daemon\":{},\
             \"left_up\":{},\"rtp_packets\":{},\"calls_with_media\":{},\"rtp_sent\":{},\
             \"tick_late_p99_us\":{},\"tick_late_max_us\":{}}}",
            self.operators,
            self.registered,
            self.reregistrations,
            self.unregistered,
            self.invites,
            self.invite_retransmissions,
            self.answered,
            self.ack_timeouts,
            self.cancelled,
            self.hung_up,
            self.bye_failed,
            self.hung_up_by_daemon,
            self.left_up,
            self.rtp_packets,
            self.calls_with_media,
            self.rtp_sent,
            quantile_u64(&self.tick_late_us, 0.99),
            self.tick_late_us.last().copied().unwrap_or(0),
        )
    }

    pub fn human(&self) -> String {
        format!(
            "operators: {} registered of {} ({} refreshes, {} unregistered at the end); {} INVITEs \
             ({} retransmitted), answered {}, cancelled {}, ACK timeouts {}; hung up after talk {} \
             (BYE failed {}), by the daemon {}, left up {}; RTP received {} packets on {} calls, sent {} \
             (tick late p99 {} µs, max {} µs)\n",
            self.registered,
            self.operators,
            self.reregistrations,
            self.unregistered,
            self.invites,
            self.invite_retransmissions,
            self.answered,
            self.cancelled,
            self.ack_timeouts,
            self.hung_up,
            self.bye_failed,
            self.hung_up_by_daemon,
            self.left_up,
            self.rtp_packets,
            self.calls_with_media,
            self.rtp_sent,
            quantile_u64(&self.tick_late_us, 0.99),
            self.tick_late_us.last().copied().unwrap_or(0),
        )
    }
}

/// Where an operator's registration stands.
#[derive(Debug, Clone, PartialEq)]
enum Reg {
    /// A REGISTER is in flight.
    Pending,
    Registered,
    /// Expires: 0 answered.
    Unregistered,
    Refused(String),
}

struct Operator {
    user: String,
    sock: UdpSocket,
    local: SocketAddr,
    reg: Reg,
    call_id: String,
    tag: String,
    cseq: u32,
    /// Expiry asked for in the REGISTER in flight.
    expires: u32,
    /// The REGISTER in flight, its Via branch, when first sent, retransmissions.
    request: Bytes,
    branch: String,
    sent_at: Instant,
    retx: u32,
    /// Challenges answered in a row (a second 401 to fresh credentials is a refusal).
    auth_tries: u32,
    nc: u32,
}

/// Where an answered or ringing call stands, named for what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// 180 sent; the 200 goes out at the answer time.
    Ringing,
    /// 200 sent, retransmitted until the ACK.
    AwaitingAck,
    /// ACKed; our BYE at the end of the talk time.
    Talking,
    /// Our BYE sent, retransmitted until a final response.
    Closing,
    /// 487 sent after a CANCEL, until the ACK (or a time-out).
    Cancelled,
}

struct OpCall {
    op: usize,
    state: CallState,
    invite: SipMessage,
    /// Where the daemon sent the INVITE from: every request and response goes there.
    daemon: SocketAddr,
    tag: String,
    rtp: UdpSocket,
    /// Where the daemon wants our RTP (its SDP offer).
    rtp_remote: Option<SocketAddr>,
    telephone_event: u8,
    /// The last response to the INVITE, sent again for a retransmitted INVITE.
    last_response: Bytes,
    /// The BYE in flight.
    bye: Bytes,
    since: Instant,
    retx: u32,
    packets: u64,
    /// Our RTP stream while talking (RFC 3550 §5.1).
    ssrc: u32,
    seq: u16,
    ts: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// Registration: retransmit (or give up) / refresh before expiry.
    RegRetx(usize, u32),
    RegRefresh(usize),
    Answer(u64),
    OkRetx(u64),
    Hangup(u64),
    ByeRetx(u64),
    RejectRetx(u64),
    /// The 20 ms media tick of every talking call.
    Tick,
}

pub struct Farm {
    cfg: FarmConfig,
    run: String,
    ops: Vec<Operator>,
    calls: HashMap<u64, OpCall>,
    by_call_id: HashMap<String, u64>,
    next_call: u64,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    /// The media tick is armed (at most one pending `Timer::Tick`).
    ticking: bool,
    stats: FarmStats,
    buf: Vec<u8>,
}

impl Farm {
    /// Binds one SIP socket per operator.
    pub fn new(cfg: FarmConfig) -> Result<Farm, String> {
        let run = format!("{:08x}", random_u64() as u32);
        let now = Instant::now();
        let mut ops = Vec::with_capacity(cfg.count);
        for i in 1..=cfg.count {
            let sock = UdpSocket::bind((cfg.local_ip, 0))
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .map_err(|e| format!("operator SIP socket: {e}"))?;
            let local = sock.local_addr().map_err(|e| e.to_string())?;
            let user = format!("{}{i}", cfg.prefix);
            ops.push(Operator {
                call_id: format!("reg-{user}-{run}@centralino-load"),
                tag: format!("{run}r{i}"),
                user,
                sock,
                local,
                reg: Reg::Pending,
                cseq: 0,
                expires: cfg.expires,
                request: Bytes::new(),
                branch: String::new(),
                sent_at: now,
                retx: 0,
                auth_tries: 0,
                nc: 0,
            });
        }
        Ok(Farm {
            stats: FarmStats {
                operators: cfg.count,
                ..FarmStats::default()
            },
            cfg,
            run,
            ops,
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            next_call: 0,
            timers: BinaryHeap::new(),
            ticking: false,
            buf: vec![0; 65_536],
        })
    }

    /// Runs the farm on its own thread until `stop`; then it waits (a few seconds at
    /// most) for its calls to end, unregisters and returns what it did.
    pub fn spawn(mut self, stop: Arc<AtomicBool>) -> std::io::Result<JoinHandle<FarmStats>> {
        std::thread::Builder::new()
            .name("load-operators".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    self.step(Instant::now() + Duration::from_millis(50));
                }
                let linger = Instant::now() + Duration::from_secs(5);
                while !self.calls.is_empty() && Instant::now() < linger {
                    self.step(linger);
                }
                self.unregister_all(Duration::from_secs(3));
                self.finish()
            })
    }

    fn finish(mut self) -> FarmStats {
        let ids: Vec<u64> = self.calls.keys().copied().collect();
        for id in ids {
            if matches!(
                self.calls[&id].state,
                CallState::Talking | CallState::AwaitingAck | CallState::Closing
            ) {
                self.stats.left_up += 1;
            }
            self.end_call(id);
        }
        self.stats.tick_late_us.sort_unstable();
        self.stats
    }

    /// One turn: wait for a datagram or the next timer (not past `until`), handle what
    /// came, run due timers.
    fn step(&mut self, until: Instant) {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(self.ops.len() + self.calls.len());
        let mut owners: Vec<Option<u64>> = Vec::with_capacity(fds.capacity());
        for o in &self.ops {
            fds.push(pollin(o.sock.as_raw_fd()));
            owners.push(None);
        }
        for (&id, c) in &self.calls {
            fds.push(pollin(c.rtp.as_raw_fd()));
            owners.push(Some(id));
        }
        let wake = self
            .timers
            .peek()
            .map_or(until, |Reverse((t, _))| (*t).min(until));
        let ms = wake
            .saturating_duration_since(Instant::now())
            .as_micros()
            .div_ceil(1000)
            .min(50) as i32;
        // SAFETY: `fds` is a live array of `fds.len()` pollfd entries.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n > 0 {
            for (k, fd) in fds.iter().enumerate() {
                if fd.revents == 0 {
                    continue;
                }
                match owners[k] {
                    None => self.receive_sip(k),
                    Some(id) => self.receive_rtp(id),
                }
            }
        }
        self.on_timers(Instant::now());
    }

    fn receive_rtp(&mut self, id: u64) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let mut buf = [0u8; 2048];
        while c.rtp.recv(&mut buf).is_ok() {
            c.packets += 1;
        }
    }

    fn receive_sip(&mut self, op: usize) {
        let now = Instant::now();
        loop {
            let (n, from) = match self.ops[op].sock.recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(_) => return,
            };
            let Ok(msg) = SipMessage::parse(Bytes::copy_from_slice(&self.buf[..n]), false) else {
                continue;
            };
            if msg.status().is_some() {
                self.on_response(now, op, &msg);
            } else {
                self.on_request(now, op, msg, from);
            }
        }
    }

    // ----- requests from the daemon -----

    fn reply(&self, op: usize, req: &SipMessage, to: SocketAddr, code: u16, reason: &str) {
        let resp = ResponseBuilder::new(req, code, reason, to).build();
        let _ = self.ops[op].sock.send_to(&resp, to);
    }

    fn on_request(&mut self, now: Instant, op: usize, msg: SipMessage, from: SocketAddr) {
        let call_id = msg
            .first(&Name::CALL_ID)
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let known = self.by_call_id.get(&call_id).copied();
        match msg.method() {
            Some(&Method::INVITE) => match known {
                Some(id) => self.reinvite(op, id, &msg, from),
                None => self.new_invite(now, op, msg, from, call_id),
            },
            Some(&Method::ACK) => {
                if let Some(id) = known {
                    self.on_ack(now, id);
                }
            }
            Some(&Method::CANCEL) => {
                let Some(id) = known else {
                    return self.reply(op, &msg, from, 481, "Call/Transaction Does Not Exist");
                };
                self.reply(op, &msg, from, 200, "OK");
                if self.calls[&id].state == CallState::Ringing {
                    let c = self.calls.get_mut(&id).expect("known call");
                    let resp = ResponseBuilder::new(&c.invite, 487, "Request Terminated", from)
                        .to_tag(&c.tag)
                        .build();
                    let _ = self.ops[op].sock.send_to(&resp, from);
                    c.last_response = resp;
                    c.state = CallState::Cancelled;
                    c.since = now;
                    c.retx = 0;
                    self.stats.cancelled += 1;
                    self.timers.push(Reverse((now + T1, Timer::RejectRetx(id))));
                }
                // After our 2xx a CANCEL changes nothing (§9.2); a BYE will follow.
            }
            Some(&Method::BYE) => {
                let Some(id) = known else {
                    return self.reply(op, &msg, from, 481, "Call/Transaction Does Not Exist");
                };
                self.reply(op, &msg, from, 200, "OK");
                if self.calls[&id].state != CallState::Closing {
                    self.stats.hung_up_by_daemon += 1;
                } else {
                    // Both hung up at once: our BYE's answer no longer matters.
                    self.stats.hung_up += 1;
                }
                self.end_call(id);
            }
            Some(_) => self.reply(op, &msg, from, 200, "OK"),
            None => {}
        }
    }

    fn new_invite(
        &mut self,
        now: Instant,
        op: usize,
        invite: SipMessage,
        from: SocketAddr,
        call_id: String,
    ) {
        let Ok(rtp) = UdpSocket::bind((self.cfg.local_ip, 0))
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
        else {
            return self.reply(op, &invite, from, 503, "Service Unavailable");
        };
        self.stats.invites += 1;
        let id = self.next_call;
        self.next_call += 1;
        let tag = format!("{}o{id}", self.run);
        let ringing = ResponseBuilder::new(&invite, 180, "Ringing", from)
            .to_tag(&tag)
            .build();
        let _ = self.ops[op].sock.send_to(&ringing, from);
        let telephone_event = offered_telephone_event(&invite.body).unwrap_or(101);
        let call = OpCall {
            op,
            state: CallState::Ringing,
            rtp_remote: sdp_remote(&invite.body),
            invite,
            daemon: from,
            tag,
            rtp,
            telephone_event,
            last_response: ringing,
            bye: Bytes::new(),
            since: now,
            retx: 0,
            packets: 0,
            ssrc: random_u64() as u32,
            seq: random_u64() as u16,
            ts: random_u64() as u32,
        };
        self.calls.insert(id, call);
        self.by_call_id.insert(call_id, id);
        if self.cfg.answer_after.is_zero() {
            self.answer(now, id);
        } else {
            self.timers
                .push(Reverse((now + self.cfg.answer_after, Timer::Answer(id))));
        }
    }

    /// Our 200 with the SDP answer.
    fn ok_with_sdp(&self, c: &OpCall, req: &SipMessage) -> Bytes {
        let o = &self.ops[c.op];
        let ip = o.local.ip();
        let port = c.rtp.local_addr().map_or(0, |a| a.port());
        let pt = c.telephone_event;
        let sdp = format!(
            "v=0\r\no={user} {port} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0 {pt}\r\na=rtpmap:0 PCMU/8000\r\n\
             a=rtpmap:{pt} telephone-event/8000\r\na=fmtp:{pt} 0-15\r\na=ptime:20\r\n\
             a=sendrecv\r\n",
            user = o.user,
        );
        ResponseBuilder::new(req, 200, "OK", c.daemon)
            .to_tag(&c.tag)
            .header("Contact", format!("<sip:{}@{}>", o.user, o.local))
            .body("application/sdp", sdp)
            .build()
    }

    fn answer(&mut self, now: Instant, id: u64) {
        let Some(c) = self.calls.get(&id) else { return };
        if c.state != CallState::Ringing {
            return;
        }
        let ok = self.ok_with_sdp(c, &c.invite);
        let _ = self.ops[c.op].sock.send_to(&ok, c.daemon);
        let c = self.calls.get_mut(&id).expect("checked above");
        c.last_response = ok;
        c.state = CallState::AwaitingAck;
        c.since = now;
        c.retx = 0;
        self.timers.push(Reverse((now + T1, Timer::OkRetx(id))));
    }

    /// A retransmitted INVITE gets the last response again; a re-INVITE in the dialog
    /// gets our same answer.
    fn reinvite(&mut self, op: usize, id: u64, msg: &SipMessage, from: SocketAddr) {
        let c = &self.calls[&id];
        let in_dialog = msg
            .essentials()
            .ok()
            .and_then(|e| e.to_tag)
            .is_some_and(|t| t == c.tag);
        if in_dialog {
            let ok = self.ok_with_sdp(c, msg);
            let _ = self.ops[op].sock.send_to(&ok, from);
        } else {
            self.stats.invite_retransmissions += 1;
            let _ = self.ops[op].sock.send_to(&c.last_response, from);
        }
    }

    fn on_ack(&mut self, now: Instant, id: u64) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        match c.state {
            CallState::AwaitingAck => {
                c.state = CallState::Talking;
                self.stats.answered += 1;
                // The first frame at once: the daemon latches onto this socket (symmetric
                // RTP); the media tick sends the rest.
                self.stats.rtp_sent += u64::from(send_frame(c, true));
                self.timers
                    .push(Reverse((now + self.cfg.talk, Timer::Hangup(id))));
                if !self.ticking {
                    self.ticking = true;
                    self.timers.push(Reverse((now + FRAME, Timer::Tick)));
                }
            }
            CallState::Cancelled => self.end_call(id),
            _ => {}
        }
    }

    /// Our BYE (§12.2.1.1 as the UAS of the dialog): From is the INVITE's To with our
    /// tag, To its From, the Request-URI its Contact, the route its Record-Route.
    fn send_bye(&mut self, now: Instant, id: u64) {
        let Some(c) = self.calls.get_mut(&id) else {
            return;
        };
        let o = &self.ops[c.op];
        let h = |n: &Name| {
            c.invite
                .first(n)
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        };
        let contact = h(&Name::CONTACT);
        let target = match (contact.find('<'), contact.find('>')) {
            (Some(a), Some(b)) if a < b => contact[a + 1..b].to_owned(),
            _ => format!("sip:{}", c.daemon),
        };
        let routes: String = c
            .invite
            .values(&Name::RECORD_ROUTE)
            .map(|v| format!("Route: {v}\r\n"))
            .collect();
        let text = format!(
            "BYE {target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-{run}-bye{id};rport\r\n\
             Max-Forwards: 70\r\n{routes}\
             From: {to};tag={tag}\r\n\
             To: {from}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 BYE\r\n\
             Content-Length: 0\r\n\r\n",
            local = o.local,
            run = self.run,
            to = h(&Name::TO),
            tag = c.tag,
            from = h(&Name::FROM),
            call_id = h(&Name::CALL_ID),
        );
        c.bye = Bytes::from(text);
        c.state = CallState::Closing;
        c.since = now;
        c.retx = 0;
        let _ = o.sock.send_to(&c.bye, c.daemon);
        self.timers.push(Reverse((now + T1, Timer::ByeRetx(id))));
    }

    fn on_response(&mut self, now: Instant, op: usize, msg: &SipMessage) {
        let Ok(ess) = msg.essentials() else { return };
        let code = msg.status().unwrap_or(0);
        if ess.cseq_method == Method::REGISTER {
            return self.on_register_response(now, op, msg, code);
        }
        if ess.cseq_method == Method::BYE
            && code >= 200
            && let Some(&id) = self.by_call_id.get(&ess.call_id)
            && self.calls[&id].state == CallState::Closing
        {
            if code < 300 {
                self.stats.hung_up += 1;
            } else {
                self.stats.bye_failed += 1;
            }
            self.end_call(id);
        }
    }

    fn end_call(&mut self, id: u64) {
        if let Some(c) = self.calls.remove(&id) {
            self.stats.rtp_packets += c.packets;
            if c.packets > 0 {
                self.stats.calls_with_media += 1;
            }
            if let Some(call_id) = c.invite.first(&Name::CALL_ID) {
                self.by_call_id.remove(call_id.as_str());
            }
        }
    }

    // ----- timers -----

    /// The next retransmission interval: T1 doubling, capped at T2 (§17.1.2.2, §13.3.1.4).
    fn backoff(retx: u32) -> Duration {
        (T1 * (1 << retx.min(6))).min(T2)
    }

    /// A retransmission timer (RFC 3261 §17.2.1 G, §17.1.2.2 E) for a call still in
    /// `state`: resends its last message (the BYE while closing, else the last response)
    /// and re-arms `timer` with backoff. True when it is time to give up; nothing
    /// happens when the call has moved on.
    fn resend(&mut self, now: Instant, id: u64, state: CallState, timer: Timer) -> bool {
        let Some(c) = self.calls.get_mut(&id) else {
            return false;
        };
        if c.state != state {
            return false;
        }
        if now.duration_since(c.since) >= GIVE_UP {
            return true;
        }
        c.retx += 1;
        let bytes = if state == CallState::Closing {
            &c.bye
        } else {
            &c.last_response
        };
        let _ = self.ops[c.op].sock.send_to(bytes, c.daemon);
        self.timers
            .push(Reverse((now + Self::backoff(c.retx), timer)));
        false
    }

    fn on_timers(&mut self, now: Instant) {
        while let Some(&Reverse((due, timer))) = self.timers.peek() {
            if due > now {
                break;
            }
            self.timers.pop();
            match timer {
                Timer::RegRetx(..) | Timer::RegRefresh(_) => self.registration_timer(now, timer),
                Timer::Answer(id) => self.answer(now, id),
                Timer::OkRetx(id) => {
                    if self.resend(now, id, CallState::AwaitingAck, timer) {
                        // Timer H: no ACK. End the dialog (§13.3.1.4).
                        self.stats.ack_timeouts += 1;
                        self.send_bye(now, id);
                    }
                }
                Timer::Hangup(id) => {
                    if self
                        .calls
                        .get(&id)
                        .is_some_and(|c| c.state == CallState::Talking)
                    {
                        self.send_bye(now, id);
                    }
                }
                Timer::ByeRetx(id) => {
                    if self.resend(now, id, CallState::Closing, timer) {
                        self.stats.bye_failed += 1;
                        self.end_call(id);
                    }
                }
                Timer::Tick => {
                    self.stats
                        .tick_late_us
                        .push(now.saturating_duration_since(due).as_micros() as u64);
                    let mut talking = false;
                    for c in self.calls.values_mut() {
                        if c.state == CallState::Talking {
                            talking = true;
                            self.stats.rtp_sent += u64::from(send_frame(c, false));
                        }
                    }
                    self.ticking = talking;
                    if talking {
                        // Absolute schedule: no drift; after a stall, start again from now.
                        let next = (due + FRAME).max(now.checked_sub(FRAME).unwrap_or(now));
                        self.timers.push(Reverse((next, Timer::Tick)));
                    }
                }
                Timer::RejectRetx(id) => {
                    if self.resend(now, id, CallState::Cancelled, timer) {
                        self.end_call(id);
                    }
                }
            }
        }
    }
}

/// One 20 ms PCMU frame of silence on the call's stream; true when sent.
fn send_frame(c: &mut OpCall, first: bool) -> bool {
    let Some(remote) = c.rtp_remote else {
        return false;
    };
    let hdr = RtpHeader {
        marker: first,
        payload_type: 0,
        seq: c.seq,
        timestamp: c.ts,
        ssrc: c.ssrc,
    };
    c.seq = c.seq.wrapping_add(1);
    c.ts = c.ts.wrapping_add(160);
    let mut out = [0u8; 12 + 160];
    let len = hdr.write(&[0xff; 160], &mut out);
    c.rtp.send_to(&out[..len], remote).is_ok()
}

fn pollin(fd: libc::c_int) -> libc::pollfd {
    libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    }
}

/// The branch of a message's top Via.
fn via_branch(msg: &SipMessage) -> Option<String> {
    msg.essentials().ok().map(|e| e.branch)
}

/// The payload type the offer gives telephone-event/8000 (RFC 4733 §7.1.1).
fn offered_telephone_event(body: &[u8]) -> Option<u8> {
    std::str::from_utf8(body).ok()?.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("a=rtpmap:")?;
        let (pt, enc) = rest.split_once(' ')?;
        enc.to_ascii_lowercase()
            .starts_with("telephone-event/8000")
            .then(|| pt.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telephone_event_payload_type() {
        let sdp = b"v=0\r\nm=audio 4000 RTP/AVP 0 8 96\r\na=rtpmap:0 PCMU/8000\r\n\
                    a=rtpmap:96 telephone-event/8000\r\n";
        assert_eq!(offered_telephone_event(sdp), Some(96));
        assert_eq!(offered_telephone_event(b"v=0\r\n"), None);
    }
}
