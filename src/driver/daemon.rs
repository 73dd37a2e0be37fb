//! The SIP task: one loop that owns the endpoint, every call's logic, the RTP port pool,
//! the menu tree versions and the counters. Inputs: SIP datagrams and stream messages,
//! media events, timers, signals, metrics requests.

use super::admin::AdminRequest;
use super::desk::{Desk, Feature, Order};
use super::logic::{Do, Logic, Notice};
use super::media::{Command, MediaEvent, WorkerHandle};
use super::ports::PortPool;
use super::tcp::TcpEvent;
use super::trees::Trees;
use crate::call::TestLine;
use crate::ivr::interp::{CallContext, Interp};
use crate::ivr::tree::HandoffKind;
use crate::media::dtmf::{Digit, DtmfMerger, Source};
use crate::media::prompts::{Prompt, PromptLibrary};
use crate::metrics::Metrics;
use crate::queue::OperatorId;
use crate::sip::endpoint::{
    CallId, ConnId, EndReason, Endpoint, Event, Flow, OutgoingCall, Transmit,
};
use bytes::Bytes;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::signal::unix::{Signal, SignalKind};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

mod services;

/// The same key arriving by two DTMF routes within this window is one press.
const DTMF_MERGE_WINDOW: Duration = Duration::from_millis(300);

/// Channels the loop listens to besides its sockets.
pub struct Inputs {
    pub tcp: UnboundedReceiver<TcpEvent>,
    pub media: UnboundedReceiver<MediaEvent>,
    pub admin: UnboundedReceiver<AdminRequest>,
    pub plugins: UnboundedReceiver<crate::plugin::service::PluginReply>,
}

/// What the SIP task is built from.
pub struct Parts {
    pub endpoint: Endpoint,
    pub prompts: Arc<PromptLibrary>,
    pub workers: Vec<WorkerHandle>,
    pub ports: PortPool,
    pub udp: Arc<UdpSocket>,
    pub trees: Trees,
    pub test_line_numbers: Vec<String>,
    pub missed_ticks: Arc<AtomicU64>,
    /// Each media worker's busy share (thousandths), and the most a new call is taken at.
    pub media_load: Vec<Arc<std::sync::atomic::AtomicU32>>,
    pub max_media_load: u32,
    /// `sip.max_queue_delay_ms`: the SIP overload limit (zero: off).
    pub max_queue_delay: Duration,
    /// Queues and operators, when configured.
    pub desk: Option<Desk>,
    /// Our host (and port) for the AOR of operators we call.
    pub local_host: String,
    pub feature_codes: crate::config::FeatureCodes,
    /// Tickets, appointments, caller lookup.
    pub plugins: Option<crate::plugin::service::PluginService>,
    pub offices: super::offices::Offices,
}

/// Per-call state the driver keeps beside the endpoint's.
struct CallCtx {
    /// `None` until the caller's ACK: nothing plays before.
    logic: Option<Logic>,
    merger: DtmfMerger,
    worker: usize,
    port: u16,
    /// The office number dialled (redirection headers, else the Request-URI).
    dialled: String,
    /// The Request-URI user: picks the test line or a feature code.
    request_user: String,
    /// The caller's number (user part of From): shown to the operator.
    caller: String,
    /// Where the INVITE came from (incoming calls).
    source: Option<std::net::SocketAddr>,
    /// A feature code to apply when this call (the operator's) ends: the operator is not
    /// offered a caller while still on the confirmation call.
    pending_feature: Option<(String, Feature)>,
    /// Music on hold while waiting in a queue.
    hold: Option<Hold>,
    /// Waiting in a queue (keys go to the queue), or in the queue's exit flow (keys go
    /// to the menu, the place is kept).
    queued: Queued,
    /// When the caller first joined a queue (transfers keep it): the time waited.
    queued_at: Option<Instant>,
    /// The question recorded for a ticket, until the ticket is opened.
    question: Option<Vec<i16>>,
    /// Appointment slots offered, and for which service.
    slots: Vec<crate::plugin::Slot>,
    service: Option<String>,
    /// Who sent the caller to a ticket or appointment: the menu, or an operator.
    origin: crate::plugin::Origin,
    /// What the caller-lookup hook said about the caller.
    caller_vars: std::collections::BTreeMap<String, String>,
}

impl CallCtx {
    fn new(worker: usize, port: u16) -> Self {
        CallCtx {
            logic: None,
            merger: DtmfMerger::new(DTMF_MERGE_WINDOW),
            worker,
            port,
            dialled: String::new(),
            request_user: String::new(),
            caller: String::new(),
            source: None,
            pending_feature: None,
            hold: None,
            queued: Queued::No,
            queued_at: None,
            question: None,
            slots: Vec::new(),
            service: None,
            origin: crate::plugin::Origin::Menu,
            caller_vars: Default::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Queued {
    #[default]
    No,
    Waiting,
    Exiting,
}

/// Where a waiting caller's music is: the piece playing (or to resume) and the token of
/// what plays now (a piece, or an announcement that interrupted the music).
#[derive(Debug, Clone, Copy)]
struct Hold {
    piece: usize,
    token: u64,
    announcing: bool,
}

pub struct Daemon {
    endpoint: Endpoint,
    prompts: Arc<PromptLibrary>,
    workers: Vec<WorkerHandle>,
    ports: PortPool,
    calls: HashMap<CallId, CallCtx>,
    /// Call logic deadlines, lazily deleted.
    wakes: BinaryHeap<Reverse<(Instant, CallId)>>,
    udp: Arc<UdpSocket>,
    tcp_conns: HashMap<ConnId, UnboundedSender<Bytes>>,
    trees: Trees,
    test_line_numbers: Vec<String>,
    metrics: Metrics,
    missed_ticks: Arc<AtomicU64>,
    media_load: Vec<Arc<std::sync::atomic::AtomicU32>>,
    max_media_load: u32,
    /// Whether SIP requests wait too long in the socket queue (new calls then get 503).
    overload: crate::sip::overload::QueueDelayGate,
    desk: Option<Desk>,
    local_host: String,
    feature_codes: crate::config::FeatureCodes,
    /// Tokens for queue announcements and music, apart from the menus' own.
    next_say_token: u64,
    /// Music-on-hold pieces in order (`it/attesa/musica-NN`), shared by all callers.
    music: Vec<Arc<Prompt>>,
    plugins: Option<crate::plugin::service::PluginService>,
    /// The office directory in service (reloaded with the tree).
    offices: super::offices::Offices,
    /// Tickets the console asked for, by plugin tag, waiting for the outbox.
    api_tickets: HashMap<u64, services::ApiReply>,
    /// Calls that hung up while speaking a ticket's question, until the media worker
    /// hands the recording over: section and call context.
    orphan_questions: HashMap<CallId, (String, crate::plugin::CallInfo, crate::plugin::Origin)>,
    next_api_tag: u64,
}

impl Daemon {
    pub fn new(parts: Parts) -> Self {
        Daemon {
            endpoint: parts.endpoint,
            prompts: parts.prompts,
            workers: parts.workers,
            ports: parts.ports,
            calls: HashMap::new(),
            wakes: BinaryHeap::new(),
            udp: parts.udp,
            tcp_conns: HashMap::new(),
            trees: parts.trees,
            test_line_numbers: parts.test_line_numbers,
            metrics: Metrics::default(),
            missed_ticks: parts.missed_ticks,
            media_load: parts.media_load,
            max_media_load: parts.max_media_load,
            overload: crate::sip::overload::QueueDelayGate::new(parts.max_queue_delay),
            desk: parts.desk,
            local_host: parts.local_host,
            feature_codes: parts.feature_codes,
            next_say_token: 1 << 40,
            music: Vec::new(),
            plugins: parts.plugins,
            offices: parts.offices,
            api_tickets: HashMap::new(),
            orphan_questions: HashMap::new(),
            // Apart from call ids, which tag the menu's requests.
            next_api_tag: 1 << 62,
        }
        .with_music()
    }

    /// Finds the music-on-hold pieces among the prompts.
    fn with_music(mut self) -> Self {
        let mut ids: Vec<&str> = self
            .prompts
            .ids()
            .filter(|id| id.starts_with("it/attesa/musica-"))
            .collect();
        ids.sort();
        self.music = ids.iter().filter_map(|id| self.prompts.get(id)).collect();
        self
    }

    pub async fn serve(&mut self, mut inputs: Inputs, grace: Duration, watch: Duration) {
        let mut sigterm = signal(SignalKind::terminate());
        let mut sigint = signal(SignalKind::interrupt());
        let mut sighup = signal(SignalKind::hangup());
        let mut watch_tick = (!watch.is_zero()).then(|| tokio::time::interval(watch));
        // Set by SIGINT/SIGTERM: the moment we exit even if calls are still closing.
        let mut exit_at: Option<Instant> = None;
        let mut buf = vec![0u8; 65_536];
        let udp = self.udp.clone();
        loop {
            let wake = [
                self.endpoint.poll_timeout(),
                self.wakes.peek().map(|Reverse((t, _))| *t),
                self.desk.as_ref().and_then(Desk::poll_timeout),
                exit_at.map(|t| t.min(Instant::now() + Duration::from_millis(50))),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                r = udp.readable() => {
                    if r.is_ok() {
                        self.read_udp(&udp, &mut buf);
                    }
                }
                Some(ev) = inputs.tcp.recv() => self.tcp_event(ev),
                Some(ev) = inputs.media.recv() => self.media_event(ev),
                Some(reply) = inputs.plugins.recv() => self.plugin_reply(reply),
                Some(req) = inputs.admin.recv() => self.admin_request(req),
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = recv_signal(&mut sighup) => self.reload("SIGHUP"),
                _ = tick(&mut watch_tick) => {
                    if self.trees.changed_on_disk() {
                        self.reload("file changed");
                    } else if self.offices.changed_on_disk() {
                        tracing::info!("office directory file changed");
                        self.offices.reload();
                    }
                }
                _ = recv_signal(&mut sigterm), if exit_at.is_none() => exit_at = Some(self.begin_stop() + grace),
                _ = recv_signal(&mut sigint), if exit_at.is_none() => exit_at = Some(self.begin_stop() + grace),
            }
            let now = Instant::now();
            self.endpoint.handle_timeout(now);
            if let Some(desk) = self.desk.as_mut() {
                desk.handle_timeout(now);
            }
            self.logic_timeouts(now);
            self.pump(now);
            for w in &self.workers {
                w.flush();
            }
            if let Some(t) = exit_at
                && (self.endpoint.is_idle() || now >= t)
            {
                let st = self.endpoint.stats;
                tracing::info!(
                    calls_left = self.endpoint.active_calls(),
                    bad_requests = st.bad_requests,
                    dropped = st.dropped,
                    stray_responses = st.stray_responses,
                    refused = st.refused,
                    "stopped"
                );
                return;
            }
        }
    }

    /// Whether the media workers can take one more call.
    fn media_has_room(&self) -> bool {
        crate::media::load::admit(
            self.media_load.iter().map(|l| l.load(Ordering::Relaxed)),
            self.max_media_load,
        )
    }

    /// Graceful stop, last step: an in-flight delivery to the back office may finish;
    /// what is still pending stays in the outbox for the next start.
    pub fn stop_plugins(&mut self, deadline: Duration) {
        if let Some(p) = self.plugins.take() {
            let pending = p.pending();
            p.shutdown(deadline);
            tracing::info!(pending, "plugins stopped");
        }
    }

    fn admin_request(&mut self, req: AdminRequest) {
        match req {
            AdminRequest::Metrics(reply) => {
                self.metrics.media_missed_ticks = self.missed_ticks.load(Ordering::Relaxed);
                self.metrics.media_load = self
                    .media_load
                    .iter()
                    .map(|l| l.load(Ordering::Relaxed))
                    .collect();
                self.metrics.outbox_pending =
                    self.plugins.as_ref().map_or(0, |p| p.pending() as u64);
                let text = self
                    .metrics
                    .render(&self.endpoint.stats, self.endpoint.active_calls());
                let _ = reply.send(text);
            }
            AdminRequest::OpenTicket {
                ticket,
                idempotency_key,
                reply,
            } => self.api_ticket(ticket, idempotency_key, reply),
        }
    }

    fn reload(&mut self, why: &str) {
        tracing::info!(why, "reloading the menu tree and the office directory");
        if self.trees.reload() {
            self.metrics.tree_reloads += 1;
        } else {
            self.metrics.tree_reload_failures += 1;
        }
        self.offices.reload();
    }

    fn begin_stop(&mut self) -> Instant {
        let now = Instant::now();
        tracing::info!(
            calls = self.endpoint.active_calls(),
            "stopping: refusing new calls, hanging up"
        );
        self.endpoint.shutdown(now);
        now
    }

    fn tcp_event(&mut self, ev: TcpEvent) {
        match ev {
            TcpEvent::Opened { conn, writer } => {
                self.tcp_conns.insert(conn, writer);
            }
            TcpEvent::Message { conn, peer, bytes } => {
                self.endpoint
                    .handle_message(Instant::now(), Flow::Tcp(conn, peer), bytes);
            }
            TcpEvent::Closed { conn } => {
                self.tcp_conns.remove(&conn);
                self.endpoint.connection_closed(conn);
            }
        }
    }

    fn media_event(&mut self, ev: MediaEvent) {
        let now = Instant::now();
        match ev {
            MediaEvent::Digit {
                call,
                digit,
                source,
            } => self.digit(now, call, digit, source),
            MediaEvent::Recorded { call, pcm } if self.orphan_questions.contains_key(&call) => {
                if let Some((section, info, origin)) = self.orphan_questions.remove(&call) {
                    self.open_orphan_ticket(call, &section, info, origin, pcm);
                }
            }
            MediaEvent::Recorded { call, pcm } => {
                if let Some(ctx) = self.calls.get_mut(&call) {
                    ctx.question = Some(pcm);
                }
                if let Some(i) = self.logic(call).and_then(Logic::menu_mut) {
                    i.recorded(now);
                    self.run_logic(now, call);
                }
            }
            MediaEvent::PromptFinished { call, token } => {
                if self.hold_finished(call, token) {
                    return;
                }
                if let Some(logic) = self.logic(call) {
                    logic.prompt_finished(now, token);
                    self.run_logic(now, call);
                }
            }
        }
    }

    fn logic(&mut self, call: CallId) -> Option<&mut Logic> {
        self.calls.get_mut(&call)?.logic.as_mut()
    }

    fn digit(&mut self, now: Instant, call: CallId, digit: Digit, source: Source) {
        let Some(ctx) = self.calls.get_mut(&call) else {
            return;
        };
        match ctx.merger.offer(now, source, digit) {
            Some(d) => {
                // Debug only: keys can spell personal data (a phone number typed into a
                // collect node), which info-level logs must not carry.
                tracing::debug!(call = call.0, digit = %d, source = ?source, "dtmf");
                if ctx.queued == Queued::Waiting {
                    if let Some(desk) = self.desk.as_mut() {
                        desk.caller_key(now, call, d.as_char());
                    }
                } else if let Some(logic) = ctx.logic.as_mut() {
                    logic.digit(now, d.as_char());
                    self.run_logic(now, call);
                }
            }
            None => {
                tracing::debug!(call = call.0, digit = %digit, source = ?source, "dtmf duplicate")
            }
        }
    }

    /// Sends what the endpoint wants sent and acts on its events, until both are empty
    /// and the endpoint has ended its turn.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut busy = false;
            while let Some(t) = self.endpoint.poll_transmit() {
                busy = true;
                self.transmit(t);
            }
            while let Some(ev) = self.endpoint.poll_event() {
                busy = true;
                self.endpoint_event(now, ev);
            }
            busy |= self.run_desk(now);
            // The turn is done: INVITEs still unanswered get their 100 (§17.2.1), sent
            // by one more round.
            if !busy && !self.endpoint.end_turn(now) {
                return;
            }
        }
    }

    /// Reads what is queued on the SIP socket (a bounded batch: fewer wake-ups under
    /// load) and feeds it to the endpoint, telling it first whether the queue is so far
    /// behind that new calls are to be refused.
    fn read_udp(&mut self, udp: &UdpSocket, buf: &mut [u8]) {
        for _ in 0..256 {
            let (n, from, waited) = match super::udp_rx::try_recv(udp, buf) {
                Ok(datagram) => datagram,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    // A pending socket error is reported once; the next turn reads on.
                    tracing::debug!(%e, "SIP receive failed");
                    break;
                }
            };
            let now = Instant::now();
            if let Some(waited) = waited
                && self.overload.observe(now, waited).is_some()
            {
                tracing::warn!(
                    waited_ms = waited.as_millis() as u64,
                    "SIP overload: requests wait in the queue, new calls get 503"
                );
            }
            if self.overload.settle(now).is_some() {
                tracing::info!("SIP overload over: taking new calls again");
            }
            self.endpoint.set_overloaded(self.overload.shedding(now));
            self.endpoint
                .handle_message(now, Flow::Udp(from), Bytes::copy_from_slice(&buf[..n]));
        }
    }

    fn transmit(&mut self, t: Transmit) {
        match t.flow {
            Flow::Udp(to) => {
                if let Err(e) = self.udp.try_send_to(&t.bytes, to) {
                    // The transaction layer retransmits; a full buffer costs one copy.
                    tracing::debug!(%e, %to, "UDP send failed");
                }
            }
            Flow::Tcp(conn, _) => {
                if let Some(w) = self.tcp_conns.get(&conn) {
                    let _ = w.send(t.bytes);
                }
            }
        }
    }

    fn endpoint_event(&mut self, now: Instant, ev: Event) {
        match ev {
            Event::IncomingCall { call, source, .. } if !self.media_has_room() => {
                // Beyond capacity: refuse the new call before the audio of the calls
                // already up suffers (the caller's carrier retries elsewhere or later).
                self.metrics.calls_shed += 1;
                tracing::warn!(call = call.0, %source, "media workers saturated: refusing the call");
                self.endpoint
                    .reject_call(now, call, 503, "Service Unavailable");
            }
            Event::IncomingCall {
                call,
                dialled,
                request_user,
                caller,
                source,
            } => match self.ports.allocate() {
                Some((port, socket)) => {
                    let worker = (call.0 as usize) % self.workers.len();
                    self.workers[worker].send(Command::Open {
                        call,
                        socket,
                        ssrc: rand::random(),
                    });
                    self.metrics.calls_total += 1;
                    self.calls.insert(
                        call,
                        CallCtx {
                            dialled,
                            request_user,
                            caller,
                            source: Some(source),
                            ..CallCtx::new(worker, port)
                        },
                    );
                    self.endpoint.accept_call(now, call, port);
                    self.look_up_caller(call);
                }
                None => {
                    tracing::warn!(call = call.0, "no RTP port left: refusing the call");
                    self.endpoint
                        .reject_call(now, call, 503, "Service Unavailable");
                }
            },
            Event::Established { call, media } => {
                let logic = self.logic_for(now, call);
                if let Some(ctx) = self.calls.get_mut(&call) {
                    self.workers[ctx.worker].send(Command::Media { call, media });
                    let mut logic = logic;
                    logic.answered(now);
                    ctx.logic = Some(logic);
                    self.run_logic(now, call);
                }
            }
            Event::MediaChanged { call, media } => {
                if let Some(ctx) = self.calls.get(&call) {
                    tracing::info!(call = call.0, direction = ?media.direction, "media changed");
                    self.workers[ctx.worker].send(Command::Media { call, media });
                }
            }
            Event::Progress { .. } => {}
            Event::Refer { call, target } if self.is_service_node(call, &target) => {
                self.transfer_to_service(now, call, &target);
            }
            Event::Refer { call, target } => {
                let caller = self
                    .desk
                    .as_mut()
                    .and_then(|d| d.transfer(now, call, &target));
                match caller.and_then(|c| self.calls.get(&c).map(|ctx| (c, ctx.worker))) {
                    Some((caller, worker)) => {
                        tracing::info!(call = caller.0, queue = %target, "caller transferred");
                        self.workers[worker].send(Command::Unbridge { call: caller });
                        self.endpoint.refer_result(now, call, 200);
                        // Waiting again (music, keys to the queue), the time already
                        // waited kept.
                        self.start_waiting(caller);
                    }
                    None => self.endpoint.refer_result(now, call, 404),
                }
            }
            Event::Answered { call, media } => {
                if let Some(ctx) = self.calls.get(&call) {
                    self.workers[ctx.worker].send(Command::Media { call, media });
                }
                if let Some(desk) = self.desk.as_mut() {
                    desk.leg_answered(now, call);
                }
            }
            Event::OperatorRegistered { user } => {
                if let Some(desk) = self.desk.as_mut() {
                    desk.operator_registered(now, &user);
                }
            }
            Event::OperatorUnregistered { user } => {
                if let Some(desk) = self.desk.as_mut() {
                    desk.operator_unregistered(now, &user);
                }
            }
            Event::Digit { call, digit } => {
                if let Some(d) = Digit::from_char(digit) {
                    self.digit(now, call, d, Source::SipInfo);
                }
            }
            Event::Ended { call, reason } => {
                if let Some(desk) = self.desk.as_mut() {
                    desk.call_ended(now, call, reason);
                    if let Some((user, feature)) = self
                        .calls
                        .get_mut(&call)
                        .and_then(|c| c.pending_feature.take())
                    {
                        let applied = desk.feature(now, &user, feature);
                        tracing::info!(operator = %user, ?feature, applied, "feature applied");
                    }
                }
                // Hung up while speaking a ticket's question: the ticket is opened when the
                // media worker hands over what was recorded.
                let section = self.calls.get(&call).and_then(|c| match &c.logic {
                    Some(Logic::Menu(i)) => i.recording_for().map(str::to_owned),
                    _ => None,
                });
                if let Some(section) = section
                    && let Some(info) = self.call_info(call)
                {
                    let origin = self.calls.get(&call).map(|c| c.origin.clone());
                    self.orphan_questions.insert(
                        call,
                        (section, info, origin.unwrap_or(crate::plugin::Origin::Menu)),
                    );
                }
                if let Some(mut ctx) = self.calls.remove(&call) {
                    if matches!(reason, EndReason::RemoteBye | EndReason::Cancelled)
                        && let Some(logic) = ctx.logic.as_mut()
                    {
                        logic.hung_up(now);
                        Self::collect_stats(&mut self.metrics, logic);
                    }
                    if let Some(Logic::Menu(i)) = &ctx.logic {
                        let path: Vec<String> = i
                            .path()
                            .iter()
                            .map(|s| format!("{}{}", i.tree().id(s.node), keys_suffix(&s.keys)))
                            .collect();
                        tracing::info!(call = call.0, path = %path.join(" > "), "menu path");
                    }
                    self.workers[ctx.worker].send(Command::Close { call });
                    self.ports.release(ctx.port);
                }
            }
        }
    }

    /// The menu of the tree now in service, or the test line.
    fn logic_for(&mut self, now: Instant, call: CallId) -> Logic {
        let (dialled, asked) = self
            .calls
            .get(&call)
            .map(|c| (c.dialled.clone(), c.request_user.clone()))
            .unwrap_or_default();
        if let Some(feature) = self.feature_of(&asked) {
            return self.feature_call(now, call, feature);
        }
        let tree = self.trees.current();
        match tree {
            Some(tree) if !self.test_line_numbers.contains(&asked) => {
                let office = self.offices.current().resolve(&dialled);
                let ctx = CallContext {
                    dialled: office.number.clone(),
                    province: office.province.clone(),
                    region: office.region.clone(),
                    office_prompt: office.office.as_ref().and_then(|o| o.prompt.clone()),
                    office: office.office.as_ref().map(|o| o.id.clone()),
                    started_at: italian_wall_clock(),
                };
                let mut offered = Vec::new();
                if self.desk.is_some() {
                    offered.push(HandoffKind::Queue);
                }
                if self.plugins.is_some() {
                    offered.extend([HandoffKind::Ticket, HandoffKind::Appointment]);
                }
                Logic::Menu(Box::new(Interp::new(tree, ctx).offer(&offered)))
            }
            _ => {
                self.metrics.test_line_calls += 1;
                Logic::Line(TestLine::new())
            }
        }
    }

    fn feature_of(&self, dialled: &str) -> Option<Feature> {
        let codes = &self.feature_codes;
        self.desk.as_ref()?;
        [
            (&codes.login, Feature::Login),
            (&codes.logout, Feature::Logout),
            (&codes.pause, Feature::Pause),
            (&codes.resume, Feature::Resume),
        ]
        .into_iter()
        .find(|(code, _)| code.as_str() == dialled)
        .map(|(_, f)| f)
    }

    /// An operator dialled a feature code. Only a phone registered for that operator, and
    /// calling from where it registered, may change the operator's state.
    fn feature_call(&mut self, now: Instant, call: CallId, feature: Feature) -> Logic {
        let (user, source) = self
            .calls
            .get(&call)
            .map(|c| (c.caller.clone(), c.source))
            .unwrap_or_default();
        let from_own_phone = source.is_some_and(|src| {
            self.endpoint
                .operator_contacts(&user, now)
                .iter()
                .any(|(_, flow)| flow.remote() == src)
        });
        // The state changes when this call ends, so that a login does not offer the
        // operator a caller while their phone still plays the confirmation.
        let done = from_own_phone && self.desk.is_some();
        if done && let Some(ctx) = self.calls.get_mut(&call) {
            ctx.pending_feature = Some((user.clone(), feature));
        }
        tracing::info!(operator = %user, ?feature, done, "feature code");
        let prompt = match (done, feature) {
            (false, _) => "it/operatore/non-riconosciuto",
            (true, Feature::Login) => "it/operatore/accesso",
            (true, Feature::Logout) => "it/operatore/uscita",
            (true, Feature::Pause) => "it/operatore/pausa",
            (true, Feature::Resume) => "it/operatore/ripresa",
        };
        Logic::Notice(Notice::new(vec![prompt.to_owned()]))
    }

    /// Carries out what a call's logic asks for.
    fn run_logic(&mut self, now: Instant, call: CallId) {
        let Some(ctx) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(logic) = ctx.logic.as_mut() else {
            return;
        };
        let worker = ctx.worker;
        let mut hangup = false;
        let mut handoffs = Vec::new();
        let mut booking = None;
        while let Some(action) = logic.next(now) {
            match action {
                Do::Play { prompts, token } => {
                    // Only the first id: later ones may speak digits the caller typed.
                    tracing::debug!(call = call.0, first = ?prompts.first(), n = prompts.len(), "playing");
                    let lang_fallback = logic.menu().map(|i| i.tree().language.clone());
                    let prompts = resolve(&self.prompts, &prompts, lang_fallback.as_deref());
                    self.workers[worker].send(Command::Play {
                        call,
                        prompts,
                        token,
                    });
                }
                Do::Stop => self.workers[worker].send(Command::Stop { call }),
                Do::Record { max } => self.workers[worker].send(Command::Record { call, max }),
                Do::StopRecording => self.workers[worker].send(Command::StopRecording { call }),
                Do::Book { slot } => booking = Some(slot),
                Do::Hangup => hangup = true,
                Do::Handoff {
                    kind,
                    target,
                    priority,
                } => handoffs.push((kind, target, priority)),
            }
        }
        Self::collect_stats(&mut self.metrics, logic);
        if let Some(at) = logic.poll_timeout() {
            self.wakes.push(Reverse((at, call)));
        }
        if hangup {
            self.endpoint.hangup(now, call);
        }
        let exiting = self
            .calls
            .get(&call)
            .is_some_and(|c| c.queued == Queued::Exiting);
        if exiting && (hangup || !handoffs.is_empty()) {
            let back_to_queue = handoffs.iter().any(|(k, ..)| *k == HandoffKind::Queue);
            if let Some(desk) = self.desk.as_mut() {
                if back_to_queue {
                    desk.exit_cancelled(now, call);
                } else {
                    desk.exit_confirmed(now, call);
                }
            }
            if back_to_queue {
                // Back to waiting, in the place the caller had.
                handoffs.retain(|(k, ..)| *k != HandoffKind::Queue);
                self.start_waiting(call);
            } else if let Some(ctx) = self.calls.get_mut(&call) {
                ctx.queued = Queued::No;
            }
        }
        if let Some(slot) = booking {
            self.book_slot(now, call, slot);
        }
        for (kind, target, priority) in handoffs {
            match kind {
                HandoffKind::Ticket => {
                    self.open_ticket(now, call, &target);
                    continue;
                }
                HandoffKind::Appointment => {
                    if let Some(ctx) = self.calls.get_mut(&call) {
                        ctx.service = Some(target.clone());
                    }
                    self.find_slots(now, call, &target);
                    continue;
                }
                HandoffKind::Queue | HandoffKind::Transfer => {}
            }
            let joined = kind == HandoffKind::Queue
                && self
                    .desk
                    .as_mut()
                    .is_some_and(|d| d.join(now, call, &target, priority));
            if joined {
                tracing::info!(call = call.0, queue = %target, "caller queued");
                self.start_waiting(call);
            } else if let Some(i) = self.logic(call).and_then(Logic::menu_mut) {
                i.handoff_failed(now);
                self.run_logic(now, call);
            }
        }
    }

    fn collect_stats(metrics: &mut Metrics, logic: &mut Logic) {
        while let Some((node, stat)) = logic.poll_stat() {
            if let Some(i) = logic.menu() {
                let tree = i.tree();
                metrics.count_node(&tree.name, tree.id(node), stat);
            }
        }
    }

    /// The caller waits in a queue: keys go to the queue, music plays (resuming where it
    /// was after an exit flow).
    fn start_waiting(&mut self, call: CallId) {
        let has_music = !self.music.is_empty();
        let Some(ctx) = self.calls.get_mut(&call) else {
            return;
        };
        ctx.queued = Queued::Waiting;
        ctx.queued_at.get_or_insert_with(Instant::now);
        if has_music {
            let piece = ctx.hold.map_or(0, |h| h.piece);
            ctx.hold = Some(Hold {
                piece,
                token: 0,
                announcing: false,
            });
            self.play_hold(call);
        }
    }

    /// Plays the waiting caller's current music piece.
    fn play_hold(&mut self, call: CallId) {
        let token = self.next_say_token;
        self.next_say_token += 1;
        let Some(ctx) = self.calls.get_mut(&call) else {
            return;
        };
        let Some(h) = ctx.hold.as_mut() else { return };
        h.token = token;
        h.announcing = false;
        let piece = self.music[h.piece % self.music.len()].clone();
        self.workers[ctx.worker].send(Command::Play {
            call,
            prompts: vec![piece],
            token,
        });
    }

    /// A prompt of a waiting caller finished: the next music piece, or the music again
    /// after an announcement. True when the token was the hold's.
    fn hold_finished(&mut self, call: CallId, token: u64) -> bool {
        let Some(h) = self.calls.get_mut(&call).and_then(|c| c.hold.as_mut()) else {
            return false;
        };
        if h.token != token {
            return token >= 1 << 40; // a stale hold token: nothing to do
        }
        if !h.announcing {
            h.piece += 1;
        }
        self.play_hold(call);
        true
    }

    /// Carries out the desk's orders; true when there were any.
    fn run_desk(&mut self, now: Instant) -> bool {
        let mut any = false;
        while let Some(order) = self.desk.as_mut().and_then(Desk::poll_order) {
            any = true;
            match order {
                Order::Ring { caller, op } => self.ring(now, caller, op),
                Order::HangUpLeg { leg } => self.endpoint.hangup(now, leg),
                Order::HangUpCaller { caller } => self.endpoint.hangup(now, caller),
                Order::Connect { caller, leg } => {
                    if let Some(ctx) = self.calls.get_mut(&caller) {
                        ctx.hold = None;
                        ctx.queued = Queued::No;
                        tracing::info!(
                            call = caller.0,
                            leg = leg.0,
                            "caller connected to operator"
                        );
                        self.workers[ctx.worker].send(Command::Bridge { a: caller, b: leg });
                    }
                }
                Order::Say { caller, prompts } => {
                    let token = self.next_say_token;
                    self.next_say_token += 1;
                    if let Some(ctx) = self.calls.get_mut(&caller) {
                        let prompts = resolve(&self.prompts, &prompts, None);
                        // The music stops here and resumes at the same piece afterwards.
                        if let Some(h) = ctx.hold.as_mut() {
                            h.token = token;
                            h.announcing = true;
                        }
                        self.workers[ctx.worker].send(Command::Play {
                            call: caller,
                            prompts,
                            token,
                        });
                    }
                }
                Order::Exit { caller, node } => {
                    if let Some(ctx) = self.calls.get_mut(&caller) {
                        ctx.queued = Queued::Exiting;
                        // The music stops; `hold` keeps its piece for the way back.
                        if let Some(h) = ctx.hold.as_mut() {
                            h.token = 0;
                        }
                    }
                    let started = self
                        .logic(caller)
                        .and_then(Logic::menu_mut)
                        .is_some_and(|i| i.resume_at(now, &node));
                    if started {
                        self.run_logic(now, caller);
                    } else {
                        tracing::warn!(call = caller.0, %node, "queue exit flow at an unknown node");
                        if let Some(desk) = self.desk.as_mut() {
                            desk.exit_cancelled(now, caller);
                        }
                        self.start_waiting(caller);
                    }
                }
                Order::Resume { caller, node } => {
                    if let Some(ctx) = self.calls.get_mut(&caller) {
                        ctx.hold = None;
                        ctx.queued = Queued::No;
                    }
                    let resumed = self
                        .logic(caller)
                        .and_then(Logic::menu_mut)
                        .is_some_and(|i| i.resume_at(now, &node));
                    if resumed {
                        self.run_logic(now, caller);
                    } else {
                        tracing::warn!(call = caller.0, %node, "queue overflow to an unknown node");
                        self.endpoint.hangup(now, caller);
                    }
                }
            }
        }
        any
    }

    /// Calls an operator's registered phone for a waiting caller, on the caller's media
    /// worker so the two legs can be bridged there.
    fn ring(&mut self, now: Instant, caller: CallId, op: OperatorId) {
        let contact = self
            .endpoint
            .operator_contacts(&op.0, now)
            .into_iter()
            .next();
        let Some(ctx) = self.calls.get(&caller) else {
            return;
        };
        let (worker, number, dialled) = (ctx.worker, ctx.caller.clone(), ctx.dialled.clone());
        let menu = ctx.logic.as_ref().and_then(Logic::menu);
        let path = menu
            .map(|i| {
                i.path()
                    .iter()
                    .map(|s| i.tree().id(s.node).to_owned())
                    .collect::<Vec<_>>()
                    .join(">")
            })
            .unwrap_or_default();
        // What the caller typed in the menu (a practice number…), for the operator's screen.
        // And what the caller-lookup hook said about the caller.
        let mut vars: Vec<String> = menu
            .map(|i| i.vars().iter().map(|(k, v)| format!("{k}={v}")).collect())
            .unwrap_or_default();
        vars.extend(ctx.caller_vars.iter().map(|(k, v)| format!("{k}={v}")));
        vars.sort();
        let waited = ctx
            .queued_at
            .map_or(0, |t| now.saturating_duration_since(t).as_secs());
        let (Some((target, flow)), Some((port, socket))) = (contact, self.ports.allocate()) else {
            tracing::info!(operator = %op.0, "operator cannot be called (no phone or no port)");
            if let Some(desk) = self.desk.as_mut() {
                desk.ring_failed(now, caller, &op);
            }
            return;
        };
        let leg = self.endpoint.place_call(
            now,
            OutgoingCall {
                target,
                to: format!("<sip:{}@{}>", op.0, self.local_host),
                from_user: number,
                from_display: Some("INPS".into()),
                flow,
                rtp_port: port,
                headers: [
                    ("X-Centralino-Dialled", dialled),
                    ("X-Centralino-Path", path),
                    ("X-Centralino-Vars", vars.join(";")),
                    ("X-Centralino-Waited", waited.to_string()),
                ]
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            },
        );
        // The INVITE leaves when the loop pumps: the worker has the socket before any
        // answer can arrive.
        self.workers[worker].send(Command::Open {
            call: leg,
            socket,
            ssrc: rand::random(),
        });
        self.calls.insert(leg, CallCtx::new(worker, port));
        if let Some(desk) = self.desk.as_mut() {
            desk.leg_placed(leg, caller, op);
        }
    }

    fn logic_timeouts(&mut self, now: Instant) {
        while let Some(Reverse((at, call))) = self.wakes.peek().copied() {
            if at > now {
                break;
            }
            self.wakes.pop();
            if let Some(logic) = self.logic(call) {
                logic.timeout(now);
                self.run_logic(now, call);
            }
        }
    }
}

/// Prompt ids to loaded prompts. A prompt missing in the caller's language falls back
/// to the tree's own language; a missing one is logged and skipped.
fn resolve(library: &PromptLibrary, ids: &[String], fallback: Option<&str>) -> Vec<Arc<Prompt>> {
    ids.iter()
        .filter_map(|id| {
            let found = library.get(id).or_else(|| {
                let (_, rest) = id.split_once('/')?;
                library.get(&format!("{}/{rest}", fallback?))
            });
            if found.is_none() {
                tracing::warn!(prompt = %id, "prompt missing");
            }
            found
        })
        .collect()
}

fn keys_suffix(keys: &str) -> String {
    if keys.is_empty() {
        String::new()
    } else {
        // Keys of a collect node are data (a practice number): masked like phone numbers.
        format!("[{}]", crate::pii::Redacted(keys))
    }
}

/// Local time in Italy, for schedules and dates spoken to callers.
fn italian_wall_clock() -> chrono::NaiveDateTime {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Rome)
        .naive_local()
}

fn signal(kind: SignalKind) -> Option<Signal> {
    tokio::signal::unix::signal(kind).ok()
}

async fn recv_signal(s: &mut Option<Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

async fn tick(t: &mut Option<tokio::time::Interval>) {
    match t {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}
