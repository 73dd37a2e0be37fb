//! REGISTER (RFC 3261 §10.3, §22; RFC 8760): challenge, digest verification, bindings,
//! 423, refusals without a hint, slowed-down repeated failures, un-registration.

use super::*;
use crate::operators::{Operators, passwd_entry};
use crate::sip::auth::{Algorithm, DigestServer, digest_response, ha1};
use crate::sip::registrar::Registrar;
use std::sync::Arc;

const PHONE: &str = "192.0.2.30:5100";

fn registrar_harness() -> Harness {
    let text = format!(
        "realm: centralino\noperators:\n{}",
        passwd_entry("op1", "centralino", "segreto")
    );
    let operators = Operators::parse(&text, "operators.yaml").expect("operators parse");
    let mut h = Harness::new();
    h.ep.enable_registrar(RegistrarSetup {
        operators: Arc::new(operators),
        digest: DigestServer::new("centralino", [7; 32], Duration::from_secs(300))
            .with_algorithms(&[Algorithm::Md5]),
        registrar: Registrar::new(60, 3600, 3600),
    });
    h.flow = Flow::Udp(sock(PHONE));
    h
}

fn register(branch: &str, cseq: u32, user: &str, extra: &str) -> String {
    format!(
        "REGISTER sip:198.51.100.1 SIP/2.0\r\nVia: SIP/2.0/UDP {PHONE};branch={branch};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@198.51.100.1>;tag=ph1\r\nTo: <sip:{user}@198.51.100.1>\r\nCall-ID: reg-1\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}-0x55@{PHONE}>;expires=600\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

/// The nonce of the first challenge in a 401.
fn nonce_of(r: &SipMessage) -> String {
    let c = must(r, "WWW-Authenticate");
    let start = c.find("nonce=\"").unwrap() + 7;
    c[start..start + c[start..].find('"').unwrap()].to_owned()
}

fn authorization(user: &str, password: &str, nonce: &str, nc: &str) -> String {
    let h = ha1(Algorithm::Md5, user, "centralino", password);
    let resp = digest_response(
        Algorithm::Md5,
        &h,
        nonce,
        Some((nc, "abc")),
        "REGISTER",
        "sip:198.51.100.1",
    );
    format!(
        "Authorization: Digest username=\"{user}\", realm=\"centralino\", nonce=\"{nonce}\", uri=\"sip:198.51.100.1\", response=\"{resp}\", algorithm=MD5, qop=auth, nc={nc}, cnonce=\"abc\"\r\n"
    )
}

/// A branch never used before: a reused one would be a retransmission.
fn branch() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!(
        "z9hG4bK-b{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// REGISTER → 401 → REGISTER with credentials; returns the final response.
fn login(h: &mut Harness, user: &str, password: &str, extra: &str) -> (u16, SipMessage) {
    h.send(&register(&branch(), 1, user, extra));
    let mut rs = h.responses();
    assert_eq!(codes(&rs), vec![401]);
    let nonce = nonce_of(&rs.remove(0).1);
    let auth = authorization(user, password, &nonce, "00000001");
    h.send(&register(&branch(), 2, user, &format!("{auth}{extra}")));
    h.responses().remove(0)
}

#[test]
fn challenge_offers_md5_with_qop() {
    let mut h = registrar_harness();
    h.send(&register("z9hG4bK-r1", 1, "op1", ""));
    let rs = h.responses();
    let c = must(&rs[0].1, "WWW-Authenticate");
    assert!(
        c.starts_with("Digest realm=\"centralino\", nonce=\""),
        "{c}"
    );
    assert!(
        c.contains("algorithm=MD5") && c.contains("qop=\"auth\""),
        "{c}"
    );
    let options = request("OPTIONS", &branch(), "o-1", None, 1, "", None);
    h.send(&options);
    assert!(must(&h.responses()[0].1, "Allow").contains("REGISTER"));
}

#[test]
fn right_credentials_bind_the_contact() {
    let mut h = registrar_harness();
    let (code, ok) = login(&mut h, "op1", "segreto", "");
    assert_eq!(code, 200);
    assert_eq!(
        must(&ok, "Contact"),
        "<sip:op1-0x55@192.0.2.30:5100>;expires=600"
    );
    assert_eq!(
        h.events(),
        vec![Event::OperatorRegistered { user: "op1".into() }]
    );
    assert_eq!(
        h.ep.operator_contacts("op1", h.now),
        vec![(
            "sip:op1-0x55@192.0.2.30:5100".to_owned(),
            Flow::Udp(sock(PHONE))
        )]
    );
    // Un-register: Expires 0 on the contact.
    h.send(&register("z9hG4bK-r3", 3, "op1", "").replace("expires=600", "expires=0"));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![401]);
    let nonce = nonce_of(&rs[0].1);
    let auth = authorization("op1", "segreto", &nonce, "00000001");
    h.send(&register("z9hG4bK-r4", 4, "op1", &auth).replace("expires=600", "expires=0"));
    assert_eq!(codes(&h.responses()), vec![200]);
    assert_eq!(
        h.events(),
        vec![Event::OperatorUnregistered { user: "op1".into() }]
    );
}

#[test]
fn bindings_expire_without_refresh() {
    let mut h = registrar_harness();
    login(&mut h, "op1", "segreto", "");
    h.events();
    h.run_until(599_000);
    assert!(h.events().is_empty());
    h.run_until(600_000);
    assert_eq!(
        h.events(),
        vec![Event::OperatorUnregistered { user: "op1".into() }]
    );
    assert!(h.ep.operator_contacts("op1", h.now).is_empty());
}

#[test]
fn wrong_password_unknown_user_and_foreign_address_get_the_same_403() {
    let mut h = registrar_harness();
    let (code, r) = login(&mut h, "op1", "sbagliata", "");
    assert_eq!((code, reason(&r)), (403, "Forbidden"));
    let (code, r) = login(&mut h, "intruso", "segreto", "");
    assert_eq!((code, reason(&r)), (403, "Forbidden"));
    // op1's credentials registering op2's address.
    h.send(&register("z9hG4bK-x1", 1, "op2", ""));
    let nonce = nonce_of(&h.responses()[0].1);
    let auth = authorization("op1", "segreto", &nonce, "00000001");
    h.send(&register("z9hG4bK-x2", 2, "op2", &auth));
    assert_eq!(codes(&h.responses()), vec![403]);
    assert!(h.events().is_empty());
}

#[test]
fn repeated_failures_are_answered_slowly() {
    let mut h = registrar_harness();
    for _ in 0..3 {
        assert_eq!(login(&mut h, "op1", "x", "").0, 403);
    }
    // The fourth failure within a minute waits a second for its answer.
    h.send(&register(&branch(), 1, "op1", ""));
    let nonce = nonce_of(&h.responses()[0].1);
    let auth = authorization("op1", "x", &nonce, "00000001");
    h.send(&register("z9hG4bK-slow", 2, "op1", &auth));
    assert!(h.responses().is_empty());
    let t = h.ms();
    h.run_until(t + 999);
    assert!(h.responses().is_empty());
    h.run_until(t + 1000);
    assert_eq!(codes(&h.responses()), vec![403]);
}

#[test]
fn too_brief_an_interval_gets_423_with_min_expires() {
    let mut h = registrar_harness();
    h.send(&register("z9hG4bK-r1", 1, "op1", "").replace("expires=600", "expires=30"));
    let nonce = nonce_of(&h.responses()[0].1);
    let auth = authorization("op1", "segreto", &nonce, "00000001");
    h.send(&register("z9hG4bK-r2", 2, "op1", &auth).replace("expires=600", "expires=30"));
    let rs = h.responses();
    assert_eq!(codes(&rs), vec![423]);
    assert_eq!(must(&rs[0].1, "Min-Expires"), "60");
}

#[test]
fn a_replayed_nonce_count_is_refused() {
    let mut h = registrar_harness();
    h.send(&register("z9hG4bK-r1", 1, "op1", ""));
    let nonce = nonce_of(&h.responses()[0].1);
    let auth = authorization("op1", "segreto", &nonce, "00000001");
    h.send(&register("z9hG4bK-r2", 2, "op1", &auth));
    assert_eq!(codes(&h.responses()), vec![200]);
    h.send(&register("z9hG4bK-r3", 3, "op1", &auth));
    assert_eq!(codes(&h.responses()), vec![403]);
}
