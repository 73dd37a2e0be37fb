//! Shared queue and operator state behind a small interface: who waits in what order,
//! operator states, round-robin cursors and recent handling times. `MemoryStore` is the
//! embedded default; a Redis store (atomic Lua scripts for enqueue/position/claim) can
//! implement the same trait without touching the engine.

use super::{CallId, OperatorId, QueueId};
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// One waiting caller. Order: higher `priority` first, then earlier `joined_at_ms`
/// (preserved across transfers), then arrival.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub call: CallId,
    pub priority: i32,
    /// Wall-clock ms of the caller's first join (any queue).
    pub joined_at_ms: u64,
}

/// Where an operator is. Named for what the operator is doing or waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorState {
    LoggedOut,
    /// Logged in and free to be offered a call.
    Available,
    /// Their phone is being offered this call.
    Ringing {
        call: CallId,
    },
    OnCall {
        call: CallId,
    },
    /// After-call work; available again when the wrap-up time ends.
    WrapUp,
    Paused {
        reason: String,
    },
}

impl OperatorState {
    /// Short name for logs and the console.
    pub fn name(&self) -> &'static str {
        match self {
            OperatorState::LoggedOut => "logged_out",
            OperatorState::Available => "available",
            OperatorState::Ringing { .. } => "ringing",
            OperatorState::OnCall { .. } => "on_call",
            OperatorState::WrapUp => "wrap_up",
            OperatorState::Paused { .. } => "paused",
        }
    }

    pub fn logged_in(&self) -> bool {
        !matches!(self, OperatorState::LoggedOut)
    }
}

/// What happens when the current call (and its wrap-up) ends, asked for mid-call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterCall {
    Pause { reason: String },
    Logout,
}

/// Everything shared about one operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRecord {
    pub state: OperatorState,
    /// A softphone binding exists (the registrar says so).
    pub registered: bool,
    /// Wall-clock ms when their last call ended (longest-idle).
    pub last_call_end_ms: Option<u64>,
    /// Calls answered (fewest-calls).
    pub calls_taken: u32,
    /// Failed offers in a row.
    pub no_answer_streak: u32,
    pub after_call: Option<AfterCall>,
}

impl Default for OperatorRecord {
    fn default() -> Self {
        OperatorRecord {
            state: OperatorState::LoggedOut,
            registered: false,
            last_call_end_ms: None,
            calls_taken: 0,
            no_answer_streak: 0,
            after_call: None,
        }
    }
}

/// The engine reads and writes shared state only through this trait.
pub trait Store {
    /// Adds a caller; ordering as documented on [`Entry`].
    fn enqueue(&mut self, queue: &QueueId, entry: Entry);
    /// Removes a caller, returning their entry.
    fn remove(&mut self, queue: &QueueId, call: CallId) -> Option<Entry>;
    /// Callers ahead of `call` (0-based), `None` if not in the queue.
    fn ahead(&self, queue: &QueueId, call: CallId) -> Option<u32>;
    /// Waiting callers in order, head first (the next caller for an operator is the
    /// first one not already being offered).
    fn waiting(&self, queue: &QueueId) -> Vec<Entry>;
    fn len(&self, queue: &QueueId) -> u32;

    fn operator(&self, op: &OperatorId) -> Option<OperatorRecord>;
    fn set_operator(&mut self, op: &OperatorId, record: OperatorRecord);
    /// The operators serving a queue, in round-robin order.
    fn members(&self, queue: &QueueId) -> Vec<OperatorId>;
    fn set_members(&mut self, queue: &QueueId, members: Vec<OperatorId>);

    /// The operator rung last by round-robin.
    fn rr_last(&self, queue: &QueueId) -> Option<OperatorId>;
    fn set_rr_last(&mut self, queue: &QueueId, op: &OperatorId);

    /// Records one completed call's handling time, keeping the newest `keep`.
    fn push_handle_time(&mut self, queue: &QueueId, ms: u64, keep: usize);
    /// Recent handling times, oldest first.
    fn handle_times(&self, queue: &QueueId) -> Vec<u64>;
}

type OrderKey = (Reverse<i32>, u64, u64);

#[derive(Debug, Default)]
struct MemQueue {
    order: BTreeMap<OrderKey, Entry>,
    index: HashMap<CallId, OrderKey>,
    members: Vec<OperatorId>,
    rr_last: Option<OperatorId>,
    handle_times: VecDeque<u64>,
}

/// The embedded store: one process, plain maps.
#[derive(Debug, Default)]
pub struct MemoryStore {
    queues: HashMap<QueueId, MemQueue>,
    operators: HashMap<OperatorId, OperatorRecord>,
    seq: u64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn q(&mut self, queue: &QueueId) -> &mut MemQueue {
        self.queues.entry(queue.clone()).or_default()
    }
}

impl Store for MemoryStore {
    fn enqueue(&mut self, queue: &QueueId, entry: Entry) {
        self.seq += 1;
        let key = (Reverse(entry.priority), entry.joined_at_ms, self.seq);
        let q = self.q(queue);
        if let Some(old) = q.index.insert(entry.call, key) {
            q.order.remove(&old);
        }
        q.order.insert(key, entry);
    }

    fn remove(&mut self, queue: &QueueId, call: CallId) -> Option<Entry> {
        let q = self.queues.get_mut(queue)?;
        let key = q.index.remove(&call)?;
        q.order.remove(&key)
    }

    fn ahead(&self, queue: &QueueId, call: CallId) -> Option<u32> {
        let q = self.queues.get(queue)?;
        let key = q.index.get(&call)?;
        Some(q.order.range(..*key).count() as u32)
    }

    fn waiting(&self, queue: &QueueId) -> Vec<Entry> {
        self.queues
            .get(queue)
            .map(|q| q.order.values().cloned().collect())
            .unwrap_or_default()
    }

    fn len(&self, queue: &QueueId) -> u32 {
        self.queues.get(queue).map_or(0, |q| q.order.len() as u32)
    }

    fn operator(&self, op: &OperatorId) -> Option<OperatorRecord> {
        self.operators.get(op).cloned()
    }

    fn set_operator(&mut self, op: &OperatorId, record: OperatorRecord) {
        self.operators.insert(op.clone(), record);
    }

    fn members(&self, queue: &QueueId) -> Vec<OperatorId> {
        self.queues
            .get(queue)
            .map(|q| q.members.clone())
            .unwrap_or_default()
    }

    fn set_members(&mut self, queue: &QueueId, members: Vec<OperatorId>) {
        self.q(queue).members = members;
    }

    fn rr_last(&self, queue: &QueueId) -> Option<OperatorId> {
        self.queues.get(queue).and_then(|q| q.rr_last.clone())
    }

    fn set_rr_last(&mut self, queue: &QueueId, op: &OperatorId) {
        self.q(queue).rr_last = Some(op.clone());
    }

    fn push_handle_time(&mut self, queue: &QueueId, ms: u64, keep: usize) {
        let q = self.q(queue);
        q.handle_times.push_back(ms);
        while q.handle_times.len() > keep {
            q.handle_times.pop_front();
        }
    }

    fn handle_times(&self, queue: &QueueId) -> Vec<u64> {
        self.queues
            .get(queue)
            .map(|q| q.handle_times.iter().copied().collect())
            .unwrap_or_default()
    }
}
