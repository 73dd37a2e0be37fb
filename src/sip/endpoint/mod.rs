//! The UAS endpoint (RFC 3261 §8.2, §12–§15, §17.2.3; RFC 3264, RFC 4028, RFC 3581): turns
//! datagrams and stream messages into calls. Pure: the driver feeds messages and time,
//! then drains `poll_transmit` / `poll_event`, and calls `end_turn` (and drains again)
//! before it waits until `poll_timeout`.

mod refer;
mod register;
mod requests;
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start a virtual clock at a real instant
mod tests;
mod uac;

pub use register::RegistrarSetup;
pub use uac::OutgoingCall;

use super::dialog::{Dialog, ViaSpec};
use super::msg::{MsgError, ResponseBuilder, SipMessage, raw_bad_request};
use super::transaction::{
    ClientNonInvite, ClientNonInviteState, Reliability, ServerInvite, ServerNonInvite, TimerConfig,
    TxEvent,
};
use crate::pii::Redacted;
use crate::sdp::{self, LocalSession, MediaParams};
use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Handle of one call (one dialog with a caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// A stream connection, numbered by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// How a message arrived and so how its answers leave: responses go back where the
/// request came from (RFC 3581), on the same connection for TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Udp(SocketAddr),
    Tcp(ConnId, SocketAddr),
}

impl Flow {
    pub fn remote(&self) -> SocketAddr {
        match *self {
            Flow::Udp(a) | Flow::Tcp(_, a) => a,
        }
    }

    fn reliability(&self) -> Reliability {
        match self {
            Flow::Udp(_) => Reliability::Unreliable,
            Flow::Tcp(..) => Reliability::Reliable,
        }
    }

    fn transport_name(&self) -> &'static str {
        match self {
            Flow::Udp(_) => "UDP",
            Flow::Tcp(..) => "TCP",
        }
    }
}

/// Bytes for the driver to send.
#[derive(Debug, Clone)]
pub struct Transmit {
    pub flow: Flow,
    pub bytes: Bytes,
}

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The caller sent BYE.
    RemoteBye,
    /// We sent BYE (hang-up by the application or shutdown).
    LocalBye,
    /// The caller cancelled before the answer.
    Cancelled,
    /// The 2xx was never acknowledged, the session timer expired, or (outgoing) no
    /// final response came.
    Timeout,
    /// We refused the call after offering it to the application.
    Rejected,
    /// An outgoing call got this final status (486 busy, 480, 603…).
    Failed(u16),
}

/// What the application (the driver) must learn about.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A new call passed every check; the driver allocates media and then calls
    /// `accept_call` (or `reject_call`).
    IncomingCall {
        call: CallId,
        /// The office number the caller dialled, as written (not yet E.164): from the
        /// redirection headers when the call was forwarded, else the To or Request-URI
        /// user part (precedence in `crate::sip::dialled`).
        dialled: String,
        /// The Request-URI user part: the service asked for (test line, feature codes).
        request_user: String,
        /// The caller's user part (their number) from From; personal data: log redacted.
        caller: String,
        /// Where the INVITE came from (an operator's phone is recognised by it).
        source: SocketAddr,
    },
    /// The caller acknowledged our answer: media may flow. `media` is `None` when the
    /// session has no usable remote address yet.
    Established { call: CallId, media: MediaParams },
    /// A re-INVITE or UPDATE changed the session (hold, unhold, new address).
    MediaChanged { call: CallId, media: MediaParams },
    /// An outgoing call is ringing (180) or in progress (183).
    Progress { call: CallId, status: u16 },
    /// An outgoing call was answered; its ACK is sent. Media may flow.
    Answered { call: CallId, media: MediaParams },
    /// The other side asked to transfer this call (REFER) to `target` (the user part of
    /// Refer-To: a queue or section name). Answer with `refer_result`.
    Refer { call: CallId, target: String },
    /// An operator's first phone registered.
    OperatorRegistered { user: String },
    /// An operator's last phone un-registered or expired.
    OperatorUnregistered { user: String },
    /// A key pressed, reported by SIP INFO.
    Digit { call: CallId, digit: char },
    /// The call is over; the driver releases its media at once.
    Ended { call: CallId, reason: EndReason },
}

/// Settings of the endpoint, from the daemon configuration.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// Our address as written in Via, Contact and SDP.
    pub local: SocketAddr,
    /// The IP written in SDP `c=` lines.
    pub media_ip: IpAddr,
    pub answer_delay: Duration,
    pub max_calls: usize,
    pub timers: TimerConfig,
}

/// Counters for logs and metrics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Malformed messages answered with 400.
    pub bad_requests: u64,
    /// Malformed messages dropped because no response could be addressed.
    pub dropped: u64,
    /// Responses that matched no transaction.
    pub stray_responses: u64,
    /// Calls refused with 503 (over capacity or shutting down).
    pub refused: u64,
    /// New calls refused with a stateless 503 while the SIP task was overloaded.
    pub shed: u64,
}

/// Methods we implement, for `Allow`.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REFER";
/// The same with the registrar enabled.
pub const ALLOW_WITH_REGISTER: &str =
    "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, REFER, REGISTER";
/// Bodies we understand, for `Accept`.
pub const ACCEPT: &str = "application/sdp, application/dtmf-relay, application/dtmf";
/// Extensions we support, for `Supported`; anything else in `Require` gets 420.
pub const SUPPORTED: &str = "timer";
/// RFC 4028 §5: the smallest Session-Expires we accept.
pub const MIN_SE: u32 = 90;

#[derive(Debug)]
enum ServerTx {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

#[derive(Debug)]
struct ServerTxEntry {
    tx: ServerTx,
    flow: Flow,
    call: Option<CallId>,
    /// The earliest wake-up already in the heap for this transaction: a deadline that
    /// is not earlier needs no new heap entry (each entry holds a copy of the key, and a
    /// finished call's transactions wait 32 s for Timers J and L).
    scheduled: Option<Instant>,
}

#[derive(Debug)]
struct ClientTxEntry {
    tx: ClientNonInvite,
    flow: Flow,
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// Outgoing: our INVITE waits for its final response.
    Dialing,
    /// Offered to the application, waiting for `accept_call`.
    Offered,
    /// 180 sent; the 200 goes out when the answer timer fires.
    Ringing,
    /// 200 sent, waiting for the ACK.
    Answered,
    /// ACK received: the call is up.
    Confirmed,
}

#[derive(Debug)]
struct Call {
    state: CallState,
    flow: Flow,
    dialog: Dialog,
    /// The pending INVITE (initial or re-INVITE) and its transaction key.
    invite: SipMessage,
    invite_tx: String,
    /// The SDP offer of the INVITE, if it had one (otherwise we offer in the 200).
    offer: Option<String>,
    rtp_port: u16,
    sdp_version: u64,
    session_id: u64,
    media: Option<MediaParams>,
    /// RFC 4028: interval and deadline; the caller refreshes (refresher=uac).
    session_expires: Option<u32>,
    expires_at: Option<Instant>,
    answer_at: Option<Instant>,
    /// `Established` was reported; later session changes are `MediaChanged`.
    established: bool,
    /// Hung up while the initial 2xx awaited its ACK: BYE as soon as it comes.
    bye_after_ack: bool,
    /// Outgoing calls only.
    uac: Option<uac::UacLeg>,
}

/// What a heap entry wakes up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Wake {
    Server(String),
    Client(String),
    ClientInvite(String),
    Call(CallId),
    DelayedReply(String),
    Registrar,
}

/// The SIP UAS. One per daemon; owns every transaction and dialog.
pub struct Endpoint {
    cfg: EndpointConfig,
    calls: HashMap<CallId, Call>,
    /// (Call-ID, our tag) → call, for in-dialog requests.
    dialogs: HashMap<(String, String), CallId>,
    server_txs: HashMap<String, ServerTxEntry>,
    client_txs: HashMap<String, ClientTxEntry>,
    client_invites: HashMap<String, uac::ClientInviteEntry>,
    /// The response being handed through a client INVITE transaction.
    pending_response: Option<SipMessage>,
    /// REGISTER handling, when operators are configured.
    registrar: Option<register::RegistrarPart>,
    /// The connection each TCP peer last spoke on (to call registered TCP phones back).
    tcp_peers: HashMap<SocketAddr, ConnId>,
    /// Deadlines with lazy deletion: a stale entry only causes a harmless early wake-up.
    wakes: BinaryHeap<Reverse<(Instant, Wake)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Calls offered to the application in this turn: each INVITE owes the caller a
    /// `100 Trying` unless it is answered before the turn ends (see `end_turn`).
    trying_owed: Vec<CallId>,
    next_call: u64,
    rng: u64,
    accepting: bool,
    /// Set by the driver while requests wait too long in the SIP queue.
    overloaded: bool,
    pub stats: Stats,
}

impl Endpoint {
    /// `seed` makes tags and branches reproducible in tests; the driver passes entropy.
    pub fn new(cfg: EndpointConfig, seed: u64) -> Self {
        Endpoint {
            cfg,
            calls: HashMap::new(),
            dialogs: HashMap::new(),
            server_txs: HashMap::new(),
            client_txs: HashMap::new(),
            client_invites: HashMap::new(),
            pending_response: None,
            registrar: None,
            tcp_peers: HashMap::new(),
            wakes: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            trying_owed: Vec::new(),
            next_call: 1,
            rng: seed | 1,
            accepting: true,
            overloaded: false,
            stats: Stats::default(),
        }
    }

    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// True once no call is left and every BYE we sent has its final response (used at
    /// shutdown; lingering absorb-retransmission timers don't count).
    pub fn is_idle(&self) -> bool {
        self.calls.is_empty()
            && self.transmits.is_empty()
            && self.client_txs.values().all(|e| {
                matches!(
                    e.tx.state(),
                    ClientNonInviteState::Completed | ClientNonInviteState::Terminated
                )
            })
    }

    /// Feeds one received message.
    pub fn handle_message(&mut self, now: Instant, flow: Flow, raw: Bytes) {
        if let Flow::Tcp(conn, peer) = flow {
            self.tcp_peers.insert(peer, conn);
        }
        let stream = matches!(flow, Flow::Tcp(..));
        let msg = match SipMessage::parse(raw.clone(), stream) {
            Ok(m) => m,
            Err(fault) => return self.refuse_malformed(flow, &raw, &fault),
        };
        if msg.status().is_some() {
            return self.handle_response(now, msg);
        }
        match msg.essentials() {
            Ok(e) => self.handle_request(now, flow, msg, e),
            Err(fault) if msg.method() == Some(&ezk_sip_types::Method::ACK) => {
                tracing::debug!(%fault, "dropping malformed ACK");
                self.stats.dropped += 1;
            }
            Err(fault) if msg.first(&ezk_sip_types::Name::VIA).is_some() => {
                tracing::info!(%fault, from = %flow.remote(), "400 for a malformed request");
                self.stats.bad_requests += 1;
                let reason = fault.to_string();
                let bytes = ResponseBuilder::new(&msg, 400, &reason, flow.remote()).build();
                self.transmits.push_back(Transmit { flow, bytes });
            }
            Err(fault) => {
                tracing::info!(%fault, from = %flow.remote(), "dropping malformed request");
                self.stats.dropped += 1;
            }
        }
    }

    fn refuse_malformed(&mut self, flow: Flow, raw: &[u8], fault: &MsgError) {
        match raw_bad_request(raw, fault, flow.remote()) {
            Some(bytes) => {
                tracing::info!(%fault, from = %flow.remote(), "400 for an unparseable request");
                self.stats.bad_requests += 1;
                self.transmits.push_back(Transmit { flow, bytes });
            }
            None => {
                tracing::debug!(%fault, from = %flow.remote(), "dropping unparseable message");
                self.stats.dropped += 1;
            }
        }
    }

    /// The application accepts an offered call; `rtp_port` is its bound media socket.
    pub fn accept_call(&mut self, now: Instant, call: CallId, rtp_port: u16) {
        let delay = self.cfg.answer_delay;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        if c.state != CallState::Offered {
            return;
        }
        c.rtp_port = rtp_port;
        if delay.is_zero() {
            self.send_answer(now, call);
        } else {
            c.state = CallState::Ringing;
            c.answer_at = Some(now + delay);
            self.wakes.push(Reverse((now + delay, Wake::Call(call))));
            self.respond_invite(now, call, 180, "Ringing", |r| r);
        }
    }

    /// The application refuses an offered or ringing call (e.g. no media port left).
    pub fn reject_call(&mut self, now: Instant, call: CallId, code: u16, reason: &str) {
        if let Some(c) = self.calls.get(&call)
            && matches!(c.state, CallState::Offered | CallState::Ringing)
        {
            self.respond_invite(now, call, code, reason, |r| r.header("Retry-After", 30));
            self.end_call(call, EndReason::Rejected);
        }
    }

    /// Hangs up: BYE for an answered call, 480 for one not yet answered.
    pub fn hangup(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        match c.state {
            CallState::Dialing => self.cancel_outgoing(now, call),
            CallState::Offered | CallState::Ringing => {
                self.respond_invite(now, call, 480, "Temporarily Unavailable", |r| r);
                self.end_call(call, EndReason::LocalBye);
            }
            // §15: no BYE before the ACK of the initial 2xx; it goes out when the ACK
            // arrives or the transaction gives up waiting.
            CallState::Answered if !c.established => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.bye_after_ack = true;
                }
            }
            CallState::Answered | CallState::Confirmed => self.send_bye(now, call),
        }
    }

    /// While set, new INVITEs get a stateless `503` (see `sip::overload`); requests of
    /// calls already up, and retransmissions of INVITEs already taken, are served.
    pub fn set_overloaded(&mut self, overloaded: bool) {
        self.overloaded = overloaded;
    }

    /// Stops taking calls (new INVITEs get 503 with Retry-After) and hangs up every call.
    pub fn shutdown(&mut self, now: Instant) {
        self.accepting = false;
        let calls: Vec<CallId> = self.calls.keys().copied().collect();
        for call in calls {
            self.hangup(now, call);
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.wakes.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, wake))) = self.wakes.pop() else {
                break;
            };
            match wake {
                Wake::Server(key) => {
                    if let Some(e) = self.server_txs.get_mut(&key) {
                        // This was the scheduled wake-up (or an earlier one): the next
                        // deadline gets a heap entry again.
                        if e.scheduled.is_some_and(|s| s <= at) {
                            e.scheduled = None;
                        }
                        match &mut e.tx {
                            ServerTx::Invite(t) => t.handle_timeout(now),
                            ServerTx::NonInvite(t) => t.handle_timeout(now),
                        }
                        self.drain_server(now, &key);
                    }
                }
                Wake::Client(key) => {
                    if let Some(e) = self.client_txs.get_mut(&key) {
                        e.tx.handle_timeout(now);
                        self.drain_client(now, &key);
                    }
                }
                Wake::ClientInvite(key) => {
                    if let Some(e) = self.client_invites.get_mut(&key) {
                        e.tx.handle_timeout(now);
                        self.drain_client_invite(now, &key);
                    }
                }
                Wake::Call(call) => self.call_timer(now, call),
                Wake::DelayedReply(key) => self.delayed_reply_due(now, &key),
                Wake::Registrar => self.registrar_timeout(now),
            }
        }
    }

    /// The driver has nothing left to do in this turn: every INVITE offered in it and
    /// still unanswered gets its `100 Trying` now. Returns whether it queued any.
    ///
    /// RFC 3261 §17.2.1: the 100 is owed unless the TU answers within 200 ms. The driver
    /// answers most calls in the turn their INVITE arrives in (the 200, the 180 of an
    /// answer delay, or a refusal), so a 100 sent at once would be overtaken
    /// microseconds later: a response built and sent for nothing on every call. Every
    /// other INVITE (a re-INVITE, one refused by our checks) gets its final response
    /// before `handle_message` returns and owes nothing.
    pub fn end_turn(&mut self, now: Instant) -> bool {
        if self.trying_owed.is_empty() {
            return false;
        }
        let queued = self.transmits.len();
        let mut owed = std::mem::take(&mut self.trying_owed);
        for call in owed.drain(..) {
            self.send_trying(now, call);
        }
        // Kept for the next turn's calls: no allocation per turn.
        self.trying_owed = owed;
        self.transmits.len() > queued
    }

    /// `100 Trying` to the call's INVITE, if the application has not answered it yet.
    fn send_trying(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return; // refused, cancelled or hung up already
        };
        if c.state != CallState::Offered {
            return;
        }
        let Some(ServerTxEntry {
            tx: ServerTx::Invite(t),
            flow,
            ..
        }) = self.server_txs.get_mut(&c.invite_tx)
        else {
            return;
        };
        // §8.2.6.1: no To tag on a 100.
        let bytes = ResponseBuilder::new(&c.invite, 100, "Trying", flow.remote()).build();
        if let Err(e) = t.send_provisional(now, 100, bytes) {
            tracing::debug!(%e, "100 not sent in this transaction state");
        }
        let key = c.invite_tx.clone();
        self.drain_server(now, &key);
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.wakes.peek().map(|Reverse((at, _))| *at)
    }

    fn call_timer(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.state == CallState::Ringing && c.answer_at.is_some_and(|t| t <= now) {
            self.send_answer(now, call);
        } else if c.expires_at.is_some_and(|t| t <= now) {
            tracing::info!(call = call.0, "session timer expired without refresh");
            self.send_bye(now, call);
            // Fix: `EndReason::Timeout` documents "or the session timer expired";
            // send_bye alone reports LocalBye.
            self.retag_end(call, EndReason::Timeout);
        }
    }

    fn handle_response(&mut self, now: Instant, msg: SipMessage) {
        let branch = msg.top_via().ok().and_then(|v| v.branch.map(str::to_owned));
        let method = msg.cseq().map(|(_, method)| method);
        let (Some(branch), Ok(method)) = (branch, method) else {
            self.stats.stray_responses += 1;
            return;
        };
        if method == ezk_sip_types::Method::INVITE {
            return self.handle_invite_response(now, &branch, msg);
        }
        let key = if method == ezk_sip_types::Method::CANCEL {
            format!("{branch}|CANCEL")
        } else {
            branch
        };
        let status = msg.status().unwrap_or(0);
        match self.client_txs.get_mut(&key) {
            Some(e) => {
                let _ = e.tx.handle_response(now, status, Bytes::new());
                self.drain_client(now, &key);
            }
            None => self.stats.stray_responses += 1,
        }
    }

    /// Moves a server transaction's output to the wire and its deadline to the heap.
    fn drain_server(&mut self, now: Instant, key: &str) {
        let Some(e) = self.server_txs.get_mut(key) else {
            return;
        };
        let mut no_ack = false;
        loop {
            let (bytes, event) = match &mut e.tx {
                ServerTx::Invite(t) => (t.poll_transmit(), t.poll_event()),
                ServerTx::NonInvite(t) => (t.poll_transmit(), t.poll_event()),
            };
            if bytes.is_none() && event.is_none() {
                break;
            }
            if let Some(bytes) = bytes {
                self.transmits.push_back(Transmit {
                    flow: e.flow,
                    bytes,
                });
            }
            no_ack |= event == Some(TxEvent::NoAckFor2xx);
        }
        let (deadline, done) = match &e.tx {
            ServerTx::Invite(t) => (t.poll_timeout(), t.is_terminated()),
            ServerTx::NonInvite(t) => (t.poll_timeout(), t.is_terminated()),
        };
        let call = e.call;
        if done {
            self.server_txs.remove(key);
        } else if let Some(at) = deadline
            && e.scheduled.is_none_or(|s| at < s)
        {
            e.scheduled = Some(at);
            self.wakes.push(Reverse((at, Wake::Server(key.to_owned()))));
        }
        if no_ack && let Some(call) = call {
            // §13.3.1.4: a 2xx never acknowledged ends the session with a BYE.
            tracing::info!(call = call.0, "no ACK for our 2xx");
            self.send_bye(now, call);
            self.retag_end(call, EndReason::Timeout);
        }
    }

    fn drain_client(&mut self, _now: Instant, key: &str) {
        let Some(e) = self.client_txs.get_mut(key) else {
            return;
        };
        while let Some(bytes) = e.tx.poll_transmit() {
            self.transmits.push_back(Transmit {
                flow: e.flow,
                bytes,
            });
        }
        while e.tx.poll_event().is_some() {}
        if e.tx.is_terminated() {
            self.client_txs.remove(key);
        } else if let Some(at) = e.tx.poll_timeout() {
            self.wakes.push(Reverse((at, Wake::Client(key.to_owned()))));
        }
    }

    /// Sends the 2xx to the pending INVITE with our SDP (answer, or offer when the INVITE
    /// had none).
    fn send_answer(&mut self, now: Instant, call: CallId) {
        let media_ip = self.cfg.media_ip;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.sdp_version += 1;
        let local = LocalSession {
            ip: media_ip,
            rtp_port: c.rtp_port,
            session_id: c.session_id,
            version: c.sdp_version,
        };
        let body = match &c.offer {
            Some(offer) => match sdp::answer(offer, &local) {
                Ok((media, answer)) => {
                    c.media = Some(media);
                    answer
                }
                // Checked on arrival; a failure here would be our bug, so refuse cleanly.
                Err(e) => {
                    tracing::warn!(%e, "offer no longer answerable");
                    return self.reject_call(now, call, 488, "Not Acceptable Here");
                }
            },
            None => sdp::offer(&local),
        };
        c.state = CallState::Answered;
        let session_expires = c.session_expires;
        self.respond_invite(now, call, 200, "OK", |mut r| {
            if let Some(se) = session_expires {
                r = r
                    .header("Session-Expires", format!("{se};refresher=uac"))
                    .header("Require", "timer");
            }
            r.body("application/sdp", body)
        });
    }

    /// Sends a response on the call's pending INVITE transaction, with dialog headers.
    fn respond_invite(
        &mut self,
        now: Instant,
        call: CallId,
        code: u16,
        reason: &str,
        extra: impl FnOnce(ResponseBuilder) -> ResponseBuilder,
    ) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let contact = self.contact_for_flow(c.flow);
        let mut r = ResponseBuilder::new(&c.invite, code, reason, c.flow.remote())
            .to_tag(&c.dialog.local_tag);
        if code > 100 && code < 300 {
            r = r
                .header("Contact", contact)
                .header("Allow", self.allow())
                .header("Supported", SUPPORTED);
        }
        let bytes = extra(r).build();
        let key = c.invite_tx.clone();
        if let Some(ServerTxEntry {
            tx: ServerTx::Invite(t),
            ..
        }) = self.server_txs.get_mut(&key)
        {
            let sent = if code < 200 {
                t.send_provisional(now, code, bytes)
            } else {
                t.send_final(now, code, bytes)
            };
            if let Err(e) = sent {
                tracing::debug!(%e, code, "response not sent in this transaction state");
            }
            self.drain_server(now, &key);
        }
    }

    /// `Allow` as this endpoint is configured.
    pub(super) fn allow(&self) -> &'static str {
        if self.registrar.is_some() {
            ALLOW_WITH_REGISTER
        } else {
            ALLOW
        }
    }

    /// A TCP connection closed: forget it as a way back to its peer.
    pub fn connection_closed(&mut self, conn: ConnId) {
        self.tcp_peers.retain(|_, c| *c != conn);
    }

    pub(super) fn contact_for_flow(&self, flow: Flow) -> String {
        let transport = match flow {
            Flow::Udp(_) => "",
            Flow::Tcp(..) => ";transport=tcp",
        };
        format!("<sip:centralino@{}{transport}>", self.cfg.local)
    }

    /// Sends BYE and ends the call at once: its media is released now; the BYE
    /// transaction lives on until it completes.
    fn send_bye(&mut self, now: Instant, call: CallId) {
        let branch = self.new_branch();
        let local = self.cfg.local;
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let via = ViaSpec {
            transport: c.flow.transport_name(),
            sent_by: local,
        };
        let bye = c.dialog.request("BYE", via, &branch);
        let flow = c.flow;
        let tx = ClientNonInvite::new(now, flow.reliability(), self.cfg.timers, bye);
        self.client_txs
            .insert(branch.clone(), ClientTxEntry { tx, flow });
        self.drain_client(now, &branch);
        self.end_call(call, EndReason::LocalBye);
    }

    /// Forgets a call and tells the application.
    fn end_call(&mut self, call: CallId, reason: EndReason) {
        if let Some(c) = self.calls.remove(&call) {
            self.dialogs
                .remove(&(c.dialog.call_id.clone(), c.dialog.local_tag.clone()));
            tracing::info!(call = call.0, ?reason, "call ended");
            self.events.push_back(Event::Ended { call, reason });
        }
    }

    /// Replaces the reason of the Ended event just queued for `call`.
    fn retag_end(&mut self, call: CallId, reason: EndReason) {
        if let Some(Event::Ended { call: c, reason: r }) = self.events.back_mut()
            && *c == call
        {
            *r = reason;
        }
    }

    fn next_random(&mut self) -> u64 {
        // splitmix64: small, fast, and good enough for tags and branches.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn new_branch(&mut self) -> String {
        format!("z9hG4bK{:016x}", self.next_random())
    }

    fn new_tag(&mut self) -> String {
        format!("{:012x}", self.next_random() >> 16)
    }

    fn log_caller(msg: &SipMessage) -> String {
        msg.first(&ezk_sip_types::Name::FROM)
            .map(|f| Redacted(f.as_str()).to_string())
            .unwrap_or_default()
    }
}
