//! Scripted walks through small menus in virtual time: each test feeds keys, prompt
//! ends and clock steps, and asserts the exact actions, path and counters that come out.
//!
//! The harness (`Call`) owns the clock: `advance` steps to each deadline the interpreter
//! asks for (`poll_timeout`) and fires `handle_timeout` there, so no test sleeps.

mod collect;
mod menu;
mod nodes;
mod services;
mod timing;

use super::*;
use crate::ivr::say_it;
use crate::ivr::tree::HandoffKind;
use crate::ivr::tree::{PromptCatalog, load_str};
use chrono::{NaiveDate, NaiveDateTime};

/// Prompt ids the test trees may use (without the language folder).
const PROMPTS: &[&str] = &[
    "menu",
    "menu-breve",
    "sub",
    "sub-breve",
    "info",
    "invalido",
    "timeout",
    "arrivederci",
    "operatore",
    "pratica",
    "numero",
    "aperto",
    "chiuso",
    "uno",
    "dodici",
    "nove",
    "novantacinque",
    "tre",
    "quarantacinque",
    "lingua",
    "a",
    "b",
    "c",
    "pagamento",
];

/// Every prompt a test tree may name: the list above in `it/` and `en/`, the system
/// prompts the interpreter plays itself, and every Italian speech fragment.
pub(super) fn catalog() -> PromptCatalog {
    let mut ids: Vec<String> = Vec::new();
    for lang in ["it", "en"] {
        ids.extend(PROMPTS.iter().map(|p| format!("{lang}/{p}")));
        ids.extend(
            [PROMPT_NOT_AVAILABLE, PROMPT_YOU_ENTERED, PROMPT_CONFIRM]
                .iter()
                .chain(SERVICE_PROMPTS)
                .chain([&crate::ivr::tree::TICKET_QUESTION_PROMPT])
                .map(|p| format!("{lang}/{p}")),
        );
    }
    ids.extend(
        say_it::fragment_texts()
            .iter()
            .map(|(id, _)| format!("it/{id}")),
    );
    PromptCatalog::new(ids)
}

/// Loads a tree that must compile without errors or warnings.
pub(super) fn tree(yaml: &str) -> Tree {
    match load_str(yaml, "t.yaml", &catalog()) {
        Ok((tree, warnings)) => {
            assert!(warnings.is_empty(), "unexpected warnings: {warnings:?}");
            tree
        }
        Err(d) => panic!("tree does not load: {d:?}"),
    }
}

/// Local Italian time.
pub(super) fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(h, min, s))
        .expect("a real date")
}

/// Monday 2 March 2026, 10:00: a plain working morning.
pub(super) fn monday_morning() -> NaiveDateTime {
    at(2026, 3, 2, 10, 0, 0)
}

pub(super) fn ctx(started_at: NaiveDateTime) -> CallContext {
    CallContext {
        office_prompt: None,
        office: None,
        dialled: "0659051234".into(),
        province: Some("RM".into()),
        region: Some("Lazio".into()),
        started_at,
    }
}

/// One call driven in virtual time.
pub(super) struct Call {
    interp: Interp,
    t0: Instant,
    now: Instant,
    /// The token of the latest `Play`, which `finish_prompt` reports.
    last_token: Option<u64>,
    /// Actions since the last `actions()`, rendered.
    out: Vec<String>,
    /// Counters since the last `stats()`.
    counted: Vec<(String, Stat)>,
    /// Every input and output in order.
    transcript: Vec<String>,
}

impl Call {
    /// A call to `yaml` on a Monday morning, answered at t0.
    pub fn new(yaml: &str) -> Call {
        Call::with(yaml, ctx(monday_morning()))
    }

    pub fn with(yaml: &str, ctx: CallContext) -> Call {
        Call::offering(yaml, ctx, &[])
    }

    /// A call whose driver offers these hand-off services.
    pub fn offering(yaml: &str, ctx: CallContext, kinds: &[HandoffKind]) -> Call {
        let t0 = Instant::now();
        let mut call = Call {
            interp: Interp::new(Arc::new(tree(yaml)), ctx).offer(kinds),
            t0,
            now: t0,
            last_token: None,
            out: Vec::new(),
            counted: Vec::new(),
            transcript: Vec::new(),
        };
        call.transcript.push("answer".into());
        call.interp.start(t0);
        call.drain();
        call
    }

    /// Moves what the interpreter produced into the logs.
    fn drain(&mut self) {
        while let Some(a) = self.interp.poll_action() {
            let line = match a {
                Action::Play { prompts, token } => {
                    self.last_token = Some(token);
                    format!("play {}", prompts.join(" "))
                }
                Action::Stop => "stop".into(),
                Action::Record { max } => format!("record {} s", max.as_secs()),
                Action::StopRecording => "stop recording".into(),
                Action::Book { slot } => format!("book {slot}"),
                Action::TestLine => "test_line".into(),
                Action::Hangup => "hangup".into(),
                Action::Handoff {
                    kind,
                    target,
                    priority,
                } => format!("handoff {} {target} priority {priority}", kind.name()),
            };
            self.transcript.push(format!("  {line}"));
            self.out.push(line);
        }
        while let Some((node, stat)) = self.interp.poll_stat() {
            let id = self.interp.tree().id(node).to_owned();
            self.counted.push((id, stat));
        }
    }

    pub fn key(&mut self, c: char) {
        self.transcript.push(format!("key {c}"));
        self.interp.handle_digit(self.now, c);
        self.drain();
    }

    pub fn keys(&mut self, keys: &str) {
        for c in keys.chars() {
            self.key(c);
        }
    }

    /// The latest prompt list played to its end.
    pub fn finish_prompt(&mut self) {
        let token = self.last_token.expect("nothing was played");
        self.finish_token(token);
    }

    /// A given prompt list ended (possibly an old, interrupted one).
    pub fn finish_token(&mut self, token: u64) {
        self.transcript.push(format!("finished {token}"));
        self.interp.handle_prompt_finished(self.now, token);
        self.drain();
    }

    /// The driver's report that the recording stopped.
    pub fn recorded(&mut self) {
        self.transcript.push("recorded".into());
        self.interp.recorded(self.now);
        self.drain();
    }

    /// A service's answer.
    pub fn reply(&mut self, reply: ServiceReply) {
        self.transcript.push(format!("reply {reply:?}"));
        self.interp.service_reply(self.now, reply);
        self.drain();
    }

    /// The service could not store the request.
    pub fn request_failed(&mut self) {
        self.transcript.push("request failed".into());
        self.interp.request_failed(self.now);
        self.drain();
    }

    pub fn last_token(&self) -> u64 {
        self.last_token.expect("nothing was played")
    }

    /// Moves the clock `ms` forward, firing every deadline that falls on the way.
    pub fn advance(&mut self, ms: u64) {
        let target = self.now + Duration::from_millis(ms);
        while let Some(deadline) = self.interp.poll_timeout() {
            if deadline > target {
                break;
            }
            self.now = self.now.max(deadline);
            self.transcript.push(format!(
                "timeout at {} ms",
                (self.now - self.t0).as_millis()
            ));
            self.interp.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    pub fn hangup(&mut self) {
        self.transcript.push("caller hangs up".into());
        self.interp.handle_hangup(self.now);
        self.drain();
    }

    /// Actions since the last call, e.g. `["stop", "play it/info"]`.
    pub fn actions(&mut self) -> Vec<String> {
        std::mem::take(&mut self.out)
    }

    /// Counters since the last call, by node id.
    pub fn stats(&mut self) -> Vec<(String, Stat)> {
        std::mem::take(&mut self.counted)
    }

    /// Nodes visited, with the keys pressed in each.
    pub fn path(&self) -> Vec<(&str, &str)> {
        self.interp
            .path()
            .iter()
            .map(|s| (self.interp.tree().id(s.node), s.keys.as_str()))
            .collect()
    }

    /// Nodes visited, with when they were entered (ms since the answer).
    pub fn path_times(&self) -> Vec<(&str, u128)> {
        self.interp
            .path()
            .iter()
            .map(|s| (self.interp.tree().id(s.node), s.at.as_millis()))
            .collect()
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.interp.vars().get(name).map(String::as_str)
    }

    pub fn poll_timeout_ms(&self) -> Option<u128> {
        self.interp
            .poll_timeout()
            .map(|d| (d - self.t0).as_millis())
    }

    pub fn transcript(&self) -> &[String] {
        &self.transcript
    }

    pub fn interp(&self) -> &Interp {
        &self.interp
    }
}

/// `(node, stat)` pairs, for `assert_eq!` against `Call::stats`.
pub(super) fn st(list: &[(&str, Stat)]) -> Vec<(String, Stat)> {
    list.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect()
}

#[test]
fn the_harness_records_a_transcript() {
    let mut c = Call::new(menu::MENU);
    c.finish_prompt();
    c.advance(10_000);
    c.key('3');
    assert_eq!(
        c.transcript(),
        [
            "answer",
            "  play it/menu",
            "finished 1",
            "timeout at 4000 ms",
            "  play it/timeout it/menu-breve",
            "key 3",
            "  stop",
            "  play it/arrivederci",
        ]
    );
    assert_eq!(c.interp().language(), "it");
}

/// Gives the harness access to the interpreter for service callbacks.
impl Call {
    pub fn handoff_failed(&mut self) {
        self.interp.handoff_failed(self.now);
        self.drain();
    }

    pub fn resume_at(&mut self, node: &str) -> bool {
        let ok = self.interp.resume_at(self.now, node);
        self.drain();
        ok
    }
}
