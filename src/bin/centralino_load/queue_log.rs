//! Analysis of the daemon's queue log (JSON lines, `docs/operators.md`) after a run:
//! outcomes (joined, connected, abandoned, overflowed), waits, and the callers-ahead
//! announcements of DESIGN §5 — **counts right** (the log is replayed in file order with
//! the queue's own ordering rule, and every `announced`/`joined` `ahead` must equal the
//! replayed count) and **on time** (entry delay, gaps between a caller's announcements
//! against `min_interval_ms` and `every_ms`). Pure: text in, report out.

use serde_json::Value;
use std::cmp::Reverse;
use std::collections::HashMap;

/// The announcement settings of the queue (the log does not carry them).
#[derive(Debug, Clone, Copy)]
pub struct AnnounceRules {
    /// The cadence; 0 = no cadence (no lateness check).
    pub every_ms: u64,
    pub min_interval_ms: u64,
    /// How late a periodic announcement may be before it counts as late.
    pub tolerance_ms: u64,
    /// When known, `limit_exceeded` must equal `ahead > limit`.
    pub limit: Option<u64>,
}

/// One wrong number, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub line: usize,
    pub event: String,
    pub call: String,
    pub logged: Option<u64>,
    /// None: the call was not waiting in that queue at all.
    pub expected: Option<u64>,
}

impl Mismatch {
    fn text(&self) -> String {
        let show = |v: Option<u64>| v.map_or("-".to_string(), |n| n.to_string());
        format!(
            "line {} {} call {}: ahead {} logged, {} expected",
            self.line,
            self.event,
            self.call,
            show(self.logged),
            self.expected
                .map_or("not waiting".to_string(), |n| n.to_string())
        )
    }
}

#[derive(Debug, Default, Clone)]
pub struct QueueLogReport {
    pub lines: usize,
    /// Lines that are not JSON objects with `event`.
    pub bad_lines: usize,
    pub joined: u64,
    /// The longest the waiting list got (ringing callers included), replayed.
    pub peak_waiting: u64,
    pub connected: u64,
    pub completed: u64,
    pub abandoned: u64,
    /// Abandoned while an operator's phone rang for them: the operator may have
    /// answered a call that was already over (the daemon then ends it with BYE).
    pub abandoned_ringing: u64,
    pub overflowed: u64,
    pub announced: u64,
    /// Joined callers who left without hearing any announcement.
    pub never_announced: u64,
    /// `wait_ms` of `connected` lines, sorted.
    pub connected_wait_ms: Vec<u64>,
    /// `announced` lines whose `ahead` differs from the replay (or about a call that
    /// was not waiting).
    pub ahead_mismatches: u64,
    /// `joined` lines whose `ahead` differs from the replay.
    pub joined_mismatches: u64,
    /// `limit_exceeded` not equal to `ahead > limit`.
    pub limit_flag_mismatches: u64,
    /// The first few mismatches of any kind.
    pub examples: Vec<Mismatch>,
    /// First announcement − joined, per caller, sorted.
    pub entry_delay_ms: Vec<u64>,
    /// Gaps between consecutive announcements of one caller.
    pub gaps: u64,
    /// Gaps shorter than `min_interval_ms`.
    pub min_interval_violations: u64,
    /// Gaps (or the time from the last announcement to leaving the queue) longer than
    /// `every_ms` + tolerance: a periodic announcement came late or never.
    pub late: u64,
    /// For gaps of at least `every_ms` (the periodic ones): gap − `every_ms`, sorted.
    pub periodic_lateness_ms: Vec<u64>,
}

const EXAMPLES: usize = 5;

/// Order of the waiting list: higher priority first, then earlier first join, then
/// arrival (the daemon's `MemoryStore` order).
type Key = (Reverse<i64>, u64, u64);

/// What the replay knows about one caller in a queue.
struct Waiting {
    queue: String,
    key: Key,
    joined_ts: u64,
    last_announced: Option<u64>,
    /// An exit flow paused the announcements: the next gap says nothing about timing.
    paused: bool,
    /// Phones ringing for the caller (`ring` lines not followed by `no_answer`).
    ringing: u64,
}

pub fn analyze(text: &str, rules: &AnnounceRules) -> QueueLogReport {
    let mut r = QueueLogReport::default();
    let mut queues: HashMap<String, Vec<(Key, String)>> = HashMap::new();
    let mut calls: HashMap<String, Waiting> = HashMap::new();
    let mut seq = 0u64;
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        r.lines += 1;
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            r.bad_lines += 1;
            continue;
        };
        let Some(event) = v["event"].as_str() else {
            r.bad_lines += 1;
            continue;
        };
        let line_no = n + 1;
        let ts = v["ts"].as_u64().unwrap_or(0);
        let call = v["call"].to_string();
        let queue = v["queue"].as_str().unwrap_or_default().to_string();
        let ahead = v["ahead"].as_u64();
        let position = |queues: &HashMap<String, Vec<(Key, String)>>, w: &Waiting| {
            queues[&w.queue]
                .binary_search_by(|(k, _)| k.cmp(&w.key))
                .ok()
        };
        match event {
            "joined" => {
                seq += 1;
                let key = (
                    Reverse(v["priority"].as_i64().unwrap_or(0)),
                    ts.saturating_sub(v["wait_ms"].as_u64().unwrap_or(0)),
                    seq,
                );
                let list = queues.entry(queue.clone()).or_default();
                let at = list.partition_point(|(k, _)| *k < key);
                list.insert(at, (key, call.clone()));
                r.joined += 1;
                r.peak_waiting = r.peak_waiting.max(list.len() as u64);
                if ahead != Some(at as u64) {
                    r.joined_mismatches += 1;
                    r.example(line_no, event, &call, ahead, Some(at as u64));
                }
                calls.insert(
                    call,
                    Waiting {
                        queue,
                        key,
                        joined_ts: ts,
                        last_announced: None,
                        paused: false,
                        ringing: 0,
                    },
                );
            }
            "announced" => {
                r.announced += 1;
                let expected = calls
                    .get(&call)
                    .filter(|w| w.queue == queue)
                    .and_then(|w| position(&queues, w))
                    .map(|p| p as u64);
                if expected.is_none() || ahead != expected {
                    r.ahead_mismatches += 1;
                    r.example(line_no, event, &call, ahead, expected);
                }
                if let (Some(limit), Some(a)) = (rules.limit, ahead)
                    && v["limit_exceeded"].as_bool() != Some(a > limit)
                {
                    r.limit_flag_mismatches += 1;
                }
                if let Some(w) = calls.get_mut(&call) {
                    match w.last_announced {
                        None => r.entry_delay_ms.push(ts.saturating_sub(w.joined_ts)),
                        Some(last) if !w.paused => r.gap(ts.saturating_sub(last), rules),
                        Some(_) => {}
                    }
                    w.last_announced = Some(ts);
                    w.paused = false;
                }
            }
            "ring" | "no_answer" => {
                if let Some(w) = calls.get_mut(&call) {
                    w.ringing = match event {
                        "ring" => w.ringing + 1,
                        _ => w.ringing.saturating_sub(1),
                    };
                }
            }
            "exit_requested" => {
                if let Some(w) = calls.get_mut(&call) {
                    w.paused = true;
                }
            }
            "connected" | "abandoned" | "overflow" | "exit_confirmed" | "transferred" => {
                match event {
                    "connected" => {
                        r.connected += 1;
                        r.connected_wait_ms.push(v["wait_ms"].as_u64().unwrap_or(0));
                    }
                    "abandoned" => {
                        r.abandoned += 1;
                        if calls.get(&call).is_some_and(|w| w.ringing > 0) {
                            r.abandoned_ringing += 1;
                        }
                    }
                    "overflow" => r.overflowed += 1,
                    _ => {}
                }
                // Overflow at the door (full queue) has no `joined`: nothing to remove.
                if let Some(w) = calls.remove(&call) {
                    if let Some(p) = position(&queues, &w) {
                        queues.get_mut(&w.queue).map(|l| l.remove(p));
                    }
                    match w.last_announced {
                        None => r.never_announced += 1,
                        // Leaving the queue ends the wait for the next announcement.
                        Some(last) if !w.paused && rules.every_ms > 0 => {
                            if ts.saturating_sub(last) > rules.every_ms + rules.tolerance_ms {
                                r.late += 1;
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
            "completed" => r.completed += 1,
            _ => {}
        }
    }
    r.connected_wait_ms.sort_unstable();
    r.entry_delay_ms.sort_unstable();
    r.periodic_lateness_ms.sort_unstable();
    r
}

impl QueueLogReport {
    fn example(
        &mut self,
        line: usize,
        event: &str,
        call: &str,
        logged: Option<u64>,
        expected: Option<u64>,
    ) {
        if self.examples.len() < EXAMPLES {
            self.examples.push(Mismatch {
                line,
                event: event.to_string(),
                call: call.to_string(),
                logged,
                expected,
            });
        }
    }

    fn gap(&mut self, gap: u64, rules: &AnnounceRules) {
        self.gaps += 1;
        if gap < rules.min_interval_ms {
            self.min_interval_violations += 1;
        }
        if rules.every_ms > 0 {
            if gap >= rules.every_ms {
                self.periodic_lateness_ms.push(gap - rules.every_ms);
            }
            if gap > rules.every_ms + rules.tolerance_ms {
                self.late += 1;
            }
        }
    }

    /// Checks that must be zero in a correct daemon.
    pub fn errors(&self) -> u64 {
        self.ahead_mismatches
            + self.joined_mismatches
            + self.limit_flag_mismatches
            + self.min_interval_violations
            + self.bad_lines as u64
    }

    pub fn json(&self) -> String {
        let q = |v: &[u64], p: f64| crate::stats::quantile_u64(v, p);
        format!(
            "{{\"lines\":{},\"bad_lines\":{},\"joined\":{},\"peak_waiting\":{},\"connected\":{},\"completed\":{},\
             \"abandoned\":{},\"abandoned_ringing\":{},\"overflowed\":{},\"announced\":{},\"never_announced\":{},\
             \"wait_connected_p50_ms\":{},\"wait_connected_p99_ms\":{},\
             \"ahead_mismatches\":{},\"joined_mismatches\":{},\"limit_flag_mismatches\":{},\
             \"mismatch_examples\":[{}],\
             \"entry_delay_p50_ms\":{},\"entry_delay_p99_ms\":{},\"entry_delay_max_ms\":{},\
             \"gaps\":{},\"min_interval_violations\":{},\"late\":{},\"periodic_gaps\":{},\
             \"lateness_p50_ms\":{},\"lateness_p99_ms\":{},\"lateness_max_ms\":{}}}",
            self.lines,
            self.bad_lines,
            self.joined,
            self.peak_waiting,
            self.connected,
            self.completed,
            self.abandoned,
            self.abandoned_ringing,
            self.overflowed,
            self.announced,
            self.never_announced,
            q(&self.connected_wait_ms, 0.5),
            q(&self.connected_wait_ms, 0.99),
            self.ahead_mismatches,
            self.joined_mismatches,
            self.limit_flag_mismatches,
            self.examples
                .iter()
                .map(|m| serde_json::Value::from(m.text()).to_string())
                .collect::<Vec<_>>()
                .join(","),
            q(&self.entry_delay_ms, 0.5),
            q(&self.entry_delay_ms, 0.99),
            self.entry_delay_ms.last().copied().unwrap_or(0),
            self.gaps,
            self.min_interval_violations,
            self.late,
            self.periodic_lateness_ms.len(),
            q(&self.periodic_lateness_ms, 0.5),
            q(&self.periodic_lateness_ms, 0.99),
            self.periodic_lateness_ms.last().copied().unwrap_or(0),
        )
    }

    pub fn human(&self) -> String {
        let q = |v: &[u64], p: f64| crate::stats::quantile_u64(v, p);
        let mut s = format!(
            "queue log: {} lines ({} bad): joined {} (at most {} waiting at once), connected {}, completed {}, abandoned {} ({} while ringing), overflowed {}; \
             wait of connected p50 {} ms p99 {} ms\n\
             announcements: {} ({} callers never announced); ahead mismatches {} (joined lines {}, limit flag {})\n\
             timing: entry delay p50 {} ms p99 {} ms max {} ms; {} gaps, {} under min interval, {} late; \
             periodic lateness p50 {} ms p99 {} ms max {} ms over {} periodic gaps\n",
            self.lines,
            self.bad_lines,
            self.joined,
            self.peak_waiting,
            self.connected,
            self.completed,
            self.abandoned,
            self.abandoned_ringing,
            self.overflowed,
            q(&self.connected_wait_ms, 0.5),
            q(&self.connected_wait_ms, 0.99),
            self.announced,
            self.never_announced,
            self.ahead_mismatches,
            self.joined_mismatches,
            self.limit_flag_mismatches,
            q(&self.entry_delay_ms, 0.5),
            q(&self.entry_delay_ms, 0.99),
            self.entry_delay_ms.last().copied().unwrap_or(0),
            self.gaps,
            self.min_interval_violations,
            self.late,
            q(&self.periodic_lateness_ms, 0.5),
            q(&self.periodic_lateness_ms, 0.99),
            self.periodic_lateness_ms.last().copied().unwrap_or(0),
            self.periodic_lateness_ms.len(),
        );
        for m in &self.examples {
            s.push_str(&format!("  mismatch: {}\n", m.text()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: AnnounceRules = AnnounceRules {
        every_ms: 15_000,
        min_interval_ms: 5_000,
        tolerance_ms: 1_000,
        limit: Some(2),
    };

    /// A log line in the daemon's shape.
    fn line(ts: u64, event: &str, call: u64, extra: &str) -> String {
        format!(
            "{{\"ts\":{ts},\"event\":\"{event}\",\"queue\":\"scala\",\"call\":{call},\"op\":null{extra}}}\n"
        )
    }

    fn joined(ts: u64, call: u64, ahead: u64) -> String {
        line(
            ts,
            "joined",
            call,
            &format!(
                ",\"ahead\":{ahead},\"priority\":0,\"len\":{},\"wait_ms\":0",
                ahead + 1
            ),
        )
    }

    fn announced(ts: u64, call: u64, ahead: u64) -> String {
        line(
            ts,
            "announced",
            call,
            &format!(
                ",\"ahead\":{ahead},\"limit_exceeded\":{},\"estimated_wait_min\":null",
                ahead > 2
            ),
        )
    }

    /// Three callers join; the first is connected, the others move up and hear it.
    fn good_log() -> String {
        [
            joined(1_000, 1, 0),
            announced(1_000, 1, 0),
            joined(1_100, 2, 1),
            announced(1_100, 2, 1),
            joined(1_200, 3, 2),
            announced(1_200, 3, 2),
            line(2_000, "ring", 1, ",\"ahead\":0"),
            // A ringing caller still counts as ahead.
            announced(3_000, 3, 2),
            line(3_500, "connected", 1, ",\"wait_ms\":2500,\"ring_ms\":1500"),
            announced(6_100, 2, 0),
            announced(8_200, 3, 1),
            line(
                9_000,
                "completed",
                1,
                ",\"talk_ms\":5500,\"by\":\"operator\"",
            ),
            line(10_000, "abandoned", 2, ",\"wait_ms\":8900,\"ahead\":0"),
            announced(13_200, 3, 0),
            line(14_000, "abandoned", 3, ",\"wait_ms\":12800,\"ahead\":0"),
        ]
        .concat()
    }

    #[test]
    fn a_consistent_log_has_no_mismatch() {
        let rules = AnnounceRules {
            min_interval_ms: 1_000,
            ..RULES
        };
        let r = analyze(&good_log(), &rules);
        assert_eq!(r.errors(), 0, "{}", r.human());
        assert_eq!((r.joined, r.connected, r.abandoned), (3, 1, 2));
        assert_eq!(r.peak_waiting, 3);
        assert_eq!(r.completed, 1);
        assert_eq!(r.announced, 7);
        assert_eq!(r.connected_wait_ms, vec![2500]);
        assert_eq!(r.entry_delay_ms, vec![0, 0, 0]);
        assert_eq!(r.never_announced, 0);
        assert_eq!(r.late, 0);
        assert_eq!(r.abandoned_ringing, 0);
    }

    #[test]
    fn abandoning_while_a_phone_rings_is_told_apart() {
        let log = [
            joined(0, 1, 0),
            joined(0, 2, 1),
            line(10, "ring", 1, ",\"ahead\":0"),
            line(20, "no_answer", 1, ",\"cause\":\"timeout\""),
            line(30, "abandoned", 1, ",\"wait_ms\":30,\"ahead\":0"),
            line(40, "ring", 2, ",\"ahead\":0"),
            line(40, "abandoned", 2, ",\"wait_ms\":40,\"ahead\":0"),
        ]
        .concat();
        let r = analyze(&log, &RULES);
        assert_eq!((r.abandoned, r.abandoned_ringing), (2, 1));
    }

    #[test]
    fn a_wrong_ahead_is_detected() {
        // Caller 3 is told 2 ahead after caller 1 left: one too many.
        let log = good_log().replace(
            "{\"ts\":8200,\"event\":\"announced\",\"queue\":\"scala\",\"call\":3,\"op\":null,\"ahead\":1",
            "{\"ts\":8200,\"event\":\"announced\",\"queue\":\"scala\",\"call\":3,\"op\":null,\"ahead\":2",
        );
        assert_ne!(log, good_log());
        let r = analyze(&log, &RULES);
        assert_eq!(r.ahead_mismatches, 1, "{}", r.human());
        assert_eq!(
            r.examples[0],
            Mismatch {
                line: 11,
                event: "announced".into(),
                call: "3".into(),
                logged: Some(2),
                expected: Some(1),
            }
        );
    }

    #[test]
    fn an_announcement_to_a_connected_caller_is_a_mismatch() {
        let log = good_log() + &announced(9_500, 1, 0);
        let r = analyze(&log, &RULES);
        assert_eq!(r.ahead_mismatches, 1);
        assert_eq!(r.examples[0].expected, None);
    }

    #[test]
    fn priority_and_first_join_order_the_list() {
        // Caller 2 (priority 5) goes ahead of caller 1; caller 3 was transferred in with
        // an earlier first join than caller 4 and waits ahead of them.
        let log = [
            joined(1_000, 1, 0),
            line(
                1_100,
                "joined",
                2,
                ",\"ahead\":0,\"priority\":5,\"len\":2,\"wait_ms\":0",
            ),
            joined(1_200, 4, 2),
            line(
                1_300,
                "joined",
                3,
                ",\"ahead\":2,\"priority\":0,\"len\":4,\"wait_ms\":250,\"transferred_from\":\"x\"",
            ),
            announced(1_400, 1, 1),
            announced(1_400, 4, 3),
        ]
        .concat();
        let r = analyze(&log, &RULES);
        assert_eq!(r.joined_mismatches + r.ahead_mismatches, 0, "{}", r.human());
        // Caller 4 hearing 2 (ignoring the transferred caller ahead) is caught.
        let wrong = log.replace(
            "\"call\":4,\"op\":null,\"ahead\":3",
            "\"call\":4,\"op\":null,\"ahead\":2",
        );
        assert_eq!(analyze(&wrong, &RULES).ahead_mismatches, 1);
    }

    #[test]
    fn the_limit_flag_must_match_the_count() {
        let log = [
            joined(0, 1, 0),
            joined(0, 2, 1),
            joined(0, 3, 2),
            joined(0, 4, 3),
            line(
                0,
                "announced",
                4,
                ",\"ahead\":3,\"limit_exceeded\":false,\"estimated_wait_min\":null",
            ),
        ]
        .concat();
        let r = analyze(&log, &RULES);
        assert_eq!((r.ahead_mismatches, r.limit_flag_mismatches), (0, 1));
    }

    #[test]
    fn gaps_under_the_minimum_and_late_cadence_are_counted() {
        let log = [
            joined(0, 1, 0),
            announced(200, 1, 0),    // entry delay 200
            announced(4_000, 1, 0),  // 3.8 s: under the 5 s minimum
            announced(19_000, 1, 0), // 15 s: on time
            announced(36_500, 1, 0), // 17.5 s: late by 2.5 s
            // Left 20 s after the last one: a periodic announcement never came.
            line(56_500, "abandoned", 1, ",\"wait_ms\":56500,\"ahead\":0"),
        ]
        .concat();
        let r = analyze(&log, &RULES);
        assert_eq!(r.entry_delay_ms, vec![200]);
        assert_eq!(r.gaps, 3);
        assert_eq!(r.min_interval_violations, 1);
        assert_eq!(r.late, 2);
        assert_eq!(r.periodic_lateness_ms, vec![0, 2_500]);
        assert_eq!(r.errors(), 1);
    }

    #[test]
    fn an_exit_flow_pause_is_not_lateness() {
        let log = [
            joined(0, 1, 0),
            announced(0, 1, 0),
            line(1_000, "exit_requested", 1, ",\"key\":\"1\",\"ahead\":0"),
            line(40_000, "exit_cancelled", 1, ""),
            announced(40_000, 1, 0),
            line(41_000, "connected", 1, ",\"wait_ms\":41000"),
        ]
        .concat();
        let r = analyze(&log, &RULES);
        assert_eq!((r.gaps, r.late, r.errors()), (0, 0, 0), "{}", r.human());
    }

    #[test]
    fn overflow_at_the_door_and_garbage_lines() {
        let log = [
            line(0, "overflow", 9, ",\"reason\":\"max_len\""),
            "not json\n".to_string(),
            joined(5, 1, 0),
            announced(5, 1, 0),
        ]
        .concat();
        let r = analyze(&log, &RULES);
        assert_eq!((r.overflowed, r.joined, r.bad_lines), (1, 1, 1));
        assert_eq!(r.ahead_mismatches, 0);
        assert_eq!(r.errors(), 1);
    }
}
