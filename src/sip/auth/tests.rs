//! Digest vectors from RFC 2617 §3.5 and RFC 7616 §3.9.1, and the server's verdicts on
//! realistic, stale, forged, replayed and wrong credentials.

use super::*;

const REALM: &str = "centralino";
const SECRET: [u8; 32] = [7; 32];
const TTL: Duration = Duration::from_secs(300);
const PASSWORD: &str = "s3cret";

fn server() -> DigestServer {
    DigestServer::new(REALM, SECRET, TTL)
}

/// The HA1 store of one operator, `op1`.
fn store(user: &str, alg: Algorithm) -> Option<String> {
    (user == "op1").then(|| ha1(alg, "op1", REALM, PASSWORD))
}

/// Builds an Authorization value the way libre (baresip) does.
fn authorization(
    alg: Option<Algorithm>,
    user: &str,
    password: &str,
    nonce: &str,
    nc: u32,
    method: &str,
) -> String {
    let uri = "sip:127.0.0.1:5060";
    let cnonce = "1f2e3d4c5b6a7980";
    let nc = format!("{nc:08x}");
    let a = alg.unwrap_or(Algorithm::Md5);
    let h1 = ha1(a, user, REALM, password);
    let response = digest_response(a, &h1, nonce, Some((&nc, cnonce)), method, uri);
    let mut v = format!(
        "Digest username=\"{user}\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{response}\", cnonce=\"{cnonce}\", qop=auth, nc={nc}"
    );
    if let Some(a) = alg {
        v.push_str(&format!(", algorithm={}", a.name()));
    }
    v
}

fn ok() -> Verdict {
    Verdict::Ok { user: "op1".into() }
}

#[test]
fn rfc2617_md5_example() {
    let h1 = ha1(
        Algorithm::Md5,
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
    );
    let r = digest_response(
        Algorithm::Md5,
        &h1,
        "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        Some(("00000001", "0a4f113b")),
        "GET",
        "/dir/index.html",
    );
    assert_eq!(r, "6629fae49393a05397450978507c4ef1");
}

#[test]
fn rfc7616_sha256_and_md5_examples() {
    let realm = "http-auth@example.org";
    let nonce = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    let qop = Some(("00000001", cnonce));
    let h = ha1(Algorithm::Sha256, "Mufasa", realm, "Circle of Life");
    let r = digest_response(Algorithm::Sha256, &h, nonce, qop, "GET", "/dir/index.html");
    assert_eq!(
        r,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    let h = ha1(Algorithm::Md5, "Mufasa", realm, "Circle of Life");
    let r = digest_response(Algorithm::Md5, &h, nonce, qop, "GET", "/dir/index.html");
    assert_eq!(r, "8ca523f5e9506fed4657c9700eebdbec");
}

#[test]
fn rfc7616_header_parses_in_any_case_and_order() {
    let v = "Digest username=\"Mufasa\",\r\n realm=\"http-auth@example.org\", \
        URI=\"/dir/index.html\", ALGORITHM=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
        nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
        response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", \
        opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
    let c = parse_authorization(v).unwrap();
    assert_eq!(c.username, "Mufasa");
    assert_eq!(c.uri, "/dir/index.html");
    assert_eq!(c.algorithm.as_deref(), Some("SHA-256"));
    assert_eq!(c.nc.as_deref(), Some("00000001"));
    assert_eq!(c.qop.as_deref(), Some("auth"));
}

#[test]
fn quoted_strings_keep_escapes_and_commas() {
    let c = parse_authorization(
        r#"digest username="a\"b,c", realm="r", nonce="n", uri="sip:x", response="00", foo="x,y""#,
    )
    .unwrap();
    assert_eq!(c.username, "a\"b,c");
    assert_eq!(
        parse_authorization("Basic QWxhZGRpbg=="),
        Err(Reason::NotDigest)
    );
    assert!(matches!(
        parse_authorization(r#"Digest username="op1, realm="r""#),
        Err(Reason::Malformed(_))
    ));
    assert!(matches!(
        parse_authorization(
            r#"Digest username="a", username="b", realm="r", nonce="n", uri="u", response="0""#
        ),
        Err(Reason::Malformed("repeated parameter"))
    ));
    assert_eq!(
        parse_authorization(r#"Digest username="a", realm="r", uri="u", response="0""#),
        Err(Reason::Malformed("nonce missing"))
    );
}

#[test]
fn challenge_offers_sha256_first_then_md5() {
    let s = server();
    let ch = s.challenge(1_000, false);
    assert_eq!(ch.len(), 2);
    assert!(
        ch[0].starts_with("Digest realm=\"centralino\", nonce=\""),
        "{}",
        ch[0]
    );
    assert!(
        ch[0].ends_with("algorithm=SHA-256, qop=\"auth\""),
        "{}",
        ch[0]
    );
    assert!(ch[1].ends_with("algorithm=MD5, qop=\"auth\""), "{}", ch[1]);
    let stale = s.challenge(1_000, true);
    assert!(stale.iter().all(|c| c.ends_with(", stale=true")));
    // Two challenges never share a nonce, even in the same millisecond.
    assert_ne!(s.nonce(5), s.nonce(5));
    let md5_only = server().with_algorithms(&[Algorithm::Md5]);
    assert_eq!(md5_only.challenge(0, false).len(), 1);
}

#[test]
fn baresip_like_register_is_accepted() {
    let mut s = server();
    let nonce = s.nonce(10_000);
    // libre 1.x writes no algorithm parameter (MD5 by default).
    let v = authorization(None, "op1", PASSWORD, &nonce, 1, "REGISTER");
    assert_eq!(s.verify(10_500, "REGISTER", &v, store), ok());
    // Its next request on the same nonce counts up.
    let v = authorization(None, "op1", PASSWORD, &nonce, 2, "REGISTER");
    assert_eq!(s.verify(11_000, "REGISTER", &v, store), ok());
}

#[test]
fn md5_and_sha256_both_verify() {
    let mut s = server();
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let nonce = s.nonce(0);
        let v = authorization(Some(alg), "op1", PASSWORD, &nonce, 1, "REGISTER");
        assert_eq!(s.verify(1, "REGISTER", &v, store), ok(), "{alg}");
    }
}

#[test]
fn algorithm_not_offered_is_refused() {
    let mut s = server().with_algorithms(&[Algorithm::Sha256]);
    let nonce = s.nonce(0);
    let v = authorization(Some(Algorithm::Md5), "op1", PASSWORD, &nonce, 1, "REGISTER");
    assert_eq!(
        s.verify(1, "REGISTER", &v, store),
        Verdict::Rejected(Reason::UnsupportedAlgorithm)
    );
    let v = v.replace("algorithm=MD5", "algorithm=MD5-sess");
    assert_eq!(
        s.verify(1, "REGISTER", &v, store),
        Verdict::Rejected(Reason::UnsupportedAlgorithm)
    );
}

#[test]
fn expired_nonce_is_stale() {
    let mut s = server();
    let nonce = s.nonce(0);
    let v = authorization(None, "op1", PASSWORD, &nonce, 1, "REGISTER");
    assert_eq!(s.verify(300_001, "REGISTER", &v, store), Verdict::Stale);
    // From the future (another run's clock): stale too.
    let nonce = s.nonce(900_000);
    let v = authorization(None, "op1", PASSWORD, &nonce, 1, "REGISTER");
    assert_eq!(s.verify(10_000, "REGISTER", &v, store), Verdict::Stale);
    // Stale is only for a client that knows the password (RFC 7616 §3.3).
    let v = authorization(None, "op1", "guess", &nonce, 1, "REGISTER");
    assert_eq!(
        s.verify(10_000, "REGISTER", &v, store),
        Verdict::Rejected(Reason::BadCredentials)
    );
}

#[test]
fn forged_nonce_never_authenticates() {
    let mut s = server();
    let good = s.nonce(1_000);
    // Same timestamp and counter, other MAC; or a nonce signed with another secret.
    let forged = format!("{}{}", &good[..24], "0".repeat(32));
    let foreign = DigestServer::new(REALM, [9; 32], TTL).nonce(1_000);
    for nonce in [forged.as_str(), foreign.as_str(), "abc", ""] {
        let v = authorization(None, "op1", PASSWORD, nonce, 1, "REGISTER");
        assert_eq!(
            s.verify(1_001, "REGISTER", &v, store),
            Verdict::Stale,
            "{nonce}"
        );
        // Without the password a made-up nonce is just a failed guess.
        let v = authorization(None, "op1", "guess", nonce, 1, "REGISTER");
        assert_eq!(
            s.verify(1_001, "REGISTER", &v, store),
            Verdict::Rejected(Reason::BadCredentials)
        );
    }
    // A nonce for another realm under the same secret is not ours either.
    let other = DigestServer::new("other", SECRET, TTL).nonce(1_000);
    let v = authorization(None, "op1", PASSWORD, &other, 1, "REGISTER");
    assert_eq!(s.verify(1_001, "REGISTER", &v, store), Verdict::Stale);
    assert_eq!(s.tracked_nonces(), 0);
}

#[test]
fn wrong_realm_is_rejected() {
    let mut s = server();
    let nonce = s.nonce(0);
    let v = authorization(None, "op1", PASSWORD, &nonce, 1, "REGISTER")
        .replace("realm=\"centralino\"", "realm=\"elsewhere\"");
    let verdict = s.verify(1, "REGISTER", &v, store);
    assert_eq!(verdict, Verdict::Rejected(Reason::WrongRealm));
    assert_eq!(Reason::WrongRealm.status(), 401);
}

#[test]
fn replayed_nonce_count_is_rejected() {
    let mut s = server();
    let nonce = s.nonce(0);
    let v1 = authorization(None, "op1", PASSWORD, &nonce, 1, "REGISTER");
    let v5 = authorization(None, "op1", PASSWORD, &nonce, 5, "REGISTER");
    let v3 = authorization(None, "op1", PASSWORD, &nonce, 3, "REGISTER");
    assert_eq!(s.verify(1, "REGISTER", &v1, store), ok());
    assert_eq!(
        s.verify(2, "REGISTER", &v1, store),
        Verdict::Rejected(Reason::Replay)
    );
    assert_eq!(s.verify(3, "REGISTER", &v5, store), ok());
    assert_eq!(
        s.verify(4, "REGISTER", &v3, store),
        Verdict::Rejected(Reason::Replay)
    );
    assert_eq!(Reason::Replay.status(), 403);
}

#[test]
fn a_forger_cannot_burn_nonce_counts() {
    let mut s = server();
    let nonce = s.nonce(0);
    let bad = authorization(None, "op1", "guess", &nonce, 0xffff_ffff, "REGISTER");
    assert_eq!(
        s.verify(1, "REGISTER", &bad, store),
        Verdict::Rejected(Reason::BadCredentials)
    );
    let good = authorization(None, "op1", PASSWORD, &nonce, 1, "REGISTER");
    assert_eq!(s.verify(2, "REGISTER", &good, store), ok());
}

#[test]
fn rfc2069_form_without_qop_serves_once() {
    let mut s = server();
    let nonce = s.nonce(0);
    let h1 = ha1(Algorithm::Md5, "op1", REALM, PASSWORD);
    let uri = "sip:127.0.0.1";
    let r = digest_response(Algorithm::Md5, &h1, &nonce, None, "REGISTER", uri);
    let v = format!(
        "Digest username=\"op1\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{r}\""
    );
    assert_eq!(s.verify(1, "REGISTER", &v, store), ok());
    assert_eq!(s.verify(2, "REGISTER", &v, store), Verdict::Stale);
}

#[test]
fn wrong_password_and_unknown_user_look_alike() {
    let mut s = server();
    let nonce = s.nonce(0);
    let wrong = authorization(None, "op1", "nope", &nonce, 1, "REGISTER");
    let unknown = authorization(None, "op9", PASSWORD, &nonce, 1, "REGISTER");
    let a = s.verify(1, "REGISTER", &wrong, store);
    let b = s.verify(1, "REGISTER", &unknown, store);
    assert_eq!(a, Verdict::Rejected(Reason::BadCredentials));
    assert_eq!(a, b);
    // The wrong method breaks the response too.
    let v = authorization(None, "op1", PASSWORD, &nonce, 1, "INVITE");
    assert_eq!(
        s.verify(1, "REGISTER", &v, store),
        Verdict::Rejected(Reason::BadCredentials)
    );
    // A corrupt stored HA1 never authenticates.
    let v = authorization(None, "op1", PASSWORD, &nonce, 1, "REGISTER");
    assert_eq!(
        s.verify(1, "REGISTER", &v, |_, _| Some("xyz".into())),
        Verdict::Rejected(Reason::BadCredentials)
    );
}

#[test]
fn uppercase_response_hex_is_accepted() {
    let mut s = server();
    let nonce = s.nonce(0);
    let v = authorization(None, "op1", PASSWORD, &nonce, 1, "REGISTER");
    let (head, tail) = v.split_at(v.find("response=").unwrap());
    let upper = format!("{head}{}", tail[..45].to_ascii_uppercase()) + &tail[45..];
    assert_eq!(s.verify(1, "REGISTER", &upper, store), ok());
}

#[test]
fn missing_or_unsupported_qop_fields() {
    let mut s = server();
    let nonce = s.nonce(0);
    let v = authorization(None, "op1", PASSWORD, &nonce, 1, "REGISTER");
    let no_nc = v.replace(", nc=00000001", "");
    assert_eq!(
        s.verify(1, "REGISTER", &no_nc, store),
        Verdict::Rejected(Reason::MissingQopFields)
    );
    let no_cnonce = v.replace("cnonce=\"1f2e3d4c5b6a7980\", ", "");
    assert_eq!(
        s.verify(1, "REGISTER", &no_cnonce, store),
        Verdict::Rejected(Reason::MissingQopFields)
    );
    assert_eq!(Reason::MissingQopFields.status(), 400);
    let auth_int = v.replace("qop=auth", "qop=auth-int");
    assert_eq!(
        s.verify(1, "REGISTER", &auth_int, store),
        Verdict::Rejected(Reason::UnsupportedQop)
    );
    let bad_nc = v.replace("nc=00000001", "nc=0000000g");
    assert_eq!(
        s.verify(1, "REGISTER", &bad_nc, store),
        Verdict::Rejected(Reason::Malformed("nc"))
    );
    let no_response = v.replace("response=", "responze=");
    assert!(matches!(
        s.verify(1, "REGISTER", &no_response, store),
        Verdict::Rejected(Reason::Malformed(_))
    ));
}

#[test]
fn pick_prefers_our_realm_and_algorithm() {
    let s = server();
    let nonce = s.nonce(0);
    let md5 = authorization(Some(Algorithm::Md5), "op1", PASSWORD, &nonce, 1, "REGISTER");
    let sha = authorization(
        Some(Algorithm::Sha256),
        "op1",
        PASSWORD,
        &nonce,
        1,
        "REGISTER",
    );
    let foreign = md5.replace("realm=\"centralino\"", "realm=\"x\"");
    assert_eq!(
        s.pick_authorization([foreign.as_str(), md5.as_str(), sha.as_str()]),
        Some(sha.as_str())
    );
    assert_eq!(
        s.pick_authorization([foreign.as_str(), md5.as_str()]),
        Some(md5.as_str())
    );
    assert_eq!(s.pick_authorization([]), None);
}

#[test]
fn replay_map_is_bounded_and_evicted_nonces_go_stale() {
    let mut s = server().with_max_tracked(4);
    let nonces: Vec<String> = (0..6).map(|i| s.nonce(i * 10)).collect();
    for n in &nonces {
        let v = authorization(None, "op1", PASSWORD, n, 1, "REGISTER");
        assert_eq!(s.verify(100, "REGISTER", &v, store), ok());
    }
    assert!(s.tracked_nonces() <= 4);
    // The first nonce was evicted: its replay is not accepted as a first use.
    let v = authorization(None, "op1", PASSWORD, &nonces[0], 1, "REGISTER");
    assert_eq!(s.verify(101, "REGISTER", &v, store), Verdict::Stale);
    // After the TTL, pruning empties the map.
    s.prune(1_000_000);
    assert_eq!(s.tracked_nonces(), 0);
}

#[test]
fn limiter_grows_caps_and_resets() {
    let ip: IpAddr = "192.0.2.7".parse().unwrap();
    let other: IpAddr = "192.0.2.8".parse().unwrap();
    let mut l = FailureLimiter::default();
    let mut seen = Vec::new();
    for i in 0..10 {
        l.record_failure(ip, i * 100);
        seen.push(l.penalty(ip, i * 100).as_secs());
    }
    assert_eq!(seen, [0, 0, 0, 1, 2, 4, 8, 16, 30, 30]);
    assert_eq!(l.penalty(other, 1_000), Duration::ZERO);
    // The window slides: a minute later the failures no longer count.
    assert_eq!(l.penalty(ip, 61_000), Duration::ZERO);
    l.record_failure(ip, 61_000);
    assert_eq!(l.failures(ip, 61_000), 1);
    for t in [61_001, 61_002, 61_003] {
        l.record_failure(ip, t);
    }
    assert_eq!(l.penalty(ip, 61_003), Duration::from_secs(1));
    l.record_success(ip);
    assert_eq!(l.penalty(ip, 61_004), Duration::ZERO);
}

#[test]
fn limiter_memory_is_bounded() {
    let mut l = FailureLimiter::new(
        Duration::from_secs(60),
        3,
        Duration::from_secs(1),
        Duration::from_secs(30),
        3,
    );
    for i in 0..10u8 {
        l.record_failure(IpAddr::from([10, 0, 0, i]), u64::from(i));
    }
    assert_eq!(l.tracked(), 3);
    // The most recent offenders are the ones kept.
    assert_eq!(l.failures(IpAddr::from([10, 0, 0, 9]), 10), 1);
    assert_eq!(l.failures(IpAddr::from([10, 0, 0, 0]), 10), 0);
}
