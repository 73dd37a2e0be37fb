//! "Callers ahead" announcements (DESIGN §5) and the estimated wait. On entry, on a
//! change and at a cadence; never sooner than `min_interval_ms` after the previous one;
//! the number is the true count of callers ahead (ringing callers still count, so a
//! failed offer ahead never makes it jump back up), so it only gets worse when the
//! queue really got worse (a higher priority or a transferred caller with an earlier
//! join went ahead). Beyond `limit` all numbers sound alike ("più di N"), so changes
//! there are not announced as changes.

use super::acd::{Acd, Stage};
use super::log::LogLine;
use super::store::Store;
use super::timers::Timer;
use super::{CallId, Event, OperatorState, QueueId};
use std::time::{Duration, Instant};

/// What the caller hears: the count, or "more than `limit`" (as `limit + 1`).
fn spoken(ahead: u32, limit: u32) -> u32 {
    ahead.min(limit.saturating_add(1))
}

impl<S: Store> Acd<S> {
    /// Recounts positions in changed queues and moves announcement timers.
    pub(super) fn refresh(&mut self, _now: Instant) {
        while let Some(q) = self.dirty.pop_first() {
            for (i, e) in self.store.waiting(&q).into_iter().enumerate() {
                if let Some(c) = self.calls.get_mut(&e.call)
                    && c.queue == q
                {
                    c.ahead = i as u32;
                    self.schedule_announce(e.call);
                }
            }
        }
    }

    /// Sets the caller's next announcement from their state.
    pub(super) fn schedule_announce(&mut self, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        let a = &self.config.queues[&c.queue].announce;
        let min_interval = Duration::from_millis(a.min_interval_ms);
        let due = if c.exiting || matches!(c.stage, Stage::Connected { .. }) {
            None
        } else {
            match c.last_announced {
                None if a.on_entry => Some(c.entered_at),
                None => Some(c.entered_at + min_interval),
                Some((said, at)) => {
                    let change = (a.on_change && said != spoken(c.ahead, a.limit))
                        .then_some(at + min_interval);
                    let cadence = (a.every_ms > 0)
                        .then(|| at + Duration::from_millis(a.every_ms).max(min_interval));
                    match (change, cadence) {
                        (Some(x), Some(y)) => Some(x.min(y)),
                        (x, y) => x.or(y),
                    }
                }
            }
        };
        match due {
            Some(at) => self.timers.set(Timer::Announce(call), at),
            None => self.timers.cancel(&Timer::Announce(call)),
        }
    }

    /// Says the caller's current number (and the estimate, when honest).
    pub(super) fn announce(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else {
            return;
        };
        if c.exiting || matches!(c.stage, Stage::Connected { .. }) {
            return;
        }
        let (queue, ahead) = (c.queue.clone(), c.ahead);
        let limit = self.config.queues[&queue].announce.limit;
        let limit_exceeded = ahead > limit;
        let estimated_wait_min = self.estimated_wait(&queue, ahead);
        self.events.push_back(Event::Announce {
            call,
            ahead,
            limit,
            limit_exceeded,
            estimated_wait_min,
        });
        self.log(
            LogLine::new(self.ms(now), "announced", Some(&queue), Some(call), None)
                .with("ahead", ahead)
                .with("limit_exceeded", limit_exceeded)
                .with("estimated_wait_min", estimated_wait_min),
        );
        if let Some(c) = self.calls.get_mut(&call) {
            c.last_announced = Some((spoken(ahead, limit), now));
        }
        self.schedule_announce(call);
    }

    /// Minutes: (ahead + 1) × average handling time / operators serving, rounded, at
    /// least 1. None with fewer than `min_samples` recent calls or nobody serving
    /// (logged in, phone registered, not paused).
    pub(super) fn estimated_wait(&self, queue: &QueueId, ahead: u32) -> Option<u32> {
        let cfg = &self.config.queues[queue].estimated_wait;
        if !cfg.enabled {
            return None;
        }
        let all = self.store.handle_times(queue);
        let recent = &all[all.len().saturating_sub(cfg.window as usize)..];
        if recent.is_empty() || recent.len() < cfg.min_samples as usize {
            return None;
        }
        let serving = self
            .store
            .members(queue)
            .iter()
            .filter_map(|op| self.store.operator(op))
            .filter(|r| {
                r.registered
                    && r.state.logged_in()
                    && !matches!(r.state, OperatorState::Paused { .. })
            })
            .count() as u128;
        if serving == 0 {
            return None;
        }
        let avg = recent.iter().map(|&m| m as u128).sum::<u128>() / recent.len() as u128;
        let est_ms = (ahead as u128 + 1) * avg / serving;
        Some(((est_ms + 30_000) / 60_000).max(1) as u32)
    }
}
