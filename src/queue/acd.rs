//! The ACD engine: its state, the driver loop verbs (`handle_timeout`, `poll_event`,
//! `poll_log`, `poll_timeout`) and the caller-side inputs (join, leave, transfer, the
//! exit-key flow). Operator inputs live in `operators.rs`, offers and strategies in
//! `dispatch.rs`, announcements in `announce.rs`.

use super::config::{AcdConfig, ConfigError, QueueConfig};
use super::log::LogLine;
use super::store::{Entry, OperatorRecord, Store};
use super::timers::{Timer, Timers};
use super::{AcdError, CallId, Event, OperatorId, OperatorState, OverflowReason, QueueId};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Where a caller is, named for what they wait for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Stage {
    /// Waiting for an offer (possibly pausing after a failed one: `retry_until`).
    Queued,
    /// These operators' phones ring for the caller.
    Offered {
        ops: Vec<OperatorId>,
        since: Instant,
    },
    /// Bridged; kept until the call ends for the handling-time statistics.
    Connected { op: OperatorId, at: Instant },
}

/// What this daemon alone knows about a call it holds.
#[derive(Debug, Clone)]
pub(super) struct Caller {
    pub queue: QueueId,
    pub priority: i32,
    /// First join (any queue): kept across transfers.
    pub joined_at: Instant,
    /// Entry into the current queue.
    pub entered_at: Instant,
    pub ahead_at_entry: u32,
    pub stage: Stage,
    /// Callers ahead, as last counted.
    pub ahead: u32,
    /// (spoken number, when) of the last announcement in this queue.
    pub last_announced: Option<(u32, Instant)>,
    /// Operators already offered this caller; others are preferred.
    pub tried: Vec<OperatorId>,
    pub retry_until: Option<Instant>,
    /// The maximum wait passed while ringing or in the exit flow: overflow as soon as
    /// the caller is back to plain waiting.
    pub overdue: bool,
    /// The exit flow runs (place kept, announcements paused).
    pub exiting: bool,
}

/// The ACD: one owner of queue logic; shared state in `S`.
pub struct Acd<S: Store> {
    pub(super) store: S,
    pub(super) config: AcdConfig,
    epoch: Instant,
    epoch_ms: u64,
    pub(super) calls: HashMap<CallId, Caller>,
    pub(super) timers: Timers,
    pub(super) events: VecDeque<Event>,
    logs: VecDeque<String>,
    /// Queues whose positions must be counted again.
    pub(super) dirty: BTreeSet<QueueId>,
}

impl<S: Store> Acd<S> {
    /// `epoch` and `epoch_ms` tie the monotonic clock to the wall clock of the log
    /// (`epoch_ms` = Unix ms at `epoch`). The configuration is validated here.
    pub fn new(
        mut store: S,
        config: AcdConfig,
        epoch: Instant,
        epoch_ms: u64,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        let mut known = Vec::new();
        for (q, c) in &config.queues {
            store.set_members(q, c.members.clone());
            known.extend(c.members.iter().cloned());
        }
        known.extend(config.operators.keys().cloned());
        for op in known {
            if store.operator(&op).is_none() {
                store.set_operator(&op, OperatorRecord::default());
            }
        }
        Ok(Acd {
            store,
            config,
            epoch,
            epoch_ms,
            calls: HashMap::new(),
            timers: Timers::default(),
            events: VecDeque::new(),
            logs: VecDeque::new(),
            dirty: BTreeSet::new(),
        })
    }

    // ----- driver loop -----

    pub fn handle_timeout(&mut self, now: Instant) {
        self.run(now);
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next queue-log line (JSON, no trailing newline).
    pub fn poll_log(&mut self) -> Option<String> {
        self.logs.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ----- inspection (admin console, tests) -----

    pub fn store(&self) -> &S {
        &self.store
    }

    /// Callers ahead of a waiting call (0-based).
    pub fn ahead(&self, call: CallId) -> Option<u32> {
        let c = self.calls.get(&call)?;
        self.store.ahead(&c.queue, call)
    }

    /// The queue a call waits in or was connected from.
    pub fn queue_of(&self, call: CallId) -> Option<&QueueId> {
        self.calls.get(&call).map(|c| &c.queue)
    }

    /// Waiting callers of a queue, head first.
    pub fn waiting(&self, queue: &QueueId) -> Vec<CallId> {
        self.store
            .waiting(queue)
            .into_iter()
            .map(|e| e.call)
            .collect()
    }

    pub fn operator_state(&self, op: &OperatorId) -> Option<OperatorState> {
        self.store.operator(op).map(|r| r.state)
    }

    // ----- caller inputs -----

    /// A caller asks for an operator of `queue`. Higher `priority` waits ahead of lower.
    /// A refused join comes out as `Event::Overflow`.
    pub fn caller_joined(
        &mut self,
        now: Instant,
        call: CallId,
        queue: &QueueId,
        priority: i32,
    ) -> Result<(), AcdError> {
        self.queue_config(queue)?;
        if self.calls.contains_key(&call) {
            return Err(AcdError::AlreadyQueued(call));
        }
        self.enter(now, call, queue, priority, now, None);
        self.run(now);
        Ok(())
    }

    /// The caller hung up: abandoned if waiting or ringing (phones stop), completed if
    /// connected.
    pub fn caller_left(&mut self, now: Instant, call: CallId) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if let Stage::Connected { op, .. } = &c.stage {
            let op = op.clone();
            self.complete(now, &op, "caller")?;
        } else {
            let ahead = self.store.ahead(&c.queue, call).unwrap_or(c.ahead);
            let c = self.leave_queue(now, call);
            self.log(
                LogLine::new(self.ms(now), "abandoned", Some(&c.queue), Some(call), None)
                    .with("wait_ms", ms_between(c.joined_at, now))
                    .with("ahead", ahead)
                    .with("ahead_at_entry", c.ahead_at_entry),
            );
        }
        self.run(now);
        Ok(())
    }

    /// A key pressed while waiting. The configured exit key asks the driver to run the
    /// exit flow (`Event::ExitRequested`) and returns true; the caller keeps their place
    /// until `caller_exit_confirmed`. Other keys, or keys after the connection, return
    /// false.
    pub fn caller_requested_exit(
        &mut self,
        now: Instant,
        call: CallId,
        key: char,
    ) -> Result<bool, AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if matches!(c.stage, Stage::Connected { .. }) {
            return Ok(false);
        }
        let cfg = &self.config.queues[&c.queue];
        if cfg.keys.exit != Some(key) {
            return Ok(false);
        }
        if c.exiting {
            return Ok(true);
        }
        let target_node = cfg.keys.exit_node.clone();
        let (queue, joined_at, ahead) = (c.queue.clone(), c.joined_at, c.ahead);
        if let Some(c) = self.calls.get_mut(&call) {
            c.exiting = true;
        }
        self.timers.cancel(&Timer::Announce(call));
        self.events.push_back(Event::ExitRequested {
            call,
            key,
            target_node,
        });
        self.log(
            LogLine::new(
                self.ms(now),
                "exit_requested",
                Some(&queue),
                Some(call),
                None,
            )
            .with("key", key.to_string())
            .with("wait_ms", ms_between(joined_at, now))
            .with("ahead", ahead),
        );
        self.run(now);
        Ok(true)
    }

    /// The exit flow completed (e.g. the ticket request is stored): the caller leaves.
    pub fn caller_exit_confirmed(&mut self, now: Instant, call: CallId) -> Result<(), AcdError> {
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if !c.exiting || matches!(c.stage, Stage::Connected { .. }) {
            return Err(AcdError::NotWaiting(call));
        }
        let ahead = self.store.ahead(&c.queue, call).unwrap_or(c.ahead);
        let c = self.leave_queue(now, call);
        self.log(
            LogLine::new(
                self.ms(now),
                "exit_confirmed",
                Some(&c.queue),
                Some(call),
                None,
            )
            .with("wait_ms", ms_between(c.joined_at, now))
            .with("ahead", ahead),
        );
        self.run(now);
        Ok(())
    }

    /// The caller backed out of the exit flow: they wait on, in the same place.
    pub fn caller_exit_cancelled(&mut self, now: Instant, call: CallId) -> Result<(), AcdError> {
        let c = self
            .calls
            .get_mut(&call)
            .ok_or(AcdError::UnknownCall(call))?;
        if !c.exiting {
            return Err(AcdError::NotWaiting(call));
        }
        c.exiting = false;
        let queue = c.queue.clone();
        let overdue = c.overdue && c.stage == Stage::Queued;
        self.log(LogLine::new(
            self.ms(now),
            "exit_cancelled",
            Some(&queue),
            Some(call),
            None,
        ));
        if overdue {
            self.overflow_waiting(now, call, OverflowReason::MaxWait);
        } else {
            self.dirty.insert(queue);
        }
        self.run(now);
        Ok(())
    }

    /// Moves a caller (waiting, ringing or connected) into another queue. The time of
    /// the first join is kept: it orders the caller among equal priorities and counts
    /// toward `max_wait_ms`. A connected call ends for its operator (wrap-up follows).
    pub fn transfer(&mut self, now: Instant, call: CallId, to: &QueueId) -> Result<(), AcdError> {
        self.queue_config(to)?;
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let (from, priority, joined_at) = (c.queue.clone(), c.priority, c.joined_at);
        if let Stage::Connected { op, .. } = &c.stage {
            let op = op.clone();
            self.complete(now, &op, "transfer")?;
        } else {
            self.leave_queue(now, call);
        }
        self.log(
            LogLine::new(self.ms(now), "transferred", Some(&from), Some(call), None)
                .with("to_queue", to.0.clone())
                .with("wait_ms", ms_between(joined_at, now)),
        );
        self.enter(now, call, to, priority, joined_at, Some(&from));
        self.run(now);
        Ok(())
    }

    // ----- internals shared by the other files -----

    pub(super) fn queue_config(&self, queue: &QueueId) -> Result<&QueueConfig, AcdError> {
        self.config
            .queues
            .get(queue)
            .ok_or_else(|| AcdError::UnknownQueue(queue.clone()))
    }

    /// Wall-clock ms of `now` for the log and the store.
    pub(super) fn ms(&self, now: Instant) -> u64 {
        self.epoch_ms + now.saturating_duration_since(self.epoch).as_millis() as u64
    }

    pub(super) fn log(&mut self, line: LogLine) {
        self.logs.push_back(line.finish());
    }

    /// Applies the join rules and queues the caller, or sends them to overflow.
    fn enter(
        &mut self,
        now: Instant,
        call: CallId,
        queue: &QueueId,
        priority: i32,
        joined_at: Instant,
        from: Option<&QueueId>,
    ) {
        let cfg = &self.config.queues[queue];
        let refusal = if !cfg.join_when_empty && !self.anyone_logged_in(queue) {
            Some(OverflowReason::Empty)
        } else if cfg.max_len.is_some_and(|max| self.store.len(queue) >= max) {
            Some(OverflowReason::MaxLen)
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.overflow_out(now, call, queue, reason, joined_at);
            return;
        }
        let max_wait = cfg.max_wait_ms.map(Duration::from_millis);
        let entry = Entry {
            call,
            priority,
            joined_at_ms: self.ms(joined_at),
        };
        self.store.enqueue(queue, entry);
        let ahead = self.store.ahead(queue, call).unwrap_or(0);
        self.calls.insert(
            call,
            Caller {
                queue: queue.clone(),
                priority,
                joined_at,
                entered_at: now,
                ahead_at_entry: ahead,
                stage: Stage::Queued,
                ahead,
                last_announced: None,
                tried: Vec::new(),
                retry_until: None,
                overdue: false,
                exiting: false,
            },
        );
        if let Some(mw) = max_wait {
            self.timers.set(Timer::MaxWait(call), joined_at + mw);
        }
        let mut line = LogLine::new(self.ms(now), "joined", Some(queue), Some(call), None)
            .with("ahead", ahead)
            .with("priority", priority)
            .with("len", self.store.len(queue))
            .with("wait_ms", ms_between(joined_at, now));
        if let Some(f) = from {
            line = line.with("transferred_from", f.0.clone());
        }
        self.log(line);
        self.dirty.insert(queue.clone());
    }

    /// Someone who could answer is logged in (with a registered phone); paused counts.
    fn anyone_logged_in(&self, queue: &QueueId) -> bool {
        self.store.members(queue).iter().any(|op| {
            self.store
                .operator(op)
                .is_some_and(|r| r.registered && r.state.logged_in())
        })
    }

    /// Sends a caller who is not (or no longer) queued to the overflow node.
    fn overflow_out(
        &mut self,
        now: Instant,
        call: CallId,
        queue: &QueueId,
        reason: OverflowReason,
        joined_at: Instant,
    ) {
        let o = &self.config.queues[queue].overflow;
        let target = match reason {
            OverflowReason::Empty => &o.empty,
            OverflowReason::MaxWait => &o.max_wait,
            OverflowReason::MaxLen => &o.max_len,
        };
        // `AcdConfig::validate` guarantees a target for every active rule.
        let target_node = target.clone().unwrap_or_default();
        self.log(
            LogLine::new(self.ms(now), "overflow", Some(queue), Some(call), None)
                .with("reason", reason.as_str())
                .with("target", target_node.clone())
                .with("wait_ms", ms_between(joined_at, now)),
        );
        self.events.push_back(Event::Overflow {
            call,
            queue: queue.clone(),
            target_node,
            reason,
        });
    }

    /// A waiting (not ringing) caller leaves for the overflow node.
    pub(super) fn overflow_waiting(&mut self, now: Instant, call: CallId, reason: OverflowReason) {
        let c = self.leave_queue(now, call);
        self.overflow_out(now, call, &c.queue, reason, c.joined_at);
    }

    /// Takes a waiting or ringing caller out of the engine: phones stop, the store
    /// forgets them, their timers go.
    pub(super) fn leave_queue(&mut self, now: Instant, call: CallId) -> Caller {
        self.stop_all_ringing(now, call);
        let c = self
            .calls
            .remove(&call)
            .expect("caller checked by the input");
        self.store.remove(&c.queue, call);
        self.timers.cancel_call(call);
        self.dirty.insert(c.queue.clone());
        c
    }

    /// Feeds due timers, offers calls to free operators and recounts positions until
    /// nothing is due at `now`.
    pub(super) fn run(&mut self, now: Instant) {
        loop {
            let offered = self.dispatch(now);
            self.refresh(now);
            if let Some(timer) = self.timers.pop_due(now) {
                self.fire(now, timer);
                continue;
            }
            if !offered {
                break;
            }
        }
    }

    fn fire(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Ring(call) => self.ring_timed_out(now, call),
            Timer::Retry(call) => {
                if let Some(c) = self.calls.get_mut(&call) {
                    c.retry_until = None;
                }
            }
            Timer::MaxWait(call) => {
                let Some(c) = self.calls.get_mut(&call) else {
                    return;
                };
                if c.stage == Stage::Queued && !c.exiting {
                    self.overflow_waiting(now, call, OverflowReason::MaxWait);
                } else {
                    c.overdue = true;
                }
            }
            Timer::Announce(call) => self.announce(now, call),
            Timer::WrapUp(op) => self.end_wrapup(now, &op),
        }
    }
}

pub(super) fn ms_between(from: Instant, to: Instant) -> u64 {
    to.saturating_duration_since(from).as_millis() as u64
}
