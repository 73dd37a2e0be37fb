//! The operators file: parsing, every validation error at its line, and `passwd_entry`
//! hashes that the digest server accepts.

use super::*;
use crate::sip::auth::{DigestServer, Verdict, digest_response};
use std::time::Duration;

const MD5: &str = "0123456789abcdef0123456789abcdef";
const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn good() -> String {
    format!(
        "realm: centralino
operators:
  - id: op1                       # SIP user name
    name: \"Maria Rossi\"
    queues: [pensioni, operatore-generico]
    skill: 5
    auto_login: false
    ha1_md5: {MD5}
    ha1_sha256: {}
  - id: op2
    queues: [pensioni]
    auto_login: true
    ha1_sha256: {SHA}
",
        SHA.to_ascii_uppercase()
    )
}

fn errors(text: &str) -> Vec<String> {
    match Operators::parse(text, "ops.yaml") {
        Err(OperatorsError::Invalid(p)) => p.iter().map(Problem::to_string).collect(),
        other => panic!("expected errors, got {other:?}"),
    }
}

fn one_error(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:?}");
    e.into_iter().next().unwrap()
}

#[test]
fn parses_the_example() {
    let ops = Operators::parse(&good(), "ops.yaml").unwrap();
    assert_eq!(ops.realm, "centralino");
    assert_eq!(ops.len(), 2);
    let op1 = ops.get("op1").unwrap();
    assert_eq!(op1.name, "Maria Rossi");
    assert_eq!(op1.queues, ["pensioni", "operatore-generico"]);
    assert_eq!(op1.skill, Some(5));
    assert!(!op1.auto_login);
    let op2 = ops.get("op2").unwrap();
    assert_eq!(op2.name, "op2");
    assert_eq!(op2.skill, None);
    assert!(op2.auto_login);
    assert_eq!(ops.ha1("op1", Algorithm::Md5), Some(MD5));
    assert_eq!(ops.ha1("op2", Algorithm::Sha256), Some(SHA), "lowercased");
    assert_eq!(ops.ha1("op2", Algorithm::Md5), None);
    assert_eq!(ops.ha1("op3", Algorithm::Md5), None);
    assert!(ops.get("OP1").is_none());
    let ids: Vec<&str> = ops.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["op1", "op2"]);
}

#[test]
fn empty_operator_list_is_allowed() {
    let ops = Operators::parse("realm: centralino\n", "ops.yaml").unwrap();
    assert!(ops.is_empty());
}

#[test]
fn yaml_errors_are_located() {
    let e = one_error(&good().replace("    auto_login: true", "    auto_logon: true"));
    assert!(e.starts_with("ops.yaml:12:5:"), "{e}");
    assert!(e.contains("auto_logon"), "{e}");
    let e = one_error("operators: []\n");
    assert!(e.contains("realm"), "{e}");
    let e = one_error(&good().replace("    skill: 5", "    skill: 5\n    skill: 6"));
    assert!(e.starts_with("ops.yaml:7:"), "{e}");
    assert!(e.contains("duplicate"), "{e}");
}

#[test]
fn duplicate_ids_are_refused_case_insensitively() {
    let text = good().replace("  - id: op2", "  - id: OP1");
    let e = one_error(&text);
    assert!(e.starts_with("ops.yaml:10:9:"), "{e}");
    assert!(
        e.contains("duplicate operator id `OP1` (first at line 3)"),
        "{e}"
    );
}

#[test]
fn id_syntax() {
    for bad in [
        "\"op 1\"",
        "\"op1@host\"",
        "\"op;1\"",
        "\"\"",
        &"x".repeat(65),
    ] {
        let e = one_error(&good().replace("  - id: op2", &format!("  - id: {bad}")));
        assert!(e.starts_with("ops.yaml:10:9:"), "{bad}: {e}");
        assert!(e.contains("operator id"), "{e}");
    }
    let ok = good().replace("  - id: op2", "  - id: \"maria.rossi_2-x+y\"");
    assert!(Operators::parse(&ok, "ops.yaml").is_ok());
}

#[test]
fn hash_lengths_and_digits() {
    let e = one_error(&good().replace(&format!("ha1_md5: {MD5}"), "ha1_md5: 0123"));
    assert!(e.starts_with("ops.yaml:8:14:"), "{e}");
    assert!(e.contains("ha1_md5 must be 32 hex digits"), "{e}");
    let e =
        one_error(&good().replace(&format!("ha1_sha256: {SHA}"), &format!("ha1_sha256: {MD5}")));
    assert!(e.starts_with("ops.yaml:13:17:"), "{e}");
    assert!(e.contains("64 hex digits"), "{e}");
    let not_hex = format!("ha1_md5: {}", MD5.replace('a', "g"));
    let e = one_error(&good().replace(&format!("ha1_md5: {MD5}"), &not_hex));
    assert!(e.starts_with("ops.yaml:8:"), "{e}");
}

#[test]
fn at_least_one_hash() {
    let text = good().replace(&format!("    ha1_sha256: {SHA}\n"), "");
    let e = one_error(&text);
    assert!(e.starts_with("ops.yaml:10:"), "{e}");
    assert!(e.contains("operator `op2` has no credentials"), "{e}");
}

#[test]
fn skill_range() {
    for bad in ["0", "11", "-3"] {
        let e = one_error(&good().replace("skill: 5", &format!("skill: {bad}")));
        assert!(e.starts_with("ops.yaml:6:12:"), "{e}");
        assert!(e.contains("outside 1-10"), "{e}");
    }
    let e = one_error(&good().replace("skill: 5", "skill: high"));
    assert!(e.starts_with("ops.yaml:6:"), "{e}");
}

#[test]
fn queue_names() {
    let e = one_error(&good().replace("[pensioni, operatore-generico]", "[pensioni, \"\"]"));
    assert!(e.starts_with("ops.yaml:5:24:"), "{e}");
    assert!(e.contains("is empty"), "{e}");
    let e = one_error(&good().replace("[pensioni, operatore-generico]", "[pensioni, pensioni]"));
    assert!(e.contains("listed twice"), "{e}");
    let e = one_error(&good().replace("operatore-generico", "\"operatore generico\""));
    assert!(e.contains("letters, digits"), "{e}");
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let text = good()
        .replace("skill: 5", "skill: 50")
        .replace("  - id: op2", "  - id: op1");
    let e = errors(&text);
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("ops.yaml:6:"), "{e:?}");
    assert!(e[1].starts_with("ops.yaml:10:"), "{e:?}");
    let all = Operators::parse(&text, "ops.yaml").unwrap_err().to_string();
    assert_eq!(all.lines().count(), 2);
}

#[test]
fn load_reads_files_and_names_missing_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("operators.yaml");
    std::fs::write(&path, good()).unwrap();
    assert_eq!(Operators::load(&path).unwrap().len(), 2);
    let missing = dir.path().join("nope.yaml");
    let e = Operators::load(&missing).unwrap_err().to_string();
    assert!(e.starts_with(&missing.display().to_string()), "{e}");
}

#[test]
fn passwd_entry_parses_and_verifies() {
    let entry = passwd_entry("op7", "centralino", "Circle Of Life");
    assert!(!entry.contains("Circle Of Life"));
    let text = format!("realm: centralino\noperators:\n{entry}");
    let ops = Operators::parse(&text, "ops.yaml").unwrap();
    let op = ops.get("op7").unwrap();
    assert_eq!(
        op.ha1_md5.as_deref(),
        Some(ha1(Algorithm::Md5, "op7", "centralino", "Circle Of Life").as_str())
    );

    let mut server = DigestServer::new("centralino", [1; 32], Duration::from_secs(60));
    for (i, alg) in [Algorithm::Md5, Algorithm::Sha256].into_iter().enumerate() {
        let nonce = server.nonce(1_000);
        let client_ha1 = ha1(alg, "op7", "centralino", "Circle Of Life");
        let response = digest_response(
            alg,
            &client_ha1,
            &nonce,
            Some(("00000001", "abcdef")),
            "REGISTER",
            "sip:centralino",
        );
        let header = format!(
            "Digest username=\"op7\", realm=\"centralino\", nonce=\"{nonce}\", \
             uri=\"sip:centralino\", response=\"{response}\", algorithm={alg}, \
             qop=auth, nc=00000001, cnonce=\"abcdef\""
        );
        let verdict = server.verify(1_000 + i as u64, "REGISTER", &header, |u, a| {
            ops.ha1(u, a).map(str::to_owned)
        });
        assert_eq!(verdict, Verdict::Ok { user: "op7".into() }, "{alg}");
    }
}

#[test]
fn passwd_entry_quotes_awkward_ids() {
    let entry = passwd_entry("*op", "centralino", "x");
    assert!(entry.starts_with("  - id: \"*op\"\n"), "{entry}");
}
