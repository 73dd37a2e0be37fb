//! Media workers (RFC 3550 sending/receiving, RFC 4733 and in-band DTMF detection): one
//! OS thread per worker drives all its sessions from one shared 20 ms tick (in four 5 ms
//! sub-ticks), so calls never own timers. Each session owns exactly one UDP socket,
//! closed when it ends; prompt audio may leave through the worker's raw socket instead.

use crate::media::codec::{Codec, FRAME_SAMPLES};
use crate::media::dtmf::{Digit, Rfc4733Receiver, Source};
use crate::media::g711;
use crate::media::goertzel::InbandDetector;
use crate::media::player::Player;
use crate::media::prompts::Prompt;
use crate::media::relay::RelayDirection;
use crate::media::rtp::{RtpHeader, RtpSender};
use crate::sdp::MediaParams;
use crate::sip::endpoint::CallId;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// The frame period: one packet per session per tick.
pub const TICK: Duration = Duration::from_millis(20);
/// Each tick is split into this many sub-ticks, and each session sends in its own one
/// (its slot modulo this): a session's send time within the tick is then the sub-tick's
/// start plus the work of the sessions before it in that sub-tick only, a quarter of a
/// full tick's, so its spacing varies by a quarter as much at thousands of calls.
const SUBTICKS: u64 = 4;
const WAKER: Token = Token(usize::MAX);
const TICKER: Token = Token(usize::MAX - 1);

/// Orders from the SIP task to a worker.
pub enum Command {
    /// A new call's socket: receive (and latch) from now on.
    Open {
        call: CallId,
        socket: std::net::UdpSocket,
        ssrc: u32,
    },
    /// Negotiated (or re-negotiated) media: where and how to send.
    Media { call: CallId, media: MediaParams },
    /// Barge-in and play: replaces whatever plays.
    Play {
        call: CallId,
        prompts: Vec<Arc<Prompt>>,
        token: u64,
    },
    /// Stop what plays (barge-in with nothing new to say yet).
    Stop { call: CallId },
    /// Relay media between two calls of this worker (caller and operator legs).
    Bridge { a: CallId, b: CallId },
    /// End a bridge (either leg): both go back to playing prompts.
    Unbridge { call: CallId },
    /// Record what the caller says (decoded to 8 kHz PCM) for at most `max`; the worker
    /// reports `Recorded` when it stops.
    Record { call: CallId, max: Duration },
    /// Stop a recording now (the caller pressed `#`).
    StopRecording { call: CallId },
    /// The call ended: drop the session and its socket now.
    Close { call: CallId },
}

/// What a worker reports back.
#[derive(Debug)]
pub enum MediaEvent {
    Digit {
        call: CallId,
        digit: Digit,
        source: Source,
    },
    PromptFinished {
        call: CallId,
        token: u64,
    },
    /// A recording stopped (key or length limit): 8 kHz 16-bit samples.
    Recorded {
        call: CallId,
        pcm: Vec<i16>,
    },
}

/// A caller's question being recorded.
struct Recording {
    pcm: Vec<i16>,
    max_samples: usize,
}

/// The SIP task's handle on one worker. Commands are queued at once and the worker is
/// woken once per batch (`flush`), not once per command: at thousands of calls a second
/// that saves a wake-up and a context switch per command.
pub struct WorkerHandle {
    tx: crossbeam_channel::Sender<Command>,
    waker: Arc<Waker>,
    queued: std::cell::Cell<bool>,
}

impl WorkerHandle {
    pub fn send(&self, cmd: Command) {
        if self.tx.send(cmd).is_ok() {
            self.queued.set(true);
        }
    }

    /// Wakes the worker if commands were queued since the last flush. The SIP task calls
    /// it once per turn of its loop; the worker also drains its queue every tick, so a
    /// missed flush costs at most 20 ms, never a lost command.
    pub fn flush(&self) {
        if self.queued.replace(false) {
            let _ = self.waker.wake();
        }
    }
}

/// How workers are started.
#[derive(Debug, Clone)]
pub struct WorkerSetup {
    pub index: usize,
    pub of: usize,
    /// SCHED_FIFO priority for this thread (1-99); 0 leaves normal scheduling.
    pub realtime_priority: u8,
    /// Ticks that came too late to send on time, over all workers (a metric).
    pub missed_ticks: Arc<AtomicU64>,
    /// This worker's smoothed busy share, thousandths (admission control, a metric).
    pub load: Arc<std::sync::atomic::AtomicU32>,
    /// Send prompts through one raw socket, batched (`rtp.raw_send`).
    pub raw_send: bool,
}

/// Starts a worker thread.
pub fn spawn(
    setup: WorkerSetup,
    events: UnboundedSender<MediaEvent>,
) -> std::io::Result<WorkerHandle> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::Builder::new()
        .name(format!("media-{}", setup.index))
        .spawn(move || {
            raise_priority(setup.realtime_priority);
            // Workers tick at staggered phases so they don't contend for the same core
            // at the same instant.
            let phase = TICK / SUBTICKS as u32 * setup.index as u32 / setup.of.max(1) as u32;
            let raw = setup.raw_send.then(open_raw_sender).flatten();
            Worker::new(poll, rx, events, setup.missed_ticks, raw).run(phase, &setup.load)
        })?;
    Ok(WorkerHandle {
        tx,
        waker,
        queued: std::cell::Cell::new(false),
    })
}

/// The worker's raw socket for batched sends, if the daemon may open one.
fn open_raw_sender() -> Option<super::raw_send::RawSender> {
    match super::raw_send::RawSender::open() {
        Ok(raw) => {
            tracing::debug!("media thread sends prompts in batches (raw socket)");
            Some(raw)
        }
        Err(e) => {
            tracing::info!(%e, "no raw socket (CAP_NET_RAW): media sent one packet per call socket");
            None
        }
    }
}

/// Media threads pace audio; preemption in the middle of a tick's send loop is what
/// delays packets, so they ask for real-time scheduling (only these threads: the SIP
/// task stays normal so call set-up can't starve). Without the privilege, a higher
/// nice priority is the fallback.
fn raise_priority(priority: u8) {
    if priority == 0 {
        return;
    }
    // SAFETY: plain libc calls on the current thread with values we own.
    unsafe {
        let param = libc::sched_param {
            sched_priority: i32::from(priority.min(99)),
        };
        if libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) == 0 {
            tracing::debug!(priority, "media thread at real-time priority");
            return;
        }
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, -10) == 0 {
            tracing::info!("media thread at nice -10 (real-time scheduling not permitted)");
        } else {
            tracing::warn!("media thread at normal priority: pacing may suffer under load");
        }
    }
}

struct Session {
    call: CallId,
    socket: UdpSocket,
    /// The socket's own IPv4 address, which batched raw sends write as the source.
    local_v4: Option<SocketAddrV4>,
    /// Where we send: the SDP address, then wherever the caller's RTP comes from
    /// (symmetric RTP, RFC 4961).
    remote: Option<SocketAddr>,
    latched: bool,
    media: Option<MediaParams>,
    sender: RtpSender,
    player: Player,
    rfc4733: Rfc4733Receiver,
    inband: InbandDetector,
    /// The bridged leg, and how packets from this leg are rewritten for it.
    peer: Option<CallId>,
    relay: RelayDirection,
    recording: Option<Recording>,
}

struct Worker {
    poll: Poll,
    commands: crossbeam_channel::Receiver<Command>,
    events: UnboundedSender<MediaEvent>,
    /// Slab of sessions; the index is the mio token.
    sessions: Vec<Option<Session>>,
    free_slots: Vec<usize>,
    by_call: HashMap<CallId, usize>,
    packet: [u8; 1500],
    pcm: [i16; FRAME_SAMPLES],
    missed_ticks: Arc<AtomicU64>,
    /// The tick's packets in a few sendmmsg calls (`rtp.raw_send`, with CAP_NET_RAW).
    raw: Option<super::raw_send::RawSender>,
    /// Sub-ticks handled so far (the next one's group is this modulo `SUBTICKS`).
    subtick: u64,
}

impl Worker {
    fn new(
        poll: Poll,
        commands: crossbeam_channel::Receiver<Command>,
        events: UnboundedSender<MediaEvent>,
        missed_ticks: Arc<AtomicU64>,
        raw: Option<super::raw_send::RawSender>,
    ) -> Self {
        Worker {
            missed_ticks,
            raw,
            subtick: 0,
            poll,
            commands,
            events,
            sessions: Vec::new(),
            free_slots: Vec::new(),
            by_call: HashMap::new(),
            packet: [0; 1500],
            pcm: [0; FRAME_SAMPLES],
        }
    }

    fn run(mut self, phase: Duration, load: &std::sync::atomic::AtomicU32) {
        let ticker = match Ticker::new(TICK / SUBTICKS as u32, phase) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(%e, "cannot create the media tick timer");
                return;
            }
        };
        let fd = ticker.fd;
        if let Err(e) =
            self.poll
                .registry()
                .register(&mut mio::unix::SourceFd(&fd), TICKER, Interest::READABLE)
        {
            tracing::error!(%e, "cannot register the media tick timer");
            return;
        }
        let mut events = Events::with_capacity(1024);
        // Busy time between wake-ups, folded into the load each tick.
        let mut meter = crate::media::load::LoadMeter::default();
        let mut period_start = std::time::Instant::now();
        loop {
            if let Err(e) = self.poll.poll(&mut events, None)
                && e.kind() != ErrorKind::Interrupted
            {
                tracing::error!(%e, "media poll failed");
                return;
            }
            let woke = std::time::Instant::now();
            let mut tick = false;
            for ev in events.iter() {
                match ev.token() {
                    WAKER => {
                        if !self.drain_commands() {
                            return;
                        }
                    }
                    TICKER => tick = true,
                    token => self.receive(token.0),
                }
            }
            if tick {
                // Commands queued without a wake-up yet are taken before the tick.
                if !self.drain_commands() {
                    return;
                }
                let due = ticker.expirations();
                let before = self.subtick;
                if due > 0 {
                    self.subticks(due);
                }
                tick = before / SUBTICKS != self.subtick / SUBTICKS; // a whole tick went by
            }
            let done = std::time::Instant::now();
            meter.add_busy(done - woke);
            if tick {
                load.store(meter.end_period(done - period_start), Ordering::Relaxed);
                period_start = done;
            }
        }
    }

    /// Returns false when the SIP task is gone (daemon exiting).
    fn drain_commands(&mut self) -> bool {
        loop {
            match self.commands.try_recv() {
                Ok(cmd) => self.command(cmd),
                Err(crossbeam_channel::TryRecvError::Empty) => return true,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return false,
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Open { call, socket, ssrc } => {
                let mut socket = UdpSocket::from_std(socket);
                let slot = self.free_slots.pop().unwrap_or(self.sessions.len());
                if let Err(e) =
                    self.poll
                        .registry()
                        .register(&mut socket, Token(slot), Interest::READABLE)
                {
                    tracing::warn!(%e, "cannot register RTP socket");
                    return;
                }
                let seq = (ssrc >> 16) as u16;
                let local_v4 = match socket.local_addr() {
                    Ok(SocketAddr::V4(a)) if !a.ip().is_unspecified() => Some(a),
                    _ => None,
                };
                let session = Session {
                    call,
                    socket,
                    local_v4,
                    remote: None,
                    latched: false,
                    media: None,
                    sender: RtpSender::new(ssrc, seq, ssrc.rotate_left(7)),
                    player: Player::new(),
                    rfc4733: Rfc4733Receiver::new(),
                    inband: InbandDetector::new(),
                    peer: None,
                    relay: RelayDirection::default(),
                    recording: None,
                };
                if slot == self.sessions.len() {
                    self.sessions.push(Some(session));
                } else {
                    self.sessions[slot] = Some(session);
                }
                self.by_call.insert(call, slot);
            }
            Command::Media { call, media } => {
                if let Some(s) = self.session(call) {
                    if !s.latched {
                        s.remote = media.remote_rtp;
                    }
                    s.sender.pt = media.payload_type;
                    s.media = Some(media);
                }
            }
            Command::Play {
                call,
                prompts,
                token,
            } => {
                if let Some(s) = self.session(call) {
                    s.player.stop();
                    s.player.play(prompts, token);
                }
            }
            Command::Stop { call } => {
                if let Some(s) = self.session(call) {
                    s.player.stop();
                }
            }
            Command::Bridge { a, b } => {
                if self.by_call.contains_key(&a) && self.by_call.contains_key(&b) {
                    for (me, other) in [(a, b), (b, a)] {
                        if let Some(s) = self.session(me) {
                            s.player.stop();
                            s.peer = Some(other);
                            s.relay = RelayDirection::default();
                        }
                    }
                }
            }
            Command::Unbridge { call } => self.unbridge(call),
            Command::Record { call, max } => {
                if let Some(s) = self.session(call) {
                    let max_samples = (max.as_millis() as usize) * 8;
                    s.recording = Some(Recording {
                        // Grown as the caller speaks: most questions are short.
                        pcm: Vec::with_capacity(max_samples.min(8000 * 10)),
                        max_samples,
                    });
                }
            }
            Command::StopRecording { call } => {
                // Always answered (empty when the length limit already ended it), so the
                // menu never waits for a recording that is over.
                if let Some(s) = self.session(call) {
                    let pcm = s.recording.take().map(|r| r.pcm).unwrap_or_default();
                    let _ = self.events.send(MediaEvent::Recorded { call, pcm });
                }
            }
            Command::Close { call } => {
                self.unbridge(call);
                if let Some(slot) = self.by_call.remove(&call)
                    && let Some(mut s) = self.sessions[slot].take()
                {
                    // A question being recorded when the caller hung up is kept.
                    if let Some(rec) = s.recording.take() {
                        let _ = self
                            .events
                            .send(MediaEvent::Recorded { call, pcm: rec.pcm });
                    }
                    let _ = self.poll.registry().deregister(&mut s.socket);
                    self.free_slots.push(slot);
                    // `s` drops here: the socket (and its descriptor) is released now.
                }
            }
        }
    }

    fn session(&mut self, call: CallId) -> Option<&mut Session> {
        let slot = *self.by_call.get(&call)?;
        self.sessions[slot].as_mut()
    }

    fn unbridge(&mut self, call: CallId) {
        if let Some(peer) = self.session(call).and_then(|s| s.peer.take())
            && let Some(p) = self.session(peer)
        {
            p.peer = None;
        }
    }

    /// Reads every datagram waiting on one session's socket.
    fn receive(&mut self, slot: usize) {
        loop {
            let Some(Some(s)) = self.sessions.get_mut(slot) else {
                return;
            };
            let (len, from) = match s.socket.recv_from(&mut self.packet) {
                Ok(r) => r,
                Err(_) => return, // WouldBlock: drained; other errors: nothing to read
            };
            let Ok((hdr, payload)) = RtpHeader::parse(&self.packet[..len]) else {
                continue; // RTCP or junk on our port
            };
            let Some(media) = s.media else { continue };
            if !s.latched || s.remote != Some(from) {
                s.remote = Some(from);
                s.latched = true;
            }
            let digit = if Some(hdr.payload_type) == media.dtmf_payload_type {
                s.rfc4733
                    .on_packet(&hdr, payload)
                    .map(|d| (d, Source::Rfc4733))
            } else if hdr.payload_type == media.payload_type {
                if let Some(rec) = s.recording.as_mut() {
                    // Any packet length (20, 30 ms…): the question is kept as it came.
                    let room = rec.max_samples.saturating_sub(rec.pcm.len());
                    rec.pcm.extend(
                        payload
                            .iter()
                            .take(room)
                            .map(|&b| g711::decode(media.codec, b)),
                    );
                    if rec.pcm.len() >= rec.max_samples {
                        let pcm = s.recording.take().map(|r| r.pcm).unwrap_or_default();
                        let _ = self.events.send(MediaEvent::Recorded { call: s.call, pcm });
                    }
                }
                // In-band DTMF looks at 20 ms frames; not while bridged (the operator hears
                // the tones, and the menu takes no keys then), which spares the decoding.
                if payload.len() == FRAME_SAMPLES && s.peer.is_none() {
                    g711::decode_frame(media.codec, payload, &mut self.pcm);
                    s.inband.on_frame(&self.pcm).map(|d| (d, Source::Inband))
                } else {
                    None
                }
            } else {
                None
            };
            if let Some((digit, source)) = digit {
                let _ = self.events.send(MediaEvent::Digit {
                    call: s.call,
                    digit,
                    source,
                });
            }
            if let Some(peer) = s.peer {
                // Where the payload sits in `self.packet` (padding excluded), so the relay
                // does not parse the packet a second time.
                let start = payload.as_ptr() as usize - self.packet.as_ptr() as usize;
                let body = start..start + payload.len();
                self.forward(slot, peer, &hdr, body);
            }
        }
    }

    /// Sends one received packet (still in `self.packet`) out of the bridged leg.
    fn forward(
        &mut self,
        slot: usize,
        peer: CallId,
        hdr: &RtpHeader,
        body: std::ops::Range<usize>,
    ) {
        let Some(&peer_slot) = self.by_call.get(&peer) else {
            return;
        };
        let Some((s, p)) = pair_mut(&mut self.sessions, slot, peer_slot) else {
            return;
        };
        let (Some(from), Some(to), Some(dest)) = (s.media, p.media, p.remote) else {
            return;
        };
        if !to.direction.sends() {
            return; // the other leg is on hold
        }
        let payload = &self.packet[body];
        let mut out = [0u8; 1500];
        if let Some(n) = s
            .relay
            .rewrite(hdr, payload, &from, &to, &mut p.sender, &mut out)
        {
            let _ = p.socket.send_to(&out[..n], dest);
        }
    }

    /// `due` sub-ticks went by: each session whose sub-tick came steps once, skipping
    /// the frames of the ticks it missed in a stall.
    fn subticks(&mut self, due: u64) {
        let first = self.subtick;
        self.subtick += due;
        // The last sub-tick of each group that came, oldest first; `j`, `j - SUBTICKS`,
        // … down to `first` are all that group's sub-ticks in this batch.
        for j in first + due.saturating_sub(SUBTICKS)..first + due {
            self.tick((j % SUBTICKS) as usize, (j - first) / SUBTICKS + 1);
        }
    }

    /// One 20 ms step for the sessions of sub-tick `group`: at most one packet each.
    /// After a stall of `due` ticks the frames of the missed ticks are skipped, not sent
    /// in a burst nor late: the audio stays on the clock (timestamps advance) and the loss
    /// shows as a gap, which a jitter buffer handles better than slowed-down speech.
    fn tick(&mut self, group: usize, due: u64) {
        if due > 1 {
            self.missed_ticks.fetch_add(due - 1, Ordering::Relaxed);
        }
        let mut out = [0u8; 12 + FRAME_SAMPLES];
        let sessions = self.sessions.iter_mut().skip(group);
        for s in sessions.step_by(SUBTICKS as usize).flatten() {
            let Some(media) = s.media else { continue };
            if s.peer.is_some() && !s.player.is_playing() {
                continue; // bridged: the other leg's packets drive this one
            }
            let codec: Codec = media.codec;
            for _ in 1..due {
                let _ = s.player.next_frame(codec);
                s.sender.skip_silence();
            }
            let frame = s.player.next_frame(codec);
            match (frame, s.remote) {
                (Some((frame, marker)), Some(to)) if media.direction.sends() => {
                    let len = s.sender.next_audio(frame, marker || due > 1, &mut out);
                    let batched = match (self.raw.as_mut(), s.local_v4, to) {
                        (Some(raw), Some(src), SocketAddr::V4(dst)) => {
                            raw.queue(src, dst, &out[..len])
                        }
                        _ => false,
                    };
                    if !batched {
                        // A full socket buffer drops this frame; the next tick carries on.
                        let _ = s.socket.send_to(&out[..len], to);
                    }
                }
                // Silence (nothing to play, on hold, or no address yet) still moves the
                // timestamp with the sampling clock (RFC 3550 §5.1).
                _ => s.sender.skip_silence(),
            }
            while let Some(token) = s.player.poll_finished() {
                let _ = self.events.send(MediaEvent::PromptFinished {
                    call: s.call,
                    token,
                });
            }
        }
        if let Some(raw) = self.raw.as_mut() {
            raw.flush();
        }
    }
}

/// Two distinct sessions of the slab, both mutable.
fn pair_mut<T>(v: &mut [Option<T>], i: usize, j: usize) -> Option<(&mut T, &mut T)> {
    if i == j || i >= v.len() || j >= v.len() {
        return None;
    }
    let (a, b) = if i < j {
        let (lo, hi) = v.split_at_mut(j);
        (&mut lo[i], &mut hi[0])
    } else {
        let (lo, hi) = v.split_at_mut(i);
        (&mut hi[0], &mut lo[j])
    };
    Some((a.as_mut()?, b.as_mut()?))
}

/// A periodic kernel timer (timerfd, CLOCK_MONOTONIC): its expirations are scheduled by
/// the kernel's high-resolution timers on an absolute grid, so the tick neither drifts
/// nor inherits epoll's millisecond timeout granularity.
struct Ticker {
    fd: std::os::fd::RawFd,
}

impl Ticker {
    /// Ticks every `period`, the first after `period + phase`.
    fn new(period: Duration, phase: Duration) -> std::io::Result<Ticker> {
        // SAFETY: plain syscalls; the descriptor is owned by the Ticker and closed on drop.
        unsafe {
            let fd = libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            );
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let timespec = |d: Duration| libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            };
            let spec = libc::itimerspec {
                it_interval: timespec(period),
                it_value: timespec(period + phase),
            };
            if libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) < 0 {
                let e = std::io::Error::last_os_error();
                libc::close(fd);
                return Err(e);
            }
            Ok(Ticker { fd })
        }
    }

    /// Periods elapsed since the last read (0 if the wake-up was spurious).
    fn expirations(&self) -> u64 {
        let mut n = 0u64;
        // SAFETY: reads 8 bytes into a u64 we own, as timerfd(2) specifies.
        let r = unsafe { libc::read(self.fd, (&raw mut n).cast(), 8) };
        if r == 8 { n } else { 0 }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe {
            libc::close(self.fd);
        }
    }
}
