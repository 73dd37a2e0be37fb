//! Linea INPS tickets and appointments on the running daemon, with sipp as the citizen.
//! A call forwarded from the Bari office (Diversion) leaves a spoken question — sipp
//! streams 7 s of speech — and hears the ticket id; the ticket lands in the outbox with
//! the office, province, region, CRIC section and the question as a WAV that matches
//! what sipp sent. A call retargeted from the same office (History-Info) books the second
//! appointment slot offered, by RFC 4733 keys, and the booking lands in the outbox.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

mod common;
use common::*;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PCAPS: &str = "/usr/share/sip-tester";
/// The Bari provincial directorate in `directory/inps.yaml`, as a carrier writes it.
const BARI: &str = "+390800101000";

const TREE: &str = r#"
name: Ticket e appuntamenti
start: menu
nodes:
  menu:
    menu:
      greeting: [inps/benvenuto]
      options:
        "1": ticket-pensioni
        "2": appuntamento
  ticket-pensioni:
    ticket: {target: pensioni, max_seconds: 20, fallback: fine}
  appuntamento:
    appointment: {target: agenzia, fallback: fine}
  fine:
    hangup: {prompts: [inps/arrivederci]}
"#;

/// A daemon on the test tree with its own outbox; returns it with the outbox path.
fn start(name: &str, dir: &Path) -> (Daemon, PathBuf) {
    let tree = dir.join("tree.yaml");
    std::fs::write(&tree, TREE).expect("write tree");
    let outbox = dir.join("outbox");
    let config = format!(
        "ivr: {{tree: {}}}\nadmin: {{listen: null}}\nplugins: {{outbox_dir: {}}}\n",
        tree.display(),
        outbox.display()
    );
    (Daemon::start_with_config(name, &config), outbox)
}

/// Fills a scenario template's `__NAME__` placeholders into a file of the temp dir.
fn scenario(dir: &Path, template: &str, fill: &[(&str, String)]) -> String {
    let mut text = std::fs::read_to_string(crate_root().join("tests/sipp").join(template))
        .expect("scenario template");
    for (key, value) in fill {
        text = text.replace(key, value);
    }
    let path = dir.join(template);
    std::fs::write(&path, text).expect("write scenario");
    path.to_str().expect("utf-8 path").to_owned()
}

/// Runs one sipp caller (its audio goes to a probe nobody reads) and expects success.
fn call(scenario: &str, daemon: &Daemon, limit: Duration) {
    let probe = RtpProbe::start();
    let run = Sipp::new(scenario)
        .service("centralino")
        .probe(&probe)
        .timeout(limit)
        .run(daemon.sip);
    drop(probe);
    run.assert_success();
}

/// A citizen forwarded from Bari presses 1, waits for the instructions and the tone and
/// speaks sipp's 7 s speech recording; `template` says how the call ends.
fn leave_question(dir: &Path, daemon: &Daemon, template: &str, limit: Duration) {
    let instructions = wav_ms("ticket/domanda") + wav_ms("sistema/segnale") + 700;
    let scenario = scenario(
        dir,
        template,
        &[
            ("__DIVERTED__", BARI.to_owned()),
            ("__KEY1__", format!("{PCAPS}/dtmf_2833_1.pcap")),
            ("__POUND__", format!("{PCAPS}/dtmf_2833_pound.pcap")),
            ("__SPEECH__", format!("{PCAPS}/g711a.pcap")),
            ("__INSTRUCTIONS_MS__", instructions.to_string()),
        ],
    );
    call(&scenario, daemon, limit);
}

fn wav_ms(id: &str) -> u64 {
    let r = hound::WavReader::open(prompt_path(id)).expect("prompt wav");
    r.duration() as u64 * 1000 / r.spec().sample_rate as u64
}

/// The JSON lines of a file the embedded back end writes, waiting for them to appear.
fn delivered(outbox: &Path, file: &str) -> Vec<Value> {
    let path = outbox.join("delivered").join(file);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = std::fs::read_to_string(&path)
            && !text.trim().is_empty()
        {
            return text
                .lines()
                .map(|l| serde_json::from_str(l).expect("a JSON line"))
                .collect();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing delivered to {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The A-law speech of sipp's `g711a.pcap` (RTP payloads after Ethernet/IP/UDP/RTP
/// headers), decoded.
fn pcap_speech() -> Vec<f32> {
    let raw = std::fs::read(format!("{PCAPS}/g711a.pcap")).expect("sipp's g711a.pcap");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= raw.len() {
        let len = u32::from_le_bytes(raw[at + 8..at + 12].try_into().unwrap()) as usize;
        let packet = &raw[at + 16..at + 16 + len];
        at += 16 + len;
        out.extend(
            packet[42 + 12..]
                .iter()
                .map(|&a| alaw_to_linear(a) as f32 / 32768.0),
        );
    }
    out
}

#[test]
fn a_forwarded_caller_leaves_a_question_and_the_ticket_reaches_the_outbox() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (daemon, outbox) = start("ticket-walk", dir.path());
    leave_question(
        dir.path(),
        &daemon,
        "uac_ticket.xml",
        Duration::from_secs(120),
    );

    // Stored, then confirmed: the id read back to the caller is the outbox's.
    let log = daemon.log();
    let stored = log
        .lines()
        .find(|l| l.contains("ticket stored"))
        .unwrap_or_else(|| panic!("no ticket stored:\n{}", tail(&log, 40)));
    let confirmed_at = log
        .find("first=Some(\"it/ticket/registrata\")")
        .expect("the confirmation was played");
    assert!(log.find("ticket stored").unwrap() < confirmed_at);
    assert!(
        log.contains("dialled_from=\"diversion\""),
        "{}",
        tail(&log, 40)
    );

    let tickets = delivered(&outbox, "tickets.jsonl");
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    let t = &tickets[0];
    let id = t["id"].as_str().expect("id");
    assert!(stored.contains(id), "log {stored:?} vs ticket {id}");
    assert!(
        id.starts_with("LI-") && id.len() == "LI-2026-000001".len(),
        "{id}"
    );
    assert_eq!(t["section"], "pensioni");
    assert_eq!(t["call"]["dialled"], BARI);
    assert_eq!(t["call"]["office"], "bari");
    assert_eq!(t["call"]["province"], "BA");
    assert_eq!(t["call"]["region"], "Puglia");
    assert!(
        t["destination"].as_str().unwrap().contains("Puglia"),
        "{}",
        t["destination"]
    );
    assert!(t["call"]["caller"].as_str().unwrap().contains("3331234567"));
    assert_eq!(t["origin"]["by"], "menu");
    let path: Vec<&str> = t["call"]["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(path.contains(&"menu[1]"), "{path:?}");
    assert!(
        path.iter().any(|p| p.starts_with("ticket-pensioni")),
        "{path:?}"
    );

    // The question: what sipp streamed (7 s of speech), ended by #.
    let ms = t["question_ms"].as_u64().expect("question_ms");
    assert!((5_000..=9_000).contains(&ms), "question of {ms} ms");
    let wav = t["question_wav"].as_str().expect("question_wav");
    let wav_path = [outbox.join(wav), outbox.join("delivered").join(wav)]
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no {wav} in the outbox"));
    let reader = hound::WavReader::open(&wav_path).expect("a WAV");
    assert_eq!(reader.spec().sample_rate, 8000);
    assert_eq!(reader.spec().channels, 1);
    let recorded = read_wav(&wav_path);
    let sent = pcap_speech();
    // Three seconds from the middle of what was sent are found in the recording.
    let excerpt = &sent[16_000..40_000];
    let score = similarity(excerpt, &recorded);
    eprintln!("question: {ms} ms, similarity to the streamed speech {score:.3}");
    assert!(
        score > 0.9,
        "the recording is not the caller's speech: {score:.3}"
    );
}

#[test]
fn a_caller_books_the_second_slot_by_keys_and_hears_it_confirmed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (daemon, outbox) = start("appointment-walk", dir.path());
    let scenario = scenario(
        dir.path(),
        "uac_appointment.xml",
        &[
            ("__DIALLED__", BARI.to_owned()),
            ("__KEY_MENU__", format!("{PCAPS}/dtmf_2833_2.pcap")),
            ("__KEY_SLOT__", format!("{PCAPS}/dtmf_2833_2.pcap")),
            ("__KEY_CONFIRM__", format!("{PCAPS}/dtmf_2833_1.pcap")),
        ],
    );
    call(&scenario, &daemon, Duration::from_secs(90));

    let log = daemon.log();
    assert!(
        log.contains("dialled_from=\"history-info\""),
        "{}",
        tail(&log, 40)
    );
    let offered: Vec<String> = log
        .lines()
        .find(|l| l.contains("slots offered"))
        .and_then(|l| l.split("slots=").nth(1))
        .map(|s| {
            s.split_whitespace()
                .take(3)
                .map(|w| w.trim_matches('"').to_owned())
                .collect()
        })
        .unwrap_or_else(|| panic!("no slots offered:\n{}", tail(&log, 40)));
    assert_eq!(offered.len(), 3, "{offered:?}");
    assert!(
        log.contains("first=Some(\"it/appuntamento/confermato\")"),
        "the booking was not read back:\n{}",
        tail(&log, 40)
    );

    let bookings = delivered(&outbox, "bookings.jsonl");
    assert_eq!(bookings.len(), 1, "{bookings:#?}");
    let b = &bookings[0];
    assert!(b["id"].as_str().unwrap().starts_with("AP-"), "{b}");
    assert_eq!(b["service"], "agenzia");
    assert_eq!(b["office"], "bari");
    assert_eq!(b["call"]["region"], "Puglia");
    let start = b["slot"]["start"].as_str().expect("slot start");
    assert!(
        start.starts_with(&offered[1]),
        "booked {start}, offered {offered:?}"
    );
}

#[test]
fn a_caller_who_hangs_up_after_the_question_still_leaves_the_ticket() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (daemon, outbox) = start("ticket-hangup", dir.path());
    leave_question(
        dir.path(),
        &daemon,
        "uac_ticket_hangup.xml",
        Duration::from_secs(60),
    );

    let tickets = delivered(&outbox, "tickets.jsonl");
    assert_eq!(tickets.len(), 1, "{tickets:#?}");
    let t = &tickets[0];
    assert_eq!(t["section"], "pensioni");
    assert_eq!(t["call"]["region"], "Puglia");
    let ms = t["question_ms"].as_u64().expect("question_ms");
    assert!((5_000..=9_000).contains(&ms), "question of {ms} ms");
    assert!(
        daemon.wait_for_log(
            "caller hung up during the question: opening the ticket",
            Duration::from_secs(2)
        ),
        "{}",
        tail(&daemon.log(), 30)
    );
    let log = daemon.log();
    // Nobody was left to hear an id.
    assert!(!log.contains("first=Some(\"it/ticket/registrata\")"));
}
