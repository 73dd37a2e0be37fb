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
    },
    Stop,
    Hangup,
}

pub enum Logic {
    Menu(Box<Interp>),
    Line(TestLine),
}

impl Logic {
    pub fn answered(&mut self, now: Instant) {
        match self {
            Logic::Menu(i) => i.start(now),
            Logic::Line(l) => l.handle_answered(now),
        }
    }

    pub fn digit(&mut self, now: Instant, key: char) {
        match self {
            Logic::Menu(i) => i.handle_digit(now, key),
            Logic::Line(l) => l.handle_digit(now, key),
        }
    }

    pub fn prompt_finished(&mut self, now: Instant, token: u64) {
        match self {
            Logic::Menu(i) => i.handle_prompt_finished(now, token),
            Logic::Line(l) => l.handle_prompt_finished(now, token),
        }
    }

    pub fn timeout(&mut self, now: Instant) {
        match self {
            Logic::Menu(i) => i.handle_timeout(now),
            Logic::Line(l) => l.handle_timeout(now),
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
                    interp::Action::Hangup => return Some(Do::Hangup),
                    interp::Action::Handoff { kind, target } => {
                        return Some(Do::Handoff { kind, target });
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
            }
        }
    }

    /// Menu counters to add to the metrics.
    pub fn poll_stat(&mut self) -> Option<(NodeId, Stat)> {
        match self {
            Logic::Menu(i) => i.poll_stat(),
            Logic::Line(_) => None,
        }
    }

    pub fn menu_mut(&mut self) -> Option<&mut Interp> {
        match self {
            Logic::Menu(i) => Some(i),
            Logic::Line(_) => None,
        }
    }

    pub fn menu(&self) -> Option<&Interp> {
        match self {
            Logic::Menu(i) => Some(i),
            Logic::Line(_) => None,
        }
    }
}
