use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::*;

fn local() -> LocalSession {
    LocalSession {
        ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        rtp_port: 40000,
        session_id: 1234,
        version: 1,
    }
}

/// Joins lines with CRLF, as on the wire.
fn crlf(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

fn addr(s: &str) -> Option<SocketAddr> {
    Some(s.parse().unwrap())
}

fn malformed_reason(offer: &str) -> String {
    match answer(offer, &local()) {
        Err(SdpError::Malformed(reason)) => reason,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

/// The answer's `m=` lines.
fn m_lines(sdp: &str) -> Vec<&str> {
    sdp.lines().filter(|l| l.starts_with("m=")).collect()
}

const SIPP_BASIC: &[&str] = &[
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 6000 RTP/AVP 0",
    "a=rtpmap:0 PCMU/8000",
];

const SIPP_DTMF: &[&str] = &[
    "v=0",
    "o=user1 53655765 2353687637 IN IP4 127.0.0.1",
    "s=-",
    "c=IN IP4 127.0.0.1",
    "t=0 0",
    "m=audio 6000 RTP/AVP 0 101",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:101 0-11,16",
];

const BARESIP: &[&str] = &[
    "v=0",
    "o=- 1791406337 1464436104 IN IP4 10.0.0.23",
    "s=-",
    "c=IN IP4 10.0.0.23",
    "t=0 0",
    "m=audio 10258 RTP/AVP 111 9 0 8 96",
    "b=AS:128",
    "a=rtpmap:111 opus/48000/2",
    "a=fmtp:111 stereo=1;sprop-stereo=1",
    "a=rtpmap:9 G722/8000",
    "a=rtpmap:0 PCMU/8000",
    "a=rtpmap:8 PCMA/8000",
    "a=rtpmap:96 telephone-event/8000",
    "a=fmtp:96 0-15",
    "a=sendrecv",
    "a=label:1",
    "a=rtcp-rsize",
    "a=ssrc:1390342536 cname:e4a4a8ea-d6d3-4d5b-9e0d-4e8ef1fd6b6a",
    "a=ptime:20",
];

const LINPHONE: &[&str] = &[
    "v=0",
    "o=alice 2214 3962 IN IP4 192.168.1.50",
    "s=Talk",
    "c=IN IP4 192.168.1.50",
    "t=0 0",
    "a=ice-pwd:7c1d5ba2a0f4e1cbd2f0c1f3",
    "a=ice-ufrag:a1b2c3d4",
    "a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics",
    "a=record:off",
    "m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100",
    "a=rtpmap:96 opus/48000/2",
    "a=fmtp:96 useinbandfec=1",
    "a=rtpmap:97 speex/16000",
    "a=fmtp:97 vbr=on",
    "a=rtpmap:98 speex/8000",
    "a=fmtp:98 vbr=on",
    "a=fmtp:18 annexb=yes",
    "a=rtpmap:101 telephone-event/48000",
    "a=rtpmap:99 telephone-event/16000",
    "a=rtpmap:100 telephone-event/8000",
    "a=rtcp:7079",
    "a=candidate:1 1 UDP 2130706303 192.168.1.50 7078 typ host",
    "a=candidate:1 2 UDP 2130706302 192.168.1.50 7079 typ host",
    "a=rtcp-fb:* trr-int 1000",
    "a=rtcp-fb:* ccm tmmbr",
];

#[test]
fn sipp_basic_exact_answer() {
    let (params, sdp) = answer(&crlf(SIPP_BASIC), &local()).unwrap();
    assert_eq!(
        params,
        MediaParams {
            codec: Codec::Pcmu,
            payload_type: 0,
            dtmf_payload_type: None,
            ptime_ms: 20,
            remote_rtp: addr("127.0.0.1:6000"),
            direction: Direction::SendRecv,
        }
    );
    assert_eq!(
        sdp,
        "v=0\r\n\
         o=centralino 1234 1 IN IP4 192.0.2.10\r\n\
         s=centralino\r\n\
         c=IN IP4 192.0.2.10\r\n\
         t=0 0\r\n\
         m=audio 40000 RTP/AVP 0\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    );
}

#[test]
fn sipp_with_telephone_event_exact_answer() {
    let (params, sdp) = answer(&crlf(SIPP_DTMF), &local()).unwrap();
    assert_eq!(params.codec, Codec::Pcmu);
    assert_eq!(params.dtmf_payload_type, Some(101));
    assert_eq!(
        sdp,
        "v=0\r\n\
         o=centralino 1234 1 IN IP4 192.0.2.10\r\n\
         s=centralino\r\n\
         c=IN IP4 192.0.2.10\r\n\
         t=0 0\r\n\
         m=audio 40000 RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    );
}

#[test]
fn baresip_pcmu_later_in_list_and_dtmf_96() {
    let (params, sdp) = answer(&crlf(BARESIP), &local()).unwrap();
    assert_eq!(params.codec, Codec::Pcmu);
    assert_eq!(params.payload_type, 0);
    assert_eq!(params.dtmf_payload_type, Some(96));
    assert_eq!(params.remote_rtp, addr("10.0.0.23:10258"));
    assert_eq!(params.direction, Direction::SendRecv);
    assert_eq!(m_lines(&sdp), ["m=audio 40000 RTP/AVP 0 96"]);
    assert!(sdp.contains("a=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\n"));
    assert!(!sdp.contains("opus") && !sdp.contains("G722") && !sdp.contains("PCMA"));
}

#[test]
fn linphone_picks_telephone_event_at_8000() {
    let (params, sdp) = answer(&crlf(LINPHONE), &local()).unwrap();
    assert_eq!(params.codec, Codec::Pcmu);
    assert_eq!(params.payload_type, 0);
    assert_eq!(params.dtmf_payload_type, Some(100));
    assert_eq!(params.remote_rtp, addr("192.168.1.50:7078"));
    assert_eq!(m_lines(&sdp), ["m=audio 40000 RTP/AVP 0 100"]);
    assert!(sdp.contains("a=rtpmap:100 telephone-event/8000\r\n"));
}

#[test]
fn offerer_preference_order_is_kept() {
    let mut offer = SIPP_BASIC.to_vec();
    offer[5] = "m=audio 6000 RTP/AVP 8 0";
    offer.push("a=rtpmap:8 PCMA/8000");
    let (params, sdp) = answer(&crlf(&offer), &local()).unwrap();
    assert_eq!((params.codec, params.payload_type), (Codec::Pcma, 8));
    assert_eq!(m_lines(&sdp), ["m=audio 40000 RTP/AVP 8"]);
    assert!(sdp.contains("a=rtpmap:8 PCMA/8000\r\n"));
}

#[test]
fn static_payload_types_need_no_rtpmap() {
    let mut offer = SIPP_BASIC.to_vec();
    offer[5] = "m=audio 6000 RTP/AVP 18 8";
    offer.pop();
    let (params, _) = answer(&crlf(&offer), &local()).unwrap();
    assert_eq!((params.codec, params.payload_type), (Codec::Pcma, 8));
}

#[test]
fn dynamic_payload_type_by_rtpmap_name() {
    let mut offer = SIPP_BASIC.to_vec();
    offer[5] = "m=audio 6000 RTP/AVP 9 97 98";
    offer[6] = "a=rtpmap:97 pcma/8000";
    offer.push("a=rtpmap:98 PCMU/8000");
    let (params, sdp) = answer(&crlf(&offer), &local()).unwrap();
    assert_eq!((params.codec, params.payload_type), (Codec::Pcma, 97));
    assert_eq!(m_lines(&sdp), ["m=audio 40000 RTP/AVP 97"]);
    assert!(sdp.contains("a=rtpmap:97 PCMA/8000\r\n"));
}

#[test]
fn g711_at_other_clock_rate_is_not_g711() {
    let mut offer = SIPP_BASIC.to_vec();
    offer[5] = "m=audio 6000 RTP/AVP 97";
    offer[6] = "a=rtpmap:97 PCMU/16000";
    assert_eq!(
        answer(&crlf(&offer), &local()),
        Err(SdpError::NoCommonCodec)
    );
}

#[test]
fn only_g722_and_opus_is_no_common_codec() {
    let offer = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 10.0.0.1",
        "s=-",
        "c=IN IP4 10.0.0.1",
        "t=0 0",
        "m=audio 5004 RTP/AVP 111 9 101",
        "a=rtpmap:111 opus/48000/2",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:101 telephone-event/8000",
    ]);
    assert_eq!(answer(&offer, &local()), Err(SdpError::NoCommonCodec));
}

#[test]
fn srtp_only_is_no_common_codec() {
    let offer = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 10.0.0.1",
        "s=-",
        "c=IN IP4 10.0.0.1",
        "t=0 0",
        "m=audio 5004 RTP/SAVP 0 8 101",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
        "a=rtpmap:101 telephone-event/8000",
    ]);
    assert_eq!(answer(&offer, &local()), Err(SdpError::NoCommonCodec));
}

#[test]
fn srtp_stream_rejected_when_plain_rtp_alternative_follows() {
    let offer = crlf(&[
        "v=0",
        "o=- 1 1 IN IP4 10.0.0.1",
        "s=-",
        "c=IN IP4 10.0.0.1",
        "t=0 0",
        "m=audio 5004 RTP/SAVP 0",
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
        "m=audio 5006 RTP/AVP 0",
    ]);
    let (params, sdp) = answer(&offer, &local()).unwrap();
    assert_eq!(params.remote_rtp, addr("10.0.0.1:5006"));
    assert_eq!(
        m_lines(&sdp),
        ["m=audio 0 RTP/SAVP 0", "m=audio 40000 RTP/AVP 0"]
    );
}

#[test]
fn video_rejected_with_port_zero_exact_answer() {
    let offer = crlf(&[
        "v=0",
        "o=bob 2890844526 2890844526 IN IP4 198.51.100.7",
        "s=call",
        "c=IN IP4 198.51.100.7",
        "t=0 0",
        "m=video 51372 RTP/AVP 96 97",
        "a=rtpmap:96 H264/90000",
        "a=rtpmap:97 VP8/90000",
        "m=audio 49170 RTP/AVP 8 0 101",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
        "a=ptime:30",
        "m=audio 49180 RTP/AVP 0",
    ]);
    let (params, sdp) = answer(&offer, &local()).unwrap();
    assert_eq!(
        params,
        MediaParams {
            codec: Codec::Pcma,
            payload_type: 8,
            dtmf_payload_type: Some(101),
            ptime_ms: 30,
            remote_rtp: addr("198.51.100.7:49170"),
            direction: Direction::SendRecv,
        }
    );
    assert_eq!(
        sdp,
        "v=0\r\n\
         o=centralino 1234 1 IN IP4 192.0.2.10\r\n\
         s=centralino\r\n\
         c=IN IP4 192.0.2.10\r\n\
         t=0 0\r\n\
         m=video 0 RTP/AVP 96 97\r\n\
         m=audio 40000 RTP/AVP 8 101\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n\
         m=audio 0 RTP/AVP 0\r\n"
    );
}

fn with_attr(base: &[&str], attr: &'static str) -> String {
    let mut lines = base.to_vec();
    lines.push(attr);
    crlf(&lines)
}

#[test]
fn sendonly_hold_is_answered_recvonly() {
    let (params, sdp) = answer(&with_attr(SIPP_DTMF, "a=sendonly"), &local()).unwrap();
    assert_eq!(params.direction, Direction::RecvOnly);
    assert_eq!(params.remote_rtp, addr("127.0.0.1:6000"));
    assert!(sdp.ends_with("a=ptime:20\r\na=recvonly\r\n"));
}

#[test]
fn recvonly_is_answered_sendonly() {
    let (params, sdp) = answer(&with_attr(SIPP_BASIC, "a=recvonly"), &local()).unwrap();
    assert_eq!(params.direction, Direction::SendOnly);
    assert!(sdp.ends_with("a=sendonly\r\n"));
}

#[test]
fn inactive_is_answered_inactive() {
    let (params, sdp) = answer(&with_attr(SIPP_BASIC, "a=inactive"), &local()).unwrap();
    assert_eq!(params.direction, Direction::Inactive);
    assert!(sdp.ends_with("a=inactive\r\n"));
}

#[test]
fn session_level_direction_applies_unless_media_overrides() {
    let mut offer = SIPP_BASIC.to_vec();
    offer.insert(4, "a=sendonly");
    let (params, _) = answer(&crlf(&offer), &local()).unwrap();
    assert_eq!(params.direction, Direction::RecvOnly);

    offer.push("a=inactive");
    let (params, sdp) = answer(&crlf(&offer), &local()).unwrap();
    assert_eq!(params.direction, Direction::Inactive);
    assert!(sdp.ends_with("a=inactive\r\n"));
}

#[test]
fn old_style_hold_with_zero_address() {
    let mut offer = SIPP_DTMF.to_vec();
    offer[3] = "c=IN IP4 0.0.0.0";
    let (params, sdp) = answer(&crlf(&offer), &local()).unwrap();
    assert_eq!(params.remote_rtp, None);
    assert_eq!(params.direction, Direction::SendRecv);
    assert_eq!(params.dtmf_payload_type, Some(101));
    assert!(sdp.contains("m=audio 40000 RTP/AVP 0 101\r\n"));

    offer.push("a=sendonly");
    let (params, _) = answer(&crlf(&offer), &local()).unwrap();
    assert_eq!(params.remote_rtp, None);
    assert_eq!(params.direction, Direction::RecvOnly);
}

#[test]
fn disabled_audio_stream_is_answered_with_port_zero() {
    let mut offer = SIPP_BASIC.to_vec();
    offer[5] = "m=audio 0 RTP/AVP 0";
    let (params, sdp) = answer(&crlf(&offer), &local()).unwrap();
    assert_eq!(params.remote_rtp, None);
    assert_eq!(params.direction, Direction::Inactive);
    assert_eq!(m_lines(&sdp), ["m=audio 0 RTP/AVP 0"]);
}

#[test]
fn media_level_connection_overrides_session_level() {
    let mut offer = SIPP_BASIC.to_vec();
    offer.push("c=IN IP4 203.0.113.5");
    let (params, _) = answer(&crlf(&offer), &local()).unwrap();
    assert_eq!(params.remote_rtp, addr("203.0.113.5:6000"));

    // Only at media level.
    offer.remove(3);
    let (params, _) = answer(&crlf(&offer), &local()).unwrap();
    assert_eq!(params.remote_rtp, addr("203.0.113.5:6000"));
}

#[test]
fn multicast_ttl_suffix_is_stripped() {
    let mut offer = SIPP_BASIC.to_vec();
    offer[3] = "c=IN IP4 233.252.0.1/127";
    let (params, _) = answer(&crlf(&offer), &local()).unwrap();
    assert_eq!(params.remote_rtp, addr("233.252.0.1:6000"));
}

#[test]
fn ipv6_offer_and_ipv6_answer() {
    let offer = crlf(&[
        "v=0",
        "o=- 42 42 IN IP6 ::1",
        "s=-",
        "c=IN IP6 ::1",
        "t=0 0",
        "m=audio 6000 RTP/AVP 0 101",
        "a=rtpmap:101 telephone-event/8000",
    ]);
    let local6 = LocalSession {
        ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
        ..local()
    };
    let (params, sdp) = answer(&offer, &local6).unwrap();
    assert_eq!(params.remote_rtp, addr("[::1]:6000"));
    assert!(sdp.contains("o=centralino 1234 1 IN IP6 ::1\r\n"));
    assert!(sdp.contains("c=IN IP6 ::1\r\n"));
}

#[test]
fn lf_only_line_endings_are_accepted() {
    let offer = SIPP_DTMF.join("\n") + "\n";
    let (params, sdp) = answer(&offer, &local()).unwrap();
    assert_eq!(params.dtmf_payload_type, Some(101));
    assert_eq!(params.remote_rtp, addr("127.0.0.1:6000"));
    assert_eq!(sdp, answer(&crlf(SIPP_DTMF), &local()).unwrap().1);
}

#[test]
fn answer_uses_crlf_only() {
    let (_, sdp) = answer(&crlf(BARESIP), &local()).unwrap();
    assert!(sdp.ends_with("\r\n"));
    assert_eq!(sdp.matches('\n').count(), sdp.matches("\r\n").count());
}

#[test]
fn ptime_is_recorded_but_we_answer_20() {
    let (params, sdp) = answer(&with_attr(SIPP_BASIC, "a=ptime:40"), &local()).unwrap();
    assert_eq!(params.ptime_ms, 40);
    assert!(sdp.contains("a=ptime:20\r\n"));

    let (params, _) = answer(&with_attr(SIPP_BASIC, "a=ptime:30.0"), &local()).unwrap();
    assert_eq!(params.ptime_ms, 30);
    let (params, _) = answer(&with_attr(SIPP_BASIC, "a=ptime:fast"), &local()).unwrap();
    assert_eq!(params.ptime_ms, 20);
    let (params, _) = answer(&crlf(SIPP_BASIC), &local()).unwrap();
    assert_eq!(params.ptime_ms, 20);
}

#[test]
fn reinvite_answer_carries_the_callers_version() {
    let reinvite = LocalSession {
        version: 2,
        ..local()
    };
    let (_, sdp) = answer(&with_attr(SIPP_BASIC, "a=sendonly"), &reinvite).unwrap();
    assert!(sdp.contains("o=centralino 1234 2 IN IP4 192.0.2.10\r\n"));
}

#[test]
fn malformed_offers_are_rejected_with_a_reason() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "no v= line"),
        (
            &["o=- 1 1 IN IP4 10.0.0.1", "m=audio 6000 RTP/AVP 0"],
            "must start with v=0",
        ),
        (
            &["v=1", "o=- 1 1 IN IP4 10.0.0.1"],
            "unsupported SDP version",
        ),
        (
            &["v=0", "s=-", "c=IN IP4 10.0.0.1", "m=audio 6000 RTP/AVP 0"],
            "missing o= line",
        ),
        (
            &["v=0", "o=- 1 1 IN IP4", "m=audio 6000 RTP/AVP 0"],
            "o= line 2 needs 6 fields",
        ),
        (
            &[
                "v=0",
                "o=- 1 1 IN IP4 10.0.0.1",
                "s=-",
                "c=IN IP4 10.0.0.1",
                "t=0 0",
            ],
            "no m= line",
        ),
        (
            &[
                "v=0",
                "o=- 1 1 IN IP4 10.0.0.1",
                "c=IN IP4 10.0.0.1",
                "m=audio sixty RTP/AVP 0",
            ],
            "bad port \"sixty\" in m= line 4",
        ),
        (
            &[
                "v=0",
                "o=- 1 1 IN IP4 10.0.0.1",
                "c=IN IP4 10.0.0.1",
                "m=audio 70000 RTP/AVP 0",
            ],
            "bad port \"70000\"",
        ),
        (
            &[
                "v=0",
                "o=- 1 1 IN IP4 10.0.0.1",
                "c=IN IP4 10.0.0.1",
                "m=audio 6000 RTP/AVP",
            ],
            "m= line 4 lists no media formats",
        ),
        (
            &[
                "v=0",
                "o=- 1 1 IN IP4 10.0.0.1",
                "c=IN IP4 10.0.0.1",
                "m=audio 6000",
            ],
            "m= line 4 needs media, port, proto",
        ),
        (
            &[
                "v=0",
                "o=- 1 1 IN IP4 10.0.0.1",
                "s=-",
                "t=0 0",
                "m=audio 6000 RTP/AVP 0",
            ],
            "no c= line for the m=audio on line 5",
        ),
        (
            &[
                "v=0",
                "o=- 1 1 IN IP4 10.0.0.1",
                "c=IN IP4 pbx.example.com",
                "m=audio 6000 RTP/AVP 0",
            ],
            "\"pbx.example.com\" is not an IP4 address literal",
        ),
        (
            &[
                "v=0",
                "o=- 1 1 IN IP4 10.0.0.1",
                "c=IN IP4 ::1",
                "m=audio 6000 RTP/AVP 0",
            ],
            "not an IP4 address literal",
        ),
        (
            &[
                "v=0",
                "o=- 1 1 IN IP4 10.0.0.1",
                "c=IN IP4",
                "m=audio 6000 RTP/AVP 0",
            ],
            "c= line 3 must be",
        ),
        (
            &[
                "v=0",
                "o=- 1 1 IN IP4 10.0.0.1",
                "c=IN IP4 10.0.0.1",
                "hello world",
                "m=audio 6000 RTP/AVP 0",
            ],
            "line 4 is not of the form <type>=<value>",
        ),
    ];
    for (lines, expected) in cases {
        let reason = malformed_reason(&crlf(lines));
        assert!(
            reason.contains(expected),
            "for {lines:?}: reason {reason:?} lacks {expected:?}"
        );
    }
}

#[test]
fn error_messages_display() {
    assert_eq!(
        SdpError::Malformed("no m= line".into()).to_string(),
        "malformed SDP: no m= line"
    );
    assert!(SdpError::NoCommonCodec.to_string().contains("PCMU or PCMA"));
}

#[test]
fn direction_helpers() {
    use Direction::*;
    for d in [SendRecv, SendOnly, RecvOnly, Inactive] {
        assert_eq!(d.mirror().mirror(), d);
        assert_eq!(d.sends(), d.mirror().receives());
        assert_eq!(Direction::from_attribute(d.attribute()), Some(d));
    }
}

#[test]
fn our_offer_exact_text() {
    assert_eq!(
        offer(&local()),
        "v=0\r\n\
         o=centralino 1234 1 IN IP4 192.0.2.10\r\n\
         s=centralino\r\n\
         c=IN IP4 192.0.2.10\r\n\
         t=0 0\r\n\
         m=audio 40000 RTP/AVP 0 8 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    );
}

#[test]
fn our_offer_answered_by_ourselves_round_trips() {
    let ours = offer(&local());
    let theirs = LocalSession {
        ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
        rtp_port: 5000,
        session_id: 9,
        version: 9,
    };
    let (their_view, their_answer) = answer(&ours, &theirs).unwrap();
    assert_eq!(their_view.remote_rtp, addr("192.0.2.10:40000"));
    let params = accept_answer(&their_answer).unwrap();
    assert_eq!(
        params,
        MediaParams {
            codec: Codec::Pcmu,
            payload_type: 0,
            dtmf_payload_type: Some(101),
            ptime_ms: 20,
            remote_rtp: addr("198.51.100.1:5000"),
            direction: Direction::SendRecv,
        }
    );
}

#[test]
fn accept_answer_with_pcma_recvonly_and_implied_dtmf() {
    let answer_sdp = [
        "v=0",
        "o=- 7 7 IN IP4 10.1.1.1",
        "s=-",
        "c=IN IP4 10.1.1.1",
        "t=0 0",
        "m=audio 30000 RTP/AVP 8 101",
        "a=ptime:30",
        "a=recvonly",
    ]
    .join("\n");
    let params = accept_answer(&answer_sdp).unwrap();
    assert_eq!((params.codec, params.payload_type), (Codec::Pcma, 8));
    assert_eq!(params.dtmf_payload_type, Some(101));
    assert_eq!(params.ptime_ms, 30);
    assert_eq!(params.remote_rtp, addr("10.1.1.1:30000"));
    assert_eq!(params.direction, Direction::SendOnly);
}

#[test]
fn accept_answer_without_dtmf_or_codec() {
    let mut lines = vec![
        "v=0",
        "o=- 7 7 IN IP4 10.1.1.1",
        "s=-",
        "c=IN IP4 10.1.1.1",
        "t=0 0",
        "m=audio 30000 RTP/AVP 0",
    ];
    let params = accept_answer(&crlf(&lines)).unwrap();
    assert_eq!(params.dtmf_payload_type, None);

    lines[5] = "m=audio 30000 RTP/AVP 9";
    assert_eq!(accept_answer(&crlf(&lines)), Err(SdpError::NoCommonCodec));

    lines[5] = "m=audio 30000 RTP/SAVP 0";
    assert_eq!(accept_answer(&crlf(&lines)), Err(SdpError::NoCommonCodec));

    lines.remove(3);
    lines[4] = "m=audio 30000 RTP/AVP 0";
    assert!(matches!(
        accept_answer(&crlf(&lines)),
        Err(SdpError::Malformed(r)) if r.contains("no c= line")
    ));
    assert!(matches!(accept_answer(""), Err(SdpError::Malformed(_))));
}

#[test]
fn accept_answer_rejecting_our_stream_gives_no_remote() {
    let lines = [
        "v=0",
        "o=- 7 8 IN IP4 10.1.1.1",
        "s=-",
        "c=IN IP4 10.1.1.1",
        "t=0 0",
        "m=audio 0 RTP/AVP 0",
    ];
    let params = accept_answer(&crlf(&lines)).unwrap();
    assert_eq!(params.remote_rtp, None);
    assert_eq!(params.direction, Direction::Inactive);
}
