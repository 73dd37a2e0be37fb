//! Session timers (RFC 4028): negotiation, expiry BYE, refreshes and Min-SE.

use super::*;

// ---------------------------------------------------------------- 11. session timers

const TIMER_1800: &str = "Supported: timer\r\nSession-Expires: 1800\r\n";

/// 1800 s minus min(32 s, 1800/3): RFC 4028 §10.
const EXPIRY_MS: u64 = 1_768_000;

#[test]
fn session_timer_is_accepted_with_the_caller_as_refresher() {
    let mut h = Harness::new();
    let a = h.answer("z9hG4bK-1", "call-1", TIMER_1800);
    assert_eq!(must(&a.ok, "Session-Expires"), "1800;refresher=uac");
    assert_eq!(must(&a.ok, "Require"), "timer");
}

#[test]
fn session_expires_below_min_se_gets_422() {
    let mut h = Harness::new();
    let extra = "Supported: timer\r\nSession-Expires: 60\r\n";
    h.send(&invite(
        "z9hG4bK-1",
        "call-1",
        extra,
        Some(&offer_sdp(30000, "sendrecv")),
    ));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![422]);
    assert_eq!(must(&rs[0].1, "Min-SE"), "90");
    assert!(h.events().is_empty());
}

#[test]
fn unrefreshed_session_ends_with_bye_before_it_expires() {
    let mut h = Harness::new();
    let a = h.establish("call-1", TIMER_1800); // ACK at t = 0
    h.run_until(EXPIRY_MS - 1);
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    h.run_until(EXPIRY_MS);
    let reqs = h.requests();
    assert_eq!(reqs.len(), 1);
    assert_bye_for(&reqs[0], &a);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call: a.call,
            reason: EndReason::Timeout
        }]
    );
}

#[test]
fn reinvite_refresh_pushes_the_session_expiry_out() {
    let mut h = Harness::new();
    let a = h.establish("call-1", TIMER_1800);
    h.run_until(1_000_000);
    h.send(&reinvite(
        "z9hG4bK-r1",
        &a,
        2,
        TIMER_1800,
        Some(&offer_sdp(30000, "sendrecv")),
    ));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200]);
    assert_eq!(must(&rs[0].1, "Session-Expires"), "1800;refresher=uac");
    h.send(&ack("z9hG4bK-r1a", "call-1", &a.to_tag, 2, None));
    h.events();
    h.run_until(1_000_000 + EXPIRY_MS - 1);
    assert!(h.sent().is_empty(), "the old deadline passed without a BYE");
    assert!(h.events().is_empty());
    h.run_until(1_000_000 + EXPIRY_MS);
    assert_eq!(h.requests().len(), 1);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call: a.call,
            reason: EndReason::Timeout
        }]
    );
}

#[test]
fn update_refresh_pushes_the_session_expiry_out() {
    let mut h = Harness::new();
    let a = h.establish("call-1", TIMER_1800);
    h.run_until(1_000_000);
    let update = request(
        "UPDATE",
        "z9hG4bK-u1",
        "call-1",
        Some(&a.to_tag),
        2,
        TIMER_1800,
        None,
    );
    h.send(&update);
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![200]);
    // RFC 4028 §9: the 2xx to a refresh carries Session-Expires, or the caller (§7.4)
    // concludes the session no longer expires and stops refreshing.
    assert_eq!(must(&rs[0].1, "Session-Expires"), "1800;refresher=uac");
    assert_eq!(must(&rs[0].1, "Require"), "timer");
    assert!(
        h.events().is_empty(),
        "a refresh without SDP changes no media"
    );
    h.run_until(1_000_000 + EXPIRY_MS - 1);
    assert!(h.sent().is_empty());
    h.run_until(1_000_000 + EXPIRY_MS);
    assert_eq!(h.requests().len(), 1);
    assert_eq!(
        h.events(),
        vec![Event::Ended {
            call: a.call,
            reason: EndReason::Timeout
        }]
    );
}

#[test]
fn no_session_timer_without_supported_timer() {
    let mut h = Harness::new();
    let a = h.establish("call-1", "Session-Expires: 1800\r\n");
    assert_eq!(hdr(&a.ok, "Session-Expires"), None);
    assert_eq!(hdr(&a.ok, "Require"), None);
    h.run_until(EXPIRY_MS + 60_000);
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.ep.active_calls(), 1);
}

#[test]
fn refresh_below_min_se_gets_422_and_keeps_the_old_interval() {
    let mut h = Harness::new();
    let a = h.establish("call-1", TIMER_1800);
    let update = request(
        "UPDATE",
        "z9hG4bK-u1",
        "call-1",
        Some(&a.to_tag),
        2,
        "Supported: timer\r\nSession-Expires: 30\r\n",
        None,
    );
    h.send(&update);
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![422]);
    assert_eq!(must(&rs[0].1, "Min-SE"), "90");
    // The 1800 s session stands: the expiry BYE comes at the old time.
    h.run_until(EXPIRY_MS - 1);
    assert!(h.sent().is_empty());
    h.run_until(EXPIRY_MS);
    assert_eq!(h.requests().len(), 1);
}
