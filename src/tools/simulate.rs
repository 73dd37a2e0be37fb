//! `centralino simulate FILE`: walks a tree with the real interpreter (`ivr::interp`) in
//! virtual time and prints what the caller would hear and do.
//!
//! Transcript lines: `> text` for each prompt (its manifest text, or `[it/id]`), and in
//! brackets `[nodo ID (kind)]`, `[attesa tasto]`, `[tasto 1]`, `[tempo scaduto dopo 5 s]`,
//! `[non disponibile: queue pensioni]`, `[orario ufficio: chiuso (fuori orario)]`,
//! `[scelta provincia=RM -> roma]`, `[lingua: en]`, `[linea di prova]`, `[riaggancia]`.
//! The end prints `percorso: main [1] -> info -> ...` (node ids with the keys pressed
//! there) and the collected variables.
//!
//! Time and barge-in rule: prompts take no virtual time. Every key is pressed **after**
//! what is playing has finished (so a play node always runs to its end and the menu is
//! waiting for a key), unless it is written `!K`: then it is pressed while the prompt is
//! still playing (barge-in, as the menu's `barge_in` setting allows). `t` lets the
//! current wait expire (first-key timeout), `w` lets the inter-digit wait expire (a
//! multi-digit choice or a collect ends there). When the listed keys run out, timeouts
//! follow until the call ends or 10 of them have passed.

use super::{EXIT_OK, EXIT_USAGE, Outcome, Texts, load_tree};
use crate::ivr::interp::{Action, CallContext, Interp, MAX_SLOTS, ServiceReply};
use crate::ivr::schedule::ClosedReason;
use crate::ivr::tree::HandoffKind;
use crate::ivr::tree::{BranchOn, Node, Tree};
use crate::plugin::backend::agenda;
use crate::plugin::config::default_agency_hours;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Timeouts allowed after the listed keys run out.
pub const MAX_TIMEOUTS_AFTER_KEYS: usize = 10;

/// Prompts finished in a row without a key or timeout: a bound against a runaway tree.
const MAX_PROMPTS_IN_A_ROW: usize = 1000;

/// One thing the simulated caller does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// A key, pressed once the current prompt has finished.
    Key(char),
    /// A key pressed while the prompt still plays (`!1`).
    BargeIn(char),
    /// Let the wait for a first key expire (`t`).
    Timeout,
    /// Let the inter-digit wait expire (`w`).
    InterDigit,
}

/// Parses `1,2,#`, `t`, `w`, `!1`; an item of several keys (`123#`) presses each in turn.
pub fn parse_keys(list: &str) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    if list.trim().is_empty() {
        return Ok(out);
    }
    for item in list.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(format!("empty key in `{list}`"));
        }
        out.extend(parse_item(item)?);
    }
    Ok(out)
}

/// The keys of one item or interactive line.
fn parse_item(item: &str) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    let mut barge = false;
    for c in item.chars() {
        let input = match c.to_ascii_uppercase() {
            '!' if !barge => {
                barge = true;
                continue;
            }
            'T' if !barge => Input::Timeout,
            'W' if !barge => Input::InterDigit,
            k @ ('0'..='9' | '*' | '#' | 'A'..='D') if barge => Input::BargeIn(k),
            k @ ('0'..='9' | '*' | '#' | 'A'..='D') => Input::Key(k),
            _ => {
                return Err(format!(
                    "`{item}`: keys are 0-9 * # A-D, `t` (timeout), `w` (inter-digit wait), \
                     `!K` (K during the prompt)"
                ));
            }
        };
        barge = false;
        out.push(input);
    }
    if barge {
        return Err(format!("`{item}`: `!` must be followed by a key"));
    }
    Ok(out)
}

/// A tree, one call, a virtual clock and the transcript printed so far.
pub struct Simulator<'t> {
    interp: Interp,
    tree: Arc<Tree>,
    ctx: CallContext,
    texts: &'t Texts,
    origin: Instant,
    now: Instant,
    /// The token of the prompts playing now.
    playing: Option<u64>,
    ended: bool,
    /// Path steps already described.
    seen: usize,
    out: Vec<String>,
    /// Appointment slots offered in this call (from the built-in agenda).
    slots: Vec<chrono::NaiveDateTime>,
}

/// What the simulated ticket desk and appointment book answer next.
enum Answer {
    Recorded,
    Reply(ServiceReply),
}

impl<'t> Simulator<'t> {
    /// `origin` is only the zero of the virtual clock: nothing reads the real one.
    pub fn new(tree: Arc<Tree>, ctx: CallContext, texts: &'t Texts, origin: Instant) -> Self {
        Simulator {
            // Tickets and appointments are simulated (no outbox is written): the caller
            // hears the flows as in the daemon, with made-up ids and the built-in agenda.
            interp: Interp::new(tree.clone(), ctx.clone())
                .offer(&[HandoffKind::Ticket, HandoffKind::Appointment]),
            tree,
            ctx,
            texts,
            origin,
            now: origin,
            playing: None,
            ended: false,
            seen: 0,
            out: Vec::new(),
            slots: Vec::new(),
        }
    }

    /// Answers the call.
    pub fn start(&mut self) {
        self.interp.start(self.now);
        self.drain();
    }

    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The transcript lines produced since the last call.
    pub fn take_output(&mut self) -> Vec<String> {
        std::mem::take(&mut self.out)
    }

    /// Lets what plays finish, through play nodes, until the call waits for a key or ends.
    pub fn settle(&mut self) {
        for _ in 0..MAX_PROMPTS_IN_A_ROW {
            let Some(token) = self.playing.take() else {
                return;
            };
            self.interp.handle_prompt_finished(self.now, token);
            self.drain();
            if !self.ended && self.playing.is_none() && self.interp.poll_timeout().is_some() {
                self.out.push("[attesa tasto]".into());
            }
        }
        self.out.push(format!(
            "[simulazione fermata: {MAX_PROMPTS_IN_A_ROW} messaggi di fila]"
        ));
        self.ended = true;
    }

    /// Does one thing; `false` when the call had already ended.
    pub fn apply(&mut self, input: Input) -> bool {
        if !matches!(input, Input::BargeIn(_)) {
            self.settle();
        }
        if self.ended {
            return false;
        }
        match input {
            Input::Key(k) => {
                self.out.push(format!("[tasto {k}]"));
                self.interp.handle_digit(self.now, k);
                self.drain();
            }
            Input::BargeIn(k) => {
                let during = if self.playing.is_some() {
                    " durante il messaggio"
                } else {
                    ""
                };
                self.out.push(format!("[tasto {k}{during}]"));
                self.interp.handle_digit(self.now, k);
                self.drain();
            }
            Input::Timeout => {
                self.expire("tempo scaduto dopo");
            }
            Input::InterDigit => {
                self.expire("pausa di");
            }
        }
        true
    }

    /// After the keys: timeouts until the call ends or `max` of them have passed.
    pub fn run_out(&mut self, max: usize) {
        for _ in 0..max {
            self.settle();
            if self.ended {
                return;
            }
            if !self.expire("tempo scaduto dopo") {
                self.out
                    .push("[simulazione ferma: la chiamata non attende nulla]".into());
                return;
            }
        }
        self.settle();
        if !self.ended {
            self.out.push(format!(
                "[simulazione fermata dopo {max} timeout: la chiamata continua]"
            ));
        }
    }

    /// The caller hangs up.
    pub fn hang_up(&mut self) {
        if !self.ended {
            self.interp.handle_hangup(self.now);
            self.out.push("[il chiamante riaggancia]".into());
            self.ended = true;
        }
    }

    /// `percorso: ...`, then the collected variables, if any.
    pub fn summary(&self) -> Vec<String> {
        let steps: Vec<String> = self
            .interp
            .path()
            .iter()
            .map(|s| match s.keys.as_str() {
                "" => self.tree.id(s.node).to_owned(),
                keys => format!("{} [{keys}]", self.tree.id(s.node)),
            })
            .collect();
        let mut out = vec![format!("percorso: {}", steps.join(" -> "))];
        let mut vars: Vec<_> = self.interp.vars().iter().collect();
        vars.sort();
        if !vars.is_empty() {
            let vars: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push(format!("variabili: {}", vars.join(", ")));
        }
        out.push(format!(
            "durata: {}",
            seconds(self.now.duration_since(self.origin))
        ));
        out
    }

    /// Lets the current key wait expire; `false` when nothing waits for a key.
    fn expire(&mut self, label: &str) -> bool {
        let Some(deadline) = self.interp.poll_timeout() else {
            return false;
        };
        let waited = deadline.saturating_duration_since(self.now);
        self.out.push(format!("[{label} {}]", seconds(waited)));
        self.now = self.now.max(deadline);
        self.interp.handle_timeout(self.now);
        self.drain();
        true
    }

    /// Prints what the interpreter did: interruptions, the nodes it entered, then what it
    /// plays, and whether the call ended.
    fn drain(&mut self) {
        while self.interp.poll_stat().is_some() {}
        let mut actions = Vec::new();
        while let Some(a) = self.interp.poll_action() {
            actions.push(a);
        }
        // A key stops the prompt before the next node is entered.
        if actions.contains(&Action::Stop) {
            self.out.push("[messaggio interrotto]".into());
            self.playing = None;
        }
        let path_len = self.interp.path().len();
        for i in self.seen..path_len {
            self.describe_step(i);
        }
        self.seen = path_len;
        let mut answer = None;
        for action in actions {
            match action {
                Action::Stop => {}
                Action::Play { prompts, token } => {
                    for line in self.texts.lines(&prompts) {
                        self.out.push(format!("> {line}"));
                    }
                    self.playing = Some(token);
                }
                Action::TestLine => {
                    self.out.push("[linea di prova]".into());
                    self.end();
                }
                Action::Hangup => {
                    self.out.push("[riaggancia]".into());
                    self.end();
                }
                Action::Record { max } => {
                    let s = max.as_secs();
                    self.out.push(format!(
                        "[il chiamante registra la domanda: al massimo {s} s]"
                    ));
                    answer = Some(Answer::Recorded);
                }
                Action::StopRecording => {}
                Action::Handoff {
                    kind: HandoffKind::Ticket,
                    target,
                    ..
                } => {
                    let id = format!("LI-{}-000001", self.wall().format("%Y"));
                    self.out
                        .push(format!("[ticket {target} registrato (simulato): {id}]"));
                    answer = Some(Answer::Reply(ServiceReply::TicketOpened { id }));
                }
                Action::Handoff {
                    kind: HandoffKind::Appointment,
                    target,
                    ..
                } => {
                    let layout = agenda::Layout {
                        slot_minutes: 30,
                        days_ahead: 10,
                        desks: 1,
                    };
                    let hours = default_agency_hours();
                    let after = self.wall();
                    self.slots = agenda::free_slots(&hours, layout, after, MAX_SLOTS, |_| 0)
                        .into_iter()
                        .map(|s| s.start)
                        .collect();
                    self.out.push(format!(
                        "[appuntamento {target}: agenda interna, orari d'agenzia predefiniti]"
                    ));
                    answer = Some(Answer::Reply(ServiceReply::Slots(self.slots.clone())));
                }
                Action::Book { slot } => {
                    let id = format!("AP-{}-000001", self.wall().format("%Y"));
                    self.out
                        .push(format!("[prenotazione registrata (simulata): {id}]"));
                    if let Some(&start) = self.slots.get(slot) {
                        answer = Some(Answer::Reply(ServiceReply::Booked { id, start }));
                    }
                }
                Action::Handoff { kind, target, .. } => {
                    self.out.push(format!("[passa a {} {target}]", kind.name()));
                    self.end();
                }
            }
        }
        match answer {
            Some(Answer::Recorded) => {
                self.interp.recorded(self.now);
                self.drain();
            }
            Some(Answer::Reply(r)) => {
                self.interp.service_reply(self.now, r);
                self.drain();
            }
            None => {}
        }
    }

    /// The local Italian time now in the simulated call.
    fn wall(&self) -> chrono::NaiveDateTime {
        self.ctx.started_at
            + chrono::Duration::from_std(self.now.duration_since(self.origin)).unwrap_or_default()
    }

    fn end(&mut self) {
        self.ended = true;
        self.playing = None;
    }

    /// `[nodo ID (kind)]`, and for nodes that decide without input, what they decided.
    fn describe_step(&mut self, i: usize) {
        let path = self.interp.path();
        let node = path[i].node;
        let next = path.get(i + 1).map(|s| self.tree.id(s.node).to_owned());
        let tree = self.tree.clone();
        let n = tree.node(node);
        self.out
            .push(format!("[nodo {} ({})]", tree.id(node), n.kind()));
        let wall = self.ctx.started_at
            + chrono::Duration::from_std(self.now.duration_since(self.origin)).unwrap_or_default();
        let line = match n {
            Node::Branch(b) => {
                let (what, value) = match &b.on {
                    BranchOn::Schedule { name, .. } => {
                        let state = match tree.schedules.get(name).and_then(|s| s.why_closed(wall))
                        {
                            None => "aperto".to_owned(),
                            Some(why) => format!("chiuso ({})", closed_reason(why)),
                        };
                        self.out.push(format!(
                            "[orario {name} ({}): {state}]",
                            wall.format("%Y-%m-%d %H:%M")
                        ));
                        return;
                    }
                    BranchOn::Var(v) => (v.clone(), self.interp.vars().get(v).cloned()),
                    BranchOn::Office => ("numero".to_owned(), Some(self.ctx.dialled.clone())),
                    BranchOn::Province => ("provincia".to_owned(), self.ctx.province.clone()),
                    BranchOn::Region => ("regione".to_owned(), self.ctx.region.clone()),
                };
                let value = value.unwrap_or_else(|| "(nessun valore)".into());
                let to = next.unwrap_or_else(|| "riaggancia".into());
                format!("[scelta {what}={value} -> {to}]")
            }
            Node::Language { set, .. } => format!("[lingua: {set}]"),
            Node::Handoff { kind, target, .. } => {
                format!("[non disponibile: {} {target}]", kind.name())
            }
            _ => return,
        };
        self.out.push(line);
    }
}

fn closed_reason(why: ClosedReason) -> String {
    match why {
        ClosedReason::Holiday(name) => format!("festivo: {name}"),
        ClosedReason::ClosedDay => "giorno di chiusura".into(),
        ClosedReason::Patron => "santo patrono".into(),
        ClosedReason::OutsideHours => "fuori orario".into(),
    }
}

/// `5 s`, `2.5 s`.
fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// The first lines: which tree, when, from which number.
fn header(tree: &Tree, ctx: &CallContext) -> String {
    let dialled = match ctx.dialled.as_str() {
        "" => "non indicato",
        d => d,
    };
    // Where the directory put the number: office, province, region.
    let place: Vec<&str> = [&ctx.office, &ctx.province, &ctx.region]
        .into_iter()
        .filter_map(|v| v.as_deref())
        .collect();
    let place = match place.as_slice() {
        [] => String::new(),
        p => format!(" ({})", p.join(", ")),
    };
    format!(
        "simulazione: {} ({}), {}, numero chiamato {dialled}{place}",
        tree.name,
        tree.source,
        ctx.started_at.format("%Y-%m-%d %H:%M"),
    )
}

/// The whole non-interactive simulation: header, transcript, path.
pub fn simulate_keys(
    tree: Arc<Tree>,
    ctx: CallContext,
    texts: &Texts,
    inputs: &[Input],
    origin: Instant,
) -> String {
    let mut lines = vec![header(&tree, &ctx)];
    let mut sim = Simulator::new(tree, ctx, texts, origin);
    sim.start();
    for (i, input) in inputs.iter().enumerate() {
        if !sim.apply(*input) {
            let rest: Vec<String> = inputs[i..].iter().map(|k| show(*k)).collect();
            sim.out
                .push(format!("[tasti non usati: {}]", rest.join(",")));
            break;
        }
    }
    sim.run_out(MAX_TIMEOUTS_AFTER_KEYS);
    lines.extend(sim.take_output());
    lines.extend(sim.summary());
    lines.join("\n") + "\n"
}

fn show(input: Input) -> String {
    match input {
        Input::Key(k) => k.to_string(),
        Input::BargeIn(k) => format!("!{k}"),
        Input::Timeout => "t".into(),
        Input::InterDigit => "w".into(),
    }
}

/// Interactive simulation: keys from `input` lines (several characters = several keys,
/// an empty line = let the timeout expire, `q` or end of input = hang up).
pub fn simulate_interactive(
    tree: Arc<Tree>,
    ctx: CallContext,
    texts: &Texts,
    origin: Instant,
    input: impl BufRead,
    mut output: impl Write,
) -> std::io::Result<()> {
    writeln!(output, "{}", header(&tree, &ctx))?;
    writeln!(
        output,
        "(tasti 0-9 * # A-D, riga vuota = nessun tasto, w = pausa, !K = tasto durante il messaggio, q = riaggancia)"
    )?;
    let mut sim = Simulator::new(tree, ctx, texts, origin);
    sim.start();
    let mut lines = input.lines();
    loop {
        sim.settle();
        for line in sim.take_output() {
            writeln!(output, "{line}")?;
        }
        if sim.ended() {
            break;
        }
        output.flush()?;
        let line = match lines.next() {
            Some(line) => line?,
            None => {
                sim.hang_up();
                continue;
            }
        };
        let line = line.trim();
        if line.eq_ignore_ascii_case("q") {
            sim.hang_up();
            continue;
        }
        if line.is_empty() {
            sim.apply(Input::Timeout);
            continue;
        }
        match parse_item(line) {
            Ok(inputs) => {
                for i in inputs {
                    if !sim.apply(i) {
                        break;
                    }
                }
            }
            Err(e) => writeln!(output, "{e}")?,
        }
    }
    for line in sim.summary() {
        writeln!(output, "{line}")?;
    }
    output.flush()
}

/// `--at "2026-12-01 10:00"` (also `2026-12-01T10:00`, with optional seconds).
pub fn parse_at(s: &str) -> Result<chrono::NaiveDateTime, String> {
    [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(s.trim(), f).ok())
    .ok_or_else(|| format!("`{s}`: expected a local time like \"2026-12-01 10:00\""))
}

/// `centralino simulate FILE --keys ...`: loads the tree and simulates. Interactive runs
/// go through [`simulate_interactive`] instead (main wires stdin and stdout).
pub fn run(
    file: &Path,
    prompts_dir: &Path,
    keys: &str,
    ctx: CallContext,
    origin: Instant,
) -> Outcome {
    let inputs = match parse_keys(keys) {
        Ok(i) => i,
        Err(e) => return Outcome::fail(EXIT_USAGE, format!("centralino simulate: --keys {e}")),
    };
    let (tree, warnings) = match load_tree(file, prompts_dir) {
        Ok(t) => t,
        Err(out) => return out,
    };
    let texts = Texts::load(prompts_dir);
    Outcome {
        stdout: simulate_keys(tree, ctx, &texts, &inputs, origin),
        stderr: warnings,
        code: EXIT_OK,
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start a virtual clock at a real instant
mod tests {
    use super::*;
    use crate::ivr::tree::{PromptCatalog, load_str};

    const TREE: &str = "\
name: prova
start: orario
defaults:
  operator: op
schedules:
  ufficio:
    hours:
      mon-fri: [\"08:00-18:00\"]
nodes:
  orario:
    branch: {schedule: ufficio, open: main, closed: chiuso}
  main:
    menu:
      greeting: [benvenuto]
      short_greeting: [scelta]
      options:
        \"1\": info
        \"2\": codice
        \"22\": provincia
        \"9\": fine
  info:
    play:
      prompts: [info, {say: number, value: \"21\"}]
      next: main
  codice:
    collect:
      var: pratica
      prompt: [codice]
      max: 6
      next: conferma
  conferma:
    play: {prompts: [{say: digits, var: pratica}], next: fine}
  provincia:
    branch:
      province: true
      cases: {RM: fine}
      default: op
  op:
    queue: {target: pensioni, fallback: fine}
  chiuso:
    hangup: {prompts: [chiuso]}
  fine:
    hangup: {prompts: [arrivederci]}
";

    fn texts() -> Texts {
        let mut t = Texts::fragments();
        t.add_manifest(
            "it",
            "benvenuto\tBenvenuto.\nscelta\tScelga.\ninfo\tInformazioni:\ncodice\tDigiti il codice.\n\
             chiuso\tUffici chiusi.\narrivederci\tArrivederci.\n",
        );
        t
    }

    fn tree() -> Arc<Tree> {
        let catalog = PromptCatalog::new(
            [
                "benvenuto",
                "scelta",
                "info",
                "codice",
                "chiuso",
                "arrivederci",
            ]
            .map(|p| format!("it/{p}")),
        );
        let (tree, warnings) = load_str(TREE, "prova.yaml", &catalog).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        Arc::new(tree)
    }

    fn ctx(at: &str) -> CallContext {
        CallContext {
            office_prompt: None,
            office: None,
            dialled: "0612345678".into(),
            province: Some("MI".into()),
            region: None,
            started_at: parse_at(at).unwrap(),
        }
    }

    /// The transcript without the header line.
    fn transcript(keys: &str, at: &str) -> Vec<String> {
        let inputs = parse_keys(keys).unwrap();
        let text = simulate_keys(tree(), ctx(at), &texts(), &inputs, Instant::now());
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        assert!(
            lines[0].starts_with("simulazione: prova (prova.yaml), "),
            "{text}"
        );
        lines.remove(0);
        lines
    }

    #[test]
    fn keys_walk_the_menu_and_the_path_is_printed() {
        let lines = transcript("1,9", "2026-12-01 10:00");
        assert_eq!(
            lines,
            [
                "[nodo orario (branch)]",
                "[orario ufficio (2026-12-01 10:00): aperto]",
                "[nodo main (menu)]",
                "> Benvenuto.",
                "[attesa tasto]",
                "[tasto 1]",
                "[nodo info (play)]",
                "> Informazioni:",
                "> ventuno",
                "[nodo main (menu)]",
                "> Scelga.",
                "[attesa tasto]",
                "[tasto 9]",
                "[nodo fine (hangup)]",
                "> Arrivederci.",
                "[riaggancia]",
                "percorso: orario -> main [1] -> info -> main [9] -> fine",
                "durata: 0 s",
            ]
        );
    }

    #[test]
    fn closed_on_a_holiday() {
        let lines = transcript("1", "2026-12-25 10:00");
        assert_eq!(
            lines[1],
            "[orario ufficio (2026-12-25 10:00): chiuso (festivo: Natale)]"
        );
        assert!(lines.contains(&"> Uffici chiusi.".to_owned()), "{lines:?}");
        assert!(
            lines.contains(&"[tasti non usati: 1]".to_owned()),
            "{lines:?}"
        );
    }

    #[test]
    fn collect_reads_digits_until_the_inter_digit_wait() {
        let lines = transcript("2,w,123,w", "2026-12-01 10:00");
        let from = lines.iter().position(|l| l == "[pausa di 2 s]").unwrap();
        assert_eq!(
            lines[from..],
            [
                "[pausa di 2 s]",
                "[nodo codice (collect)]",
                "> Digiti il codice.",
                "[attesa tasto]",
                "[tasto 1]",
                "[tasto 2]",
                "[tasto 3]",
                "[pausa di 3 s]",
                "[nodo conferma (play)]",
                "> uno due tre",
                "[nodo fine (hangup)]",
                "> Arrivederci.",
                "[riaggancia]",
                "percorso: orario -> main [2] -> codice [123] -> conferma -> fine",
                "variabili: pratica=123",
                "durata: 5 s",
            ]
        );
    }

    #[test]
    fn branch_on_province_and_an_unavailable_queue() {
        let lines = transcript("22", "2026-12-01 10:00");
        let from = lines.iter().position(|l| l == "[tasto 2]").unwrap();
        assert_eq!(
            lines[from..from + 9],
            [
                "[tasto 2]",
                "[tasto 2]",
                "[nodo provincia (branch)]",
                "[scelta provincia=MI -> op]",
                "[nodo op (queue)]",
                "[non disponibile: queue pensioni]",
                "> [it/sistema/non-disponibile]",
                "[nodo fine (hangup)]",
                "> Arrivederci.",
            ]
        );
    }

    #[test]
    fn timeouts_run_until_the_menu_gives_up() {
        let lines = transcript("", "2026-12-01 10:00");
        let timeouts = lines
            .iter()
            .filter(|l| *l == "[tempo scaduto dopo 5 s]")
            .count();
        assert_eq!(timeouts, 3, "{lines:?}");
        assert_eq!(lines.iter().filter(|l| *l == "> Scelga.").count(), 2);
        assert!(lines.contains(&"[riaggancia]".to_owned()));
        assert!(lines.contains(&"durata: 15 s".to_owned()));
    }

    #[test]
    fn barge_in_interrupts_the_greeting() {
        let lines = transcript("!0", "2026-12-01 10:00");
        assert_eq!(
            lines[3..8],
            [
                "> Benvenuto.",
                "[tasto 0 durante il messaggio]",
                "[messaggio interrotto]",
                "[nodo op (queue)]",
                "[non disponibile: queue pensioni]",
            ]
        );
    }

    #[test]
    fn key_lists_are_parsed_strictly() {
        assert_eq!(
            parse_keys("1, 2#,t,w,!0").unwrap(),
            [
                Input::Key('1'),
                Input::Key('2'),
                Input::Key('#'),
                Input::Timeout,
                Input::InterDigit,
                Input::BargeIn('0'),
            ]
        );
        assert_eq!(parse_keys("").unwrap(), []);
        assert!(parse_keys("1,,2").is_err());
        assert!(parse_keys("x").is_err());
        assert!(parse_keys("!").is_err());
        assert!(parse_at("2026-12-01").is_err());
    }

    #[test]
    fn interactive_reads_lines_until_q() {
        let input = b"1\n\nq\n" as &[u8];
        let mut out = Vec::new();
        simulate_interactive(
            tree(),
            ctx("2026-12-01 10:00"),
            &texts(),
            Instant::now(),
            input,
            &mut out,
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("[tasto 1]\n[nodo info (play)]"), "{out}");
        assert!(out.contains("[tempo scaduto dopo 5 s]"), "{out}");
        assert!(
            out.contains(
                "[il chiamante riaggancia]\npercorso: orario -> main [1] -> info -> main\n"
            ),
            "{out}"
        );
    }
}
