//! A citizen's call through the INPS portal (`ivr-trees/inps.yaml`) on the running
//! daemon: sipp dials a provincial office number, hears the welcome, presses RFC 4733
//! digits from sipp's pcaps and reaches the automatic answer with the next pension
//! payment date. The keys depend on whether operators are on duty right now (Europe/Rome),
//! which the test works out from the tree's own schedule.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

mod common;
use common::*;

use centralino::ivr::tree::{self, PromptCatalog};
use centralino::media::prompts::PromptLibrary;
use std::time::Duration;

const PCAPS: &str = "/usr/share/sip-tester";

#[test]
fn sipp_caller_walks_the_inps_menu_to_the_pension_date_answer() {
    let root = crate_root();
    let library = PromptLibrary::load(&root.join("prompts")).expect("prompts load");
    let (tree, _) = tree::load(
        &root.join("ivr-trees/inps.yaml"),
        &PromptCatalog::new(library.ids()),
    )
    .expect("inps.yaml loads");
    let now_in_rome = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Rome)
        .naive_local();
    let on_duty = tree.schedules["operatori"].is_open(now_in_rome);
    // Open: main menu 5 (automatic answers) then 1. Closed: the closed menu's 1, and "*"
    // later during the answer.
    let (key1, key2) = if on_duty { ("5", "1") } else { ("1", "star") };

    // sipp does not expand variables in play_pcap_audio: fill the template's keys here.
    let template = std::fs::read_to_string(root.join("tests/sipp/uac_inps_walk.xml"))
        .expect("scenario template");
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("uac_inps_walk.xml");
    std::fs::write(
        &scenario,
        template
            .replace("__KEY1__", &format!("{PCAPS}/dtmf_2833_{key1}.pcap"))
            .replace("__KEY2__", &format!("{PCAPS}/dtmf_2833_{key2}.pcap")),
    )
    .expect("write scenario");

    let daemon = Daemon::start("inps-walk");
    let probe = RtpProbe::start();
    let run = Sipp::new(scenario.to_str().expect("utf-8 path"))
        .service("0612345678")
        .probe(&probe)
        .run(daemon.sip);
    let capture = probe.finish();
    run.assert_success();

    // The welcome of the portal reached the caller before the keys.
    let heard = capture.audio_by_timestamp(Duration::from_millis(2500));
    let welcome = similarity(&heard, &read_wav(&prompt_path("inps/benvenuto")));
    let test_line = similarity(&heard, &read_wav(&prompt_path("benvenuto")));
    eprintln!("welcome correlation: inps/benvenuto {welcome:.3}, test line {test_line:.3}");
    assert!(
        welcome > 0.8,
        "the INPS welcome was not heard: {welcome:.3}"
    );
    assert!(
        test_line < 0.3,
        "the caller got the test line instead: {test_line:.3}"
    );

    // The daemon logs the caller's path when the call ends.
    assert!(
        daemon.wait_for_log("menu path", Duration::from_secs(5)),
        "no menu path logged"
    );
    let log = daemon.log();
    let path = log
        .lines()
        .find(|l| l.contains("menu path"))
        .expect("menu path line");
    eprintln!("{path}");
    let expected = if on_duty {
        "ingresso > menu-principale[5] > risposte-automatiche[1] > risposta-pagamento-pensioni"
    } else {
        "ingresso > chiuso[1] > risposta-pagamento-pensioni"
    };
    assert!(path.contains(expected), "path {path:?} lacks {expected:?}");
    assert_digits_in_order(&log, &[key1, if on_duty { key2 } else { "*" }]);
}
