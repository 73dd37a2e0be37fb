//! The media side of the load generator: a few shard threads, each owning the RTP sockets
//! of its calls in one level-triggered epoll set. Arrival times are the kernel's receive
//! timestamps (`SO_TIMESTAMPNS`, CLOCK_REALTIME), so they do not depend on how fast this
//! process reads; on loopback the kernel stamps the datagram inside the daemon's
//! `sendto`, so they measure the daemon's pacing. Checks RFC 3550 §5.1 continuity and
//! sends RFC 4733 §2.3 key events.

use crate::stats::{Hist, now_ns};
use centralino::driver::udp_rx::{enable_arrival_times, recv_stamped};
use centralino::media::rtp::RtpHeader;
use crossbeam_channel::{Receiver, Sender};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::UNIX_EPOCH;

const FRAME_NS: i64 = 20_000_000;
const SAMPLES_PER_FRAME: u32 = 160;
const PCMU: u8 = 0;
/// telephone-event, as offered in our SDP.
pub const DTMF_PT: u8 = 101;
const WAKE: u64 = u64::MAX;
/// Datagrams read from one ready socket before the next socket gets its turn.
const READS_PER_EVENT: usize = 8;

/// The full-concurrency window (CLOCK_REALTIME ns), published by the SIP thread:
/// from the moment every call is set up to the first hang-up. 0 / i64::MAX = not yet.
#[derive(Default)]
pub struct Window {
    pub start: AtomicI64,
    pub end: AtomicI64,
}

impl Window {
    pub fn new() -> Window {
        Window {
            start: AtomicI64::new(0),
            end: AtomicI64::new(i64::MAX),
        }
    }
    fn contains(&self, t: i64) -> bool {
        let s = self.start.load(Ordering::Relaxed);
        s != 0 && t >= s && t < self.end.load(Ordering::Relaxed)
    }
}

pub enum Cmd {
    /// The call is answered: latch (one packet to `remote`) and schedule the keys.
    Start {
        call: usize,
        remote: SocketAddr,
        answered_ns: i64,
    },
    /// The call is hanging up: send no more keys.
    Stop { call: usize },
    /// Keep receiving until this time (ns, the `now_ns` clock) — packets still in
    /// flight land — then stop.
    Shutdown { at_ns: i64 },
}

/// Digits to press and when (ns after answer, then `gap_ns` apart).
#[derive(Clone)]
pub struct KeyPlan {
    pub events: Vec<u8>,
    pub at_ns: i64,
    pub gap_ns: i64,
}

/// What one shard measured.
pub struct ShardStats {
    pub all: Hist,
    pub steady: Hist,
    pub packets: u64,
    pub expected: u64,
    pub seq_jumps: u64,
    pub ts_errors: u64,
    pub ssrc_changes: u64,
    pub bad: u64,
    pub streams_with_media: u64,
    pub keys_sent: u64,
    /// Datagrams the kernel dropped because a socket's receive buffer was full: this
    /// process read too slowly, so they say nothing about the daemon (SO_MEMINFO).
    pub dropped_here: u64,
    /// Per answered key press: (first event packet → next marker, first end packet → next
    /// marker), in ns; `None` when no new prompt came.
    pub key_latency: Vec<Option<(i64, i64)>>,
}

#[derive(Default)]
struct Probe {
    first_ns: i64,
    end_ns: i64,
    prompt_ns: i64,
}

struct Stream {
    sock: UdpSocket,
    remote: Option<SocketAddr>,
    stopped: bool,
    // Sending (latch packet and key events).
    ssrc: u32,
    seq: u16,
    ts0: u32,
    start_ns: i64,
    // Receiving.
    rx_ssrc: Option<u32>,
    last_seq: u16,
    last_ext: i64,
    min_ext: i64,
    max_ext: i64,
    last_ts: u32,
    last_ns: i64,
    received: u64,
    probes: Vec<Probe>,
}

impl Stream {
    /// Closes the current sequence-number run (at the end, or on an SSRC change).
    fn flush(&mut self, st: &mut ShardStats) {
        if self.received > 0 {
            st.expected += (self.max_ext - self.min_ext + 1) as u64;
        }
    }
}

pub struct Shard {
    tx: Sender<Cmd>,
    wake: libc::c_int,
    join: JoinHandle<ShardStats>,
}

impl Shard {
    /// Starts a shard that owns `sockets` (`(call index, socket)`).
    pub fn spawn(
        index: usize,
        sockets: Vec<(usize, UdpSocket)>,
        calls: usize,
        keys: Option<KeyPlan>,
        window: Arc<Window>,
    ) -> std::io::Result<Shard> {
        // SAFETY: plain syscalls; the descriptors are closed by the shard thread.
        let (ep, wake) = unsafe {
            let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            let wake = libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC);
            if ep < 0 || wake < 0 {
                return Err(std::io::Error::last_os_error());
            }
            (ep, wake)
        };
        epoll_add(ep, wake, WAKE)?;
        let mut streams = Vec::with_capacity(sockets.len());
        let mut slot_of = vec![usize::MAX; calls];
        for (call, sock) in sockets {
            sock.set_nonblocking(true)?;
            // Without stamps the read time stands in (see `receive`).
            let _ = enable_arrival_times(&sock);
            epoll_add(ep, sock.as_raw_fd(), streams.len() as u64)?;
            slot_of[call] = streams.len();
            let r = crate::stats::random_u64() ^ call as u64;
            streams.push(Stream {
                sock,
                remote: None,
                stopped: false,
                ssrc: r as u32,
                seq: (r >> 32) as u16,
                ts0: (r >> 40) as u32,
                start_ns: 0,
                rx_ssrc: None,
                last_seq: 0,
                last_ext: 0,
                min_ext: 0,
                max_ext: 0,
                last_ts: 0,
                last_ns: 0,
                received: 0,
                probes: Vec::new(),
            });
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let join = std::thread::Builder::new()
            .name(format!("load-rtp-{index}"))
            .spawn(move || {
                let mut w = Worker {
                    ep,
                    wake,
                    rx,
                    streams,
                    slot_of,
                    keys,
                    window,
                    timers: BinaryHeap::new(),
                    stop_at_ns: None,
                    stats: ShardStats {
                        all: Hist::new(),
                        steady: Hist::new(),
                        packets: 0,
                        expected: 0,
                        seq_jumps: 0,
                        ts_errors: 0,
                        ssrc_changes: 0,
                        bad: 0,
                        streams_with_media: 0,
                        keys_sent: 0,
                        dropped_here: 0,
                        key_latency: Vec::new(),
                    },
                };
                w.run();
                // SAFETY: we own both descriptors.
                unsafe {
                    libc::close(ep);
                }
                w.finish()
            })?;
        Ok(Shard { tx, wake, join })
    }

    pub fn send(&self, cmd: Cmd) {
        if self.tx.send(cmd).is_ok() {
            let one = 1u64;
            // SAFETY: an 8-byte write to an eventfd, as eventfd(2) specifies.
            unsafe {
                libc::write(self.wake, (&raw const one).cast(), 8);
            }
        }
    }

    /// Stops the shard at `at_ns` (give every shard the same instant: they linger
    /// together) and returns what it measured.
    pub fn finish(self, at_ns: i64) -> ShardStats {
        self.send(Cmd::Shutdown { at_ns });
        let stats = self.join.join().expect("RTP shard panicked");
        // SAFETY: the thread is gone; we own the eventfd.
        unsafe {
            libc::close(self.wake);
        }
        stats
    }
}

/// How many datagrams the kernel dropped on this socket (SK_MEMINFO_DROPS of
/// SO_MEMINFO, socket(7)): a full receive buffer, i.e. this process read too slowly.
fn socket_drops(sock: &UdpSocket) -> u64 {
    let drops = libc::SK_MEMINFO_DROPS as usize;
    let mut info = [0u32; 16];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `info`, which we own.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r == 0 && len as usize > drops * std::mem::size_of::<u32>() {
        u64::from(info[drops])
    } else {
        0
    }
}

fn epoll_add(ep: libc::c_int, fd: libc::c_int, data: u64) -> std::io::Result<()> {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: data,
    };
    // SAFETY: epoll_ctl on descriptors we own, with an event we own.
    if unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

struct Worker {
    ep: libc::c_int,
    wake: libc::c_int,
    rx: Receiver<Cmd>,
    streams: Vec<Stream>,
    slot_of: Vec<usize>,
    keys: Option<KeyPlan>,
    window: Arc<Window>,
    /// (due ns, stream slot, digit index, packet 0..6 of the digit)
    timers: BinaryHeap<Reverse<(i64, usize, usize, u8)>>,
    /// Set by `Shutdown`: when to stop receiving.
    stop_at_ns: Option<i64>,
    stats: ShardStats,
}

impl Worker {
    fn run(&mut self) {
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        let mut buf = [0u8; 2048];
        loop {
            let next = self
                .timers
                .peek()
                .map(|Reverse((due, ..))| *due)
                .into_iter()
                .chain(self.stop_at_ns)
                .min();
            let timeout = match next {
                Some(due) => {
                    let ms = (due - now_ns() + 999_999) / 1_000_000;
                    ms.clamp(0, 100) as libc::c_int
                }
                None => 100,
            };
            // SAFETY: the buffer holds `events.len()` entries.
            let n = unsafe {
                libc::epoll_wait(self.ep, events.as_mut_ptr(), events.len() as i32, timeout)
            };
            for ev in events.iter().take(n.max(0) as usize) {
                let data = ev.u64;
                if data == WAKE {
                    let mut v = 0u64;
                    // SAFETY: an 8-byte read from the eventfd.
                    unsafe { libc::read(self.wake, (&raw mut v).cast(), 8) };
                    self.commands();
                } else {
                    // A few datagrams per event (one epoll_wait serves several packets
                    // when we fall behind); level-triggered, so the rest wake us again.
                    for _ in 0..READS_PER_EVENT {
                        if !self.receive(data as usize, &mut buf) {
                            break;
                        }
                    }
                }
            }
            self.run_timers();
            if self.stop_at_ns.is_some_and(|t| now_ns() >= t) {
                return;
            }
        }
    }

    fn commands(&mut self) {
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Cmd::Start {
                    call,
                    remote,
                    answered_ns,
                } => {
                    let slot = self.slot_of[call];
                    let s = &mut self.streams[slot];
                    s.remote = Some(remote);
                    s.start_ns = answered_ns;
                    // One silent PCMU frame so the daemon latches (symmetric RTP).
                    let hdr = RtpHeader {
                        marker: true,
                        payload_type: PCMU,
                        seq: s.seq,
                        timestamp: s.ts0,
                        ssrc: s.ssrc,
                    };
                    s.seq = s.seq.wrapping_add(1);
                    let mut out = [0u8; 12 + 160];
                    let len = hdr.write(&[0xff; 160], &mut out);
                    let _ = s.sock.send_to(&out[..len], remote);
                    if let Some(k) = &self.keys {
                        for d in 0..k.events.len() {
                            let due = answered_ns + k.at_ns + d as i64 * k.gap_ns;
                            self.timers.push(Reverse((due, slot, d, 0)));
                        }
                    }
                }
                Cmd::Stop { call } => self.streams[self.slot_of[call]].stopped = true,
                Cmd::Shutdown { at_ns } => self.stop_at_ns = Some(at_ns),
            }
        }
    }

    /// Sends the due RFC 4733 packets: per digit E=0 three times, then E=1 three times,
    /// 20 ms apart, all with the timestamp of the event's start (§2.5.1).
    fn run_timers(&mut self) {
        let Some(keys) = &self.keys else { return };
        let now = now_ns();
        while let Some(&Reverse((due, slot, digit, k))) = self.timers.peek() {
            if due > now {
                break;
            }
            self.timers.pop();
            let s = &mut self.streams[slot];
            let Some(remote) = s.remote else { continue };
            if s.stopped {
                continue;
            }
            let event_start = (keys.at_ns + digit as i64 * keys.gap_ns) as u64;
            let ts = s
                .ts0
                .wrapping_add((event_start * 8000 / 1_000_000_000) as u32);
            let end = k >= 3;
            let duration = SAMPLES_PER_FRAME as u16 * (u16::from(k.min(3)) + 1);
            let dur = duration.to_be_bytes();
            let payload = [
                keys.events[digit],
                (u8::from(end) << 7) | 10,
                dur[0],
                dur[1],
            ];
            let hdr = RtpHeader {
                marker: k == 0,
                payload_type: DTMF_PT,
                seq: s.seq,
                timestamp: ts,
                ssrc: s.ssrc,
            };
            s.seq = s.seq.wrapping_add(1);
            let mut out = [0u8; 16];
            let len = hdr.write(&payload, &mut out);
            let _ = s.sock.send_to(&out[..len], remote);
            let sent = now_ns();
            if k == 0 {
                s.probes.push(Probe {
                    first_ns: sent,
                    ..Probe::default()
                });
                self.stats.keys_sent += 1;
            } else if k == 3
                && let Some(p) = s.probes.last_mut()
            {
                p.end_ns = sent;
            }
            if k < 5 {
                self.timers
                    .push(Reverse((due + FRAME_NS, slot, digit, k + 1)));
            }
        }
    }

    /// Reads and checks one datagram; false when none was queued.
    fn receive(&mut self, slot: usize, buf: &mut [u8; 2048]) -> bool {
        let Some(s) = self.streams.get_mut(slot) else {
            return false;
        };
        let Ok((len, _, arrived)) = recv_stamped(s.sock.as_raw_fd(), buf) else {
            return false;
        };
        let t = arrived
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or_else(now_ns, |d| d.as_nanos() as i64);
        let st = &mut self.stats;
        let Ok((hdr, payload)) = RtpHeader::parse(&buf[..len]) else {
            st.bad += 1;
            return true;
        };
        if hdr.payload_type != PCMU || payload.len() != SAMPLES_PER_FRAME as usize {
            st.bad += 1;
        }
        st.packets += 1;
        if s.rx_ssrc.is_some_and(|x| x != hdr.ssrc) {
            st.ssrc_changes += 1;
            s.flush(st);
            s.received = 0;
        }
        s.rx_ssrc = Some(hdr.ssrc);
        if s.received == 0 {
            s.last_ext = i64::from(hdr.seq);
            s.min_ext = s.last_ext;
            s.max_ext = s.last_ext;
            s.last_seq = hdr.seq;
            s.last_ts = hdr.timestamp;
            s.last_ns = t;
            s.received = 1;
        } else {
            // Signed distance from the previous packet: handles wrap-around and reordering.
            let delta = i64::from(hdr.seq.wrapping_sub(s.last_seq) as i16);
            let ext = s.last_ext + delta;
            s.received += 1;
            s.min_ext = s.min_ext.min(ext);
            s.max_ext = s.max_ext.max(ext);
            if delta != 1 {
                st.seq_jumps += 1;
            } else if !hdr.marker {
                // Same talk spurt: the spacing must be 20 ms and the timestamp +160.
                let interval = t - s.last_ns;
                st.all.add(interval, FRAME_NS);
                if self.window.contains(t) {
                    st.steady.add(interval, FRAME_NS);
                }
                if hdr.timestamp != s.last_ts.wrapping_add(SAMPLES_PER_FRAME) {
                    st.ts_errors += 1;
                }
            }
            if delta > 0 {
                s.last_ext = ext;
                s.last_seq = hdr.seq;
                s.last_ts = hdr.timestamp;
                s.last_ns = t;
            }
        }
        if hdr.marker
            && let Some(p) = s
                .probes
                .iter_mut()
                .rev()
                .find(|p| p.prompt_ns == 0 && p.first_ns <= t)
        {
            p.prompt_ns = t;
        }
        true
    }

    fn finish(mut self) -> ShardStats {
        // What is still queued arrived in time (the stamps say when): count it too, or a
        // stream read late would look as if it ended early.
        let mut buf = [0u8; 2048];
        for slot in 0..self.streams.len() {
            while self.receive(slot, &mut buf) {}
        }
        let mut st = self.stats;
        for s in &mut self.streams {
            st.dropped_here += socket_drops(&s.sock);
            if s.received > 0 {
                st.streams_with_media += 1;
            }
            s.flush(&mut st);
            for p in &s.probes {
                st.key_latency.push(
                    (p.prompt_ns != 0 && p.end_ns != 0)
                        .then(|| (p.prompt_ns - p.first_ns, p.prompt_ns - p.end_ns)),
                );
            }
        }
        st
    }
}
