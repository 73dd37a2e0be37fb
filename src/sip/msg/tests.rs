//! Wire tests with literal SIP text: framing, limits, compact and folded headers.

use super::*;

fn parse(text: &str) -> Result<SipMessage, MsgError> {
    SipMessage::parse(Bytes::copy_from_slice(text.as_bytes()), false)
}

const INVITE: &str = "INVITE sip:0612345678@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Mario\" <sip:3331234567@127.0.0.1:5070>;tag=abc\r\n\
To: <sip:0612345678@127.0.0.1>\r\n\
Call-ID: call-1@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

#[test]
fn parses_a_plain_invite() {
    let m = parse(INVITE).unwrap();
    assert_eq!(m.method(), Some(&Method::INVITE));
    let e = m.essentials().unwrap();
    assert_eq!(e.branch, "z9hG4bK-1");
    assert_eq!(e.call_id, "call-1@127.0.0.1");
    assert_eq!(e.cseq, 1);
    assert_eq!(e.from_tag.as_deref(), Some("abc"));
    assert_eq!(e.to_tag, None);
    assert_eq!(&m.body[..], b"v=0\n");
    match &m.start {
        StartLine::Request { uri, .. } => assert_eq!(uri, "sip:0612345678@127.0.0.1"),
        _ => panic!("not a request"),
    }
}

#[test]
fn compact_forms_and_folded_lines() {
    let text = "INVITE sip:x@127.0.0.1 SIP/2.0\r\n\
v: SIP/2.0/UDP [::1]:5070;branch=z9hG4bK-6\r\n\
f: <sip:a@[::1]>;tag=1\r\n\
t: <sip:x@127.0.0.1>\r\n\
i: compact@x\r\n\
CSeq: 7\r\n\x20\x20INVITE\r\n\
Subject: a folded\r\n\
\tsubject line\r\n\
m: <sip:a@[::1]:5070>\r\n\
l: 0\r\n\r\n";
    let m = parse(text).unwrap();
    let e = m.essentials().unwrap();
    assert_eq!(e.call_id, "compact@x");
    assert_eq!(e.cseq, 7);
    assert_eq!(e.cseq_method, Method::INVITE);
    assert_eq!(
        m.first(&Name::SUBJECT).unwrap().as_str(),
        "a folded subject line"
    );
    assert!(m.has(&Name::CONTACT));
    assert_eq!(e.sent_by, "[::1]:5070");
}

#[test]
fn comma_separated_vias_are_split() {
    let text = INVITE.replace(
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport\r\n",
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1, SIP/2.0/TCP 10.0.0.1;branch=z9hG4bK-2\r\nVia: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-3\r\n",
    );
    let m = parse(&text).unwrap();
    let vias = m.vias().unwrap();
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[1].transport.as_str(), "TCP");
}

#[test]
fn udp_without_content_length_takes_the_rest() {
    let text = INVITE.replace("Content-Length: 4\r\n", "");
    let m = parse(&text).unwrap();
    assert_eq!(&m.body[..], b"v=0\n");
    // On a stream the length is mandatory.
    let err = SipMessage::parse(Bytes::from(text), true).unwrap_err();
    assert_eq!(err, MsgError::Missing("Content-Length"));
}

#[test]
fn faults_are_named() {
    let cases: &[(&str, MsgError)] = &[
        (
            &INVITE.replace("Call-ID: call-1@127.0.0.1\r\n", ""),
            MsgError::Missing("Call-ID"),
        ),
        (
            &INVITE.replace("CSeq: 1 INVITE", "CSeq: one INVITE"),
            MsgError::Malformed("CSeq"),
        ),
        (
            &INVITE.replace("CSeq: 1 INVITE", "CSeq: 1 BYE"),
            MsgError::CSeqMismatch,
        ),
        (
            &INVITE.replace("Content-Length: 4", "Content-Length: 400"),
            MsgError::BodyTruncated,
        ),
        (
            &INVITE.replace("Content-Length: 4", "Content-Length: x"),
            MsgError::BadContentLength,
        ),
        (
            &INVITE.replace("INVITE sip:0612345678@127.0.0.1 SIP/2.0", "INVITE  SIP/2.0"),
            MsgError::BadStartLine,
        ),
        (&INVITE.replace("\r\n\r\n", "\r\n"), MsgError::Incomplete),
    ];
    for (text, want) in cases {
        let got = parse(text).and_then(|m| m.essentials().map(|_| ()));
        assert_eq!(got.unwrap_err(), *want, "for {text:?}");
    }
    assert_eq!(
        parse(&INVITE.replace("Via: ", "Via: garbage"))
            .and_then(|m| m.essentials())
            .unwrap_err(),
        MsgError::Malformed("Via")
    );
}

#[test]
fn limits_come_before_parsing() {
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let text = INVITE.replace("Max-Forwards: 70\r\n", &many);
    assert_eq!(parse(&text).unwrap_err(), MsgError::TooManyHeaders);
    let huge = format!("{}{}", INVITE, "x".repeat(MAX_MESSAGE_BYTES));
    assert_eq!(parse(&huge).unwrap_err(), MsgError::TooLarge);
    assert!(parse("\u{0}\u{1}garbage").is_err());
    assert!(parse("").is_err());
}

#[test]
fn stream_framing_by_content_length() {
    let two = format!("\r\n\r\n{INVITE}{INVITE}");
    assert_eq!(frame_stream(two.as_bytes()), Ok(Frame::KeepAlive(4)));
    let rest = &two.as_bytes()[4..];
    assert_eq!(frame_stream(rest), Ok(Frame::Message(INVITE.len())));
    assert_eq!(frame_stream(&rest[..INVITE.len() - 2]), Ok(Frame::Partial));
    assert_eq!(frame_stream(&rest[..30]), Ok(Frame::Partial));
    let no_len = INVITE.replace("Content-Length: 4\r\n", "");
    assert_eq!(
        frame_stream(no_len.as_bytes()),
        Err(MsgError::Missing("Content-Length"))
    );
    let endless = vec![b'a'; MAX_MESSAGE_BYTES + 1];
    assert_eq!(frame_stream(&endless), Err(MsgError::TooLarge));
}

#[test]
fn response_echoes_and_stamps_via() {
    let m = parse(INVITE).unwrap();
    let src: SocketAddr = "127.0.0.1:5999".parse().unwrap();
    let r = ResponseBuilder::new(&m, 180, "Ringing", src)
        .to_tag("t1")
        .build();
    let text = std::str::from_utf8(&r).unwrap();
    assert!(text.starts_with("SIP/2.0 180 Ringing\r\n"), "{text}");
    assert!(
        text.contains(
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport=5999;received=127.0.0.1\r\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("To: <sip:0612345678@127.0.0.1>;tag=t1\r\n"),
        "{text}"
    );
    assert!(text.contains("CSeq: 1 INVITE\r\n"));
    assert!(text.ends_with("Content-Length: 0\r\n\r\n"));
    // The response parses back.
    let back = parse(text).unwrap();
    assert_eq!(back.status(), Some(180));
    assert_eq!(back.essentials().unwrap().to_tag.as_deref(), Some("t1"));
}

#[test]
fn an_existing_to_tag_is_kept() {
    let text = INVITE.replace(
        "To: <sip:0612345678@127.0.0.1>",
        "To: <sip:0612345678@127.0.0.1>;tag=mine",
    );
    let m = parse(&text).unwrap();
    let r = ResponseBuilder::new(&m, 200, "OK", "127.0.0.1:1".parse().unwrap())
        .to_tag("other")
        .build();
    let r = String::from_utf8(r.to_vec()).unwrap();
    assert!(r.contains(";tag=mine\r\n") && !r.contains("other"), "{r}");
}

#[test]
fn raw_400_for_unparseable_requests() {
    let src: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let text = INVITE.replace("Max-Forwards: 70\r\n", &many);
    let r = raw_bad_request(text.as_bytes(), &MsgError::TooManyHeaders, src).unwrap();
    let r = std::str::from_utf8(&r).unwrap();
    assert!(
        r.starts_with("SIP/2.0 400 Too Many Header Lines\r\n"),
        "{r}"
    );
    assert!(r.contains("Call-ID: call-1@127.0.0.1\r\n"), "{r}");
    assert!(r.contains(";received=127.0.0.1"), "{r}");
    // No Via, binary junk, or an ACK: nothing can (or may) be answered.
    let no_via = INVITE.replace(
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport\r\n",
        "",
    );
    assert!(raw_bad_request(no_via.as_bytes(), &MsgError::Missing("Via"), src).is_none());
    assert!(raw_bad_request(b"\x00\x01\x02", &MsgError::BadStartLine, src).is_none());
    let ack = INVITE.replace("INVITE sip:", "ACK sip:");
    assert!(raw_bad_request(ack.as_bytes(), &MsgError::BadStartLine, src).is_none());
}

#[test]
fn other_sip_versions_get_505() {
    let src: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    let text = INVITE.replace("@127.0.0.1 SIP/2.0\r\n", "@127.0.0.1 SIP/3.0\r\n");
    let fault = parse(&text).unwrap_err();
    assert_eq!(fault, MsgError::BadStartLine);
    let r = raw_bad_request(text.as_bytes(), &fault, src).unwrap();
    assert!(r.starts_with(b"SIP/2.0 505 Version Not Supported\r\n"));
}
