//! Every menu in `ivr-trees/` loads with no error and no warning against the real prompt
//! library, and scripted calls through the INPS portal (`ivr-trees/inps.yaml`) hear
//! exactly the prompts they should, in virtual time (no sleeps).
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

use centralino::ivr::interp::{Action, CallContext, Interp};
use centralino::ivr::tree::{self, PromptCatalog, Tree};
use centralino::media::prompts::PromptLibrary;
use chrono::{NaiveDate, NaiveDateTime};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The ids of every prompt WAV (`it/inps/benvenuto`, …), loaded once per test binary.
fn catalog() -> &'static PromptCatalog {
    static CATALOG: OnceLock<PromptCatalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let library = PromptLibrary::load(&root().join("prompts"))
            .unwrap_or_else(|e| panic!("prompt library: {e}"));
        PromptCatalog::new(library.ids())
    })
}

/// The INPS portal, loaded once; every call shares it, as in the daemon.
fn inps() -> Arc<Tree> {
    static TREE: OnceLock<Arc<Tree>> = OnceLock::new();
    TREE.get_or_init(|| Arc::new(load_clean(&root().join("ivr-trees/inps.yaml"), catalog())))
        .clone()
}

/// Loads a tree, failing with every diagnostic (errors and warnings) printed.
fn load_clean(path: &Path, prompts: &PromptCatalog) -> Tree {
    match tree::load(path, prompts) {
        Ok((tree, warnings)) if warnings.is_empty() => tree,
        Ok((_, warnings)) => panic!(
            "{} loads with warnings:\n{}",
            path.display(),
            render(&warnings)
        ),
        Err(diagnostics) => panic!(
            "{} does not load:\n{}",
            path.display(),
            render(&diagnostics)
        ),
    }
}

fn render(diagnostics: &[tree::Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn every_tree_loads_without_errors_or_warnings() {
    let prompts = catalog();
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("ivr-trees"))
        .expect("ivr-trees/")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    assert!(
        files.iter().any(|f| f.ends_with("inps.yaml")),
        "ivr-trees/inps.yaml is missing: {files:?}"
    );
    let mut failures = Vec::new();
    for file in &files {
        match tree::load(file, prompts) {
            Ok((_, warnings)) if warnings.is_empty() => {}
            Ok((_, warnings)) => failures.push(render(&warnings)),
            Err(diagnostics) => failures.push(render(&diagnostics)),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// ---- scripted calls through the INPS portal --------------------------------------------

/// What the caller hears, without the play tokens.
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    Play(Vec<String>),
    Stop,
    Hangup,
    TestLine,
}

/// `Heard::Play` of prompt ids under `it/`.
fn play(ids: &[&str]) -> Heard {
    Heard::Play(ids.iter().map(|id| format!("it/{id}")).collect())
}

/// One call, driven by hand in virtual time.
struct Call {
    interp: Interp,
    now: Instant,
    /// The token of the prompts playing now.
    playing: Option<u64>,
}

impl Call {
    /// A call answered at `at` (local Italian time); returns it and the first actions.
    fn answer(at: NaiveDateTime) -> (Call, Vec<Heard>) {
        let ctx = CallContext {
            office_prompt: None,
            office: None,
            dialled: "+390659051".into(),
            province: Some("RM".into()),
            region: Some("Lazio".into()),
            started_at: at,
        };
        let mut call = Call {
            interp: Interp::new(inps(), ctx),
            now: Instant::now(),
            playing: None,
        };
        call.interp.start(call.now);
        let heard = call.drain();
        (call, heard)
    }

    fn drain(&mut self) -> Vec<Heard> {
        let mut out = Vec::new();
        while let Some(action) = self.interp.poll_action() {
            out.push(match action {
                Action::Play { prompts, token } => {
                    self.playing = Some(token);
                    Heard::Play(prompts)
                }
                Action::Stop => {
                    self.playing = None;
                    Heard::Stop
                }
                Action::Hangup => Heard::Hangup,
                Action::TestLine => Heard::TestLine,
                // These walks offer no services: the interpreter never hands off.
                Action::Handoff { kind, target, .. } => {
                    panic!("unexpected hand-off to {} {target}", kind.name())
                }
                a @ (Action::Record { .. } | Action::StopRecording | Action::Book { .. }) => {
                    panic!("unexpected service action {a:?}")
                }
            });
        }
        out
    }

    /// The prompts playing now reach their end.
    fn finish(&mut self) -> Vec<Heard> {
        let token = self.playing.take().expect("nothing is playing");
        self.now += Duration::from_secs(10);
        self.interp.handle_prompt_finished(self.now, token);
        self.drain()
    }

    /// The caller presses keys, half a second apart.
    fn press(&mut self, keys: &str) -> Vec<Heard> {
        for key in keys.chars() {
            self.now += Duration::from_millis(500);
            self.interp.handle_digit(self.now, key);
        }
        self.drain()
    }

    /// Nothing is pressed until the pending deadline.
    fn wait_timeout(&mut self) -> Vec<Heard> {
        self.now = self.interp.poll_timeout().expect("no deadline pending");
        self.interp.handle_timeout(self.now);
        self.drain()
    }

    /// Node ids the call went through.
    fn path(&self) -> Vec<&str> {
        let tree = self.interp.tree();
        self.interp.path().iter().map(|s| tree.id(s.node)).collect()
    }
}

fn at(y: i32, m: u32, d: u32, hh: u32, mm: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(hh, mm, 0)
        .unwrap()
}

/// Monday 1 June 2026, 10:00: operators answer.
fn monday_morning() -> NaiveDateTime {
    at(2026, 6, 1, 10, 0)
}

const MAIN_GREETING: &[&str] = &[
    "inps/benvenuto",
    "inps/menu-principale-1",
    "inps/menu-principale-2",
    "inps/menu-principale-3",
];

const CLOSED_GREETING: &[&str] = &[
    "inps/benvenuto",
    "inps/operatori-non-disponibili",
    "inps/orari-operatori",
    "inps/chiuso/risposte",
    "inps/risposte/menu-1",
    "inps/risposte/menu-2",
    "inps/ripeti",
];

const ANSWERS_GREETING: &[&str] = &[
    "inps/risposte/titolo",
    "inps/risposte/menu-1",
    "inps/risposte/menu-2",
    "inps/indietro",
];

#[test]
fn automatic_answers_say_the_next_pension_payment_date() {
    let (mut call, heard) = Call::answer(monday_morning());
    assert_eq!(heard, vec![play(MAIN_GREETING)]);
    assert_eq!(call.finish(), vec![]);
    assert_eq!(call.press("5"), vec![play(ANSWERS_GREETING)]);
    // Barge-in: 1 during the greeting stops it.
    assert_eq!(
        call.press("1"),
        vec![
            Heard::Stop,
            play(&[
                "inps/risposte/pagamento-data",
                "giorno/lunedi",
                "parola/primo",
                "mese/giugno",
                "inps/risposte/pagamento-regola",
            ]),
        ]
    );
    // Back in the answers menu: the short greeting now.
    assert_eq!(
        call.finish(),
        vec![play(&["inps/risposte/menu-breve", "inps/indietro-breve"])]
    );
    // # goes back to the main menu, which is short now too.
    assert_eq!(
        call.press("#"),
        vec![Heard::Stop, play(&["inps/menu-principale-breve"])]
    );
    assert_eq!(
        call.path(),
        [
            "ingresso",
            "menu-principale",
            "risposte-automatiche",
            "risposta-pagamento-pensioni",
            "risposte-automatiche",
            "menu-principale",
        ]
    );
}

#[test]
fn january_payment_is_on_the_second_banking_day() {
    // Friday 2 January 2026: 1 January is a holiday, the 2nd is the first banking day,
    // so January's payment is Monday the 5th.
    let (mut call, _) = Call::answer(at(2026, 1, 2, 9, 0));
    call.finish();
    call.press("5");
    call.finish();
    assert_eq!(
        call.press("1"),
        vec![play(&[
            "inps/risposte/pagamento-data",
            "giorno/lunedi",
            "num/5",
            "mese/gennaio",
            "inps/risposte/pagamento-regola",
        ])]
    );
}

#[test]
fn pension_practice_is_collected_read_back_and_queued() {
    let (mut call, _) = Call::answer(monday_morning());
    call.finish();
    assert_eq!(
        call.press("1"),
        vec![play(&[
            "inps/pensioni/menu-1",
            "inps/pensioni/menu-2",
            "inps/indietro",
        ])]
    );
    call.finish();
    assert_eq!(
        call.press("1"),
        vec![play(&["inps/pensioni/pratica-richiesta"])]
    );
    call.finish();
    assert_eq!(call.press("12345678"), vec![]);
    let digits = [
        "num/1", "num/2", "num/3", "num/4", "num/5", "num/6", "num/7", "num/8",
    ];
    let mut confirm = vec!["sistema/ha-inserito"];
    confirm.extend(digits);
    confirm.push("sistema/conferma");
    assert_eq!(call.press("#"), vec![play(&confirm)]);
    call.finish();
    let mut read_back = vec!["inps/pensioni/pratica-riepilogo"];
    read_back.extend(digits);
    read_back.push("inps/pensioni/pratica-operatore");
    assert_eq!(call.press("1"), vec![play(&read_back)]);
    assert_eq!(call.interp.vars()["pratica"], "12345678");
    // The pensions queue is not wired in yet: the caller is told, then the fallback.
    assert_eq!(call.finish(), vec![play(&["sistema/non-disponibile"])]);
    assert_eq!(
        call.finish(),
        vec![play(&["inps/richiamare", "inps/arrivederci"])]
    );
    assert_eq!(call.finish(), vec![Heard::Hangup]);
    assert_eq!(
        call.path(),
        [
            "ingresso",
            "menu-principale",
            "pensioni",
            "pensioni-pratica",
            "pensioni-pratica-riepilogo",
            "coda-pensioni",
            "richiamare",
        ]
    );
}

#[test]
fn a_too_short_practice_number_is_asked_again() {
    let (mut call, _) = Call::answer(monday_morning());
    call.finish();
    call.press("1");
    call.finish();
    call.press("1");
    call.finish();
    assert_eq!(
        call.press("123#"),
        vec![play(&[
            "inps/pensioni/pratica-non-valida",
            "inps/pensioni/pratica-richiesta",
        ])]
    );
}

#[test]
fn section_queue_and_ticket_fall_back_while_not_available() {
    let (mut call, _) = Call::answer(monday_morning());
    call.finish();
    call.press("2");
    assert_eq!(
        call.press("3"),
        vec![Heard::Stop, play(&["sistema/non-disponibile"])]
    );
    assert_eq!(
        call.finish(),
        vec![play(&["inps/richiamare", "inps/arrivederci"])]
    );

    let (mut call, _) = Call::answer(monday_morning());
    call.finish();
    call.press("3");
    call.finish();
    assert_eq!(call.press("4"), vec![play(&["sistema/non-disponibile"])]);
    assert_eq!(
        call.path(),
        [
            "ingresso",
            "menu-principale",
            "contribuente",
            "appuntamento-agenzia"
        ]
    );
}

#[test]
fn operator_key_from_the_main_menu() {
    let (mut call, _) = Call::answer(monday_morning());
    assert_eq!(
        call.press("0"),
        vec![Heard::Stop, play(&["sistema/non-disponibile"])]
    );
    assert_eq!(
        call.finish(),
        vec![play(&["inps/richiamare", "inps/arrivederci"])]
    );
    assert_eq!(call.finish(), vec![Heard::Hangup]);
    assert_eq!(
        call.path(),
        [
            "ingresso",
            "menu-principale",
            "operatore",
            "coda-operatore",
            "richiamare",
        ]
    );
}

#[test]
fn operator_key_works_during_a_canned_answer() {
    let (mut call, _) = Call::answer(monday_morning());
    call.finish();
    call.press("5");
    call.finish();
    call.press("4");
    assert_eq!(
        call.press("0"),
        vec![Heard::Stop, play(&["sistema/non-disponibile"])]
    );
    assert_eq!(
        call.path(),
        [
            "ingresso",
            "menu-principale",
            "risposte-automatiche",
            "risposta-numeri",
            "operatore",
            "coda-operatore",
        ]
    );
}

#[test]
fn sunday_plays_the_closed_message_with_the_automatic_answers() {
    // Sunday 7 June 2026.
    let (mut call, heard) = Call::answer(at(2026, 6, 7, 10, 0));
    assert_eq!(heard, vec![play(CLOSED_GREETING)]);
    assert_eq!(
        call.press("4"),
        vec![
            Heard::Stop,
            play(&["inps/risposte/numeri-1", "inps/risposte/numeri-2"]),
        ]
    );
    assert_eq!(call.finish(), vec![play(ANSWERS_GREETING)]);
    // Back to the closed menu it came from.
    assert_eq!(
        call.press("#"),
        vec![Heard::Stop, play(&["inps/risposte/menu-breve"])]
    );
    // The operator key says when operators answer and offers the answers again; there
    // the operator key is off, so 0 counts as an invalid choice.
    assert_eq!(
        call.press("0"),
        vec![
            Heard::Stop,
            play(&[
                "inps/operatori-non-disponibili",
                "inps/orari-operatori",
                "inps/chiuso/risposte",
                "inps/risposte/menu-1",
                "inps/risposte/menu-2",
                "inps/indietro-solo",
            ]),
        ]
    );
    assert_eq!(call.finish(), vec![]);
    assert_eq!(
        call.press("0"),
        vec![play(&[
            "inps/scelta-non-valida",
            "inps/risposte/menu-breve",
            "inps/indietro-breve",
        ])]
    );
}

#[test]
fn operator_hours_follow_the_schedule_and_holidays() {
    let opens = |t: NaiveDateTime| Call::answer(t).1 == vec![play(MAIN_GREETING)];
    assert!(opens(at(2026, 6, 6, 13, 59)), "Saturday 13:59");
    assert!(!opens(at(2026, 6, 6, 14, 0)), "Saturday 14:00");
    assert!(opens(at(2026, 6, 5, 19, 59)), "Friday 19:59");
    assert!(!opens(at(2026, 6, 5, 20, 0)), "Friday 20:00");
    assert!(!opens(at(2026, 6, 5, 7, 59)), "Friday 07:59");
    assert!(!opens(at(2026, 4, 6, 10, 0)), "Easter Monday 2026");
    assert!(!opens(at(2026, 6, 2, 10, 0)), "Festa della Repubblica");
    assert!(!opens(at(2027, 10, 4, 10, 0)), "4 October (from 2026)");
}

#[test]
fn timeouts_and_invalid_keys_end_with_a_goodbye() {
    let (mut call, _) = Call::answer(monday_morning());
    call.finish();
    let again = vec![play(&["inps/nessuna-scelta", "inps/menu-principale-breve"])];
    assert_eq!(call.wait_timeout(), again);
    call.finish();
    // An invalid key counts apart from timeouts.
    assert_eq!(
        call.press("9"),
        vec![play(&[
            "inps/scelta-non-valida",
            "inps/menu-principale-breve"
        ])]
    );
    call.finish();
    assert_eq!(call.wait_timeout(), again);
    call.finish();
    assert_eq!(call.wait_timeout(), vec![play(&["inps/nessuna-scelta"])]);
    assert_eq!(call.finish(), vec![play(&["inps/arrivederci"])]);
    assert_eq!(call.finish(), vec![Heard::Hangup]);
}

#[test]
fn repeat_key_replays_the_long_greeting() {
    let (mut call, _) = Call::answer(monday_morning());
    call.finish();
    assert_eq!(call.press("*"), vec![play(MAIN_GREETING)]);
}
