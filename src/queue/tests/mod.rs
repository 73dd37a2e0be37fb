//! Virtual-time tests of the ACD (no sleeps): the harness shared by the test files.

mod announce;
mod flows;
mod log;
mod strategies;

use super::*;
use std::time::{Duration, Instant};

pub(super) const EPOCH_MS: u64 = 1_700_000_000_000;

/// A queue `pensioni` served by a, b, c, with `extra` YAML lines for the queue.
pub(super) fn yaml(extra: &str) -> String {
    let mut s = String::from("queues:\n  pensioni:\n    members: [a, b, c]\n");
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        s.push_str("    ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

pub(super) struct H {
    pub acd: Acd<MemoryStore>,
    pub now: Instant,
    pub logs: Vec<String>,
}

pub(super) fn op(s: &str) -> OperatorId {
    OperatorId::from(s)
}

pub(super) fn q(s: &str) -> QueueId {
    QueueId::from(s)
}

pub(super) fn ring(call: u64, o: &str) -> Event {
    Event::Ring {
        call: CallId(call),
        op: op(o),
    }
}

pub(super) fn stop(call: u64, o: &str) -> Event {
    Event::StopRinging {
        call: CallId(call),
        op: op(o),
    }
}

pub(super) fn connect(call: u64, o: &str) -> Event {
    Event::Connect {
        call: CallId(call),
        op: op(o),
    }
}

/// The announcements among `evs`: (call, ahead).
pub(super) fn announced(evs: &[Event]) -> Vec<(u64, u32)> {
    evs.iter()
        .filter_map(|e| match e {
            Event::Announce { call, ahead, .. } => Some((call.0, *ahead)),
            _ => None,
        })
        .collect()
}

/// Events other than announcements.
pub(super) fn actions(evs: &[Event]) -> Vec<Event> {
    evs.iter()
        .filter(|e| !matches!(e, Event::Announce { .. }))
        .cloned()
        .collect()
}

impl H {
    pub fn new(yaml: &str) -> H {
        let cfg: AcdConfig = serde_saphyr::from_str(yaml).expect("test config parses");
        let t0 = Instant::now();
        let acd = Acd::new(MemoryStore::new(), cfg, t0, EPOCH_MS).expect("valid config");
        H {
            acd,
            now: t0,
            logs: Vec::new(),
        }
    }

    pub fn drain(&mut self) -> Vec<Event> {
        let mut evs = Vec::new();
        while let Some(e) = self.acd.poll_event() {
            evs.push(e);
        }
        while let Some(l) = self.acd.poll_log() {
            self.logs.push(l);
        }
        evs
    }

    /// Steps virtual time by `ms`, firing every deadline on the way.
    pub fn advance(&mut self, ms: u64) -> Vec<Event> {
        let target = self.now + Duration::from_millis(ms);
        let mut evs = Vec::new();
        while let Some(at) = self.acd.poll_timeout() {
            if at > target {
                break;
            }
            self.now = self.now.max(at);
            self.acd.handle_timeout(self.now);
            evs.extend(self.drain());
        }
        self.now = target;
        evs
    }

    /// Registers and logs in these operators.
    pub fn login(&mut self, ops: &[&str]) -> Vec<Event> {
        for o in ops {
            self.acd.operator_registered(self.now, &op(o)).unwrap();
            self.acd.operator_login(self.now, &op(o)).unwrap();
        }
        self.drain()
    }

    pub fn join(&mut self, call: u64, queue: &str, priority: i32) -> Vec<Event> {
        self.acd
            .caller_joined(self.now, CallId(call), &q(queue), priority)
            .unwrap();
        self.drain()
    }

    pub fn answer(&mut self, o: &str, call: u64) -> Vec<Event> {
        self.acd
            .operator_answered(self.now, &op(o), CallId(call))
            .unwrap();
        self.drain()
    }

    pub fn complete(&mut self, o: &str) -> Vec<Event> {
        self.acd.call_completed(self.now, &op(o)).unwrap();
        self.drain()
    }

    pub fn state(&self, o: &str) -> OperatorState {
        self.acd.operator_state(&op(o)).unwrap()
    }

    pub fn ahead(&self, call: u64) -> Option<u32> {
        self.acd.ahead(CallId(call))
    }

    /// Parsed log lines with this `event`.
    pub fn log_lines(&mut self, event: &str) -> Vec<serde_json::Value> {
        self.drain();
        self.logs
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("valid JSON"))
            .filter(|v| v["event"] == event)
            .collect()
    }
}

#[test]
fn config_defaults_match_the_issue() {
    let cfg: AcdConfig = serde_saphyr::from_str(&yaml("")).unwrap();
    let c = &cfg.queues[&q("pensioni")];
    assert_eq!(c.strategy, Strategy::LongestIdle);
    assert_eq!(
        (c.ring_timeout_ms, c.retry_ms, c.wrapup_ms, c.max_no_answer),
        (15_000, 5_000, 10_000, 3)
    );
    assert!(c.join_when_empty);
    assert_eq!((c.max_wait_ms, c.max_len), (None, None));
    let a = &c.announce;
    assert!(a.on_entry && a.on_change);
    assert_eq!(
        (a.every_ms, a.min_interval_ms, a.limit),
        (60_000, 20_000, 20)
    );
    let e = &c.estimated_wait;
    assert!(e.enabled);
    assert_eq!((e.min_samples, e.window), (5, 20));
    assert_eq!(c.keys.exit, Some('1'));
}

#[test]
fn config_rejects_unknown_fields_and_missing_overflow_targets() {
    let bad: Result<AcdConfig, _> = serde_saphyr::from_str(&yaml("ring_timout_ms: 5"));
    assert!(bad.is_err(), "a misspelt key must fail");
    let cfg: AcdConfig = serde_saphyr::from_str(&yaml("max_wait_ms: 60000")).unwrap();
    assert!(matches!(
        cfg.validate(),
        Err(ConfigError::MissingOverflow {
            target: "max_wait",
            ..
        })
    ));
    let cfg: AcdConfig = serde_saphyr::from_str(&yaml("join_when_empty: false")).unwrap();
    assert!(cfg.validate().is_err());
    let cfg: AcdConfig = serde_saphyr::from_str(&yaml("keys: {exit: 'x'}")).unwrap();
    assert!(matches!(cfg.validate(), Err(ConfigError::BadKey { .. })));
    let cfg: AcdConfig = serde_saphyr::from_str(&yaml("announce: {limit: 1}")).unwrap();
    assert!(matches!(
        cfg.validate(),
        Err(ConfigError::LimitTooSmall { .. })
    ));
    let cfg: AcdConfig = serde_saphyr::from_str(&yaml(
        "max_len: 10\nmax_wait_ms: 600000\noverflow: {max_len: ticket, max_wait: ticket}",
    ))
    .unwrap();
    assert_eq!(cfg.validate(), Ok(()));
}

#[test]
fn inputs_about_unknown_things_are_errors() {
    let mut h = H::new(&yaml(""));
    let now = h.now;
    assert_eq!(
        h.acd.caller_joined(now, CallId(1), &q("nope"), 0),
        Err(AcdError::UnknownQueue(q("nope")))
    );
    assert_eq!(
        h.acd.operator_login(now, &op("zed")),
        Err(AcdError::UnknownOperator(op("zed")))
    );
    assert_eq!(
        h.acd.caller_left(now, CallId(9)),
        Err(AcdError::UnknownCall(CallId(9)))
    );
    h.join(1, "pensioni", 0);
    assert_eq!(
        h.acd.caller_joined(now, CallId(1), &q("pensioni"), 0),
        Err(AcdError::AlreadyQueued(CallId(1)))
    );
}
