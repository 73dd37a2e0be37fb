//! The contact-centre desk in the SIP task: the ACD engine, the outgoing legs to
//! operators' phones, and what the ACD asks callers to hear. It only decides; the
//! daemon carries out its `Order`s with the endpoint and the media workers.

use crate::ivr::say_it;
use crate::queue::{self, Acd, AcdConfig, MemoryStore, OperatorId, QueueId};
use crate::sip::endpoint::{CallId, EndReason};
use std::collections::HashMap;
use std::io::Write as _;
use std::time::Instant;

/// What the daemon must do for the desk.
#[derive(Debug, Clone, PartialEq)]
pub enum Order {
    /// Call this operator for this waiting caller.
    Ring { caller: CallId, op: OperatorId },
    /// Cancel that offer (hang up the operator leg).
    HangUpLeg { leg: CallId },
    /// Bridge the caller and the operator leg.
    Connect { caller: CallId, leg: CallId },
    /// Play these fragments to the waiting caller.
    Say {
        caller: CallId,
        prompts: Vec<String>,
    },
    /// The caller leaves the queue for this menu node.
    Resume { caller: CallId, node: String },
    /// The caller pressed the exit key: run the menu's exit flow at this node, keeping
    /// their place until `exit_confirmed` / `exit_cancelled`.
    Exit { caller: CallId, node: String },
    /// End the caller's call (their operator hung up).
    HangUpCaller { caller: CallId },
}

/// What an operator's feature code asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    Login,
    Logout,
    Pause,
    Resume,
}

/// One operator leg: which caller it is for, which operator, and whether it connected.
struct Leg {
    caller: CallId,
    op: OperatorId,
    connected: bool,
}

pub struct Desk {
    acd: Acd<MemoryStore>,
    legs: HashMap<CallId, Leg>,
    log: Option<std::fs::File>,
    orders: Vec<Order>,
}

impl Desk {
    pub fn new(
        config: AcdConfig,
        now: Instant,
        log: Option<std::fs::File>,
    ) -> Result<Desk, queue::ConfigError> {
        let epoch_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Ok(Desk {
            acd: Acd::new(MemoryStore::default(), config, now, epoch_ms)?,
            legs: HashMap::new(),
            log,
            orders: Vec::new(),
        })
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.acd.poll_timeout()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.acd.handle_timeout(now);
    }

    /// A caller's menu handed them to `queue`. `false`: no such queue.
    pub fn join(&mut self, now: Instant, caller: CallId, queue: &str, priority: i32) -> bool {
        self.acd
            .caller_joined(now, caller, &QueueId(queue.to_owned()), priority)
            .is_ok()
    }

    pub fn operator_registered(&mut self, now: Instant, user: &str) {
        let _ = self
            .acd
            .operator_registered(now, &OperatorId(user.to_owned()));
    }

    pub fn operator_unregistered(&mut self, now: Instant, user: &str) {
        let _ = self
            .acd
            .operator_unregistered(now, &OperatorId(user.to_owned()));
    }

    /// A key a waiting caller pressed. True when it starts the exit flow.
    pub fn caller_key(&mut self, now: Instant, caller: CallId, key: char) -> bool {
        self.acd
            .caller_requested_exit(now, caller, key)
            .unwrap_or(false)
    }

    /// The exit flow went back to waiting: the caller keeps their place.
    pub fn exit_cancelled(&mut self, now: Instant, caller: CallId) {
        let _ = self.acd.caller_exit_cancelled(now, caller);
    }

    /// The exit flow completed (a request left, a goodbye): the caller leaves the queue.
    pub fn exit_confirmed(&mut self, now: Instant, caller: CallId) {
        let _ = self.acd.caller_exit_confirmed(now, caller);
    }

    /// An operator's feature code: log in, log out, pause, resume. False if refused.
    pub fn feature(&mut self, now: Instant, user: &str, feature: Feature) -> bool {
        let op = OperatorId(user.to_owned());
        let done = match feature {
            Feature::Login => self.acd.operator_login(now, &op),
            Feature::Logout => self.acd.operator_logout(now, &op),
            Feature::Pause => self
                .acd
                .operator_pause(now, &op, "richiesta dell'operatore"),
            Feature::Resume => self.acd.operator_resume(now, &op),
        };
        done.is_ok()
    }

    /// The operator on `leg` transferred their caller to the queue `target` (REFER). The
    /// caller keeps the time already waited. Returns the caller when the queue took them;
    /// the leg no longer belongs to the caller, so its hang-up won't end the caller's call.
    pub fn transfer(&mut self, now: Instant, leg: CallId, target: &str) -> Option<CallId> {
        let caller = self.legs.get(&leg)?.caller;
        self.acd
            .transfer(now, caller, &QueueId(target.to_owned()))
            .ok()?;
        self.legs.remove(&leg);
        Some(caller)
    }

    /// The operator on `leg` sent their caller back to the menu (a ticket or appointment
    /// node): the operator's call is over (wrap-up follows), the caller stays up.
    /// Returns the caller and the operator.
    pub fn release_to_menu(&mut self, now: Instant, leg: CallId) -> Option<(CallId, OperatorId)> {
        let l = self.legs.get(&leg).filter(|l| l.connected)?;
        let (caller, op) = (l.caller, l.op.clone());
        self.legs.remove(&leg);
        let _ = self.acd.call_completed(now, &op);
        Some((caller, op))
    }

    /// The daemon placed the call for a `Ring` order.
    pub fn leg_placed(&mut self, leg: CallId, caller: CallId, op: OperatorId) {
        self.legs.insert(
            leg,
            Leg {
                caller,
                op,
                connected: false,
            },
        );
    }

    /// The operator could not even be called (no registered phone, no media port).
    pub fn ring_failed(&mut self, now: Instant, caller: CallId, op: &OperatorId) {
        let _ = self.acd.operator_busy_or_unreachable(now, op, caller);
    }

    /// The caller an operator is talking to now.
    pub fn connected_caller(&self, op: &OperatorId) -> Option<CallId> {
        self.legs
            .values()
            .find(|l| l.connected && &l.op == op)
            .map(|l| l.caller)
    }

    /// The caller an operator leg is connected to.
    pub fn caller_of(&self, leg: CallId) -> Option<CallId> {
        self.legs
            .get(&leg)
            .filter(|l| l.connected)
            .map(|l| l.caller)
    }

    pub fn is_leg(&self, call: CallId) -> bool {
        self.legs.contains_key(&call)
    }

    /// The operator answered a leg.
    pub fn leg_answered(&mut self, now: Instant, leg: CallId) {
        let Some(l) = self.legs.get(&leg) else { return };
        let (caller, op) = (l.caller, l.op.clone());
        if self.acd.operator_answered(now, &op, caller).is_err() {
            // Too late (ring-all: someone else answered; or the caller left).
            self.legs.remove(&leg);
            self.orders.push(Order::HangUpLeg { leg });
        }
    }

    /// A call ended: an operator leg or a caller.
    pub fn call_ended(&mut self, now: Instant, call: CallId, reason: EndReason) {
        if let Some(l) = self.legs.remove(&call) {
            if l.connected {
                let _ = self.acd.call_completed(now, &l.op);
                self.orders.push(Order::HangUpCaller { caller: l.caller });
            } else {
                let _ = match reason {
                    EndReason::Failed(486 | 600 | 603)
                    | EndReason::Failed(480)
                    | EndReason::Failed(404) => {
                        self.acd.operator_busy_or_unreachable(now, &l.op, l.caller)
                    }
                    _ => self.acd.operator_no_answer(now, &l.op, l.caller),
                };
            }
            return;
        }
        if self.acd.queue_of(call).is_some() {
            let _ = self.acd.caller_left(now, call);
        }
        // A connected caller hung up: end their operator's leg too.
        let legs: Vec<CallId> = self
            .legs
            .iter()
            .filter(|(_, l)| l.caller == call && l.connected)
            .map(|(leg, _)| *leg)
            .collect();
        // (`caller_left` above already completed the operator's call.)
        for leg in legs {
            self.legs.remove(&leg);
            self.orders.push(Order::HangUpLeg { leg });
        }
    }

    /// What to do next: the ACD's events turned into orders, and its log written.
    pub fn poll_order(&mut self) -> Option<Order> {
        while let Some(line) = self.acd.poll_log() {
            match self.log.as_mut() {
                Some(f) => {
                    let _ = writeln!(f, "{line}");
                }
                None => tracing::debug!(target: "queue_log", "{line}"),
            }
        }
        while self.orders.is_empty() {
            let event = self.acd.poll_event()?;
            self.event(event);
        }
        Some(self.orders.remove(0))
    }

    fn leg_of(&self, caller: CallId, op: &OperatorId) -> Option<CallId> {
        self.legs
            .iter()
            .find(|(_, l)| l.caller == caller && &l.op == op)
            .map(|(leg, _)| *leg)
    }

    fn event(&mut self, event: queue::Event) {
        match event {
            queue::Event::Ring { call, op } => self.orders.push(Order::Ring { caller: call, op }),
            queue::Event::StopRinging { call, op } => {
                if let Some(leg) = self.leg_of(call, &op) {
                    self.legs.remove(&leg);
                    self.orders.push(Order::HangUpLeg { leg });
                }
            }
            queue::Event::Connect { call, op } => {
                if let Some(leg) = self.leg_of(call, &op) {
                    if let Some(l) = self.legs.get_mut(&leg) {
                        l.connected = true;
                    }
                    self.orders.push(Order::Connect { caller: call, leg });
                }
            }
            queue::Event::Announce {
                call,
                ahead,
                limit,
                limit_exceeded,
                estimated_wait_min,
            } => {
                let n = if limit_exceeded { limit + 1 } else { ahead };
                let mut prompts = say_it::callers_ahead(n, limit);
                if let Some(m) = estimated_wait_min {
                    prompts.extend(say_it::wait_minutes(m));
                }
                self.orders.push(Order::Say {
                    caller: call,
                    prompts,
                });
            }
            queue::Event::Overflow {
                call, target_node, ..
            } => self.orders.push(Order::Resume {
                caller: call,
                node: target_node,
            }),
            queue::Event::ExitRequested {
                call, target_node, ..
            } => match target_node {
                Some(node) => self.orders.push(Order::Exit { caller: call, node }),
                // An exit key with no exit flow configured: back to waiting at once.
                None => {
                    let _ = self.acd.caller_exit_cancelled(Instant::now(), call);
                }
            },
        }
    }
}
