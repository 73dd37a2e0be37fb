//! What a call runs once answered: the menu interpreter, or the DTMF test line (for
//! test-line numbers, when no tree is loaded, or when a `test_line` node hands over).
//! One surface for the driver over both pure machines.

use crate::call::{self, TestLine};
use crate::ivr::interp::{self, Interp, Stat};
use crate::ivr::tree::{HandoffKind, NodeId};
use std::time::Instant;

/// What the driver does for a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Do {
    Play {
        prompts: Vec<String>,
        token: u64,
    },
    /// The menu hands the call to a service (a queue).
    Handoff {
        kind: HandoffKind,
        target: String,
        priority: i32,
    },
    /// Record the caller (a ticket's question) for at most `max`.
    Record {
        max: std::time::Duration,
    },
    StopRecording,
    /// Book the offered slot with this index.
    Book {
        slot: usize,
    },
    Stop,
    Hangup,
}

pub enum Logic {
    Menu(Box<Interp>),
    Line(TestLine),
    /// Says one thing and hangs up (feature-code confirmations).
    Notice(Notice),
}

/// A prompt list played once, then the call ends.
pub struct Notice {
    prompts: Vec<String>,
    started: bool,
    finished: bool,
}

impl Notice {
    pub fn new(prompts: Vec<String>) -> Self {
        Notice {
            prompts,
            started: false,
            finished: false,
        }
    }
}

/// The token of a notice's only prompt list.
const NOTICE_TOKEN: u64 = 1;

impl Logic {
    pub fn answered(&mut self, now: Instant) {
        match self {
            Logic::Menu(i) => i.start(now),
            Logic::Line(l) => l.handle_answered(now),
            Logic::Notice(n) => n.started = true,
        }
    }

    pub fn digit(&mut self, now: Instant, key: char) {
        match self {
            Logic::Menu(i) => i.handle_digit(now, key),
            Logic::Line(l) => l.handle_digit(now, key),
            Logic::Notice(_) => {}
        }
    }

    pub fn prompt_finished(&mut self, now: Instant, token: u64) {
        match self {
            Logic::Menu(i) => i.handle_prompt_finished(now, token),
            Logic::Line(l) => l.handle_prompt_finished(now, token),
            Logic::Notice(n) => n.finished |= token == NOTICE_TOKEN,
        }
    }

    pub fn timeout(&mut self, now: Instant) {
        match self {
            Logic::Menu(i) => i.handle_timeout(now),
            Logic::Line(l) => l.handle_timeout(now),
            Logic::Notice(_) => {}
        }
    }

    pub fn hung_up(&mut self, now: Instant) {
        if let Logic::Menu(i) = self {
            i.handle_hangup(now);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Logic::Menu(i) => i.poll_timeout(),
            Logic::Line(l) => l.poll_timeout(),
            Logic::Notice(_) => None,
        }
    }

    /// The next thing to do. A menu that reaches a `test_line` node becomes the test line
    /// here, which greets at once.
    pub fn next(&mut self, now: Instant) -> Option<Do> {
        loop {
            match self {
                Logic::Menu(i) => match i.poll_action()? {
                    interp::Action::Play { prompts, token } => {
                        return Some(Do::Play { prompts, token });
                    }
                    interp::Action::Stop => return Some(Do::Stop),
                    interp::Action::Record { max } => return Some(Do::Record { max }),
                    interp::Action::StopRecording => return Some(Do::StopRecording),
                    interp::Action::Book { slot } => return Some(Do::Book { slot }),
                    interp::Action::Hangup => return Some(Do::Hangup),
                    interp::Action::Handoff {
                        kind,
                        target,
                        priority,
                    } => {
                        return Some(Do::Handoff {
                            kind,
                            target,
                            priority,
                        });
                    }
                    interp::Action::TestLine => {
                        let mut line = TestLine::new();
                        line.handle_answered(now);
                        *self = Logic::Line(line);
                    }
                },
                Logic::Line(l) => {
                    return l.poll_action().map(|a| match a {
                        call::Action::Play { prompts, token } => Do::Play { prompts, token },
                        call::Action::Hangup => Do::Hangup,
                    });
                }
                Logic::Notice(n) => {
                    if n.finished {
                        n.finished = false;
                        n.prompts.clear();
                        return Some(Do::Hangup);
                    }
                    if n.started && !n.prompts.is_empty() {
                        n.started = false;
                        return Some(Do::Play {
                            prompts: n.prompts.clone(),
                            token: NOTICE_TOKEN,
                        });
                    }
                    return None;
                }
            }
        }
    }

    /// Menu counters to add to the metrics.
    pub fn poll_stat(&mut self) -> Option<(NodeId, Stat)> {
        match self {
            Logic::Menu(i) => i.poll_stat(),
            Logic::Line(_) | Logic::Notice(_) => None,
        }
    }

    pub fn menu_mut(&mut self) -> Option<&mut Interp> {
        match self {
            Logic::Menu(i) => Some(i),
            _ => None,
        }
    }

    pub fn menu(&self) -> Option<&Interp> {
        match self {
            Logic::Menu(i) => Some(i),
            _ => None,
        }
    }
}
