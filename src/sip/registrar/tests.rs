//! Registrar behaviour in virtual time, and REGISTER parsing from literal SIP text.

use super::*;
use bytes::Bytes;

const ALICE: &str = "op1";

fn src() -> SocketAddr {
    "192.0.2.10:5100".parse().unwrap()
}

fn contact(uri: &str, expires: Option<u32>) -> ContactSpec {
    let raw = match expires {
        Some(e) => format!("<{uri}>;expires={e}"),
        None => format!("<{uri}>"),
    };
    ContactSpec {
        uri: uri.into(),
        raw,
        expires,
        q: None,
    }
}

fn req(
    contacts: Vec<ContactSpec>,
    expires: Option<u32>,
    call_id: &str,
    cseq: u32,
) -> RegisterRequest {
    RegisterRequest {
        contacts: ContactList::Contacts(contacts),
        expires_header: expires,
        call_id: call_id.into(),
        cseq,
        source: src(),
        transport: "UDP",
    }
}

fn registrar() -> Registrar {
    Registrar::new(60, 3600, 600)
}

fn events(r: &mut Registrar) -> Vec<RegistrarEvent> {
    std::iter::from_fn(|| r.poll_event()).collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

const PHONE: &str = "sip:op1-0x5581@192.0.2.10:5100";
const DESK: &str = "sip:op1@192.0.2.11:5060;transport=tcp";

#[test]
fn register_then_refresh() {
    let t0 = Instant::now();
    let mut r = registrar();
    let b = r
        .register(
            t0,
            ALICE,
            &req(vec![contact(PHONE, None)], Some(300), "c1", 1),
        )
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].uri, PHONE);
    assert_eq!(b[0].expires_in, secs(300));
    assert_eq!(b[0].source, src());
    assert_eq!(b[0].transport, "UDP");
    assert_eq!(
        events(&mut r),
        [RegistrarEvent::Registered { user: ALICE.into() }]
    );
    assert_eq!(r.poll_timeout(), Some(t0 + secs(300)));

    // The refresh at half-time extends it; no new event.
    let t1 = t0 + secs(150);
    let mut refresh = req(vec![contact(PHONE, None)], Some(300), "c1", 2);
    refresh.source = "192.0.2.10:6000".parse().unwrap();
    let b = r.register(t1, ALICE, &refresh).unwrap();
    assert_eq!(b[0].expires_in, secs(300));
    assert_eq!(b[0].source.port(), 6000, "the newest flow is kept");
    assert!(events(&mut r).is_empty());
    assert_eq!(r.poll_timeout(), Some(t1 + secs(300)));
    r.handle_timeout(t0 + secs(300));
    assert!(r.is_registered(ALICE, t0 + secs(300)));
}

#[test]
fn two_contacts_and_removing_one() {
    let t0 = Instant::now();
    let mut r = registrar();
    r.register(
        t0,
        ALICE,
        &req(
            vec![contact(PHONE, None), contact(DESK, Some(120))],
            Some(600),
            "c1",
            1,
        ),
    )
    .unwrap();
    let b = r.bindings(ALICE, t0);
    assert_eq!(b.len(), 2);
    assert_eq!(b[1].expires_in, secs(120));
    let headers = r.contact_headers(ALICE, t0 + Duration::from_millis(500));
    assert_eq!(
        headers,
        [
            format!("<{PHONE}>;expires=600"),
            format!("<{DESK}>;expires=120")
        ]
    );
    events(&mut r);

    let b = r
        .register(
            t0 + secs(1),
            ALICE,
            &req(vec![contact(DESK, Some(0))], None, "c1", 2),
        )
        .unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].uri, PHONE);
    assert!(events(&mut r).is_empty());

    r.register(
        t0 + secs(2),
        ALICE,
        &req(vec![contact(PHONE, None)], Some(0), "c1", 3),
    )
    .unwrap();
    assert!(r.bindings(ALICE, t0 + secs(2)).is_empty());
    assert_eq!(
        events(&mut r),
        [RegistrarEvent::Unregistered { user: ALICE.into() }]
    );
    assert_eq!(r.poll_timeout(), None);
}

#[test]
fn contact_expires_param_overrides_header() {
    let t0 = Instant::now();
    let mut r = registrar();
    let b = r
        .register(
            t0,
            ALICE,
            &req(vec![contact(PHONE, Some(300))], Some(3600), "c1", 1),
        )
        .unwrap();
    assert_eq!(b[0].expires_in, secs(300));
    // Neither: the default.
    let b = r
        .register(t0, "op2", &req(vec![contact(DESK, None)], None, "c2", 1))
        .unwrap();
    assert_eq!(b[0].expires_in, secs(600));
}

#[test]
fn star_removes_everything() {
    let t0 = Instant::now();
    let mut r = registrar();
    r.register(
        t0,
        ALICE,
        &req(
            vec![contact(PHONE, None), contact(DESK, None)],
            None,
            "c1",
            1,
        ),
    )
    .unwrap();
    events(&mut r);
    let mut star = req(vec![], Some(0), "c9", 1);
    star.contacts = ContactList::Star;
    assert_eq!(r.register(t0 + secs(1), ALICE, &star).unwrap(), []);
    assert_eq!(
        events(&mut r),
        [RegistrarEvent::Unregistered { user: ALICE.into() }]
    );
    assert_eq!(r.poll_timeout(), None);
    star.expires_header = Some(5);
    assert_eq!(
        r.register(t0, ALICE, &star),
        Err(RegisterError::InvalidStar)
    );
}

#[test]
fn star_with_an_old_cseq_of_the_same_call_id_is_refused() {
    let t0 = Instant::now();
    let mut r = registrar();
    r.register(t0, ALICE, &req(vec![contact(PHONE, None)], None, "c1", 5))
        .unwrap();
    let mut star = req(vec![], Some(0), "c1", 5);
    star.contacts = ContactList::Star;
    assert_eq!(r.register(t0, ALICE, &star), Err(RegisterError::OutOfOrder));
    assert_eq!(r.bindings(ALICE, t0).len(), 1);
}

#[test]
fn expiry_removes_and_emits() {
    let t0 = Instant::now();
    let mut r = registrar();
    r.register(
        t0,
        ALICE,
        &req(
            vec![contact(PHONE, Some(60)), contact(DESK, Some(90))],
            None,
            "c1",
            1,
        ),
    )
    .unwrap();
    events(&mut r);
    // Step virtual time to each deadline.
    let first = r.poll_timeout().unwrap();
    assert_eq!(first, t0 + secs(60));
    r.handle_timeout(first - Duration::from_millis(1));
    assert!(events(&mut r).is_empty());
    r.handle_timeout(first);
    assert_eq!(
        events(&mut r),
        [RegistrarEvent::Expired {
            user: ALICE.into(),
            uri: PHONE.into()
        }]
    );
    let second = r.poll_timeout().unwrap();
    r.handle_timeout(second);
    assert_eq!(
        events(&mut r),
        [
            RegistrarEvent::Expired {
                user: ALICE.into(),
                uri: DESK.into()
            },
            RegistrarEvent::Unregistered { user: ALICE.into() }
        ]
    );
    assert_eq!(r.poll_timeout(), None);
    assert!(!r.is_registered(ALICE, second));
    assert_eq!(r.users().count(), 0);
}

#[test]
fn too_brief_is_423_and_changes_nothing() {
    let t0 = Instant::now();
    let mut r = registrar();
    r.register(t0, ALICE, &req(vec![contact(PHONE, None)], None, "c1", 1))
        .unwrap();
    let err = r
        .register(
            t0,
            ALICE,
            &req(
                vec![contact(DESK, Some(3600)), contact(PHONE, Some(30))],
                None,
                "c1",
                2,
            ),
        )
        .unwrap_err();
    assert_eq!(err, RegisterError::IntervalTooBrief { min: 60 });
    assert_eq!(err.status(), 423);
    assert_eq!(r.bindings(ALICE, t0).len(), 1, "all or nothing");
    // Zero is not "too brief": it removes.
    r.register(
        t0,
        ALICE,
        &req(vec![contact(PHONE, Some(0))], None, "c1", 3),
    )
    .unwrap();
    assert!(!r.is_registered(ALICE, t0));
}

#[test]
fn too_long_is_clamped() {
    let t0 = Instant::now();
    let mut r = registrar();
    let b = r
        .register(
            t0,
            ALICE,
            &req(vec![contact(PHONE, None)], Some(86_400), "c1", 1),
        )
        .unwrap();
    assert_eq!(b[0].expires_in, secs(3600));
    assert_eq!(
        r.contact_headers(ALICE, t0),
        [format!("<{PHONE}>;expires=3600")]
    );
}

#[test]
fn out_of_order_cseq_is_refused() {
    let t0 = Instant::now();
    let mut r = registrar();
    r.register(
        t0,
        ALICE,
        &req(vec![contact(PHONE, None)], Some(300), "c1", 10),
    )
    .unwrap();
    for cseq in [10, 9] {
        let err = r
            .register(
                t0 + secs(1),
                ALICE,
                &req(vec![contact(PHONE, None)], Some(0), "c1", cseq),
            )
            .unwrap_err();
        assert_eq!(err, RegisterError::OutOfOrder);
        assert_eq!(err.status(), 400);
    }
    assert!(r.is_registered(ALICE, t0 + secs(1)));
}

#[test]
fn another_call_id_replaces_the_binding() {
    let t0 = Instant::now();
    let mut r = registrar();
    r.register(
        t0,
        ALICE,
        &req(vec![contact(PHONE, None)], Some(300), "c1", 10),
    )
    .unwrap();
    // The phone rebooted: new Call-ID, CSeq starts again at 1.
    let mut again = req(vec![contact(PHONE, None)], Some(120), "c2", 1);
    again.transport = "TCP";
    let b = r.register(t0 + secs(5), ALICE, &again).unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].expires_in, secs(120));
    assert_eq!(b[0].transport, "TCP");
    // The old Call-ID is forgotten: its CSeq rules no longer apply…
    let b = r
        .register(
            t0 + secs(6),
            ALICE,
            &req(vec![contact(PHONE, None)], Some(300), "c2", 2),
        )
        .unwrap();
    assert_eq!(b[0].expires_in, secs(300));
    assert_eq!(r.poll_timeout(), Some(t0 + secs(306)));
}

#[test]
fn empty_contact_list_is_a_query() {
    let t0 = Instant::now();
    let mut r = registrar();
    r.register(t0, ALICE, &req(vec![contact(PHONE, None)], None, "c1", 1))
        .unwrap();
    let b = r
        .register(t0 + secs(10), ALICE, &req(vec![], None, "c1", 2))
        .unwrap();
    assert_eq!(b[0].expires_in, secs(590));
}

#[test]
fn bindings_per_user_are_capped() {
    let t0 = Instant::now();
    let mut r = registrar().with_max_bindings_per_user(2);
    let many: Vec<ContactSpec> = (0..3)
        .map(|i| contact(&format!("sip:op1@192.0.2.{i}"), None))
        .collect();
    let err = r
        .register(t0, ALICE, &req(many, None, "c1", 1))
        .unwrap_err();
    assert_eq!(err, RegisterError::TooManyBindings { max: 2 });
    assert_eq!(err.status(), 403);
}

fn parse(text: &str) -> SipMessage {
    SipMessage::parse(Bytes::copy_from_slice(text.as_bytes()), false).unwrap()
}

/// What baresip sends: the Contact user is not the account, expiry is a parameter, no
/// Expires header.
const BARESIP_REGISTER: &str = "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5100;branch=z9hG4bK4a2b;rport\r\n\
Contact: <sip:op1-0x55d2c0a8@127.0.0.1:5100>;expires=300\r\n\
Max-Forwards: 70\r\n\
To: <sip:op1@127.0.0.1:5060>\r\n\
From: <sip:op1@127.0.0.1:5060>;tag=5f1e\r\n\
Call-ID: 8b1c0f3a4e2d\r\n\
CSeq: 2 REGISTER\r\n\
User-Agent: baresip v1.0.0 (x86_64/linux)\r\n\
Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,UPDATE\r\n\
Supported: replaces,norefersub\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn parses_a_baresip_register() {
    let m = parse(BARESIP_REGISTER);
    let r = parse_register(&m, src(), "UDP").unwrap();
    assert_eq!(r.call_id, "8b1c0f3a4e2d");
    assert_eq!(r.cseq, 2);
    assert_eq!(r.expires_header, None);
    let ContactList::Contacts(c) = &r.contacts else {
        panic!("not contacts")
    };
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].uri, "sip:op1-0x55d2c0a8@127.0.0.1:5100");
    assert_eq!(c[0].raw, "<sip:op1-0x55d2c0a8@127.0.0.1:5100>;expires=300");
    assert_eq!(c[0].expires, Some(300));

    let t0 = Instant::now();
    let mut reg = registrar();
    reg.register(t0, "op1", &r).unwrap();
    assert_eq!(
        reg.contact_headers("op1", t0 + secs(100)),
        ["<sip:op1-0x55d2c0a8@127.0.0.1:5100>;expires=200"]
    );
}

fn register_with(headers: &str) -> String {
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5100;branch=z9hG4bK1\r\n\
To: <sip:op1@127.0.0.1>\r\n\
From: <sip:op1@127.0.0.1>;tag=1\r\n\
Call-ID: x1\r\n\
CSeq: 1 REGISTER\r\n\
{headers}Content-Length: 0\r\n\r\n"
    )
}

#[test]
fn parses_several_contacts_lines_commas_and_q() {
    let m = parse(&register_with(
        "Contact: \"Maria, desk\" <sip:op1@10.0.0.1;transport=tcp>;q=0.7;+sip.instance=\"<urn:uuid:1>\", <sip:op1@10.0.0.2>;expires=30\r\n\
m: sip:op1@10.0.0.3;q=1\r\n\
Expires: 900\r\n",
    ));
    let r = parse_register(&m, src(), "TCP").unwrap();
    assert_eq!(r.expires_header, Some(900));
    assert_eq!(r.transport, "TCP");
    let ContactList::Contacts(c) = &r.contacts else {
        panic!("not contacts")
    };
    let uris: Vec<&str> = c.iter().map(|c| c.uri.as_str()).collect();
    assert_eq!(
        uris,
        [
            "sip:op1@10.0.0.1;transport=tcp",
            "sip:op1@10.0.0.2",
            "sip:op1@10.0.0.3"
        ]
    );
    assert_eq!(c[0].q, Some(0.7));
    assert_eq!(c[1].expires, Some(30));
    assert_eq!(c[2].q, Some(1.0));

    // The 200 lists them highest q first, display name and instance id kept.
    let t0 = Instant::now();
    let mut reg = Registrar::new(10, 3600, 600);
    reg.register(t0, "op1", &r).unwrap();
    assert_eq!(
        reg.contact_headers("op1", t0),
        [
            "<sip:op1@10.0.0.2>;expires=30",
            "<sip:op1@10.0.0.3>;q=1;expires=900",
            "\"Maria, desk\" <sip:op1@10.0.0.1;transport=tcp>;q=0.7;+sip.instance=\"<urn:uuid:1>\";expires=900",
        ]
    );
}

#[test]
fn star_needs_expires_zero_and_no_other_contact() {
    let m = parse(&register_with("Contact: *\r\nExpires: 0\r\n"));
    assert_eq!(
        parse_register(&m, src(), "UDP").unwrap().contacts,
        ContactList::Star
    );
    let m = parse(&register_with("Contact: *\r\n"));
    assert_eq!(
        parse_register(&m, src(), "UDP"),
        Err(RegisterError::InvalidStar)
    );
    let m = parse(&register_with("Contact: *, <sip:a@b>\r\nExpires: 0\r\n"));
    assert_eq!(
        parse_register(&m, src(), "UDP"),
        Err(RegisterError::InvalidStar)
    );
}

#[test]
fn malformed_headers_are_named() {
    for (headers, which) in [
        ("Contact: <sip:a@b>\r\nExpires: soon\r\n", "Expires"),
        ("Contact: <sip:a@b>;expires=-1\r\n", "Contact"),
        ("Contact: <sip:a@b>;q=2\r\n", "Contact"),
        ("Contact: <mailto:a@b>\r\n", "Contact"),
        ("Contact: <sip:a@b\r\n", "Contact"),
        ("Contact: <sip:a@b> junk\r\n", "Contact"),
    ] {
        let m = parse(&register_with(headers));
        assert_eq!(
            parse_register(&m, src(), "UDP"),
            Err(RegisterError::Malformed(which)),
            "{headers}"
        );
    }
    // No Contact at all: a query.
    let m = parse(&register_with(""));
    assert_eq!(
        parse_register(&m, src(), "UDP").unwrap().contacts,
        ContactList::Contacts(vec![])
    );
}

#[test]
fn uri_keys_ignore_scheme_and_host_case() {
    assert_eq!(
        uri_key("SIP:Op1@Host.Example:5060"),
        "sip:Op1@host.example:5060"
    );
    assert_eq!(uri_key("sip:host;Transport=TCP"), "sip:host;Transport=TCP");
    let t0 = Instant::now();
    let mut r = registrar();
    r.register(
        t0,
        ALICE,
        &req(vec![contact("sip:op1@HOST", None)], None, "c1", 1),
    )
    .unwrap();
    r.register(
        t0,
        ALICE,
        &req(vec![contact("sip:op1@host", None)], None, "c1", 2),
    )
    .unwrap();
    assert_eq!(r.bindings(ALICE, t0).len(), 1);
}
