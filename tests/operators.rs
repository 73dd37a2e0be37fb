//! Operators' softphones register with the daemon (RFC 3261 §10, digest auth §22.4 with
//! MD5 and `qop=auth`): a real baresip with the right password is bound, wrong passwords
//! and unknown users get the same bare 403, and a quitting baresip un-registers.
//!
//! Literal REGISTERs over UDP check the challenge itself and that one operator's
//! credentials cannot register another operator's address.
#![allow(clippy::disallowed_methods)] // real-peer tests wait on real processes and clocks

// This crate uses no sipp: the shared harness re-exports it all the same.
#[allow(unused_imports)]
mod common;

use centralino::operators::passwd_entry;
use centralino::sip::auth::{Algorithm, digest_response, ha1};
use common::*;
use std::fs;
use std::path::Path;
use std::time::Duration;

const REALM: &str = "centralino";
const OP1_PASSWORD: &str = "Rossi-2024!";
const OP2_PASSWORD: &str = "verdi.segreta";

/// Writes an operators file with op1 and op2 (queue `pensioni`) and returns the daemon
/// config that enables the registrar with it, MD5 only.
fn operators_setup(dir: &Path) -> String {
    let mut yaml = format!("realm: {REALM}\noperators:\n");
    for (id, password) in [("op1", OP1_PASSWORD), ("op2", OP2_PASSWORD)] {
        let entry = passwd_entry(id, REALM, password).replace("queues: []", "queues: [pensioni]");
        assert!(
            entry.contains("queues: [pensioni]"),
            "passwd_entry changed shape:\n{entry}"
        );
        yaml.push_str(&entry);
    }
    let file = dir.join("operators.yaml");
    fs::write(&file, yaml).expect("write operators.yaml");
    format!(
        "operators:\n  file: {}\n  algorithms: [MD5]\n",
        file.display()
    )
}

fn start_daemon(name: &str, dir: &Path) -> Daemon {
    Daemon::start_with(
        name,
        DaemonOptions {
            config_yaml: Some(operators_setup(dir)),
            ..Default::default()
        },
    )
}

/// Daemon log lines with `message` and the `user=` field for `user` (quoted or not).
fn log_lines_for(daemon: &Daemon, message: &str, user: &str) -> Vec<String> {
    let plain = format!("user={user}");
    let quoted = format!("user=\"{user}\"");
    daemon
        .log()
        .lines()
        .filter(|l| {
            l.contains(message)
                && l.split_whitespace()
                    .any(|w| w == plain.as_str() || w == quoted.as_str())
        })
        .map(str::to_owned)
        .collect()
}

fn wait_for_user_log(daemon: &Daemon, message: &str, user: &str, limit: Duration) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if !log_lines_for(daemon, message, user).is_empty() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `registration refused` lines with `status=403`.
fn refusals_403(daemon: &Daemon) -> usize {
    daemon
        .log()
        .lines()
        .filter(|l| l.contains("registration refused") && l.contains("status=403"))
        .count()
}

fn wait_refusals(daemon: &Daemon, at_least: usize, limit: Duration) -> usize {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let n = refusals_403(daemon);
        if n >= at_least || std::time::Instant::now() >= deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A softphone that must be refused: `REGISTER_FAIL` with a 403 and never `REGISTER_OK`.
/// Returns the failure's reason (`param`) for comparisons.
fn expect_refused(phone: &mut Baresip) -> String {
    let name = phone.name().to_string();
    let fail = phone
        .wait_event("REGISTER_FAIL", Duration::from_secs(8))
        .unwrap_or_else(|| {
            panic!(
                "[{name}] no REGISTER_FAIL within 8 s; events: {:?}",
                phone.event_types()
            )
        });
    let param = fail
        .get("param")
        .and_then(|p| p.as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        param.starts_with("403"),
        "[{name}] refused with {param:?}, expected 403 Forbidden: {fail}"
    );
    assert!(
        phone
            .wait_event("REGISTER_OK", Duration::from_millis(500))
            .is_none(),
        "[{name}] registered after all; events: {:?}",
        phone.event_types()
    );
    param
}

/// One REGISTER transaction over UDP as literal SIP.
struct Registration<'a> {
    client: &'a SipUdp,
    call_id: String,
    cseq: u32,
}

impl Registration<'_> {
    fn request(&mut self, to_user: &str, authorization: Option<&str>) -> String {
        self.cseq += 1;
        let me = self.client.local_port();
        let d = self.client.daemon;
        let auth = authorization
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        format!(
            "REGISTER sip:{d} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {LOOPBACK}:{me};branch=z9hG4bK-{}-{};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{to_user}@{d}>;tag=reg{me}\r\n\
             To: <sip:{to_user}@{d}>\r\n\
             Call-ID: {}\r\n\
             CSeq: {} REGISTER\r\n\
             Contact: <sip:{to_user}-literal@{LOOPBACK}:{me}>;expires=120\r\n\
             {auth}\
             Content-Length: 0\r\n\r\n",
            token(),
            self.cseq,
            self.call_id,
            self.cseq,
        )
    }

    /// Sends a REGISTER and returns its final response (bounded).
    fn send(&mut self, to_user: &str, authorization: Option<&str>) -> SipMessage {
        let req = self.request(to_user, authorization);
        let cseq = self.cseq;
        self.client.send(req.as_bytes());
        let mut seen = Vec::new();
        self.client
            .wait_response(
                Duration::from_secs(10),
                |m| {
                    m.is_response()
                        && m.cseq_number() == Some(cseq)
                        && m.status().is_some_and(|s| s >= 200)
                },
                &mut seen,
            )
            .unwrap_or_else(|| {
                panic!("no final response to REGISTER (CSeq {cseq}) within 10 s; saw {seen:?}")
            })
    }
}

/// `name="value"` or `name=value` from a WWW-Authenticate value.
fn auth_param(header: &str, name: &str) -> Option<String> {
    let rest = header.trim().strip_prefix("Digest")?;
    rest.split(',').find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// An Authorization value answering `challenge` as `user` with `password`.
fn authorization(challenge: &str, user: &str, password: &str, uri: &str) -> String {
    let nonce = auth_param(challenge, "nonce").expect("nonce in challenge");
    let realm = auth_param(challenge, "realm").expect("realm in challenge");
    let cnonce = token();
    let nc = "00000001";
    let key = ha1(Algorithm::Md5, user, &realm, password);
    let response = digest_response(
        Algorithm::Md5,
        &key,
        &nonce,
        Some((nc, &cnonce)),
        "REGISTER",
        uri,
    );
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", algorithm=MD5, cnonce=\"{cnonce}\", qop=auth, nc={nc}"
    )
}

#[test]
fn operators_register_with_digest_and_a_wrong_password_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let daemon = start_daemon("operators-register", dir.path());

    // op1, right password: registered.
    let mut op1 = Baresip::start("op1", BaresipAccount::new("op1", OP1_PASSWORD, daemon.sip));
    let ok = op1
        .wait_event("REGISTER_OK", Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "op1 did not register within 5 s; events: {:?}",
                op1.event_types()
            )
        });
    assert_eq!(
        ok.get("accountaor").and_then(|v| v.as_str()),
        Some(op1.account.aor().as_str()),
        "REGISTER_OK for another account: {ok}"
    );
    assert!(
        wait_for_user_log(
            &daemon,
            "operator registered",
            "op1",
            Duration::from_secs(3)
        ),
        "daemon did not log `operator registered user=op1`"
    );
    assert_eq!(
        refusals_403(&daemon),
        0,
        "the right password was refused along the way"
    );

    // op2, wrong password: refused with 403, nothing registered.
    let mut op2 = Baresip::start(
        "op2-wrong",
        BaresipAccount::new("op2", "not-the-password", daemon.sip),
    );
    let wrong_password = expect_refused(&mut op2);
    assert!(
        wait_refusals(&daemon, 1, Duration::from_secs(3)) >= 1,
        "daemon did not log `registration refused … status=403` for op2"
    );
    assert!(
        log_lines_for(&daemon, "operator registered", "op2").is_empty(),
        "op2 registered with a wrong password"
    );

    // A user not in the operators file: refused the same way, no hint that the user
    // does not exist.
    let mut intruso = Baresip::start(
        "intruso",
        BaresipAccount::new("intruso", "qualsiasi", daemon.sip),
    );
    let unknown_user = expect_refused(&mut intruso);
    assert_eq!(
        unknown_user, wrong_password,
        "an unknown user and a wrong password must get the same answer"
    );
    assert!(
        wait_refusals(&daemon, 2, Duration::from_secs(3)) >= 2,
        "daemon did not log a second `registration refused … status=403`"
    );
    assert!(
        log_lines_for(&daemon, "operator registered", "intruso").is_empty(),
        "an unknown user registered"
    );
    drop(intruso);
    drop(op2);

    // Literal REGISTERs: the challenge, a correct registration, then op2's credentials
    // for op1's address.
    let client = SipUdp::new(daemon.sip);
    let uri = format!("sip:{}", daemon.sip);
    let mut reg = Registration {
        client: &client,
        call_id: format!("reg-{}@{LOOPBACK}", token()),
        cseq: 0,
    };
    let challenge = reg.send("op2", None);
    assert_eq!(
        challenge.status(),
        Some(401),
        "REGISTER without credentials:\n{}",
        challenge.raw
    );
    let offers = challenge.headers_named("WWW-Authenticate");
    assert_eq!(
        offers.len(),
        1,
        "with algorithms [MD5] exactly one challenge is offered:\n{}",
        challenge.raw
    );
    let offer = offers[0];
    assert!(
        offer.starts_with("Digest "),
        "not a Digest challenge: {offer}"
    );
    assert_eq!(
        auth_param(offer, "realm").as_deref(),
        Some(REALM),
        "realm: {offer}"
    );
    assert!(
        offer.contains("algorithm=MD5"),
        "challenge lacks algorithm=MD5: {offer}"
    );
    assert!(
        offer.contains("qop=\"auth\""),
        "challenge lacks qop=\"auth\": {offer}"
    );
    assert!(
        auth_param(offer, "nonce").is_some_and(|n| !n.is_empty()),
        "challenge lacks a nonce: {offer}"
    );

    // op2's own credentials for op2's address: 200 with the binding and its expiry
    // (this also proves the digest computed here is right).
    let good = reg.send(
        "op2",
        Some(&authorization(offer, "op2", OP2_PASSWORD, &uri)),
    );
    assert_eq!(
        good.status(),
        Some(200),
        "op2 with its password:\n{}",
        good.raw
    );
    let contacts = good.headers_named("Contact").join(", ");
    assert!(
        contacts.contains("op2-literal@") && contacts.contains("expires="),
        "200 does not list the binding with expires=: {contacts:?}\n{}",
        good.raw
    );
    assert!(
        wait_for_user_log(
            &daemon,
            "operator registered",
            "op2",
            Duration::from_secs(3)
        ),
        "daemon did not log `operator registered user=op2`"
    );

    // op2's credentials with op1 in To: refused.
    let before = refusals_403(&daemon);
    let fresh = reg.send("op1", None);
    assert_eq!(fresh.status(), Some(401), "{}", fresh.raw);
    let offer = fresh.headers_named("WWW-Authenticate")[0].to_string();
    let mismatch = reg.send(
        "op1",
        Some(&authorization(&offer, "op2", OP2_PASSWORD, &uri)),
    );
    assert_eq!(
        mismatch.status(),
        Some(403),
        "op2's credentials registered op1's address:\n{}",
        mismatch.raw
    );
    assert!(
        wait_refusals(&daemon, before + 1, Duration::from_secs(3)) > before,
        "the To/auth mismatch was not logged as a refusal"
    );

    // op1's baresip binding is untouched by all of this.
    assert!(
        log_lines_for(&daemon, "operator unregistered", "op1").is_empty(),
        "op1 lost its registration"
    );
    drop(op1);
}

#[test]
fn unregister_on_exit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let daemon = start_daemon("operators-unregister", dir.path());
    let mut op1 = Baresip::start("op1", BaresipAccount::new("op1", OP1_PASSWORD, daemon.sip));
    assert!(
        op1.wait_event("REGISTER_OK", Duration::from_secs(5))
            .is_some(),
        "op1 did not register within 5 s; events: {:?}",
        op1.event_types()
    );
    assert!(
        wait_for_user_log(
            &daemon,
            "operator registered",
            "op1",
            Duration::from_secs(3)
        ),
        "daemon did not log `operator registered user=op1`"
    );
    assert!(
        log_lines_for(&daemon, "operator unregistered", "op1").is_empty(),
        "op1 unregistered before quitting"
    );

    // baresip's quit sends REGISTER with expires=0 (digest-authenticated again) and
    // exits once it is answered.
    let status = op1.quit(Duration::from_secs(10));
    assert!(
        status.is_some(),
        "baresip did not exit within 10 s of quit; events: {:?}",
        op1.event_types()
    );
    assert!(
        wait_for_user_log(
            &daemon,
            "operator unregistered",
            "op1",
            Duration::from_secs(3)
        ),
        "daemon did not log `operator unregistered user=op1` after baresip quit; \
         baresip events: {:?}",
        op1.event_types()
    );
    // It was the un-REGISTER, not an expiry (regint 60 s is far away).
    assert!(
        !daemon.log().contains("binding expired"),
        "the binding expired instead of being removed"
    );
    assert!(
        op1.event_types().iter().any(|e| e == "UNREGISTERING"),
        "baresip did not report UNREGISTERING: {:?}",
        op1.event_types()
    );
}
