//! SIP transaction layer: the four sans-IO transaction machines of RFC 3261 §17
//! (with the RFC 6026 Accepted states), plus the timer and event types they share.
//!
//! The machines never touch sockets or clocks and never parse SIP. The caller
//! feeds them opaque message bytes plus what those bytes mean ("a 180 arrived",
//! "an ACK arrived"), passes the current time as `now`, and then drains them:
//! `poll_transmit` (bytes for the peer), `poll_event` (news for the transaction
//! user) and `poll_timeout` (when to call `handle_timeout` next).
//!
//! Timers whose duration is zero on reliable transports (D, I, J, K) fire inside
//! the very call that arms them, so e.g. a server non-INVITE transaction over TCP
//! is terminated as soon as `send_final` returns.

mod client_invite;
mod client_non_invite;
mod server_invite;
mod server_non_invite;

pub use client_invite::{ClientInvite, ClientInviteState};
pub use client_non_invite::{ClientNonInvite, ClientNonInviteState};
pub use server_invite::{ServerInvite, ServerInviteState};
pub use server_non_invite::{ServerNonInvite, ServerNonInviteState};

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// Transport kind: several timers are zero, and retransmissions are off, on reliable ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reliability {
    /// TCP, TLS, SCTP.
    Reliable,
    /// UDP.
    Unreliable,
}

/// The base timer values of RFC 3261 §17.1.1.1 / Table 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate; retransmission intervals start here and transaction lifetimes are 64*T1.
    pub t1: Duration,
    /// Cap on non-INVITE request and INVITE response retransmission intervals.
    pub t2: Duration,
    /// Maximum time a message stays in the network.
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, J (unreliable), L and M.
    pub fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

/// Timer D on unreliable transports: "at least 32 seconds" (§17.1.1.2), independent of T1.
pub const TIMER_D_UNRELIABLE: Duration = Duration::from_secs(32);

/// Something the transaction user must learn about. Drained with `poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent {
    /// Client machines: a response to pass up (absorbed retransmissions are not reported).
    Response { status: u16, bytes: Bytes },
    /// Timer B / F fired (client: no final response) or Timer H fired (server INVITE: no ACK
    /// for a non-2xx final response).
    Timeout,
    /// Server INVITE in Accepted: Timer L fired and no ACK for the 2xx ever arrived (RFC 6026).
    NoAckFor2xx,
    /// The machine reached Terminated; it is always the last event.
    Terminated,
}

/// Named timers (RFC 3261 Table 4, RFC 6026 L and M, and the §13.3.1.4 2xx retransmission).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerName {
    A,
    B,
    D,
    E,
    F,
    G,
    H,
    I,
    J,
    K,
    L,
    M,
    Retransmit2xx,
}

/// Caller mistakes the machines refuse instead of panicking. State is unchanged on error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxError {
    /// The action is not allowed in the machine's current state, e.g. a second final
    /// response after a 2xx already went out (the CANCEL/2xx race).
    WrongState,
    /// The status code is outside the range the call accepts.
    InvalidStatus(u16),
    /// Client INVITE: a first 300–699 response arrived without the ACK bytes to send.
    MissingAck,
}

impl fmt::Display for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxError::WrongState => f.write_str("action not allowed in the transaction's state"),
            TxError::InvalidStatus(s) => write!(f, "status code {s} not valid here"),
            TxError::MissingAck => f.write_str("non-2xx final response given without ACK bytes"),
        }
    }
}

impl std::error::Error for TxError {}

/// The verbs every machine shares, so a driver (or test harness) can handle them uniformly.
/// Each machine also has these as inherent methods.
pub trait Transaction {
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self) -> Option<Bytes>;
    fn poll_event(&mut self) -> Option<TxEvent>;
    fn poll_timeout(&self) -> Option<Instant>;
    fn is_terminated(&self) -> bool;
}

/// Implements the common verbs (inherent and [`Transaction`]) for a machine that has a
/// `core: Core` field and an `on_timer(&mut self, now, TimerName)` method.
macro_rules! common_verbs {
    ($ty:ty) => {
        impl $ty {
            /// Fires every timer whose deadline is at or before `now`, earliest first.
            pub fn handle_timeout(&mut self, now: std::time::Instant) {
                while let Some(timer) = self.core.pop_expired(now) {
                    self.on_timer(now, timer);
                }
            }
            /// Next message to send to the peer, in FIFO order.
            pub fn poll_transmit(&mut self) -> Option<bytes::Bytes> {
                self.core.transmits.pop_front()
            }
            /// Next event for the transaction user, in FIFO order.
            pub fn poll_event(&mut self) -> Option<$crate::sip::transaction::TxEvent> {
                self.core.events.pop_front()
            }
            /// Earliest pending timer deadline; `None` when nothing is armed.
            pub fn poll_timeout(&self) -> Option<std::time::Instant> {
                self.core.next_deadline()
            }
            pub fn is_terminated(&self) -> bool {
                self.core.terminated
            }
        }

        impl $crate::sip::transaction::Transaction for $ty {
            fn handle_timeout(&mut self, now: std::time::Instant) {
                <$ty>::handle_timeout(self, now)
            }
            fn poll_transmit(&mut self) -> Option<bytes::Bytes> {
                <$ty>::poll_transmit(self)
            }
            fn poll_event(&mut self) -> Option<$crate::sip::transaction::TxEvent> {
                <$ty>::poll_event(self)
            }
            fn poll_timeout(&self) -> Option<std::time::Instant> {
                <$ty>::poll_timeout(self)
            }
            fn is_terminated(&self) -> bool {
                <$ty>::is_terminated(self)
            }
        }
    };
}
pub(crate) use common_verbs;

/// Plumbing shared by all machines: outbound queues, armed timers, termination flag.
#[derive(Debug)]
struct Core {
    reliability: Reliability,
    cfg: TimerConfig,
    /// Armed timers; at most one entry per name. Tiny, so a Vec beats a heap.
    timers: Vec<(TimerName, Instant)>,
    transmits: VecDeque<Bytes>,
    events: VecDeque<TxEvent>,
    terminated: bool,
}

impl Core {
    fn new(reliability: Reliability, cfg: TimerConfig) -> Self {
        Self {
            reliability,
            cfg,
            timers: Vec::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            terminated: false,
        }
    }

    fn unreliable(&self) -> bool {
        self.reliability == Reliability::Unreliable
    }

    /// `d` on unreliable transports, zero on reliable ones (Timers D, I, J, K).
    fn zero_if_reliable(&self, d: Duration) -> Duration {
        if self.unreliable() { d } else { Duration::ZERO }
    }

    /// Arms (or re-arms) `name` to fire at `now + after`.
    fn arm(&mut self, name: TimerName, now: Instant, after: Duration) {
        self.disarm(name);
        self.timers.push((name, now + after));
    }

    fn disarm(&mut self, name: TimerName) {
        self.timers.retain(|(n, _)| *n != name);
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.timers.iter().map(|(_, at)| *at).min()
    }

    /// Removes and returns the earliest timer due at `now`; ties go to the first armed.
    fn pop_expired(&mut self, now: Instant) -> Option<TimerName> {
        let (idx, _) = self
            .timers
            .iter()
            .enumerate()
            .filter(|(_, (_, at))| *at <= now)
            .min_by_key(|(_, (_, at))| *at)?;
        Some(self.timers.remove(idx).0)
    }

    fn transmit(&mut self, bytes: Bytes) {
        self.transmits.push_back(bytes);
    }

    fn emit(&mut self, event: TxEvent) {
        self.events.push_back(event);
    }

    /// Enters Terminated: drops every timer and reports `Terminated` exactly once.
    fn terminate(&mut self) {
        self.timers.clear();
        if !self.terminated {
            self.terminated = true;
            self.emit(TxEvent::Terminated);
        }
    }
}

/// Next retransmission interval: doubled, and capped at T2 when `cap` is set.
fn backoff(interval: Duration, cfg: &TimerConfig, cap: bool) -> Duration {
    let doubled = interval * 2;
    if cap { doubled.min(cfg.t2) } else { doubled }
}

/// Virtual-time harness shared by the machines' tests.
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start a virtual clock at a real instant
mod harness {
    use super::{Transaction, TxEvent};
    use bytes::Bytes;
    use std::time::{Duration, Instant};

    /// Drives a machine on a virtual clock, recording what it sends and reports with the
    /// offset (ms since start) at which it happened.
    pub(crate) struct Harness<T> {
        pub m: T,
        t0: Instant,
        now: Instant,
        pub sends: Vec<(u64, Bytes)>,
        pub events: Vec<(u64, TxEvent)>,
    }

    impl<T: Transaction> Harness<T> {
        /// `make` receives the start instant (the only real clock read in the tests).
        pub fn new(make: impl FnOnce(Instant) -> T) -> Self {
            let t0 = Instant::now();
            let mut h = Self {
                m: make(t0),
                t0,
                now: t0,
                sends: Vec::new(),
                events: Vec::new(),
            };
            h.drain();
            h
        }

        fn ms(&self) -> u64 {
            (self.now - self.t0).as_millis() as u64
        }

        fn drain(&mut self) {
            let at = self.ms();
            while let Some(b) = self.m.poll_transmit() {
                self.sends.push((at, b));
            }
            while let Some(e) = self.m.poll_event() {
                self.events.push((at, e));
            }
        }

        /// Runs timers due up to `ms`, then applies an input at `ms`.
        pub fn input<R>(&mut self, ms: u64, f: impl FnOnce(&mut T, Instant) -> R) -> R {
            self.run_until(ms);
            self.now = self.t0 + Duration::from_millis(ms);
            let r = f(&mut self.m, self.now);
            self.drain();
            r
        }

        /// Steps the clock from deadline to deadline while they are at or before `ms`.
        pub fn run_until(&mut self, ms: u64) {
            let limit = self.t0 + Duration::from_millis(ms);
            for _ in 0..10_000 {
                match self.m.poll_timeout() {
                    Some(at) if at <= limit => {
                        assert!(at >= self.now, "deadline in the past");
                        self.now = at;
                        self.m.handle_timeout(at);
                        self.drain();
                    }
                    _ => return,
                }
            }
            panic!("timer storm: still stepping after 10000 deadlines");
        }

        /// Steps until no timer is armed.
        pub fn run(&mut self) {
            self.run_until(u64::MAX / 4);
            assert_eq!(self.m.poll_timeout(), None);
        }

        pub fn send_offsets(&self) -> Vec<u64> {
            self.sends.iter().map(|(t, _)| *t).collect()
        }

        /// Send offsets of messages equal to `bytes`.
        pub fn offsets_of(&self, bytes: &'static str) -> Vec<u64> {
            self.sends
                .iter()
                .filter(|(_, b)| b.as_ref() == bytes.as_bytes())
                .map(|(t, _)| *t)
                .collect()
        }
    }

    pub(crate) fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }
}
