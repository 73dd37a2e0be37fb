//! The menu interpreter: one pure state machine per call. Digits, prompt-finished and
//! timer events in; play / stop / hand-off / hang-up actions out. Records the path the
//! caller took and per-node counters, in virtual time.

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start a virtual clock at a real instant
mod tests;
mod values;

use crate::ivr::tree::{
    BranchOn, Collect, HandoffKind, Menu, Node, NodeId, PromptItem, SayKind, Tree,
};
use chrono::NaiveDateTime;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// System prompts (relative to the language folder) the interpreter itself plays.
pub const PROMPT_NOT_AVAILABLE: &str = "sistema/non-disponibile";
pub const PROMPT_YOU_ENTERED: &str = "sistema/ha-inserito";
pub const PROMPT_CONFIRM: &str = "sistema/conferma";
/// A request (ticket, booking) could not be stored: never a false confirmation.
pub const PROMPT_NOT_REGISTERED: &str = "sistema/non-registrata";
/// The tone before the caller speaks.
pub const PROMPT_TONE: &str = "sistema/segnale";
pub const PROMPT_REPEAT: &str = "sistema/ripeto";
pub const PROMPT_GOODBYE: &str = "sistema/arrivederci";
pub const PROMPT_INVALID: &str = "sistema/scelta-non-valida";
pub const PROMPT_TICKET_DONE: &str = "ticket/registrata";
pub const PROMPT_TICKET_FOLLOW_UP: &str = "ticket/ricontatto";
pub const PROMPT_SLOTS_INTRO: &str = "appuntamento/disponibili";
pub const PROMPT_SLOTS_PRESS: &str = "appuntamento/prema";
pub const PROMPT_SLOTS_REPEAT: &str = "appuntamento/riascoltare";
pub const PROMPT_SLOTS_NONE: &str = "appuntamento/nessuno";
pub const PROMPT_SLOT_CHOSEN: &str = "appuntamento/scelto";
pub const PROMPT_SLOT_CONFIRM: &str = "appuntamento/conferma";
pub const PROMPT_BOOKED: &str = "appuntamento/confermato";
pub const PROMPT_BOOKED_AT: &str = "appuntamento/presso";
pub const PROMPT_BOOKING_CODE: &str = "appuntamento/codice";

/// Every prompt the ticket and appointment flows play themselves (the daemon refuses to
/// start without them).
pub const SERVICE_PROMPTS: &[&str] = &[
    PROMPT_NOT_REGISTERED,
    PROMPT_TONE,
    PROMPT_REPEAT,
    PROMPT_GOODBYE,
    PROMPT_INVALID,
    PROMPT_TICKET_DONE,
    PROMPT_TICKET_FOLLOW_UP,
    PROMPT_SLOTS_INTRO,
    PROMPT_SLOTS_PRESS,
    PROMPT_SLOTS_REPEAT,
    PROMPT_SLOTS_NONE,
    PROMPT_SLOT_CHOSEN,
    PROMPT_SLOT_CONFIRM,
    PROMPT_BOOKED,
    PROMPT_BOOKED_AT,
    PROMPT_BOOKING_CODE,
    crate::ivr::tree::TICKET_QUESTION_PROMPT,
];

/// How long past a recording's length limit the menu waits for it to end by itself.
const RECORDING_MARGIN: Duration = Duration::from_secs(2);

/// Slots offered to the caller at most (keys 1 to 3).
pub const MAX_SLOTS: usize = 3;

/// Facts about the call the menu can branch on.
#[derive(Debug, Clone)]
pub struct CallContext {
    /// The office number the caller dialled.
    pub dialled: String,
    pub province: Option<String>,
    pub region: Option<String>,
    /// Prompt id (relative to the language folder) that speaks the office's name.
    pub office_prompt: Option<String>,
    /// The office's id in the directory (e.g. `roma-eur`).
    pub office: Option<String>,
    /// Local Italian wall-clock time when the call started; later times are derived
    /// from it and the `Instant`s the driver passes.
    pub started_at: NaiveDateTime,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Stop what plays and play these prompt ids; `token` comes back when they finish.
    Play { prompts: Vec<String>, token: u64 },
    /// Stop what plays (a key interrupted it and nothing new is to be said yet).
    Stop,
    /// Give the call to the built-in DTMF test line.
    TestLine,
    /// Hand the call to a service the driver offers (`Interp::offer`): a queue, the
    /// ticket desk… The interpreter waits; the driver later calls `handoff_failed` or
    /// `resume_at` if the call comes back to the menu.
    Handoff {
        kind: HandoffKind,
        target: String,
        priority: i32,
    },
    /// Record what the caller says (a ticket's question) for at most `max`; the driver
    /// calls `recorded` when it stops.
    Record { max: Duration },
    /// The caller pressed `#`: stop recording now.
    StopRecording,
    /// Book the offered slot with this index (of those given to `service_reply`).
    Book { slot: usize },
    /// End the call.
    Hangup,
}

/// What a service (ticket desk, appointment book) answered for this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceReply {
    /// The ticket is stored durably under this id.
    TicketOpened { id: String },
    /// Free appointment slots (local time), best first; the caller hears up to three.
    Slots(Vec<NaiveDateTime>),
    /// The booking is stored durably.
    Booked { id: String, start: NaiveDateTime },
}

/// Per-node counters, Prometheus-style, so the menu's drop-off is visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stat {
    Entered,
    Completed,
    TimedOut,
    Invalid,
    HungUp,
}

/// One step of the caller's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub node: NodeId,
    /// Since the start of the call.
    pub at: Duration,
    /// Keys pressed while in this node.
    pub keys: String,
}

/// What the current node waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wait {
    /// The prompts with this token; then `after`.
    Prompt {
        token: u64,
        then: AfterPrompt,
    },
    /// A key until the deadline (menu or collect).
    Key {
        deadline: Instant,
    },
    /// The call is with a service (queue…); `fallback` if the service turns it away.
    HandedOff {
        fallback: Option<NodeId>,
    },
    /// The caller is speaking a ticket's question; past the deadline (the length limit
    /// and a margin, in case no audio arrives at all) the menu stops it.
    Recording {
        deadline: Instant,
    },
    Done,
}

/// Where an appointment booking stands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum Booking {
    #[default]
    None,
    /// The caller hears the slots and picks one by key.
    Choosing(Vec<NaiveDateTime>),
    /// The caller confirms the slot with this index (1) or goes back to the list (2).
    Confirming(Vec<NaiveDateTime>, usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum AfterPrompt {
    /// Start the key timeout (menu, collect).
    WaitKey,
    /// Continue at this node, or hang up.
    Goto(Option<NodeId>),
    /// A menu or collect gave up: go to its exit (or hang up).
    Exit,
    /// Confirm the collected value: wait for 1 or 2.
    WaitConfirm,
    /// Start recording the caller, for at most this long.
    Record(Duration),
}

pub struct Interp {
    tree: Arc<Tree>,
    ctx: CallContext,
    started: Option<Instant>,
    lang: String,
    node: NodeId,
    wait: Wait,
    /// Keys typed so far in a menu or collect.
    buffer: String,
    failures: u32,
    timeouts: u32,
    /// The value a collect node asks to confirm.
    pending: Option<String>,
    visited: HashSet<NodeId>,
    /// Menus entered, for the back key.
    menu_stack: Vec<NodeId>,
    vars: HashMap<String, String>,
    path: Vec<Step>,
    next_token: u64,
    actions: VecDeque<Action>,
    stats: VecDeque<(NodeId, Stat)>,
    /// Hand-off kinds the driver serves.
    offered: Vec<HandoffKind>,
    booking: Booking,
}

impl Interp {
    pub fn new(tree: Arc<Tree>, ctx: CallContext) -> Self {
        Interp {
            lang: tree.language.clone(),
            node: tree.start,
            tree,
            ctx,
            started: None,
            wait: Wait::Done,
            buffer: String::new(),
            failures: 0,
            timeouts: 0,
            pending: None,
            visited: HashSet::new(),
            menu_stack: Vec::new(),
            vars: HashMap::new(),
            path: Vec::new(),
            next_token: 1,
            actions: VecDeque::new(),
            stats: VecDeque::new(),
            offered: Vec::new(),
            booking: Booking::None,
        }
    }

    /// Services the driver can take calls into; hand-offs to others say "not available"
    /// and follow their fallback.
    pub fn offer(mut self, kinds: &[HandoffKind]) -> Self {
        self.offered = kinds.to_vec();
        self
    }

    /// The service could not take the call (unknown queue, nobody to take it): say so
    /// and follow the node's fallback.
    pub fn handoff_failed(&mut self, _now: Instant) {
        if let Wait::HandedOff { fallback } = self.wait {
            let prompt = format!("{}/{PROMPT_NOT_AVAILABLE}", self.lang);
            self.play(vec![prompt], AfterPrompt::Goto(fallback));
        }
    }

    /// The request could not be stored (ticket, booking): say so, never confirm, and
    /// follow the node's fallback.
    pub fn request_failed(&mut self, _now: Instant) {
        if let Wait::HandedOff { fallback } = self.wait {
            self.booking = Booking::None;
            let prompt = self.system(PROMPT_NOT_REGISTERED);
            self.play(vec![prompt], AfterPrompt::Goto(fallback));
        }
    }

    /// The recording of the caller's question stopped (key, length limit or hang-up):
    /// the ticket can be opened.
    pub fn recorded(&mut self, _now: Instant) {
        if !matches!(self.wait, Wait::Recording { .. }) {
            return;
        }
        if let Node::Handoff {
            kind,
            target,
            fallback,
            ..
        } = self.tree.clone().node(self.node)
        {
            self.hand_off(*kind, target.clone(), 0, *fallback);
        }
    }

    /// A service answered: the ticket id to read back, slots to offer, a booking made.
    pub fn service_reply(&mut self, now: Instant, reply: ServiceReply) {
        let Wait::HandedOff { fallback } = self.wait else {
            return;
        };
        let tree = self.tree.clone();
        let Node::Handoff { next, .. } = tree.node(self.node) else {
            return;
        };
        match reply {
            ServiceReply::TicketOpened { id } => {
                let mut prompts = vec![self.system(PROMPT_TICKET_DONE)];
                self.read_code_twice(&mut prompts, &id);
                prompts.push(self.system(PROMPT_TICKET_FOLLOW_UP));
                self.confirmed(prompts, *next);
            }
            ServiceReply::Slots(mut slots) => {
                slots.truncate(MAX_SLOTS);
                if slots.is_empty() {
                    let prompt = self.system(PROMPT_SLOTS_NONE);
                    return self.play(vec![prompt], AfterPrompt::Goto(fallback));
                }
                self.failures = 0;
                self.timeouts = 0;
                self.offer_slots(Vec::new(), slots);
            }
            ServiceReply::Booked { id, start } => {
                self.booking = Booking::None;
                let mut prompts = vec![self.system(PROMPT_BOOKED)];
                prompts.extend(say_when(start));
                if let Some(office) = &self.ctx.office_prompt {
                    prompts.push(self.system(PROMPT_BOOKED_AT));
                    prompts.push(self.system(office));
                }
                prompts.push(self.system(PROMPT_BOOKING_CODE));
                self.read_code_twice(&mut prompts, &id);
                self.confirmed(prompts, *next);
                let _ = now;
            }
        }
    }

    /// The service sends the call back into the menu at `node` (e.g. a queue's overflow
    /// to a ticket node). Returns false when the tree has no such node.
    pub fn resume_at(&mut self, now: Instant, node: &str) -> bool {
        let Some(id) = self.tree.find(node) else {
            return false;
        };
        if matches!(self.wait, Wait::HandedOff { .. }) {
            self.complete();
        }
        self.enter(now, id);
        true
    }

    pub fn tree(&self) -> &Arc<Tree> {
        &self.tree
    }

    /// The call is answered: enter the start node.
    pub fn start(&mut self, now: Instant) {
        if self.started.is_none() {
            self.started = Some(now);
            self.enter(now, self.tree.start);
        }
    }

    pub fn handle_digit(&mut self, now: Instant, key: char) {
        let key = key.to_ascii_uppercase();
        if let Some(step) = self.path.last_mut() {
            step.keys.push(key);
        }
        // Fix: a menu or collect that gave up (max failures/timeouts) plays its last
        // prompt and then leaves for `exit`; a key during that prompt used to barge in and
        // reopen it, getting round the limit. The key is recorded above, nothing more.
        if matches!(
            self.wait,
            Wait::Prompt {
                then: AfterPrompt::Exit,
                ..
            }
        ) {
            return;
        }
        if matches!(self.wait, Wait::Recording { .. }) {
            if key == '#' {
                self.actions.push_back(Action::StopRecording);
            }
            return;
        }
        if self.booking != Booking::None {
            return self.booking_key(now, key);
        }
        let tree = self.tree.clone();
        match tree.node(self.node) {
            Node::Menu(m) => self.menu_key(now, m, key),
            Node::Collect(c) => self.collect_key(now, c, key),
            Node::Play {
                operator: Some((k, to)),
                ..
            } if *k == key && matches!(self.wait, Wait::Prompt { .. }) => {
                self.stop_if_playing();
                self.complete();
                self.enter(now, *to);
            }
            Node::Play {
                next,
                skippable: true,
                ..
            } if matches!(self.wait, Wait::Prompt { .. }) => {
                self.stop_if_playing();
                self.complete();
                self.goto(now, *next);
            }
            _ => {}
        }
    }

    pub fn handle_prompt_finished(&mut self, now: Instant, token: u64) {
        let Wait::Prompt { token: t, then } = self.wait.clone() else {
            return;
        };
        if t != token {
            return; // an interrupted prompt
        }
        let tree = self.tree.clone();
        match then {
            AfterPrompt::WaitKey | AfterPrompt::WaitConfirm => {
                let timeout = match tree.node(self.node) {
                    Node::Menu(m) => m.timeout,
                    Node::Collect(c) => c.timeout,
                    _ => Duration::from_secs(5),
                };
                self.wait = Wait::Key {
                    deadline: now + timeout,
                };
            }
            AfterPrompt::Goto(next) => {
                self.complete();
                self.goto(now, next);
            }
            AfterPrompt::Exit => self.exit(now),
            AfterPrompt::Record(max) => {
                self.wait = Wait::Recording {
                    deadline: now + max + RECORDING_MARGIN,
                };
                self.actions.push_back(Action::Record { max });
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if let Wait::Recording { deadline } = self.wait
            && now >= deadline
        {
            // No `Recorded` came by itself: ask once more, the wait ends with the answer.
            self.wait = Wait::Recording {
                deadline: now + RECORDING_MARGIN,
            };
            self.actions.push_back(Action::StopRecording);
            return;
        }
        let Wait::Key { deadline } = self.wait else {
            return;
        };
        if now < deadline {
            return;
        }
        if self.booking != Booking::None {
            return self.booking_timeout(now);
        }
        let tree = self.tree.clone();
        match tree.node(self.node) {
            Node::Menu(m) => self.menu_timeout(now, m),
            Node::Collect(c) => self.collect_timeout(now, c),
            _ => {}
        }
    }

    /// The caller hung up: count it where they were.
    pub fn handle_hangup(&mut self, _now: Instant) {
        // Fix: was `wait != Done || !TestLine`, which counted a second report of the same
        // hang-up again, and counted one after the menu itself had hung up (a goodbye at
        // `bye` showed as callers dropping off there). Only a live call counts; the test
        // line (also `Done`) stays uncounted as before.
        if self.wait != Wait::Done {
            self.stats.push_back((self.node, Stat::HungUp));
        }
        self.wait = Wait::Done;
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_stat(&mut self) -> Option<(NodeId, Stat)> {
        self.stats.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.wait {
            Wait::Key { deadline } | Wait::Recording { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// The ticket section (`target`) whose question the caller is speaking now, if any:
    /// a caller who hangs up mid-question still leaves the ticket (as on an answering
    /// machine), only without hearing its id.
    pub fn recording_for(&self) -> Option<&str> {
        if !matches!(self.wait, Wait::Recording { .. }) {
            return None;
        }
        match self.tree.node(self.node) {
            Node::Handoff {
                kind: HandoffKind::Ticket,
                target,
                ..
            } => Some(target),
            _ => None,
        }
    }

    pub fn path(&self) -> &[Step] {
        &self.path
    }

    pub fn vars(&self) -> &HashMap<String, String> {
        &self.vars
    }

    pub fn language(&self) -> &str {
        &self.lang
    }

    // ---- moving between nodes

    fn goto(&mut self, now: Instant, next: Option<NodeId>) {
        match next {
            Some(n) => self.enter(now, n),
            None => self.finish(Action::Hangup),
        }
    }

    fn enter(&mut self, now: Instant, node: NodeId) {
        // Passive nodes (branch, language) chain without input; the checker refuses loops
        // among them, and this bound keeps a bug from spinning for ever.
        let mut node = node;
        for _ in 0..256 {
            self.node = node;
            self.buffer.clear();
            self.pending = None;
            self.failures = 0;
            self.timeouts = 0;
            self.stats.push_back((node, Stat::Entered));
            let at = self.started.map_or(Duration::ZERO, |s| now - s);
            self.path.push(Step {
                node,
                at,
                keys: String::new(),
            });
            let tree = self.tree.clone();
            let first_visit = self.visited.insert(node);
            match tree.node(node) {
                Node::Menu(m) => {
                    if self.menu_stack.last() != Some(&node) {
                        self.menu_stack.push(node);
                    }
                    let greeting = if first_visit {
                        &m.greeting
                    } else {
                        &m.short_greeting
                    };
                    let prompts = self.resolve(now, greeting);
                    self.play(prompts, AfterPrompt::WaitKey);
                }
                Node::Play { prompts, next, .. } => {
                    let prompts = self.resolve(now, prompts);
                    self.play(prompts, AfterPrompt::Goto(*next));
                }
                Node::Collect(c) => {
                    let prompts = self.resolve(now, &c.prompt);
                    self.play(prompts, AfterPrompt::WaitKey);
                }
                Node::Branch(b) => {
                    let value = match &b.on {
                        BranchOn::Schedule { name, open, closed } => {
                            let open_now = tree
                                .schedules
                                .get(name)
                                .is_some_and(|s| s.is_open(self.wall_clock(now)));
                            self.complete();
                            node = if open_now { *open } else { *closed };
                            continue;
                        }
                        BranchOn::Var(v) => self.vars.get(v).cloned(),
                        BranchOn::Office => {
                            // A case names the office by id, or by one of its numbers in
                            // any format (`06 0100 3000`, `+390601003000`).
                            let ctx = &self.ctx;
                            let hit = b.cases.iter().find(|(case, _)| {
                                ctx.office.as_deref() == Some(case.as_str())
                                    || case.as_str() == ctx.dialled
                                    || crate::directory::normalise_e164(case).as_deref()
                                        == Some(ctx.dialled.as_str())
                            });
                            self.complete();
                            match hit.map(|(_, to)| *to).or(b.default) {
                                Some(t) => {
                                    node = t;
                                    continue;
                                }
                                None => return self.finish(Action::Hangup),
                            }
                        }
                        BranchOn::Province => self.ctx.province.clone(),
                        BranchOn::Region => self.ctx.region.clone(),
                    };
                    let target = value
                        .and_then(|v| {
                            b.cases
                                .iter()
                                .find(|(case, _)| case.eq_ignore_ascii_case(&v))
                        })
                        .map(|(_, to)| *to)
                        .or(b.default);
                    self.complete();
                    match target {
                        Some(t) => {
                            node = t;
                            continue;
                        }
                        None => return self.finish(Action::Hangup),
                    }
                }
                Node::Language { set, next } => {
                    self.lang = set.clone();
                    self.complete();
                    node = *next;
                    continue;
                }
                Node::Handoff {
                    kind,
                    target,
                    priority,
                    fallback,
                    record,
                    prompt,
                    ..
                } => {
                    if !self.offered.contains(kind) {
                        // A service not offered here: say so and follow the fallback.
                        tracing::info!(kind = kind.name(), %target, "service not available");
                        let prompt = self.system(PROMPT_NOT_AVAILABLE);
                        self.play(vec![prompt], AfterPrompt::Goto(*fallback));
                    } else if let (HandoffKind::Ticket, Some(max)) = (kind, record) {
                        let mut prompts = self.resolve(now, prompt);
                        prompts.push(self.system(PROMPT_TONE));
                        self.play(prompts, AfterPrompt::Record(*max));
                    } else {
                        self.hand_off(*kind, target.clone(), *priority, *fallback);
                    }
                }
                Node::Hangup { prompts } => {
                    let prompts = self.resolve(now, prompts);
                    if prompts.is_empty() {
                        self.complete();
                        self.finish(Action::Hangup);
                    } else {
                        self.play(prompts, AfterPrompt::Goto(None));
                    }
                }
                Node::TestLine => {
                    self.complete();
                    self.finish(Action::TestLine);
                }
            }
            return;
        }
        tracing::error!("menu chained 256 nodes without input; hanging up");
        self.finish(Action::Hangup);
    }

    fn hand_off(
        &mut self,
        kind: HandoffKind,
        target: String,
        priority: i32,
        fallback: Option<NodeId>,
    ) {
        self.wait = Wait::HandedOff { fallback };
        self.actions.push_back(Action::Handoff {
            kind,
            target,
            priority,
        });
    }

    fn finish(&mut self, action: Action) {
        self.wait = Wait::Done;
        self.actions.push_back(action);
    }

    fn complete(&mut self) {
        self.stats.push_back((self.node, Stat::Completed));
    }

    fn play(&mut self, prompts: Vec<String>, then: AfterPrompt) {
        let token = self.next_token;
        self.next_token += 1;
        self.actions.push_back(Action::Play { prompts, token });
        self.wait = Wait::Prompt { token, then };
    }

    fn stop_if_playing(&mut self) {
        if matches!(self.wait, Wait::Prompt { .. }) {
            self.actions.push_back(Action::Stop);
        }
    }

    /// The menu or collect gave up: its exit node, or hang up.
    fn exit(&mut self, now: Instant) {
        let exit = match self.tree.node(self.node) {
            Node::Menu(m) => m.exit,
            Node::Collect(c) => c.exit,
            _ => None,
        };
        self.goto(now, exit);
    }

    fn wall_clock(&self, now: Instant) -> NaiveDateTime {
        let elapsed = self.started.map_or(Duration::ZERO, |s| now - s);
        self.ctx.started_at + chrono::Duration::from_std(elapsed).unwrap_or_default()
    }

    // ---- menus

    fn menu_key(&mut self, now: Instant, m: &Menu, key: char) {
        let playing = matches!(self.wait, Wait::Prompt { .. });
        let waiting = matches!(self.wait, Wait::Key { .. });
        if !(waiting || playing && m.barge_in) {
            return; // no barge-in: keys during the greeting are ignored
        }
        if self.buffer.is_empty() {
            if let Some((k, to)) = m.operator
                && k == key
            {
                self.stop_if_playing();
                self.complete();
                return self.enter(now, to);
            }
            if m.repeat_key == Some(key) {
                let prompts = self.resolve(now, &m.greeting);
                return self.play(prompts, AfterPrompt::WaitKey);
            }
            if m.back_key == Some(key) {
                if self.menu_stack.len() >= 2 {
                    self.menu_stack.pop();
                    let back = self.menu_stack.pop().unwrap_or(self.tree.start);
                    self.stop_if_playing();
                    self.complete();
                    return self.enter(now, back);
                }
                return self.menu_invalid(now, m);
            }
        }
        self.buffer.push(key);
        let exact = best_match(m, &self.buffer);
        let longer = m.options.iter().any(|(_, p, _)| p.extends(&self.buffer));
        match (exact, longer) {
            (Some(to), false) => {
                self.stop_if_playing();
                self.complete();
                self.enter(now, to);
            }
            (_, true) => {
                self.stop_if_playing();
                self.wait = Wait::Key {
                    deadline: now + m.inter_digit,
                };
            }
            (None, false) => self.menu_invalid(now, m),
        }
    }

    fn menu_timeout(&mut self, now: Instant, m: &Menu) {
        if !self.buffer.is_empty() {
            // Inter-digit timeout: take the shorter option if the keys so far make one.
            return match best_match(m, &self.buffer) {
                Some(to) => {
                    self.complete();
                    self.enter(now, to)
                }
                None => self.menu_invalid(now, m),
            };
        }
        self.stats.push_back((self.node, Stat::TimedOut));
        self.timeouts += 1;
        if self.timeouts >= m.max_timeouts {
            let prompts = self.resolve(now, &m.timeout_prompts);
            return self.play_then_exit(now, prompts);
        }
        let mut prompts = self.resolve(now, &m.timeout_prompts);
        prompts.extend(self.resolve(now, &m.short_greeting));
        self.play(prompts, AfterPrompt::WaitKey);
    }

    fn menu_invalid(&mut self, now: Instant, m: &Menu) {
        self.stats.push_back((self.node, Stat::Invalid));
        self.buffer.clear();
        self.failures += 1;
        let mut prompts = self.resolve(now, &m.invalid);
        if self.failures >= m.max_failures {
            return self.play_then_exit(now, prompts);
        }
        prompts.extend(self.resolve(now, &m.short_greeting));
        self.play(prompts, AfterPrompt::WaitKey);
    }

    fn play_then_exit(&mut self, now: Instant, prompts: Vec<String>) {
        if prompts.is_empty() {
            self.exit(now);
        } else {
            self.play(prompts, AfterPrompt::Exit);
        }
    }

    // ---- digit collection

    fn collect_key(&mut self, now: Instant, c: &Collect, key: char) {
        if self.pending.is_some() {
            return self.confirm_key(now, c, key);
        }
        if !matches!(self.wait, Wait::Key { .. } | Wait::Prompt { .. }) {
            return;
        }
        self.stop_if_playing();
        if Some(key) == c.terminator {
            return self.collect_done(now, c);
        }
        if !key.is_ascii_digit() {
            return self.collect_invalid(now, c);
        }
        self.buffer.push(key);
        if self.buffer.len() >= c.max {
            return self.collect_done(now, c);
        }
        self.wait = Wait::Key {
            deadline: now + c.inter_digit,
        };
    }

    fn collect_timeout(&mut self, now: Instant, c: &Collect) {
        if self.pending.is_some() {
            // No answer to "press 1 to confirm": ask again, within the failure budget.
            return self.confirm_invalid(now, c);
        }
        if self.buffer.is_empty() {
            self.stats.push_back((self.node, Stat::TimedOut));
            self.failures += 1;
            if self.failures >= c.max_failures {
                return self.exit(now);
            }
            let prompts = self.resolve(now, &c.prompt);
            return self.play(prompts, AfterPrompt::WaitKey);
        }
        self.collect_done(now, c);
    }

    fn collect_done(&mut self, now: Instant, c: &Collect) {
        if self.buffer.len() < c.min {
            return self.collect_invalid(now, c);
        }
        let value = std::mem::take(&mut self.buffer);
        if c.confirm {
            self.pending = Some(value.clone());
            let mut prompts = vec![self.system(PROMPT_YOU_ENTERED)];
            prompts.extend(crate::ivr::say_it::digits(&value));
            prompts.push(self.system(PROMPT_CONFIRM));
            return self.play(prompts, AfterPrompt::WaitConfirm);
        }
        self.vars.insert(c.var.clone(), value);
        self.complete();
        self.enter(now, c.next);
    }

    fn collect_invalid(&mut self, now: Instant, c: &Collect) {
        self.stats.push_back((self.node, Stat::Invalid));
        self.buffer.clear();
        self.failures += 1;
        let mut prompts = self.resolve(now, &c.invalid);
        if self.failures >= c.max_failures {
            return self.play_then_exit(now, prompts);
        }
        prompts.extend(self.resolve(now, &c.prompt));
        self.play(prompts, AfterPrompt::WaitKey);
    }

    fn confirm_key(&mut self, now: Instant, c: &Collect, key: char) {
        match key {
            '1' => {
                self.stop_if_playing();
                let value = self.pending.take().unwrap_or_default();
                self.vars.insert(c.var.clone(), value);
                self.complete();
                self.enter(now, c.next);
            }
            '2' => {
                self.stop_if_playing();
                self.pending = None;
                let prompts = self.resolve(now, &c.prompt);
                self.play(prompts, AfterPrompt::WaitKey);
            }
            _ => self.confirm_invalid(now, c),
        }
    }

    fn confirm_invalid(&mut self, now: Instant, c: &Collect) {
        self.stats.push_back((self.node, Stat::Invalid));
        self.failures += 1;
        if self.failures >= c.max_failures {
            self.pending = None;
            let prompts = self.resolve(now, &c.invalid);
            return self.play_then_exit(now, prompts);
        }
        let mut prompts = self.resolve(now, &c.invalid);
        prompts.push(self.system(PROMPT_CONFIRM));
        self.play(prompts, AfterPrompt::WaitConfirm);
    }

    // ---- tickets and appointments

    /// A ticket or booking id, read character by character, twice, so it can be noted.
    fn read_code_twice(&self, prompts: &mut Vec<String>, id: &str) {
        let code = crate::ivr::say_it::digits(id);
        prompts.extend(code.iter().cloned());
        prompts.push(self.system(PROMPT_REPEAT));
        prompts.extend(code);
    }

    /// A confirmation was read: on to `next`, or thank and hang up.
    fn confirmed(&mut self, mut prompts: Vec<String>, next: Option<NodeId>) {
        if next.is_none() {
            prompts.push(self.system(PROMPT_GOODBYE));
        }
        self.play(prompts, AfterPrompt::Goto(next));
    }

    /// "Sono disponibili i seguenti appuntamenti: martedì tre dicembre alle ore dieci e
    /// trenta, prema uno; …"
    fn offer_slots(&mut self, mut prompts: Vec<String>, slots: Vec<NaiveDateTime>) {
        prompts.push(self.system(PROMPT_SLOTS_INTRO));
        for (i, start) in slots.iter().enumerate() {
            prompts.extend(say_when(*start));
            prompts.push(self.system(PROMPT_SLOTS_PRESS));
            prompts.extend(crate::ivr::say_it::cardinal(i as u32 + 1));
        }
        prompts.push(self.system(PROMPT_SLOTS_REPEAT));
        self.booking = Booking::Choosing(slots);
        self.play(prompts, AfterPrompt::WaitKey);
    }

    fn booking_key(&mut self, now: Instant, key: char) {
        if !matches!(self.wait, Wait::Key { .. } | Wait::Prompt { .. }) {
            return;
        }
        match std::mem::take(&mut self.booking) {
            Booking::Choosing(slots) => {
                let chosen = key
                    .to_digit(10)
                    .map(|d| d as usize)
                    .filter(|d| (1..=slots.len()).contains(d));
                self.stop_if_playing();
                match (key, chosen) {
                    ('*', _) => self.offer_slots(Vec::new(), slots),
                    (_, Some(n)) => {
                        let mut prompts = vec![self.system(PROMPT_SLOT_CHOSEN)];
                        prompts.extend(say_when(slots[n - 1]));
                        prompts.push(self.system(PROMPT_SLOT_CONFIRM));
                        self.booking = Booking::Confirming(slots, n - 1);
                        self.play(prompts, AfterPrompt::WaitConfirm);
                    }
                    _ => {
                        self.booking = Booking::Choosing(slots);
                        self.booking_invalid(now);
                    }
                }
            }
            Booking::Confirming(slots, n) => match key {
                '1' => {
                    self.stop_if_playing();
                    let fallback = match self.tree.node(self.node) {
                        Node::Handoff { fallback, .. } => *fallback,
                        _ => None,
                    };
                    self.wait = Wait::HandedOff { fallback };
                    self.actions.push_back(Action::Book { slot: n });
                }
                '2' => {
                    self.stop_if_playing();
                    self.offer_slots(Vec::new(), slots);
                }
                _ => {
                    self.stop_if_playing();
                    self.booking = Booking::Confirming(slots, n);
                    self.booking_invalid(now);
                }
            },
            Booking::None => {}
        }
    }

    fn booking_timeout(&mut self, now: Instant) {
        self.stats.push_back((self.node, Stat::TimedOut));
        self.timeouts += 1;
        if self.timeouts >= 3 {
            return self.booking_gave_up(now);
        }
        self.booking_again(Vec::new());
    }

    fn booking_invalid(&mut self, now: Instant) {
        self.stats.push_back((self.node, Stat::Invalid));
        self.failures += 1;
        if self.failures >= 3 {
            return self.booking_gave_up(now);
        }
        let invalid = vec![self.system(PROMPT_INVALID)];
        self.booking_again(invalid);
    }

    /// Asks again, after `first`: the list, or the confirmation of the slot chosen.
    fn booking_again(&mut self, first: Vec<String>) {
        match std::mem::take(&mut self.booking) {
            Booking::Choosing(slots) => self.offer_slots(first, slots),
            Booking::Confirming(slots, n) => {
                let mut prompts = first;
                prompts.push(self.system(PROMPT_SLOT_CONFIRM));
                self.booking = Booking::Confirming(slots, n);
                self.play(prompts, AfterPrompt::WaitConfirm);
            }
            Booking::None => {}
        }
    }

    /// No choice after three tries: the node's fallback.
    fn booking_gave_up(&mut self, now: Instant) {
        self.booking = Booking::None;
        let fallback = match self.tree.node(self.node) {
            Node::Handoff { fallback, .. } => *fallback,
            _ => None,
        };
        self.goto(now, fallback);
    }

    // ---- prompts

    fn system(&self, id: &str) -> String {
        format!("{}/{id}", self.lang)
    }

    /// Turns a prompt list into prompt ids: language folder + id, or the fragments of a
    /// spoken value.
    fn resolve(&self, now: Instant, items: &[PromptItem]) -> Vec<String> {
        let mut out = Vec::new();
        for item in items {
            match item {
                PromptItem::Prompt(id) => out.push(format!("{}/{id}", self.lang)),
                PromptItem::Say(s) if s.say == SayKind::Office => {
                    out.extend(self.ctx.office_prompt.as_deref().map(|p| self.system(p)));
                }
                PromptItem::Say(s) => {
                    let today = self.wall_clock(now).date();
                    let value = match (&s.var, &s.value) {
                        (Some(v), _) => values::variable(v, &self.vars, &self.ctx, today),
                        (None, Some(v)) => Some(v.clone()),
                        (None, None) => None,
                    };
                    if let Some(v) = value {
                        out.extend(values::speak(s.say, &v));
                    }
                }
            }
        }
        out
    }
}

/// "martedì tre dicembre alle ore dieci e trenta".
fn say_when(at: NaiveDateTime) -> Vec<String> {
    use chrono::Timelike;
    let mut out = crate::ivr::say_it::date(at.date());
    out.extend(crate::ivr::say_it::time(at.hour(), at.minute()));
    out
}

/// Exact keys win over patterns; among patterns the first in the file.
fn best_match(m: &Menu, input: &str) -> Option<NodeId> {
    m.options
        .iter()
        .filter(|(_, p, _)| p.matches(input))
        .min_by_key(|(_, p, _)| !p.is_exact())
        .map(|(_, _, to)| *to)
}
