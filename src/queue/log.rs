//! The queue event log: one JSON object per line, in the spirit of Asterisk's
//! queue_log. Every line has `ts` (ms on the driver's wall clock), `event`, `queue`,
//! `call` and `op` (null when not relevant), plus the numbers of that event.

use super::{CallId, OperatorId, QueueId};
use serde_json::{Map, Value};

pub(super) struct LogLine(Map<String, Value>);

impl LogLine {
    pub fn new(
        ts_ms: u64,
        event: &str,
        queue: Option<&QueueId>,
        call: Option<CallId>,
        op: Option<&OperatorId>,
    ) -> Self {
        let mut m = Map::new();
        m.insert("ts".into(), ts_ms.into());
        m.insert("event".into(), event.into());
        m.insert(
            "queue".into(),
            queue.map_or(Value::Null, |q| q.0.clone().into()),
        );
        m.insert("call".into(), call.map_or(Value::Null, |c| c.0.into()));
        m.insert("op".into(), op.map_or(Value::Null, |o| o.0.clone().into()));
        LogLine(m)
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.0.insert(key.into(), value.into());
        self
    }

    pub fn finish(self) -> String {
        Value::Object(self.0).to_string()
    }
}
