//! The engine's timers as data (house rule 3): named timers and a table of deadlines.

use super::{CallId, OperatorId};
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Timer {
    /// The offer of this call to its ringing operator(s) times out.
    Ring(CallId),
    /// The pause after a failed offer ends; the caller may be offered again.
    Retry(CallId),
    /// The caller's maximum wait is reached.
    MaxWait(CallId),
    /// The next announcement (change or cadence) is due.
    Announce(CallId),
    /// The operator's wrap-up ends.
    WrapUp(OperatorId),
}

/// One deadline per named timer; ordered for `next` and `pop_due`.
#[derive(Debug, Default)]
pub(super) struct Timers {
    by_timer: HashMap<Timer, Instant>,
    by_time: BTreeSet<(Instant, Timer)>,
}

impl Timers {
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.cancel(&timer);
        self.by_time.insert((at, timer.clone()));
        self.by_timer.insert(timer, at);
    }

    pub fn cancel(&mut self, timer: &Timer) {
        if let Some(at) = self.by_timer.remove(timer) {
            self.by_time.remove(&(at, timer.clone()));
        }
    }

    /// Cancels every timer of a call.
    pub fn cancel_call(&mut self, call: CallId) {
        for t in [
            Timer::Ring(call),
            Timer::Retry(call),
            Timer::MaxWait(call),
            Timer::Announce(call),
        ] {
            self.cancel(&t);
        }
    }

    pub fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// The earliest timer due at `now`, removed from the table.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (_, timer) = self.by_time.pop_first()?;
        self.by_timer.remove(&timer);
        Some(timer)
    }
}
