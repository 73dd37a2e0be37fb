//! Offering callers to operators: the four strategies, ringing, the ring outcomes
//! (answer, no answer, timeout, withdrawal), the connection and the end of the call
//! with wrap-up.

use super::RingFailure;
use super::acd::{Acd, Stage, ms_between};
use super::config::Strategy;
use super::log::LogLine;
use super::store::{AfterCall, OperatorRecord, Store};
use super::timers::Timer;
use super::{AcdError, CallId, Event, OperatorId, OperatorState, OverflowReason, QueueId};
use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Reason given to operators paused for not answering.
pub const NO_ANSWER_REASON: &str = "no answer";

impl<S: Store> Acd<S> {
    // ----- operator answers and call ends (inputs) -----

    /// The operator answered the offered call: it is connected at once and any other
    /// phone ringing for it stops.
    pub fn operator_answered(
        &mut self,
        now: Instant,
        op: &OperatorId,
        call: CallId,
    ) -> Result<(), AcdError> {
        let rec = self.operator_record(op)?;
        let not_ringing = || AcdError::NotRinging {
            op: op.clone(),
            call,
        };
        if rec.state != (OperatorState::Ringing { call }) {
            return Err(not_ringing());
        }
        let c = self.calls.get_mut(&call).ok_or_else(not_ringing)?;
        let Stage::Offered { ops, since } = &c.stage else {
            return Err(not_ringing());
        };
        if !ops.contains(op) {
            return Err(not_ringing());
        }
        let others: Vec<OperatorId> = ops.iter().filter(|o| *o != op).cloned().collect();
        let ring_ms = ms_between(*since, now);
        c.stage = Stage::Connected {
            op: op.clone(),
            at: now,
        };
        let (queue, joined_at, ahead_at_entry) = (c.queue.clone(), c.joined_at, c.ahead_at_entry);

        // The connection goes first; a not-yet-played announcement for it is moot.
        self.events
            .retain(|e| !(matches!(e, Event::Announce { .. }) && e.call() == call));
        self.events.push_front(Event::Connect {
            call,
            op: op.clone(),
        });
        for o in &others {
            self.events.push_back(Event::StopRinging {
                call,
                op: o.clone(),
            });
            self.release_ringing(now, o, call);
        }
        self.timers.cancel_call(call);
        self.store.remove(&queue, call);
        self.dirty.insert(queue.clone());
        self.update_op(now, op, |r| {
            r.state = OperatorState::OnCall { call };
            r.no_answer_streak = 0;
            r.calls_taken += 1;
        });
        self.log(
            LogLine::new(
                self.ms(now),
                "connected",
                Some(&queue),
                Some(call),
                Some(op),
            )
            .with("wait_ms", ms_between(joined_at, now))
            .with("ring_ms", ring_ms)
            .with("ahead_at_entry", ahead_at_entry),
        );
        self.run(now);
        Ok(())
    }

    /// The operator's phone stopped ringing without an answer (e.g. 480, 603).
    pub fn operator_no_answer(
        &mut self,
        now: Instant,
        op: &OperatorId,
        call: CallId,
    ) -> Result<(), AcdError> {
        self.check_ringing(op, call)?;
        self.ring_failed(now, op, call, RingFailure::NoAnswer, false);
        self.run(now);
        Ok(())
    }

    /// The operator's phone was busy or could not be reached (486, 408, 503).
    pub fn operator_busy_or_unreachable(
        &mut self,
        now: Instant,
        op: &OperatorId,
        call: CallId,
    ) -> Result<(), AcdError> {
        self.check_ringing(op, call)?;
        self.ring_failed(now, op, call, RingFailure::BusyOrUnreachable, false);
        self.run(now);
        Ok(())
    }

    /// The operator's call ended (either side hung up): wrap-up, then available.
    pub fn call_completed(&mut self, now: Instant, op: &OperatorId) -> Result<(), AcdError> {
        self.complete(now, op, "operator")?;
        self.run(now);
        Ok(())
    }

    // ----- internals -----

    pub(super) fn operator_record(&self, op: &OperatorId) -> Result<OperatorRecord, AcdError> {
        self.store
            .operator(op)
            .ok_or_else(|| AcdError::UnknownOperator(op.clone()))
    }

    fn check_ringing(&self, op: &OperatorId, call: CallId) -> Result<(), AcdError> {
        let rec = self.operator_record(op)?;
        let offered = self
            .calls
            .get(&call)
            .is_some_and(|c| matches!(&c.stage, Stage::Offered { ops, .. } if ops.contains(op)));
        if rec.state != (OperatorState::Ringing { call }) || !offered {
            return Err(AcdError::NotRinging {
                op: op.clone(),
                call,
            });
        }
        Ok(())
    }

    /// Reads, changes and writes an operator record, logging a change of state.
    pub(super) fn update_op(
        &mut self,
        now: Instant,
        op: &OperatorId,
        f: impl FnOnce(&mut OperatorRecord),
    ) -> OperatorRecord {
        let mut rec = self.store.operator(op).unwrap_or_default();
        let before = rec.state.clone();
        f(&mut rec);
        if rec.state != before {
            let call = match (&rec.state, &before) {
                (OperatorState::Ringing { call } | OperatorState::OnCall { call }, _)
                | (_, OperatorState::Ringing { call } | OperatorState::OnCall { call }) => {
                    Some(*call)
                }
                _ => None,
            };
            let mut line = LogLine::new(self.ms(now), "operator_state", None, call, Some(op))
                .with("from", before.name())
                .with("to", rec.state.name());
            if let OperatorState::Paused { reason } = &rec.state {
                line = line.with("reason", reason.clone());
            }
            self.log(line);
        }
        self.store.set_operator(op, rec.clone());
        rec
    }

    /// Offers waiting callers to free operators: across all queues, higher priority and
    /// longer wait first. A caller pausing after a failed offer keeps the operator(s) they
    /// would get, so nobody behind overtakes them. Returns whether anything was offered.
    pub(super) fn dispatch(&mut self, now: Instant) -> bool {
        let mut recs: HashMap<OperatorId, OperatorRecord> = HashMap::new();
        let mut free: HashSet<OperatorId> = HashSet::new();
        for q in self.config.queues.keys() {
            for op in self.store.members(q) {
                if recs.contains_key(&op) {
                    continue;
                }
                if let Some(r) = self.store.operator(&op) {
                    if r.registered && r.state == OperatorState::Available {
                        free.insert(op.clone());
                    }
                    recs.insert(op, r);
                }
            }
        }
        if free.is_empty() {
            return false;
        }
        let mut candidates = Vec::new();
        for (qi, q) in self.config.queues.keys().enumerate() {
            for (pos, e) in self.store.waiting(q).into_iter().enumerate() {
                let eligible = self
                    .calls
                    .get(&e.call)
                    .is_some_and(|c| c.stage == Stage::Queued && c.queue == *q);
                if eligible {
                    candidates.push((
                        Reverse(e.priority),
                        e.joined_at_ms,
                        qi,
                        pos,
                        e.call,
                        q.clone(),
                    ));
                }
            }
        }
        candidates.sort();
        let mut offered = false;
        for (.., call, q) in candidates {
            if free.is_empty() {
                break;
            }
            let avail: Vec<OperatorId> = self
                .store
                .members(&q)
                .into_iter()
                .filter(|o| free.contains(o))
                .collect();
            if avail.is_empty() {
                continue;
            }
            let c = &self.calls[&call];
            let chosen = self.pick(&q, &avail, &recs, &c.tried);
            for o in &chosen {
                free.remove(o);
            }
            if c.retry_until.is_some_and(|t| t > now) {
                continue;
            }
            self.offer(now, call, &q, chosen);
            offered = true;
        }
        offered
    }

    /// The operator(s) the strategy offers this caller, preferring those not yet tried.
    fn pick(
        &self,
        q: &QueueId,
        avail: &[OperatorId],
        recs: &HashMap<OperatorId, OperatorRecord>,
        tried: &[OperatorId],
    ) -> Vec<OperatorId> {
        let strategy = self.config.queues[q].strategy;
        if strategy == Strategy::RingAll {
            return avail.to_vec();
        }
        let untried: Vec<&OperatorId> = avail.iter().filter(|o| !tried.contains(o)).collect();
        let pool = if untried.is_empty() {
            avail.iter().collect()
        } else {
            untried
        };
        // Never had a call: idle longest. Ties: member order (`min_by_key` keeps the first).
        let idle = |o: &OperatorId| recs[o].last_call_end_ms.map_or((0, 0), |t| (1, t));
        let chosen = match strategy {
            Strategy::LongestIdle => pool.iter().copied().min_by_key(|o| idle(o)).cloned(),
            Strategy::FewestCalls => pool
                .iter()
                .copied()
                .min_by_key(|o| (recs[*o].calls_taken, idle(o)))
                .cloned(),
            Strategy::RoundRobin => {
                let members = self.store.members(q);
                let start = self
                    .store
                    .rr_last(q)
                    .and_then(|l| members.iter().position(|m| *m == l))
                    .map_or(0, |i| i + 1);
                (0..members.len())
                    .map(|k| &members[(start + k) % members.len()])
                    .find(|m| pool.contains(m))
                    .cloned()
            }
            Strategy::RingAll => unreachable!("handled above"),
        };
        chosen.into_iter().collect()
    }

    fn offer(&mut self, now: Instant, call: CallId, q: &QueueId, ops: Vec<OperatorId>) {
        let cfg = &self.config.queues[q];
        let timeout = Duration::from_millis(cfg.ring_timeout_ms);
        if cfg.strategy == Strategy::RoundRobin
            && let Some(first) = ops.first()
        {
            self.store.set_rr_last(q, first);
        }
        let (ahead, joined_at) = {
            let c = &self.calls[&call];
            (c.ahead, c.joined_at)
        };
        for op in &ops {
            self.update_op(now, op, |r| r.state = OperatorState::Ringing { call });
            self.events.push_back(Event::Ring {
                call,
                op: op.clone(),
            });
            self.log(
                LogLine::new(self.ms(now), "ring", Some(q), Some(call), Some(op))
                    .with("ahead", ahead)
                    .with("wait_ms", ms_between(joined_at, now))
                    .with("timeout_ms", timeout.as_millis() as u64),
            );
        }
        if let Some(c) = self.calls.get_mut(&call) {
            c.tried.extend(ops.iter().cloned());
            c.stage = Stage::Offered { ops, since: now };
        }
        self.timers.set(Timer::Ring(call), now + timeout);
    }

    pub(super) fn ring_timed_out(&mut self, now: Instant, call: CallId) {
        let Some(Stage::Offered { ops, .. }) = self.calls.get(&call).map(|c| c.stage.clone())
        else {
            return;
        };
        for op in ops {
            self.ring_failed(now, &op, call, RingFailure::Timeout, true);
        }
    }

    /// One operator did not take the call: their no-answer streak grows (pausing them
    /// at `max_no_answer`); when nobody rings any more the caller waits `retry_ms`,
    /// still in their place.
    fn ring_failed(
        &mut self,
        now: Instant,
        op: &OperatorId,
        call: CallId,
        cause: RingFailure,
        stop: bool,
    ) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Stage::Offered { ops, since } = &mut c.stage else {
            return;
        };
        ops.retain(|o| o != op);
        let (none_left, ring_ms, queue) =
            (ops.is_empty(), ms_between(*since, now), c.queue.clone());
        if stop {
            self.events.push_back(Event::StopRinging {
                call,
                op: op.clone(),
            });
        }
        let max = self.config.queues[&queue].max_no_answer;
        // The no-answer is logged before the state change it causes (a pause).
        let streak = self
            .store
            .operator(op)
            .map_or(1, |r| r.no_answer_streak + 1);
        self.log(
            LogLine::new(
                self.ms(now),
                "no_answer",
                Some(&queue),
                Some(call),
                Some(op),
            )
            .with("cause", cause.as_str())
            .with("ring_ms", ring_ms)
            .with("streak", streak),
        );
        self.update_op(now, op, |r| {
            r.no_answer_streak += 1;
            r.state = if max > 0 && r.no_answer_streak >= max {
                OperatorState::Paused {
                    reason: NO_ANSWER_REASON.to_owned(),
                }
            } else {
                OperatorState::Available
            };
        });
        if none_left {
            self.offer_ended(now, call, true);
        }
    }

    /// Nobody rings for the caller any more: back to waiting (after `retry_ms` if the
    /// offer failed), or to overflow if the maximum wait passed meanwhile.
    fn offer_ended(&mut self, now: Instant, call: CallId, failed: bool) {
        self.timers.cancel(&Timer::Ring(call));
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        c.stage = Stage::Queued;
        if c.overdue && !c.exiting {
            self.overflow_waiting(now, call, OverflowReason::MaxWait);
            return;
        }
        let retry = self.config.queues[&c.queue].retry_ms;
        if failed && retry > 0 {
            let until = now + Duration::from_millis(retry);
            c.retry_until = Some(until);
            self.timers.set(Timer::Retry(call), until);
        }
    }

    /// The offer to `op` is withdrawn through no fault of the caller or a streak of the
    /// operator (logout, pause, phone gone): their phone stops; if nobody else rings,
    /// the caller is offered again at once. The caller of this sets the operator's state.
    pub(super) fn withdraw(&mut self, now: Instant, op: &OperatorId, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Stage::Offered { ops, .. } = &mut c.stage else {
            return;
        };
        ops.retain(|o| o != op);
        let none_left = ops.is_empty();
        self.events.push_back(Event::StopRinging {
            call,
            op: op.clone(),
        });
        if none_left {
            self.offer_ended(now, call, false);
        }
    }

    /// Stops every phone ringing for the caller (who leaves or is moved); the operators
    /// are available again.
    pub(super) fn stop_all_ringing(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get_mut(&call) else {
            return;
        };
        let Stage::Offered { ops, .. } = std::mem::replace(&mut c.stage, Stage::Queued) else {
            return;
        };
        self.timers.cancel(&Timer::Ring(call));
        for op in ops {
            self.events.push_back(Event::StopRinging {
                call,
                op: op.clone(),
            });
            self.release_ringing(now, &op, call);
        }
    }

    /// An operator whose phone rang for `call` without fault is available again.
    fn release_ringing(&mut self, now: Instant, op: &OperatorId, call: CallId) {
        self.update_op(now, op, |r| {
            if r.state == (OperatorState::Ringing { call }) {
                r.state = OperatorState::Available;
            }
        });
    }

    /// Ends the operator's call: statistics, log, wrap-up.
    pub(super) fn complete(
        &mut self,
        now: Instant,
        op: &OperatorId,
        by: &str,
    ) -> Result<(), AcdError> {
        let rec = self.operator_record(op)?;
        let OperatorState::OnCall { call } = rec.state else {
            return Err(AcdError::NotOnCall(op.clone()));
        };
        let mut wrapup = 0;
        if let Some(c) = self.calls.remove(&call) {
            self.timers.cancel_call(call);
            let cfg = &self.config.queues[&c.queue];
            wrapup = cfg.wrapup_ms;
            let window = cfg.estimated_wait.window as usize;
            let connected_at = match c.stage {
                Stage::Connected { at, .. } => at,
                _ => now,
            };
            let talk_ms = ms_between(connected_at, now);
            self.store
                .push_handle_time(&c.queue, talk_ms + wrapup, window);
            self.log(
                LogLine::new(
                    self.ms(now),
                    "completed",
                    Some(&c.queue),
                    Some(call),
                    Some(op),
                )
                .with("wait_ms", ms_between(c.joined_at, connected_at))
                .with("talk_ms", talk_ms)
                .with("by", by),
            );
        }
        let end_ms = self.ms(now);
        self.update_op(now, op, |r| {
            r.last_call_end_ms = Some(end_ms);
            r.state = OperatorState::WrapUp;
        });
        if wrapup > 0 {
            self.timers.set(
                Timer::WrapUp(op.clone()),
                now + Duration::from_millis(wrapup),
            );
        } else {
            self.end_wrapup(now, op);
        }
        Ok(())
    }

    /// Wrap-up over: available, or what the operator asked for during the call.
    pub(super) fn end_wrapup(&mut self, now: Instant, op: &OperatorId) {
        self.timers.cancel(&Timer::WrapUp(op.clone()));
        self.update_op(now, op, |r| {
            if r.state != OperatorState::WrapUp {
                return;
            }
            r.state = match r.after_call.take() {
                Some(AfterCall::Pause { reason }) => OperatorState::Paused { reason },
                Some(AfterCall::Logout) => OperatorState::LoggedOut,
                None => OperatorState::Available,
            };
        });
    }
}
