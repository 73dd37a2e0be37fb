//! Dialled-number precedence over header shapes seen from Italian carriers and PBXs.

use super::*;

const RURI: &str = "sip:centralino@198.51.100.1:5060";

fn from(
    request_uri: &str,
    to: Option<&str>,
    history_info: &[&str],
    diversion: &[&str],
) -> (String, DialledFrom) {
    let d = dialled_number(request_uri, to, history_info, diversion);
    (d.number, d.from)
}

fn n(number: &str, from: DialledFrom) -> (String, DialledFrom) {
    (number.to_owned(), from)
}

// ------------------------------------------------------------------ History-Info

#[test]
fn history_info_index_1_is_what_was_dialled() {
    // RFC 7044 §9.1 shape: the original target, then the retarget with a Reason header
    // escaped in the URI and rc/mp tags.
    let hi = "<sip:0659051000@carrier.example;user=phone>;index=1,\
              <sip:centralino@198.51.100.1?Reason=SIP%3Bcause%3D302%3Btext%3D%22Moved%22>;index=1.1;rc=1";
    assert_eq!(
        from(RURI, Some("<sip:0659051000@carrier.example>"), &[hi], &[]),
        n("0659051000", DialledFrom::HistoryInfo)
    );
}

#[test]
fn history_info_entries_across_lines_and_out_of_order() {
    let lines = [
        "<sip:+390689001000@pbx.example;user=phone?Reason=SIP%3Bcause%3D480>;index=1.1;mp=1",
        "\"INPS Roma EUR\" <sip:%2B390659051000@carrier.example;user=phone>;index=1",
        "<sip:centralino@198.51.100.1>;index=1.1.1;rc=1.1",
    ];
    assert_eq!(
        from(RURI, None, &lines, &[]),
        n("+390659051000", DialledFrom::HistoryInfo)
    );
}

#[test]
fn history_info_tel_uri_and_uri_headers() {
    let hi =
        "<tel:+39-06-5905-1000;phone-context=+39>;index=1, <sip:centralino@198.51.100.1>;index=1.1";
    assert_eq!(
        from(RURI, None, &[hi], &[]),
        n("+39-06-5905-1000", DialledFrom::HistoryInfo)
    );
    let hi = "<sip:0659051000@carrier.example?Privacy=history&Reason=SIP%3Bcause%3D302>;index=1";
    assert_eq!(
        from(RURI, None, &[hi], &[]),
        n("0659051000", DialledFrom::HistoryInfo)
    );
}

#[test]
fn history_info_without_index_1_or_with_a_name_falls_through_to_diversion() {
    // Only a retargeted entry: no index=1.
    let hi = "<sip:0689001000@pbx.example>;index=1.1;rc=1";
    let div = "<sip:0659051000@pbx.example>;reason=unconditional;counter=1";
    assert_eq!(
        from(RURI, None, &[hi], &[div]),
        n("0659051000", DialledFrom::Diversion)
    );
    // index=1 names a user, not a number.
    let hi = "<sip:ufficio.roma@pbx.example>;index=1, <sip:centralino@198.51.100.1>;index=1.1";
    assert_eq!(
        from(RURI, None, &[hi], &[div]),
        n("0659051000", DialledFrom::Diversion)
    );
    // Garbled: no URI at all, or a host without a user.
    for hi in [
        "garbage;index=1",
        "<sip:pbx.example>;index=1",
        "<>;index=1",
        ";index=1",
    ] {
        assert_eq!(
            from(RURI, None, &[hi], &[div]),
            n("0659051000", DialledFrom::Diversion),
            "{hi}"
        );
    }
}

// ------------------------------------------------------------------ Diversion

#[test]
fn single_diversion_with_the_rfc_5806_parameters() {
    let div = "<sip:0659051000@10.1.1.1>;reason=unconditional;counter=1;privacy=off";
    assert_eq!(
        from(RURI, Some("<sip:0659051000@10.1.1.1>"), &[], &[div]),
        n("0659051000", DialledFrom::Diversion)
    );
}

#[test]
fn bottom_most_diversion_is_the_original_number() {
    // Most recent on top: agency -> directorate -> switchboard.
    let one_line = "<sip:0689001000@pbx.example>;reason=unconditional;counter=1, \
                    <sip:0659051000@carrier.example;user=phone>;reason=no-answer;counter=1;screen=no";
    assert_eq!(
        from(RURI, None, &[], &[one_line]),
        n("0659051000", DialledFrom::Diversion)
    );
    // The same across two header lines: the last entry of the last line.
    let lines = [
        "<sip:0689001000@pbx.example>;reason=unconditional;counter=1",
        "<sip:0659051000@carrier.example>;reason=user-busy;counter=1",
    ];
    assert_eq!(
        from(RURI, None, &[], &lines),
        n("0659051000", DialledFrom::Diversion)
    );
    // Several entries on several lines.
    let lines = [
        "<sip:0212345000@a.example>;reason=unconditional, <sip:0289001000@b.example>;reason=deflection",
        "<tel:+390659051000>;reason=time-of-day;counter=2, <sip:+390612340000@c.example;user=phone>;reason=away",
    ];
    assert_eq!(
        from(RURI, None, &[], &lines),
        n("+390612340000", DialledFrom::Diversion)
    );
}

#[test]
fn quoted_display_names_with_commas_do_not_split_entries() {
    let div = "\"Rossi, Mario\" <sip:0689001000@pbx.example>;reason=unconditional,\
               \"INPS, Agenzia \\\"Roma EUR\\\", sportello\" <sip:0659051000@pbx.example>;reason=no-answer";
    assert_eq!(
        from(RURI, None, &[], &[div]),
        n("0659051000", DialledFrom::Diversion)
    );
    let hi = "\"Direzione, Roma\" <sip:0659051000@carrier.example>;index=1";
    assert_eq!(
        from(RURI, None, &[hi], &[]),
        n("0659051000", DialledFrom::HistoryInfo)
    );
}

#[test]
fn commas_inside_angle_brackets_do_not_split_entries() {
    // An escaped header in the URI carrying a literal comma.
    let div = "<sip:0659051000@pbx.example?Subject=a,b>;reason=unconditional";
    assert_eq!(
        from(RURI, None, &[], &[div]),
        n("0659051000", DialledFrom::Diversion)
    );
}

#[test]
fn a_garbled_bottom_diversion_falls_back_to_the_one_above() {
    let div = "<sip:0659051000@pbx.example>;reason=unconditional, <sip:anonymous@anonymous.invalid>;reason=unknown";
    assert_eq!(
        from(RURI, None, &[], &[div]),
        n("0659051000", DialledFrom::Diversion)
    );
    let div = "<sip:0659051000@pbx.example>;reason=unconditional, ;reason=unknown,,";
    assert_eq!(
        from(RURI, None, &[], &[div]),
        n("0659051000", DialledFrom::Diversion)
    );
}

#[test]
fn diversion_in_addr_spec_form_and_tel() {
    let div = "sip:+390659051000@carrier.example;reason=unconditional";
    assert_eq!(
        from(RURI, None, &[], &[div]),
        n("+390659051000", DialledFrom::Diversion)
    );
    let div = "<tel:06-5905-1000>;reason=unconditional;counter=1";
    assert_eq!(
        from(RURI, None, &[], &[div]),
        n("06-5905-1000", DialledFrom::Diversion)
    );
}

// ------------------------------------------------------------------ target, To, R-URI

#[test]
fn target_parameter_of_the_request_uri() {
    // RFC 4458: the original target as an escaped URI.
    let ruri = "sip:ivr@198.51.100.1;target=sip:%2B390659051000%40carrier.example;cause=302";
    assert_eq!(
        from(ruri, Some("<sip:ivr@198.51.100.1>"), &[], &[]),
        n("+390659051000", DialledFrom::TargetParam)
    );
    // A bare, percent-encoded number.
    let ruri = "sip:centralino@198.51.100.1:5060;transport=udp;target=%2B390659051000;cause=302";
    assert_eq!(
        from(ruri, None, &[], &[]),
        n("+390659051000", DialledFrom::TargetParam)
    );
    // A national number, uri-headers after the parameters.
    let ruri = "sip:centralino@198.51.100.1;target=0659051000?Priority=urgent";
    assert_eq!(
        from(ruri, None, &[], &[]),
        n("0659051000", DialledFrom::TargetParam)
    );
    // tel: target, and a target on a tel-in-sip user with phone-context.
    let ruri =
        "sip:+390612345678;phone-context=+39@198.51.100.1;user=phone;target=tel:%2B390659051000";
    assert_eq!(
        from(ruri, None, &[], &[]),
        n("+390659051000", DialledFrom::TargetParam)
    );
}

#[test]
fn redirection_headers_win_over_target() {
    let ruri = "sip:centralino@198.51.100.1;target=0611111111";
    let div = "<sip:0659051000@pbx.example>;reason=unconditional";
    assert_eq!(
        from(ruri, None, &[], &[div]),
        n("0659051000", DialledFrom::Diversion)
    );
}

#[test]
fn to_header_when_nothing_else_says() {
    let to = "\"Agenzia, Roma EUR\" <sip:0659051000@carrier.example;user=phone>";
    assert_eq!(
        from(RURI, Some(to), &[], &[]),
        n("0659051000", DialledFrom::To)
    );
    assert_eq!(
        from(RURI, Some("<tel:+390659051000>;tag=abc"), &[], &[]),
        n("+390659051000", DialledFrom::To)
    );
    assert_eq!(
        from(RURI, Some("sip:0659051000@carrier.example;tag=x"), &[], &[]),
        n("0659051000", DialledFrom::To)
    );
}

#[test]
fn request_uri_is_the_last_resort() {
    let ruri = "sip:0612345678@198.51.100.1:5060;transport=udp";
    assert_eq!(
        from(ruri, Some("<sip:centralino@198.51.100.1>"), &[], &[]),
        n("0612345678", DialledFrom::RequestUri)
    );
    assert_eq!(
        from("sips:%2B390612345678@198.51.100.1", None, &[], &[]),
        n("+390612345678", DialledFrom::RequestUri)
    );
    assert_eq!(
        from("tel:+390612345678;phone-context=+39", None, &[], &[]),
        n("+390612345678", DialledFrom::RequestUri)
    );
    // Whatever the user part is: feature codes, the test line, nothing at all.
    assert_eq!(
        from("sip:*51@198.51.100.1", None, &[], &[]),
        n("*51", DialledFrom::RequestUri)
    );
    assert_eq!(
        from(
            "sip:test@198.51.100.1",
            Some("<sip:test@198.51.100.1>"),
            &[],
            &[]
        ),
        n("test", DialledFrom::RequestUri)
    );
    assert_eq!(
        from("sip:198.51.100.1", None, &[], &[]),
        n("", DialledFrom::RequestUri)
    );
    assert_eq!(from("", None, &[], &[]), n("", DialledFrom::RequestUri));
}

#[test]
fn every_source_garbled_falls_through_to_the_request_uri() {
    assert_eq!(
        from(
            "sip:0612345678@198.51.100.1",
            Some("<mailto:x@example.com>"),
            &["<sip:pbx.example>;index=1", "not a header"],
            &["<>;reason=unconditional", "\"unterminated, <sip:1@x>"],
        ),
        n("0612345678", DialledFrom::RequestUri)
    );
}

// ------------------------------------------------------------------ helpers and wire

#[test]
fn percent_decoding() {
    assert_eq!(percent_decode("%2B39%2006"), "+39 06");
    assert_eq!(percent_decode("%2b39"), "+39");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("%zz1"), "%zz1");
    assert_eq!(percent_decode("%FF"), "\u{FFFD}");
}

#[test]
fn parameters_are_matched_ignoring_case() {
    assert_eq!(param(";Index=1;rc=1", "index"), Some("1"));
    assert_eq!(param(";lr;index = 1.1", "index"), Some("1.1"));
    assert_eq!(param(";lr", "lr"), Some(""));
    assert_eq!(param("", "index"), None);
}

#[test]
fn read_from_a_parsed_invite() {
    let raw = "INVITE sip:centralino@198.51.100.1:5060 SIP/2.0\r\n\
               Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK-1\r\n\
               Max-Forwards: 69\r\n\
               From: \"Mario\" <sip:3331234567@192.0.2.10>;tag=a\r\n\
               To: <sip:centralino@198.51.100.1>\r\n\
               Call-ID: c1\r\n\
               CSeq: 1 INVITE\r\n\
               diversion: <sip:0689001000@pbx.example>;reason=unconditional;counter=1\r\n\
               DIVERSION: <sip:0659051000@carrier.example>;reason=no-answer;counter=1\r\n\
               Content-Length: 0\r\n\r\n";
    let msg = SipMessage::parse(bytes::Bytes::from(raw), false).unwrap();
    assert_eq!(
        dialled_in(&msg),
        Dialled {
            number: "0659051000".into(),
            from: DialledFrom::Diversion
        }
    );
    let raw = raw.replace(
        "Content-Length",
        "History-Info: <sip:0611112222@carrier.example>;index=1\r\nContent-Length",
    );
    let msg = SipMessage::parse(bytes::Bytes::from(raw), false).unwrap();
    assert_eq!(dialled_in(&msg).from, DialledFrom::HistoryInfo);
    assert_eq!(dialled_in(&msg).number, "0611112222");
}
