//! Loads a tree file and checks everything before use: YAML errors (serde-saphyr, with
//! duplicate keys), unknown node references, missing prompts, unknown variables, keys
//! that can never be pressed, loops without input, bad schedules; unreachable nodes are
//! warnings. Every diagnostic has file, line, column and a snippet.

use super::diag::{Diagnostic, Diagnostics, Severity};
use super::model::{self, NodeRef, PromptItem, SayKind, TreeFile};
use super::pattern::{DTMF, KeyPattern};
use super::*;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// Variables every call has without collecting them.
pub const BUILTIN_VARS: &[&str] = &[
    "pension_payment_date", // next pension payment (first banking day; second in January)
    "today",
    "office",   // the dialled office number
    "province", // its province (sigla), when the directory knows the number
    "region",   // its region
];

/// The prompt ids a tree may use (`it/menu-principale`, …), from the prompts directory.
#[derive(Debug, Default, Clone)]
pub struct PromptCatalog {
    ids: HashSet<String>,
}

impl PromptCatalog {
    pub fn new(ids: impl IntoIterator<Item = impl Into<String>>) -> Self {
        PromptCatalog {
            ids: ids.into_iter().map(Into::into).collect(),
        }
    }

    pub fn has(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    fn has_language(&self, lang: &str) -> bool {
        let prefix = format!("{lang}/");
        self.ids.iter().any(|i| i.starts_with(&prefix))
    }
}

/// Loads and checks a tree file. `Ok` carries the tree and its warnings; `Err` every
/// diagnostic when at least one is an error.
pub fn load(
    path: &Path,
    prompts: &PromptCatalog,
) -> Result<(Tree, Vec<Diagnostic>), Vec<Diagnostic>> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(&text, &name, prompts),
        Err(e) => Err(vec![Diagnostic {
            severity: Severity::Error,
            file: name,
            line: 0,
            column: 0,
            message: format!("cannot read: {e}"),
            snippet: None,
        }]),
    }
}

/// As [`load`], from text; `file` names it in diagnostics.
pub fn load_str(
    text: &str,
    file: &str,
    prompts: &PromptCatalog,
) -> Result<(Tree, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut d = Diagnostics::new(file, text);
    let parsed: TreeFile = match serde_saphyr::from_str(text) {
        Ok(t) => t,
        Err(e) => {
            let at = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            // serde-saphyr's Display starts "line L column C: message" and then renders its
            // own snippet; we keep the message and render ours, like every other diagnostic.
            let full = e.to_string();
            let first = full.lines().next().unwrap_or_default();
            let first = first.strip_prefix("error: ").unwrap_or(first);
            let message = first
                .split_once(": ")
                .filter(|(p, _)| p.starts_with("line "))
                .map_or(first, |(_, m)| m);
            let message = message
                .trim_end_matches(", set DuplicateKeyPolicy in Options if acceptable")
                .to_owned();
            d.error(at, message);
            return Err(d.list);
        }
    };
    let mut c = Compiler::new(&parsed, prompts, &mut d);
    let tree = c.compile(file);
    match tree {
        Some(tree) if !d.has_errors() => Ok((tree, d.list)),
        _ => {
            d.list.sort_by_key(|x| (x.line, x.column));
            Err(d.list)
        }
    }
}

fn at(r: &NodeRef) -> (u64, u64) {
    (r.referenced.line(), r.referenced.column())
}

struct Compiler<'a, 'd> {
    file: &'a TreeFile,
    prompts: &'a PromptCatalog,
    d: &'d mut Diagnostics<'a>,
    index: HashMap<&'a str, NodeId>,
    lang: String,
    vars: HashSet<String>,
}

impl<'a, 'd> Compiler<'a, 'd> {
    fn new(file: &'a TreeFile, prompts: &'a PromptCatalog, d: &'d mut Diagnostics<'a>) -> Self {
        let index = file
            .nodes
            .keys()
            .enumerate()
            .map(|(i, k)| (k.as_str(), NodeId(i)))
            .collect();
        let mut vars: HashSet<String> = BUILTIN_VARS.iter().map(|s| s.to_string()).collect();
        for node in file.nodes.values() {
            if let model::Node::Collect(c) = &node.value {
                vars.insert(c.var.clone());
            }
        }
        Compiler {
            file,
            prompts,
            d,
            index,
            lang: file.language.clone().unwrap_or_else(|| "it".into()),
            vars,
        }
    }

    fn compile(&mut self, file_name: &str) -> Option<Tree> {
        let f = self.file;
        if !self.prompts.has_language(&self.lang) {
            self.d.error(
                (1, 1),
                format!(
                    "no prompts for language `{}` in the prompts directory",
                    self.lang
                ),
            );
        }
        let start = self.node_ref(&f.start);
        let operator = f.defaults.operator.as_ref().and_then(|r| self.node_ref(r));
        let default_exit = f.defaults.exit.as_ref().and_then(|r| self.node_ref(r));
        let operator_key = match &f.defaults.operator_key {
            Some(k) => self.key((1, 1), "operator_key", k),
            None => Some('0'),
        };
        let operator = operator.zip(operator_key).map(|(n, k)| (k, n));
        let mut nodes = Vec::with_capacity(f.nodes.len());
        for (id, node) in &f.nodes {
            let here = (node.referenced.line(), node.referenced.column());
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
            {
                self.d.error(
                    here,
                    format!("node id `{id}`: use letters, digits, `-` and `_`"),
                );
            }
            nodes.push(self.node(here, &node.value, operator, default_exit));
        }
        for (name, _) in &f.schedules {
            if name.is_empty() {
                self.d.error((1, 1), "a schedule needs a name");
            }
        }
        let start = start?;
        let nodes: Vec<Node> = nodes.into_iter().collect::<Option<_>>()?;
        let tree = Tree {
            name: f.name.clone().unwrap_or_else(|| file_name.to_owned()),
            source: file_name.to_owned(),
            language: self.lang.clone(),
            start,
            ids: f.nodes.keys().cloned().collect(),
            nodes,
            schedules: IndexMap::new(),
        };
        self.reachability(&tree, operator.map(|(_, n)| n));
        self.loops_without_input(&tree);
        Some(Tree {
            schedules: f
                .schedules
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..tree
        })
    }

    fn node_ref(&mut self, r: &NodeRef) -> Option<NodeId> {
        match self.index.get(r.value.as_str()) {
            Some(id) => Some(*id),
            None => {
                let hint = self
                    .index
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case(&r.value))
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                self.d
                    .error(at(r), format!("unknown node `{}`{hint}", r.value));
                None
            }
        }
    }

    fn opt_ref(&mut self, r: &Option<NodeRef>) -> Result<Option<NodeId>, ()> {
        match r {
            None => Ok(None),
            Some(r) => self.node_ref(r).map(Some).ok_or(()),
        }
    }

    /// A single phone key setting (operator, repeat, back, terminator).
    fn key(&mut self, here: (u64, u64), what: &str, k: &str) -> Option<char> {
        let mut chars = k.chars();
        match (chars.next().map(|c| c.to_ascii_uppercase()), chars.next()) {
            (Some(c), None) if DTMF.contains(c) => Some(c),
            _ => {
                self.d.error(
                    here,
                    format!("{what} `{k}` must be one phone key (0-9, *, #, A-D)"),
                );
                None
            }
        }
    }

    fn prompts(&mut self, list: &model::Prompts) -> Prompts {
        for item in &list.0 {
            let here = (item.referenced.line(), item.referenced.column());
            match &item.value {
                PromptItem::Prompt(id) => {
                    let full = format!("{}/{id}", self.lang);
                    if !self.prompts.has(&full) {
                        self.d.error(
                            here,
                            format!("prompt `{id}` not found (no file prompts/{full}.wav)"),
                        );
                    }
                }
                PromptItem::Say(s) => self.say(here, s),
            }
        }
        list.0.iter().map(|i| i.value.clone()).collect()
    }

    fn say(&mut self, here: (u64, u64), s: &model::Say) {
        if s.say == SayKind::Office {
            if s.var.is_some() || s.value.is_some() {
                self.d.error(
                    here,
                    "`say: office` speaks the dialled office's name: no `var` or `value`",
                );
            }
            return;
        }
        match (&s.var, &s.value) {
            (Some(v), None) => {
                if !self.vars.contains(v) {
                    self.d.error(
                        here,
                        format!(
                            "unknown variable `{v}`: not collected by any `collect` node nor built in ({})",
                            BUILTIN_VARS.join(", ")
                        ),
                    );
                }
            }
            (None, Some(value)) => {
                if let Err(why) = check_literal(s.say, value) {
                    self.d.error(here, why);
                }
            }
            _ => self
                .d
                .error(here, "`say` needs exactly one of `var` and `value`"),
        }
    }

    fn node(
        &mut self,
        here: (u64, u64),
        node: &model::Node,
        operator: Option<(char, NodeId)>,
        default_exit: Option<NodeId>,
    ) -> Option<Node> {
        let defaults = &self.file.defaults;
        Some(match node {
            model::Node::Menu(m) => {
                let greeting = self.prompts(&m.greeting);
                let short_greeting = match &m.short_greeting {
                    Some(p) => self.prompts(p),
                    None => greeting.clone(),
                };
                let invalid = self.prompts(
                    m.invalid
                        .as_ref()
                        .or(defaults.invalid.as_ref())
                        .unwrap_or(&Default::default()),
                );
                let timeout_prompts = self.prompts(
                    m.timeout
                        .as_ref()
                        .or(defaults.timeout.as_ref())
                        .unwrap_or(&Default::default()),
                );
                let exit = match &m.exit {
                    Some(r) => Some(self.node_ref(r)?),
                    None => default_exit,
                };
                // An empty string turns an inherited key off in this menu.
                let repeat_key = match m.repeat_key.as_ref().or(defaults.repeat_key.as_ref()) {
                    Some(k) if k.is_empty() => None,
                    Some(k) => Some(self.key(here, "repeat_key", k)?),
                    None => Some('*'),
                };
                let back_key = match m.back_key.as_ref().or(defaults.back_key.as_ref()) {
                    Some(k) if k.is_empty() => None,
                    Some(k) => Some(self.key(here, "back_key", k)?),
                    None => None,
                };
                let operator = if m.operator.unwrap_or(true) {
                    operator
                } else {
                    None
                };
                let options = self.options(
                    here,
                    m,
                    [
                        operator.map(|(k, _)| ("operator key", k)),
                        repeat_key.map(|k| ("repeat key", k)),
                        back_key.map(|k| ("back key", k)),
                    ],
                )?;
                if options.is_empty() && operator.is_none() {
                    self.d.error(
                        here,
                        "a menu needs at least one option (or the operator key)",
                    );
                }
                Node::Menu(Menu {
                    greeting,
                    short_greeting,
                    options,
                    barge_in: m.barge_in.unwrap_or(true),
                    operator,
                    timeout: ms(m.timeout_ms.or(defaults.timeout_ms).unwrap_or(5000)),
                    inter_digit: ms(m.inter_digit_ms.or(defaults.inter_digit_ms).unwrap_or(2000)),
                    max_failures: m.max_failures.or(defaults.max_failures).unwrap_or(3).max(1),
                    max_timeouts: m.max_timeouts.or(defaults.max_timeouts).unwrap_or(3).max(1),
                    invalid,
                    timeout_prompts,
                    exit,
                    repeat_key,
                    back_key,
                })
            }
            model::Node::Play(p) => Node::Play {
                prompts: self.prompts(&p.prompts),
                next: self.opt_ref(&p.next).ok()?,
                skippable: p.skippable.unwrap_or(false),
                operator,
            },
            model::Node::Collect(c) => {
                let prompt = self.prompts(&c.prompt);
                let invalid = self.prompts(
                    c.invalid
                        .as_ref()
                        .or(defaults.invalid.as_ref())
                        .unwrap_or(&Default::default()),
                );
                let (min, max) = (c.min.unwrap_or(1) as usize, c.max.unwrap_or(20) as usize);
                if min == 0 || min > max || max > 64 {
                    self.d.error(
                        here,
                        format!("collect: need 1 <= min ({min}) <= max ({max}) <= 64"),
                    );
                }
                let terminator = match &c.terminator {
                    Some(t) if t.is_empty() => None,
                    Some(t) => Some(self.key(here, "terminator", t)?),
                    None => Some('#'),
                };
                if terminator.is_some_and(|t| t.is_ascii_digit()) {
                    self.d.error(
                        here,
                        "the terminator must not be a digit the caller could be typing",
                    );
                }
                let next = self.node_ref(&c.next);
                let exit = match &c.exit {
                    Some(r) => Some(self.node_ref(r)?),
                    None => default_exit,
                };
                Node::Collect(Collect {
                    var: c.var.clone(),
                    prompt,
                    min,
                    max,
                    terminator,
                    timeout: ms(c.timeout_ms.or(defaults.timeout_ms).unwrap_or(5000)),
                    inter_digit: ms(c.inter_digit_ms.or(defaults.inter_digit_ms).unwrap_or(3000)),
                    max_failures: c.max_failures.or(defaults.max_failures).unwrap_or(3).max(1),
                    invalid,
                    confirm: c.confirm.unwrap_or(false),
                    next: next?,
                    exit,
                    // Digits are data here: the operator key can't be told from a digit.
                    operator: None,
                })
            }
            model::Node::Branch(b) => self.branch(here, b)?,
            model::Node::Language(l) => {
                if !self.prompts.has_language(&l.set) {
                    self.d.warning(
                        here,
                        format!(
                            "no prompts for language `{}`: its callers will hear `{}` prompts",
                            l.set, self.lang
                        ),
                    );
                }
                Node::Language {
                    set: l.set.clone(),
                    next: self.node_ref(&l.next)?,
                }
            }
            model::Node::Queue(h) => self.handoff(HandoffKind::Queue, h)?,
            model::Node::Ticket(t) => self.ticket(here, t)?,
            model::Node::Appointment(a) => Node::Handoff {
                kind: HandoffKind::Appointment,
                target: a.target.clone(),
                priority: 0,
                fallback: self.opt_ref(&a.fallback).ok()?,
                next: self.opt_ref(&a.next).ok()?,
                record: None,
                prompt: Vec::new(),
            },
            model::Node::Transfer(h) => self.handoff(HandoffKind::Transfer, h)?,
            model::Node::Hangup(h) => Node::Hangup {
                prompts: self.prompts(&h.prompts),
            },
            model::Node::TestLine(_) => Node::TestLine,
        })
    }

    fn handoff(&mut self, kind: HandoffKind, h: &model::Handoff) -> Option<Node> {
        Some(Node::Handoff {
            kind,
            target: h.target.clone(),
            priority: h.priority.unwrap_or(0),
            fallback: self.opt_ref(&h.fallback).ok()?,
            next: None,
            record: None,
            prompt: Vec::new(),
        })
    }

    fn ticket(&mut self, here: (u64, u64), t: &model::Ticket) -> Option<Node> {
        if crate::plugin::Section::from_name(&t.target).is_none() {
            self.d.error(
                here,
                format!(
                    "unknown ticket section `{}`: use pensioni, sostegno-reddito, contribuente \
                     or assistenza-informatica",
                    t.target
                ),
            );
        }
        let seconds = t.max_seconds.unwrap_or(60);
        if !(5..=600).contains(&seconds) {
            self.d
                .error(here, "max_seconds must be between 5 and 600 (ten minutes)");
        }
        let prompt = match &t.prompt {
            Some(p) => self.prompts(p),
            None => vec![PromptItem::Prompt(TICKET_QUESTION_PROMPT.to_owned())],
        };
        Some(Node::Handoff {
            kind: HandoffKind::Ticket,
            target: t.target.clone(),
            priority: 0,
            fallback: self.opt_ref(&t.fallback).ok()?,
            next: self.opt_ref(&t.next).ok()?,
            record: t
                .record
                .unwrap_or(true)
                .then(|| Duration::from_secs(seconds.into())),
            prompt,
        })
    }

    /// Parses option keys and reports keys that can never be chosen.
    fn options(
        &mut self,
        here: (u64, u64),
        m: &model::Menu,
        reserved: [Option<(&str, char)>; 3],
    ) -> Option<Vec<(String, KeyPattern, NodeId)>> {
        let mut out: Vec<(String, KeyPattern, NodeId)> = Vec::new();
        let mut ok = true;
        for (key, target) in &m.options {
            let pos = at(target);
            let pattern = match KeyPattern::parse(key) {
                Ok(p) => p,
                Err(why) => {
                    self.d.error(pos, format!("option `{key}`: {why}"));
                    ok = false;
                    continue;
                }
            };
            for (what, k) in reserved.iter().flatten() {
                if pattern.len() == 1 && pattern.matches(&k.to_string()) {
                    self.d.error(
                        pos,
                        format!(
                            "option `{key}` can never be chosen: `{k}` is the {what} of this menu"
                        ),
                    );
                }
                if pattern.len() > 1 && pattern.extends(&k.to_string()) {
                    self.d.error(
                        pos,
                        format!(
                            "option `{key}` can never be chosen: it starts with `{k}`, the {what}"
                        ),
                    );
                }
            }
            // Exact keys win over patterns; among patterns the first wins.
            if let Some((earlier, _, _)) = out
                .iter()
                .find(|(_, p, _)| !p.is_exact() && pattern.covered_by(p) && !pattern.is_exact())
            {
                self.d.error(pos, format!("option `{key}` can never be chosen: pattern `{earlier}` above already takes every key it matches"));
            }
            match self.node_ref(target) {
                Some(to) => out.push((key.clone(), pattern, to)),
                None => ok = false,
            }
        }
        let _ = here;
        ok.then_some(out)
    }

    fn branch(&mut self, here: (u64, u64), b: &model::Branch) -> Option<Node> {
        let chosen = [
            b.schedule.is_some(),
            b.var.is_some(),
            b.office,
            b.province,
            b.region,
        ];
        if chosen.iter().filter(|x| **x).count() != 1 {
            self.d.error(
                here,
                "a branch needs exactly one of `schedule`, `var`, `office`, `province`, `region`",
            );
            return None;
        }
        let mut cases = Vec::new();
        for (value, target) in &b.cases {
            cases.push((value.clone(), self.node_ref(target)?));
        }
        let default = self.opt_ref(&b.default).ok()?;
        let on = if let Some(s) = &b.schedule {
            if !self.file.schedules.contains_key(&s.value) {
                self.d
                    .error(at(s), format!("unknown schedule `{}`", s.value));
            }
            let (Some(open), Some(closed)) = (&b.open, &b.closed) else {
                self.d
                    .error(here, "a schedule branch needs both `open` and `closed`");
                return None;
            };
            BranchOn::Schedule {
                name: s.value.clone(),
                open: self.node_ref(open)?,
                closed: self.node_ref(closed)?,
            }
        } else {
            if b.open.is_some() || b.closed.is_some() {
                self.d
                    .error(here, "`open` and `closed` belong to a `schedule` branch");
            }
            if default.is_none() {
                self.d.error(
                    here,
                    "this branch needs a `default` for values with no case",
                );
            }
            match &b.var {
                Some(v) => {
                    if !self.vars.contains(v) {
                        self.d.error(here, format!("unknown variable `{v}`"));
                    }
                    BranchOn::Var(v.clone())
                }
                None if b.office => BranchOn::Office,
                None if b.province => BranchOn::Province,
                None => BranchOn::Region,
            }
        };
        Some(Node::Branch(Branch { on, cases, default }))
    }

    fn location(&self, node: NodeId) -> (u64, u64) {
        let n = &self.file.nodes[node.0];
        (n.referenced.line(), n.referenced.column())
    }

    /// Nodes no path reaches from `start` (or the operator node) are warnings. Ticket and
    /// appointment nodes are entry points too: operators transfer callers to them (REFER
    /// to the node id), so one may be reached only that way.
    fn reachability(&mut self, tree: &Tree, operator: Option<NodeId>) {
        let mut seen = vec![false; tree.nodes.len()];
        let transfer_targets = tree.nodes.iter().enumerate().filter_map(|(i, n)| {
            matches!(
                n,
                Node::Handoff {
                    kind: HandoffKind::Ticket | HandoffKind::Appointment,
                    ..
                }
            )
            .then_some(NodeId(i))
        });
        let mut stack: Vec<NodeId> = std::iter::once(tree.start)
            .chain(operator)
            .chain(transfer_targets)
            .collect();
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut seen[n.0], true) {
                continue;
            }
            stack.extend(tree.node(n).edges().into_iter().map(|(_, to)| to));
        }
        for (i, s) in seen.iter().enumerate() {
            if !s {
                let here = self.location(NodeId(i));
                self.d
                    .warning(here, format!("node `{}` is never reached", tree.ids[i]));
            }
        }
    }

    /// A cycle through nodes that wait for no key (play, branch, language, handoff
    /// fallbacks) would loop for ever: an error.
    fn loops_without_input(&mut self, tree: &Tree) {
        let passive = |n: &Node| !matches!(n, Node::Menu(_) | Node::Collect(_) | Node::TestLine);
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state = vec![0u8; tree.nodes.len()];
        let mut reported = HashSet::new();
        for startn in 0..tree.nodes.len() {
            let mut path: Vec<(NodeId, Vec<NodeId>)> = Vec::new();
            if state[startn] != 0 || !passive(&tree.nodes[startn]) {
                continue;
            }
            path.push((NodeId(startn), succ(tree, NodeId(startn), &passive)));
            state[startn] = 1;
            while let Some((node, next)) = path.last_mut() {
                let node = *node;
                match next.pop() {
                    Some(to) if state[to.0] == 1 => {
                        let cycle_start = path.iter().position(|(n, _)| *n == to).unwrap_or(0);
                        let ids: Vec<&str> = path[cycle_start..]
                            .iter()
                            .map(|(n, _)| tree.id(*n))
                            .chain([tree.id(to)])
                            .collect();
                        if reported.insert(to) {
                            let here = self.location(to);
                            self.d
                                .error(here, format!("loop with no input: {}", ids.join(" → ")));
                        }
                    }
                    Some(to) if state[to.0] == 0 => {
                        state[to.0] = 1;
                        path.push((to, succ(tree, to, &passive)));
                    }
                    Some(_) => {}
                    None => {
                        state[node.0] = 2;
                        path.pop();
                    }
                }
            }
        }
    }
}

/// Successors a passive node reaches without a key that are passive too.
fn succ(tree: &Tree, n: NodeId, passive: &impl Fn(&Node) -> bool) -> Vec<NodeId> {
    tree.node(n)
        .next_without_input()
        .into_iter()
        .filter(|to| passive(tree.node(*to)))
        .collect()
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// Checks a literal `value` of a `say` item.
fn check_literal(kind: SayKind, value: &str) -> Result<(), String> {
    let ok = match kind {
        SayKind::Number => value.parse::<u32>().is_ok_and(|n| n <= 999_999),
        SayKind::Digits => {
            !value.is_empty() && value.chars().all(|c| DTMF.contains(c.to_ascii_uppercase()))
        }
        SayKind::Date => chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok(),
        SayKind::Time => chrono::NaiveTime::parse_from_str(value, "%H:%M").is_ok(),
        SayKind::Euro => value.parse::<f64>().is_ok_and(|v| (0.0..1e6).contains(&v)),
        SayKind::Office => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{value}` is not a valid {kind:?} value (number 0-999999, digits, date YYYY-MM-DD, time HH:MM, euro 12.50)").to_lowercase())
    }
}

#[cfg(test)]
mod tests;
