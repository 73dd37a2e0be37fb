//! SIP overload detection (RFC 3261 §21.5.4, in the spirit of RFC 7339): new calls are
//! refused with `503` while received requests keep waiting too long in the socket queue
//! before the SIP task reads them. A wait of half a T1 (RFC 3261 §17.1.1.1) already
//! makes callers retransmit, and every retransmission adds to the queue: refusing new
//! INVITEs cheaply lets the task catch up while the calls it took stay served.
//!
//! As in CoDel (RFC 8289), what counts is a *standing* queue: waits above the limit for
//! every datagram read over a while. A stall (the process descheduled, a slow reload)
//! leaves a backlog that is read within microseconds, its last datagrams barely waited,
//! and it refuses nobody.

use std::time::{Duration, Instant};

/// How long every datagram read must have waited too long before new calls are refused.
pub const PERSIST: Duration = Duration::from_millis(100);
/// How long refusing lasts after the last sign of a standing queue: long enough not to
/// flap, short enough to take calls again soon after the backlog clears.
pub const HOLD: Duration = Duration::from_millis(500);

/// Watches the queueing delay of received datagrams.
#[derive(Debug)]
pub struct QueueDelayGate {
    /// Longer waits than this are late; zero turns the gate off.
    limit: Duration,
    /// Since when every datagram read was late.
    late_since: Option<Instant>,
    /// Refusing new calls until then.
    shed_until: Option<Instant>,
}

/// A change of state, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Overloaded,
    Recovered,
}

impl QueueDelayGate {
    pub fn new(limit: Duration) -> Self {
        QueueDelayGate {
            limit,
            late_since: None,
            shed_until: None,
        }
    }

    /// A datagram read at `now` after waiting `waited` in the queue. Reports a change
    /// into the overloaded state.
    pub fn observe(&mut self, now: Instant, waited: Duration) -> Option<Change> {
        if self.limit.is_zero() || waited <= self.limit {
            self.late_since = None;
            return None;
        }
        let since = *self.late_since.get_or_insert(now);
        if now.saturating_duration_since(since) < PERSIST {
            return None;
        }
        let was = self.shedding(now);
        self.shed_until = Some(now + HOLD);
        (!was).then_some(Change::Overloaded)
    }

    /// Whether new calls are to be refused at `now`.
    pub fn shedding(&self, now: Instant) -> bool {
        self.shed_until.is_some_and(|t| now < t)
    }

    /// Forgets an overload that is over, reporting it once.
    pub fn settle(&mut self, now: Instant) -> Option<Change> {
        if self.shed_until.is_some() && !self.shedding(now) {
            self.shed_until = None;
            return Some(Change::Recovered);
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start a virtual clock at a real instant
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_standing_queue_sheds_until_the_hold_after_it_clears() {
        let t0 = Instant::now();
        let mut g = QueueDelayGate::new(200 * MS);
        assert_eq!(g.observe(t0, 150 * MS), None);
        // Late, but not for long enough yet.
        assert_eq!(g.observe(t0 + 10 * MS, 250 * MS), None);
        assert_eq!(g.observe(t0 + 109 * MS, 260 * MS), None);
        assert!(!g.shedding(t0 + 109 * MS));
        // Every datagram late for PERSIST: a standing queue.
        assert_eq!(g.observe(t0 + 110 * MS, 270 * MS), Some(Change::Overloaded));
        assert!(g.shedding(t0 + 110 * MS));
        // Still standing: shedding goes on, reported once.
        assert_eq!(g.observe(t0 + 300 * MS, 400 * MS), None);
        // The queue clears; shedding lasts HOLD after the last sign of it.
        assert_eq!(g.observe(t0 + 400 * MS, 5 * MS), None);
        assert!(g.shedding(t0 + 799 * MS));
        assert_eq!(g.settle(t0 + 799 * MS), None);
        assert!(!g.shedding(t0 + 800 * MS));
        assert_eq!(g.settle(t0 + 800 * MS), Some(Change::Recovered));
        assert_eq!(g.settle(t0 + 900 * MS), None);
        // A new standing queue is reported again.
        assert_eq!(g.observe(t0 + 1000 * MS, 201 * MS), None);
        assert_eq!(
            g.observe(t0 + 1100 * MS, 201 * MS),
            Some(Change::Overloaded)
        );
    }

    #[test]
    fn the_backlog_of_a_stall_refuses_nobody() {
        // The task stalled for 550 ms, then reads the backlog in a few milliseconds:
        // waits fall from 550 ms to nothing.
        let t0 = Instant::now();
        let mut g = QueueDelayGate::new(200 * MS);
        for i in 0..60u32 {
            let now = t0 + i * 50 * Duration::from_micros(1);
            let waited = (550 * MS).saturating_sub(i * 10 * MS);
            assert_eq!(g.observe(now, waited), None);
            assert!(!g.shedding(now));
        }
    }

    #[test]
    fn a_zero_limit_never_sheds() {
        let t0 = Instant::now();
        let mut g = QueueDelayGate::new(Duration::ZERO);
        assert_eq!(g.observe(t0, Duration::from_secs(5)), None);
        assert_eq!(
            g.observe(t0 + Duration::from_secs(1), Duration::from_secs(5)),
            None
        );
        assert!(!g.shedding(t0 + Duration::from_secs(1)));
    }
}
