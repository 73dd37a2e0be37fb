//! Voice menu trees: the YAML model (`model`), and the validated form the interpreter
//! walks (`Tree`), where every node reference is an index that cannot dangle.

mod compile;
pub mod diag;
pub mod model;
pub mod pattern;

pub use compile::{BUILTIN_VARS, PromptCatalog, load, load_str};
pub use diag::{Diagnostic, Severity};
pub use model::{PromptItem, Say, SayKind};
pub use pattern::KeyPattern;

use crate::ivr::schedule::Schedule;
use indexmap::IndexMap;
use std::time::Duration;

/// Played before the tone of a ticket's question unless the node says otherwise.
pub const TICKET_QUESTION_PROMPT: &str = "ticket/domanda";

/// Index of a node in `Tree::nodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub usize);

/// A loaded, checked tree. Immutable; calls hold it by `Arc` so a reload never changes
/// the menu under a caller's feet.
#[derive(Debug)]
pub struct Tree {
    pub name: String,
    /// The file it came from, for logs.
    pub source: String,
    pub language: String,
    pub start: NodeId,
    /// Node ids as written, by index.
    pub ids: Vec<String>,
    pub nodes: Vec<Node>,
    pub schedules: IndexMap<String, Schedule>,
}

impl Tree {
    pub fn id(&self, node: NodeId) -> &str {
        &self.ids[node.0]
    }

    pub fn node(&self, node: NodeId) -> &Node {
        &self.nodes[node.0]
    }

    pub fn find(&self, id: &str) -> Option<NodeId> {
        self.ids.iter().position(|i| i == id).map(NodeId)
    }
}

/// A prompt list with locations dropped.
pub type Prompts = Vec<PromptItem>;

#[derive(Debug)]
pub enum Node {
    Menu(Menu),
    Play {
        prompts: Prompts,
        next: Option<NodeId>,
        skippable: bool,
        /// The operator key works during a canned answer too.
        operator: Option<(char, NodeId)>,
    },
    Collect(Collect),
    Branch(Branch),
    Language {
        set: String,
        next: NodeId,
    },
    Handoff {
        kind: HandoffKind,
        target: String,
        priority: i32,
        fallback: Option<NodeId>,
        /// Tickets and appointments: where the call goes after the confirmation is read
        /// back (`None`: goodbye and hang up).
        next: Option<NodeId>,
        /// Tickets: record a question of at most this long first.
        record: Option<Duration>,
        /// Tickets: played before the recording tone.
        prompt: Prompts,
    },
    Hangup {
        prompts: Prompts,
    },
    TestLine,
}

impl Node {
    /// The kind as written in YAML.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Menu(_) => "menu",
            Node::Play { .. } => "play",
            Node::Collect(_) => "collect",
            Node::Branch(_) => "branch",
            Node::Language { .. } => "language",
            Node::Handoff { kind, .. } => kind.name(),
            Node::Hangup { .. } => "hangup",
            Node::TestLine => "test_line",
        }
    }

    /// The nodes this one moves on to by itself, without the caller pressing a key
    /// (prompt ends, branch decisions, language, fallbacks).
    pub fn next_without_input(&self) -> Vec<NodeId> {
        match self {
            Node::Play { next, .. } => next.iter().copied().collect(),
            Node::Branch(b) => {
                let mut out: Vec<NodeId> = b.cases.iter().map(|(_, n)| *n).collect();
                if let BranchOn::Schedule { open, closed, .. } = &b.on {
                    out.extend([*open, *closed]);
                }
                out.extend(b.default);
                out
            }
            Node::Language { next, .. } => vec![*next],
            Node::Handoff { fallback, next, .. } => {
                fallback.iter().chain(next.iter()).copied().collect()
            }
            Node::Menu(_) | Node::Collect(_) | Node::Hangup { .. } | Node::TestLine => Vec::new(),
        }
    }

    /// Every node this one can lead to, with a label for graphs.
    pub fn edges(&self) -> Vec<(String, NodeId)> {
        let mut out = Vec::new();
        match self {
            Node::Menu(m) => {
                for (key, _, to) in &m.options {
                    out.push((key.clone(), *to));
                }
                if let Some((key, to)) = &m.operator {
                    out.push((format!("{key} operatore"), *to));
                }
                if let Some(to) = m.exit {
                    out.push(("uscita".into(), to));
                }
            }
            Node::Play { next, operator, .. } => {
                out.extend(next.map(|n| (String::new(), n)));
                out.extend(
                    operator
                        .as_ref()
                        .map(|(k, n)| (format!("{k} operatore"), *n)),
                );
            }
            Node::Collect(c) => {
                out.push((c.var.clone(), c.next));
                out.extend(c.exit.map(|n| ("uscita".to_owned(), n)));
                out.extend(
                    c.operator
                        .as_ref()
                        .map(|(k, n)| (format!("{k} operatore"), *n)),
                );
            }
            Node::Branch(b) => {
                for (value, to) in &b.cases {
                    out.push((value.clone(), *to));
                }
                if let BranchOn::Schedule { open, closed, .. } = &b.on {
                    out.push(("aperto".into(), *open));
                    out.push(("chiuso".into(), *closed));
                }
                out.extend(b.default.map(|n| ("altrimenti".to_owned(), n)));
            }
            Node::Language { next, .. } => out.push((String::new(), *next)),
            Node::Handoff { fallback, next, .. } => {
                out.extend(next.map(|n| ("confermato".to_owned(), n)));
                out.extend(fallback.map(|n| ("non disponibile".to_owned(), n)))
            }
            Node::Hangup { .. } | Node::TestLine => {}
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoffKind {
    Queue,
    Ticket,
    Appointment,
    Transfer,
}

impl HandoffKind {
    pub fn name(self) -> &'static str {
        match self {
            HandoffKind::Queue => "queue",
            HandoffKind::Ticket => "ticket",
            HandoffKind::Appointment => "appointment",
            HandoffKind::Transfer => "transfer",
        }
    }
}

/// A menu with every default resolved.
#[derive(Debug)]
pub struct Menu {
    pub greeting: Prompts,
    pub short_greeting: Prompts,
    /// (key as written, pattern, target), in file order.
    pub options: Vec<(String, KeyPattern, NodeId)>,
    pub barge_in: bool,
    /// The operator key and where it leads, when enabled here.
    pub operator: Option<(char, NodeId)>,
    pub timeout: Duration,
    pub inter_digit: Duration,
    pub max_failures: u32,
    pub max_timeouts: u32,
    pub invalid: Prompts,
    pub timeout_prompts: Prompts,
    /// After too many failures or timeouts; `None` hangs up.
    pub exit: Option<NodeId>,
    pub repeat_key: Option<char>,
    pub back_key: Option<char>,
}

#[derive(Debug)]
pub struct Collect {
    pub var: String,
    pub prompt: Prompts,
    pub min: usize,
    pub max: usize,
    pub terminator: Option<char>,
    pub timeout: Duration,
    pub inter_digit: Duration,
    pub max_failures: u32,
    pub invalid: Prompts,
    pub confirm: bool,
    pub next: NodeId,
    pub exit: Option<NodeId>,
    pub operator: Option<(char, NodeId)>,
}

#[derive(Debug)]
pub struct Branch {
    pub on: BranchOn,
    pub cases: Vec<(String, NodeId)>,
    pub default: Option<NodeId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchOn {
    Schedule {
        name: String,
        open: NodeId,
        closed: NodeId,
    },
    Var(String),
    Office,
    Province,
    Region,
}
