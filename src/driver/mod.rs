//! The driver: the only place with sockets, threads and the clock. One SIP task feeds
//! the pure `Endpoint` and the per-call `TestLine`s; media workers pace RTP.

pub mod media;
pub mod ports;
pub mod tcp;

use crate::call::{Action, TestLine};
use crate::config::Config;
use crate::media::dtmf::{Digit, DtmfMerger, Source};
use crate::media::prompts::PromptLibrary;
use crate::sip::endpoint::{CallId, ConnId, Endpoint, EndpointConfig, Event, Flow, Transmit};
use bytes::Bytes;
use media::{Command, MediaEvent, WorkerHandle};
use ports::PortPool;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tcp::TcpEvent;
use tokio::net::UdpSocket;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

/// The same key arriving by two DTMF routes within this window is one press.
const DTMF_MERGE_WINDOW: Duration = Duration::from_millis(300);

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("prompts: {0}")]
    Prompts(#[from] crate::media::prompts::PromptError),
    #[error("prompt {0:?} is required by the test line but missing from the prompts directory")]
    MissingPrompt(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start media workers: {0}")]
    Workers(std::io::Error),
}

/// Runs the daemon until SIGINT/SIGTERM and a graceful stop.
pub async fn run(cfg: Config) -> Result<(), StartError> {
    let prompts = Arc::new(PromptLibrary::load(&cfg.prompts.dir)?);
    for id in required_prompts() {
        if prompts.get(&id).is_none() {
            return Err(StartError::MissingPrompt(id));
        }
    }
    let listen = cfg.sip.listen;
    let udp = socket2_udp(listen).map_err(|source| StartError::Listen {
        addr: listen,
        source,
    })?;
    let tcp = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| StartError::Listen {
            addr: listen,
            source,
        })?;
    let local = udp.local_addr().map_err(|source| StartError::Listen {
        addr: listen,
        source,
    })?;
    let media_ip = cfg.sip.advertised_ip.unwrap_or(match local.ip() {
        ip if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    });

    let (media_tx, media_rx) = unbounded_channel();
    let n_workers = match cfg.rtp.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let workers = (0..n_workers)
        .map(|i| media::spawn(i, media_tx.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(StartError::Workers)?;
    let (tcp_tx, tcp_rx) = unbounded_channel();
    tokio::spawn(tcp::accept_loop(tcp, tcp_tx));

    let endpoint = Endpoint::new(
        EndpointConfig {
            local: SocketAddr::new(media_ip, local.port()),
            media_ip,
            answer_delay: Duration::from_millis(cfg.sip.answer_delay_ms),
            max_calls: cfg.sip.max_calls,
            timers: Default::default(),
        },
        rand::random(),
    );
    tracing::info!(
        sip = %local,
        rtp = %format!("{}-{}", cfg.rtp.ports.low, cfg.rtp.ports.high),
        prompts = prompts.len(),
        workers = n_workers,
        "centralino listening on UDP and TCP"
    );
    let mut daemon = Daemon {
        endpoint,
        prompts,
        workers,
        ports: PortPool::new(media_ip, cfg.rtp.ports),
        calls: HashMap::new(),
        line_wakes: BinaryHeap::new(),
        udp: Arc::new(udp),
        tcp_conns: HashMap::new(),
    };
    daemon
        .serve(
            tcp_rx,
            media_rx,
            Duration::from_millis(cfg.sip.shutdown_grace_ms),
        )
        .await;
    Ok(())
}

/// The prompts the test line cannot work without.
fn required_prompts() -> Vec<String> {
    let mut ids = vec![
        crate::call::GREETING.to_owned(),
        crate::call::GOODBYE.to_owned(),
    ];
    ids.extend(('0'..='9').map(|d| format!("it/cifra-{d}")));
    ids.push("it/cifra-asterisco".into());
    ids.push("it/cifra-cancelletto".into());
    ids
}

/// A UDP socket with large buffers: bursts of thousands of INVITEs must not be dropped
/// by the kernel before we read them.
fn socket2_udp(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(8 << 20);
    let _ = socket.set_send_buffer_size(8 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Per-call state the driver keeps beside the endpoint's.
struct CallCtx {
    line: TestLine,
    merger: DtmfMerger,
    worker: usize,
    port: u16,
}

struct Daemon {
    endpoint: Endpoint,
    prompts: Arc<PromptLibrary>,
    workers: Vec<WorkerHandle>,
    ports: PortPool,
    calls: HashMap<CallId, CallCtx>,
    /// Test-line deadlines, lazily deleted.
    line_wakes: BinaryHeap<Reverse<(Instant, CallId)>>,
    udp: Arc<UdpSocket>,
    tcp_conns: HashMap<ConnId, tokio::sync::mpsc::UnboundedSender<Bytes>>,
}

impl Daemon {
    async fn serve(
        &mut self,
        mut tcp_rx: UnboundedReceiver<TcpEvent>,
        mut media_rx: UnboundedReceiver<MediaEvent>,
        grace: Duration,
    ) {
        let mut sigterm = signal(tokio::signal::unix::SignalKind::terminate());
        let mut sigint = signal(tokio::signal::unix::SignalKind::interrupt());
        // Set by SIGINT/SIGTERM: the moment we exit even if calls are still closing.
        let mut exit_at: Option<Instant> = None;
        let mut buf = vec![0u8; 65_536];
        let udp = self.udp.clone();
        loop {
            let wake = [
                self.endpoint.poll_timeout(),
                self.line_wakes.peek().map(|Reverse((t, _))| *t),
                exit_at.map(|t| t.min(Instant::now() + Duration::from_millis(50))),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                r = udp.recv_from(&mut buf) => {
                    if let Ok((n, from)) = r {
                        let now = Instant::now();
                        self.endpoint.handle_message(now, Flow::Udp(from), Bytes::copy_from_slice(&buf[..n]));
                        // Drain what else is queued before pumping: fewer wake-ups under load.
                        for _ in 0..256 {
                            match udp.try_recv_from(&mut buf) {
                                Ok((n, from)) => self.endpoint.handle_message(now, Flow::Udp(from), Bytes::copy_from_slice(&buf[..n])),
                                Err(_) => break,
                            }
                        }
                    }
                }
                Some(ev) = tcp_rx.recv() => self.tcp_event(ev),
                Some(ev) = media_rx.recv() => self.media_event(ev),
                _ = tokio::time::sleep_until(wake.into()) => {}
                _ = recv_signal(&mut sigterm), if exit_at.is_none() => exit_at = Some(self.begin_stop() + grace),
                _ = recv_signal(&mut sigint), if exit_at.is_none() => exit_at = Some(self.begin_stop() + grace),
            }
            let now = Instant::now();
            self.endpoint.handle_timeout(now);
            self.line_timeouts(now);
            self.pump(now);
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
            MediaEvent::PromptFinished { call, token } => {
                if let Some(ctx) = self.calls.get_mut(&call) {
                    ctx.line.handle_prompt_finished(now, token);
                    self.line_actions(now, call);
                }
            }
        }
    }

    fn digit(&mut self, now: Instant, call: CallId, digit: Digit, source: Source) {
        let Some(ctx) = self.calls.get_mut(&call) else {
            return;
        };
        match ctx.merger.offer(now, source, digit) {
            Some(d) => {
                tracing::info!(call = call.0, digit = %d, source = ?source, "dtmf");
                ctx.line.handle_digit(now, d.as_char());
                self.line_actions(now, call);
            }
            None => {
                tracing::debug!(call = call.0, digit = %digit, source = ?source, "dtmf duplicate")
            }
        }
    }

    /// Sends what the endpoint wants sent and acts on its events, until both are empty.
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
            if !busy {
                return;
            }
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
            Event::IncomingCall { call, .. } => match self.ports.allocate() {
                Some((port, socket)) => {
                    let worker = (call.0 as usize) % self.workers.len();
                    self.workers[worker].send(Command::Open {
                        call,
                        socket,
                        ssrc: rand::random(),
                    });
                    self.calls.insert(
                        call,
                        CallCtx {
                            line: TestLine::new(),
                            merger: DtmfMerger::new(DTMF_MERGE_WINDOW),
                            worker,
                            port,
                        },
                    );
                    self.endpoint.accept_call(now, call, port);
                }
                None => {
                    tracing::warn!(call = call.0, "no RTP port left: refusing the call");
                    self.endpoint
                        .reject_call(now, call, 503, "Service Unavailable");
                }
            },
            Event::Established { call, media } => {
                if let Some(ctx) = self.calls.get_mut(&call) {
                    self.workers[ctx.worker].send(Command::Media { call, media });
                    ctx.line.handle_answered(now);
                    self.line_actions(now, call);
                }
            }
            Event::MediaChanged { call, media } => {
                if let Some(ctx) = self.calls.get(&call) {
                    tracing::info!(call = call.0, direction = ?media.direction, "media changed");
                    self.workers[ctx.worker].send(Command::Media { call, media });
                }
            }
            Event::Digit { call, digit } => {
                if let Some(d) = Digit::from_char(digit) {
                    self.digit(now, call, d, Source::SipInfo);
                }
            }
            Event::Ended { call, .. } => {
                if let Some(ctx) = self.calls.remove(&call) {
                    self.workers[ctx.worker].send(Command::Close { call });
                    self.ports.release(ctx.port);
                }
            }
        }
    }

    /// Carries out what a call's test line asks for.
    fn line_actions(&mut self, now: Instant, call: CallId) {
        let Some(ctx) = self.calls.get_mut(&call) else {
            return;
        };
        let worker = ctx.worker;
        let mut hangup = false;
        while let Some(action) = ctx.line.poll_action() {
            match action {
                Action::Play { prompts, token } => {
                    let prompts = prompts
                        .iter()
                        .filter_map(|id| {
                            let p = self.prompts.get(id);
                            if p.is_none() {
                                tracing::warn!(prompt = %id, "prompt missing");
                            }
                            p
                        })
                        .collect();
                    self.workers[worker].send(Command::Play {
                        call,
                        prompts,
                        token,
                    });
                }
                Action::Hangup => hangup = true,
            }
        }
        if let Some(at) = ctx.line.poll_timeout() {
            self.line_wakes.push(Reverse((at, call)));
        }
        if hangup {
            self.endpoint.hangup(now, call);
        }
    }

    fn line_timeouts(&mut self, now: Instant) {
        while let Some(Reverse((at, call))) = self.line_wakes.peek().copied() {
            if at > now {
                break;
            }
            self.line_wakes.pop();
            if let Some(ctx) = self.calls.get_mut(&call) {
                ctx.line.handle_timeout(now);
                self.line_actions(now, call);
            }
        }
    }
}

fn signal(kind: tokio::signal::unix::SignalKind) -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(kind).ok()
}

async fn recv_signal(s: &mut Option<tokio::signal::unix::Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}
