//! A sipp caller through the menu into a queue and on to a baresip operator: sipp dials
//! an office number, hears the menu, presses 1 as an RFC 4733 digit from its pcaps, waits
//! in the queue `pensioni`, is connected to the registered softphone, and hangs up. The
//! queue log tells the story.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

#[allow(unused_imports)]
mod common;

use common::centre::*;
use common::*;
use std::time::Duration;

const PCAPS: &str = "/usr/share/sip-tester";

const TREE: &str = "\
name: menu con coda
start: menu
nodes:
  menu:
    menu:
      greeting: [benvenuto]
      options:
        \"1\": coda
  coda:
    queue: {target: pensioni, fallback: bye}
  bye:
    hangup:
      prompts: [arrivederci]
";

#[test]
fn sipp_caller_walks_the_menu_into_the_queue_and_reaches_the_operator() {
    let centre = start_centre_spec(
        "queue-sipp",
        TREE,
        &[OperatorSpec {
            id: "op1",
            password: "Rossi-2024!",
            queues: vec!["pensioni"],
            auto_login: true,
        }],
        &[("pensioni", "{ring_timeout_ms: 8000}")],
    );
    let mut account = BaresipAccount::new("op1", "Rossi-2024!", centre.daemon.sip);
    account.auto_answer = true;
    let mut phone = start_operator_as(&centre, account, None);

    // The INPS walk scenario as a template: key 1 chooses the queue; "*" later is
    // relayed to the operator (or ignored by the queue).
    let root = crate_root();
    let template = std::fs::read_to_string(root.join("tests/sipp/uac_inps_walk.xml"))
        .expect("scenario template");
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("uac_queue.xml");
    std::fs::write(
        &scenario,
        template
            .replace("__KEY1__", &format!("{PCAPS}/dtmf_2833_1.pcap"))
            .replace("__KEY2__", &format!("{PCAPS}/dtmf_2833_star.pcap")),
    )
    .expect("write scenario");
    let probe = RtpProbe::start();
    let run = Sipp::new(scenario.to_str().expect("utf-8 path"))
        .service(DIALLED)
        .probe(&probe)
        .run(centre.daemon.sip);
    drop(probe.finish());
    run.assert_success();

    // The softphone was called and answered.
    assert!(
        phone
            .wait_event("CALL_ESTABLISHED", Duration::from_secs(2))
            .is_some(),
        "op1's phone never established a call; events: {:?}",
        phone.event_types()
    );
    assert!(
        phone
            .wait_event("CALL_CLOSED", Duration::from_secs(5))
            .is_some(),
        "the caller's BYE did not end op1's call; events: {:?}",
        phone.event_types()
    );
    let call = centre.joined_call("pensioni");
    let events = centre.events_of(&call);
    // (The entry announcement comes after the ring: an operator is free at once.)
    assert!(
        events.iter().any(|e| e == "announced"),
        "no announcement: {events:?}"
    );
    let expected = ["joined", "ring", "connected", "completed"];
    let mut pos = 0;
    for e in &events {
        if pos < expected.len() && e == expected[pos] {
            pos += 1;
        }
    }
    assert_eq!(
        pos,
        expected.len(),
        "queue log for the sipp caller lacks {:?} in order: {events:?}\n{}",
        &expected[pos..],
        centre.log_text()
    );
    assert!(
        centre
            .daemon
            .wait_for_log("menu path", Duration::from_secs(2)),
        "no menu path logged"
    );
    let log = centre.daemon.log();
    let path = log
        .lines()
        .find(|l| l.contains("menu path"))
        .unwrap_or_default();
    assert!(path.contains("menu[1] > coda"), "path: {path}");
}
