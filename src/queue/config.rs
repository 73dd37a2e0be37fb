//! Queue and operator configuration: serde structs (`deny_unknown_fields`, defaults
//! from the issue) and the checks that must fail at load time rather than mid-call.

use super::{OperatorId, QueueId};
use indexmap::IndexMap;
use serde::Deserialize;

/// All queues and the operators that need per-operator settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcdConfig {
    /// In priority order when an operator serves several queues and callers tie.
    #[serde(default)]
    pub queues: IndexMap<QueueId, QueueConfig>,
    /// Optional per-operator settings; operators named only in `members` get defaults.
    #[serde(default)]
    pub operators: IndexMap<OperatorId, OperatorConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorConfig {
    /// Registering the softphone logs the operator in (and unregistering logs them out).
    #[serde(default)]
    pub auto_login: bool,
}

/// Which available operator is offered the next caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The operator whose last call ended longest ago (never had a call: first).
    #[default]
    LongestIdle,
    /// Every available operator rings; the first to answer wins.
    RingAll,
    /// Member order, starting after the operator rung last.
    RoundRobin,
    /// The operator who answered fewest calls.
    FewestCalls,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    #[serde(default)]
    pub strategy: Strategy,
    /// Operators who serve this queue, in round-robin order.
    #[serde(default)]
    pub members: Vec<OperatorId>,
    #[serde(default = "d_ring_timeout")]
    pub ring_timeout_ms: u64,
    /// After a failed offer the caller waits this long before the next one.
    #[serde(default = "d_retry")]
    pub retry_ms: u64,
    #[serde(default = "d_wrapup")]
    pub wrapup_ms: u64,
    /// Failed offers in a row before the operator is paused ("no answer"); 0 = never.
    #[serde(default = "d_max_no_answer")]
    pub max_no_answer: u32,
    /// Longest wait (from the first join, across transfers) before `overflow.max_wait`.
    #[serde(default)]
    pub max_wait_ms: Option<u64>,
    /// Callers already waiting at which a new one goes to `overflow.max_len`.
    #[serde(default)]
    pub max_len: Option<u32>,
    /// Queue callers even when no member is logged in (with a registered phone);
    /// otherwise they go to `overflow.empty`.
    #[serde(default = "d_true")]
    pub join_when_empty: bool,
    #[serde(default)]
    pub overflow: OverflowTargets,
    #[serde(default)]
    pub announce: AnnounceConfig,
    #[serde(default)]
    pub estimated_wait: EstimatedWaitConfig,
    #[serde(default)]
    pub keys: KeysConfig,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            strategy: Strategy::default(),
            members: Vec::new(),
            ring_timeout_ms: d_ring_timeout(),
            retry_ms: d_retry(),
            wrapup_ms: d_wrapup(),
            max_no_answer: d_max_no_answer(),
            max_wait_ms: None,
            max_len: None,
            join_when_empty: true,
            overflow: OverflowTargets::default(),
            announce: AnnounceConfig::default(),
            estimated_wait: EstimatedWaitConfig::default(),
            keys: KeysConfig::default(),
        }
    }
}

/// Menu node ids the caller is sent to when a queue rule turns them away.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverflowTargets {
    pub empty: Option<String>,
    pub max_wait: Option<String>,
    pub max_len: Option<String>,
}

/// When to tell a caller how many callers are ahead.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnounceConfig {
    /// Announce on entering the queue; when false the first announcement comes
    /// `min_interval_ms` after entry (there is always a first one).
    #[serde(default = "d_true")]
    pub on_entry: bool,
    /// Announce when the number changes (no sooner than `min_interval_ms` after the
    /// previous announcement).
    #[serde(default = "d_true")]
    pub on_change: bool,
    /// Repeat at this cadence since the previous announcement; 0 = no cadence.
    #[serde(default = "d_every")]
    pub every_ms: u64,
    #[serde(default = "d_min_interval")]
    pub min_interval_ms: u64,
    /// Beyond this the phrase is "più di `limit`" (and changes beyond it are silent).
    #[serde(default = "d_limit")]
    pub limit: u32,
}

impl Default for AnnounceConfig {
    fn default() -> Self {
        AnnounceConfig {
            on_entry: true,
            on_change: true,
            every_ms: d_every(),
            min_interval_ms: d_min_interval(),
            limit: d_limit(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimatedWaitConfig {
    #[serde(default = "d_true")]
    pub enabled: bool,
    /// Completed calls in the window below which no estimate is given.
    #[serde(default = "d_min_samples")]
    pub min_samples: u32,
    /// How many recent completed calls the average handling time is taken over.
    #[serde(default = "d_window")]
    pub window: u32,
}

impl Default for EstimatedWaitConfig {
    fn default() -> Self {
        EstimatedWaitConfig {
            enabled: true,
            min_samples: d_min_samples(),
            window: d_window(),
        }
    }
}

/// Keys a waiting caller may press.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeysConfig {
    /// Leave a request (ticket / callback) instead of waiting; `None` turns it off.
    #[serde(default = "d_exit_key")]
    pub exit: Option<char>,
    /// Menu node running the exit flow, passed back in `ExitRequested`.
    #[serde(default)]
    pub exit_node: Option<String>,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            exit: d_exit_key(),
            exit_node: None,
        }
    }
}

fn d_true() -> bool {
    true
}
fn d_ring_timeout() -> u64 {
    15_000
}
fn d_retry() -> u64 {
    5_000
}
fn d_wrapup() -> u64 {
    10_000
}
fn d_max_no_answer() -> u32 {
    3
}
fn d_every() -> u64 {
    60_000
}
fn d_min_interval() -> u64 {
    20_000
}
fn d_limit() -> u32 {
    20
}
fn d_min_samples() -> u32 {
    5
}
fn d_window() -> u32 {
    20
}
fn d_exit_key() -> Option<char> {
    Some('1')
}

/// A configuration mistake, found before any call is taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("queue {queue}: {rule} is set but overflow.{target} is missing")]
    MissingOverflow {
        queue: QueueId,
        rule: &'static str,
        target: &'static str,
    },
    #[error("queue {queue}: {field} must be greater than 0")]
    Zero { queue: QueueId, field: &'static str },
    #[error("queue {queue}: exit key {key:?} is not a DTMF key (0-9, *, #, A-D)")]
    BadKey { queue: QueueId, key: char },
    #[error("queue {queue}: operator {op} is listed twice in members")]
    DuplicateMember { queue: QueueId, op: OperatorId },
    #[error("queue {queue}: announce.limit must be at least 2")]
    LimitTooSmall { queue: QueueId },
    #[error("queue {queue}: estimated_wait.min_samples exceeds estimated_wait.window")]
    WindowTooSmall { queue: QueueId },
}

impl AcdConfig {
    /// Every rule that could otherwise fail during a call.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (q, c) in &self.queues {
            let missing = |rule, target| ConfigError::MissingOverflow {
                queue: q.clone(),
                rule,
                target,
            };
            if !c.join_when_empty && c.overflow.empty.is_none() {
                return Err(missing("join_when_empty: false", "empty"));
            }
            if c.max_wait_ms.is_some() && c.overflow.max_wait.is_none() {
                return Err(missing("max_wait_ms", "max_wait"));
            }
            if c.max_len.is_some() && c.overflow.max_len.is_none() {
                return Err(missing("max_len", "max_len"));
            }
            let zero = |field| ConfigError::Zero {
                queue: q.clone(),
                field,
            };
            if c.ring_timeout_ms == 0 {
                return Err(zero("ring_timeout_ms"));
            }
            if c.max_wait_ms == Some(0) {
                return Err(zero("max_wait_ms"));
            }
            if c.announce.limit < 2 {
                // "più di una persona" / "più di zero" are not sentences we play.
                return Err(ConfigError::LimitTooSmall { queue: q.clone() });
            }
            if c.estimated_wait.enabled {
                if c.estimated_wait.window == 0 {
                    return Err(zero("estimated_wait.window"));
                }
                if c.estimated_wait.min_samples > c.estimated_wait.window {
                    return Err(ConfigError::WindowTooSmall { queue: q.clone() });
                }
            }
            if let Some(k) = c.keys.exit
                && !matches!(k, '0'..='9' | '*' | '#' | 'A'..='D')
            {
                return Err(ConfigError::BadKey {
                    queue: q.clone(),
                    key: k,
                });
            }
            for (i, op) in c.members.iter().enumerate() {
                if c.members[..i].contains(op) {
                    return Err(ConfigError::DuplicateMember {
                        queue: q.clone(),
                        op: op.clone(),
                    });
                }
            }
        }
        Ok(())
    }
}
