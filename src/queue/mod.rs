//! Pure ACD (automatic call distribution): callers waiting in priority + FIFO order,
//! operator states, ring strategies, "callers ahead" announcements (DESIGN §5), estimated
//! wait, overflow, the exit-key flow and a queue_log-style JSON event log.
//!
//! Sans-IO like the rest of the crate: the driver feeds inputs (`Acd::caller_*`,
//! `Acd::operator_*`, `Acd::handle_timeout`), each with `now`, then drains
//! `poll_event()` (what to do with calls and phones) and `poll_log()` (JSON lines) and
//! comes back at `poll_timeout()`.
//!
//! Shared state (who waits in what order, operator states, recent handling times) lives
//! behind the [`Store`] trait so several daemons can share it later (Redis); per-call
//! bookkeeping that only the daemon holding the call's media needs (timers, announcement
//! history, which phones ring) stays in the engine.

mod acd;
mod announce;
mod config;
mod dispatch;
mod log;
mod operators;
mod store;
#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start a virtual clock at a real instant
mod tests;
mod timers;

pub use crate::sip::endpoint::CallId;
pub use acd::Acd;
pub use config::{
    AcdConfig, AnnounceConfig, ConfigError, EstimatedWaitConfig, KeysConfig, OperatorConfig,
    OverflowTargets, QueueConfig, Strategy,
};
pub use dispatch::NO_ANSWER_REASON;
pub use store::{AfterCall, Entry, MemoryStore, OperatorRecord, OperatorState, Store};

use serde::{Deserialize, Serialize};
use std::fmt;

/// A queue: one per specialist section (e.g. `pensioni`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QueueId(pub String);

/// An operator, named as their softphone registers (the SIP user).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperatorId(pub String);

impl From<&str> for QueueId {
    fn from(s: &str) -> Self {
        QueueId(s.to_owned())
    }
}

impl From<&str> for OperatorId {
    fn from(s: &str) -> Self {
        OperatorId(s.to_owned())
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for OperatorId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a caller leaves the queue for another menu node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverflowReason {
    /// Nobody who could answer is logged in and the queue refuses such joins.
    Empty,
    /// The caller waited `max_wait_ms` (counted from the first join, across transfers).
    MaxWait,
    /// The queue already held `max_len` callers.
    MaxLen,
}

impl OverflowReason {
    pub fn as_str(self) -> &'static str {
        match self {
            OverflowReason::Empty => "empty",
            OverflowReason::MaxWait => "max_wait",
            OverflowReason::MaxLen => "max_len",
        }
    }
}

/// Why an offer to an operator failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingFailure {
    /// The ring timeout passed (the engine's own timer).
    Timeout,
    /// The phone rejected or stopped ringing without an answer (e.g. 480, 603).
    NoAnswer,
    /// Busy (486) or unreachable (408, 503, registration gone).
    BusyOrUnreachable,
}

impl RingFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            RingFailure::Timeout => "timeout",
            RingFailure::NoAnswer => "no_answer",
            RingFailure::BusyOrUnreachable => "busy_or_unreachable",
        }
    }
}

/// What the driver must do. `Connect` is never queued behind an announcement: it goes to
/// the front of the output and any not-yet-drained `Announce` for that call is dropped;
/// the driver cuts whatever prompt is playing to the caller at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Offer the call to this operator's phone (ring-all emits one per operator).
    Ring { call: CallId, op: OperatorId },
    /// Cancel the offer (ring timeout, another operator answered, the caller left, the
    /// operator logged out or paused).
    StopRinging { call: CallId, op: OperatorId },
    /// The operator answered: stop any prompt and bridge the caller to them now.
    Connect { call: CallId, op: OperatorId },
    /// Tell the caller how many callers are ahead (0-based). With `limit_exceeded` the
    /// phrase is "più di `limit`" (see `ivr::say_it::phrases::callers_ahead`).
    Announce {
        call: CallId,
        ahead: u32,
        limit: u32,
        limit_exceeded: bool,
        estimated_wait_min: Option<u32>,
    },
    /// The caller leaves the queue for this menu node (e.g. a ticket node or a closed
    /// message).
    Overflow {
        call: CallId,
        queue: QueueId,
        target_node: String,
        reason: OverflowReason,
    },
    /// The caller pressed the exit key: run the exit flow (e.g. leave a ticket request)
    /// and report back with `caller_exit_confirmed` or `caller_exit_cancelled`. The caller
    /// keeps their place meanwhile; announcements pause.
    ExitRequested {
        call: CallId,
        key: char,
        target_node: Option<String>,
    },
}

impl Event {
    /// The call this event is about.
    pub fn call(&self) -> CallId {
        match self {
            Event::Ring { call, .. }
            | Event::StopRinging { call, .. }
            | Event::Connect { call, .. }
            | Event::Announce { call, .. }
            | Event::Overflow { call, .. }
            | Event::ExitRequested { call, .. } => *call,
        }
    }
}

/// Misuse of the engine by its driver (or a race the driver must resolve, e.g. an
/// operator answering a call whose caller just hung up: answer with BYE).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    #[error("unknown operator {0}")]
    UnknownOperator(OperatorId),
    #[error("call {0:?} is not in any queue")]
    UnknownCall(CallId),
    #[error("call {0:?} is already queued or connected")]
    AlreadyQueued(CallId),
    #[error("operator {op} is not ringing for call {call:?}")]
    NotRinging { op: OperatorId, call: CallId },
    #[error("operator {0} is not on a call")]
    NotOnCall(OperatorId),
    #[error("call {0:?} is not waiting in a queue")]
    NotWaiting(CallId),
}
