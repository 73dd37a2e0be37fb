//! Lean decoding of what every SIP message carries, RFC 3261: the start line (§7.1,
//! §7.2), header lines (§7.3.1), From/To with their tag (§20.10, §20.39: name-addr or
//! addr-spec with parameters, §25.1), CSeq (§20.16) and the top Via (§20.42). The SIP
//! task reads these for every message it receives, so they are checked and picked apart
//! by hand here: through the general grammar of ezk-sip-types they were well over half
//! of its instructions at call set-up (docs/performance.md).

use super::StartLine;
use bytes::Bytes;
use bytesstr::BytesStr;
use ezk_sip_types::{Method, Name};
use std::fmt::Write as _;

/// RFC 3261 §25.1 `token` characters.
fn is_token(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '-' | '.' | '!' | '%' | '*' | '_' | '+' | '`' | '\'' | '~'
        )
}

/// Splits a header line into its name and value (`name HCOLON value`, §7.3.1), both
/// trimmed; `None` when the line has no token name followed by a colon.
pub(super) fn header_line(line: &str) -> Option<(&str, &str)> {
    let line = line.trim_start();
    let name_end = line.find(|c: char| !is_token(c)).unwrap_or(line.len());
    let (name, rest) = line.split_at(name_end);
    let value = rest.trim_start().strip_prefix(':')?;
    (!name.is_empty()).then_some((name, value.trim()))
}

/// A quoted string at the start of `s` (§25.1, with `\` escapes): its inside and what
/// follows the closing quote.
fn quoted(s: &str) -> Option<(&str, &str)> {
    let body = s.strip_prefix('"')?;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some((&body[..i], &body[i + 1..])),
            _ => {}
        }
    }
    None
}

/// A URI as From/To carry it: `scheme ":" something`, without spaces or the characters
/// that delimit it.
fn uri_ok(uri: &str) -> bool {
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut sc = scheme.chars();
    sc.next().is_some_and(|c| c.is_ascii_alphabetic())
        && sc.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        && !rest.is_empty()
        && !rest
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '"'))
}

/// The `tag` parameter of a From or To value (§20.10, §19.3), or `Err` when the value
/// is not `[display-name] "<" URI ">" *(";" param)` or `URI *(";" param)`. Without
/// angle brackets the first `;` ends the URI and starts the header's parameters; a
/// `tag` inside the brackets belongs to the URI and is not the header's.
pub(super) fn from_to_tag(value: &str) -> Result<Option<&str>, ()> {
    let v = value.trim();
    let (uri, params) = if v.starts_with('"') {
        let (_, after) = quoted(v).ok_or(())?;
        bracketed(after.trim_start())?
    } else if let Some(lt) = v.find('<') {
        // An unquoted display name: words, no delimiters (UTF-8 tolerated, as UAs send it).
        if v[..lt].contains(['"', '>', ';', ',']) {
            return Err(());
        }
        bracketed(&v[lt..])?
    } else {
        v.split_at(v.find(';').unwrap_or(v.len()))
    };
    if !uri_ok(uri) {
        return Err(());
    }
    match params_with(params, "tag")? {
        (tag, "") => Ok(tag),
        _ => Err(()),
    }
}

/// Walks `*(";" name ["=" value])` (§25.1 generic-param: a token, host or quoted-string
/// value) up to the end or a comma, and returns the value of the parameter `wanted`
/// (which must have one, as `tag` and `branch` do) and what follows the list.
fn params_with<'a>(mut params: &'a str, wanted: &str) -> Result<(Option<&'a str>, &'a str), ()> {
    let mut found = None;
    loop {
        params = params.trim_start();
        if params.is_empty() || params.starts_with(',') {
            return Ok((found, params));
        }
        let p = params.strip_prefix(';').ok_or(())?.trim_start();
        let name_end = p.find(|c: char| !is_token(c)).unwrap_or(p.len());
        let (name, rest) = p.split_at(name_end);
        if name.is_empty() {
            return Err(());
        }
        let rest = rest.trim_start();
        let (val, rest) = match rest.strip_prefix('=') {
            None => (None, rest),
            Some(r) => {
                let r = r.trim_start();
                if r.starts_with('"') {
                    let (inside, after) = quoted(r).ok_or(())?;
                    (Some(inside), after)
                } else {
                    // gen-value: token or host (IPv6 references included).
                    let end = r
                        .find(|c: char| !(is_token(c) || matches!(c, '[' | ']' | ':')))
                        .unwrap_or(r.len());
                    if end == 0 {
                        return Err(());
                    }
                    (Some(&r[..end]), &r[end..])
                }
            }
        };
        if name.eq_ignore_ascii_case(wanted) {
            found = Some(val.ok_or(())?);
        }
        params = rest;
    }
}

/// The top entry of a Via value (§20.42, §18.2.1): `SIP/2.0/transport sent-by
/// *(;param)`, up to the first comma of a comma-joined line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopVia<'a> {
    pub transport: &'a str,
    /// The host of sent-by as written (a name, IPv4 address or `[IPv6]` reference).
    pub host: &'a str,
    pub port: Option<u16>,
    pub branch: Option<&'a str>,
}

impl TopVia<'_> {
    /// sent-by as transaction keys compare it (§17.2.3): host (case folded) and port.
    pub fn sent_by(&self) -> String {
        let mut out = self.host.to_ascii_lowercase();
        if let Some(port) = self.port {
            let _ = write!(out, ":{port}");
        }
        out
    }
}

pub(super) fn top_via(value: &str) -> Result<TopVia<'_>, ()> {
    // "SIP" "/" "2.0" "/" transport, with optional whitespace around the slashes.
    let mut rest = value.trim_start();
    let mut protocol = [""; 3];
    for (i, part) in protocol.iter_mut().enumerate() {
        let end = rest.find(|c: char| !is_token(c)).unwrap_or(rest.len());
        *part = &rest[..end];
        rest = rest[end..].trim_start();
        if i < 2 {
            rest = rest.strip_prefix('/').ok_or(())?.trim_start();
        }
    }
    let [name, version, transport] = protocol;
    if !name.eq_ignore_ascii_case("SIP") || version != "2.0" || transport.is_empty() {
        return Err(());
    }
    let host_end = if rest.starts_with('[') {
        let close = rest.find(']').ok_or(())?;
        let inside = &rest[1..close];
        if inside.is_empty()
            || !inside
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(());
        }
        close + 1
    } else {
        rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '.'))
            .unwrap_or(rest.len())
    };
    let host = &rest[..host_end];
    if host.is_empty() {
        return Err(());
    }
    rest = rest[host_end..].trim_start();
    let mut port = None;
    if let Some(r) = rest.strip_prefix(':') {
        let r = r.trim_start();
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        port = Some(r[..end].parse::<u16>().map_err(|_| ())?);
        rest = &r[end..];
    }
    let (branch, _) = params_with(rest, "branch")?;
    Ok(TopVia {
        transport,
        host,
        port,
        branch,
    })
}

/// `"<" URI ">" rest` → (URI, rest).
fn bracketed(s: &str) -> Result<(&str, &str), ()> {
    let inner = s.strip_prefix('<').ok_or(())?;
    let gt = inner.find('>').ok_or(())?;
    Ok((&inner[..gt], &inner[gt + 1..]))
}

/// The start line (§7.1, §7.2): `Method SP Request-URI SP SIP/2.0` or
/// `SIP/2.0 SP Status-Code SP Reason-Phrase`; `None` when it is neither. Another
/// version is not a start line we read (the raw fallback answers it with 505).
pub(super) fn start_line(line: &str) -> Option<StartLine> {
    if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
        let rest = rest.trim_start();
        let (code, reason) = rest.split_at(rest.find(' ').unwrap_or(rest.len()));
        let valid = code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit());
        let code: u16 = code
            .parse()
            .ok()
            .filter(|c| valid && (100..700).contains(c))?;
        return Some(StartLine::Response {
            code,
            reason: reason.trim().to_owned(),
        });
    }
    let mut parts = line.split_ascii_whitespace();
    let (method, uri, version) = (parts.next()?, parts.next()?, parts.next()?);
    let well_formed = parts.next().is_none()
        && version == "SIP/2.0"
        && method.chars().all(is_token)
        && uri_ok(uri);
    well_formed.then(|| StartLine::Request {
        method: self::method(method),
        uri: uri.to_owned(),
    })
}

/// A method token: the standard ones (case-sensitive, §7.1) without a general parse.
pub(super) fn method(token: &str) -> Method {
    match token {
        "INVITE" => Method::INVITE,
        "ACK" => Method::ACK,
        "BYE" => Method::BYE,
        "CANCEL" => Method::CANCEL,
        "OPTIONS" => Method::OPTIONS,
        "REGISTER" => Method::REGISTER,
        "INFO" => Method::INFO,
        "UPDATE" => Method::UPDATE,
        "REFER" => Method::REFER,
        "NOTIFY" => Method::NOTIFY,
        "PRACK" => Method::PRACK,
        "SUBSCRIBE" => Method::SUBSCRIBE,
        "MESSAGE" => Method::MESSAGE,
        "PUBLISH" => Method::PUBLISH,
        other => Method::from(other),
    }
}

/// A header name as it came: the canonical spellings of the headers every message has
/// map straight to their names; anything else (compact forms, other cases, extension
/// headers) goes through ezk's table.
pub(super) fn header_name(head: &Bytes, name: &str) -> Name {
    match name {
        "Via" => Name::VIA,
        "From" => Name::FROM,
        "To" => Name::TO,
        "Call-ID" => Name::CALL_ID,
        "CSeq" => Name::CSEQ,
        "Contact" => Name::CONTACT,
        "Max-Forwards" => Name::MAX_FORWARDS,
        "Content-Type" => Name::CONTENT_TYPE,
        "Content-Length" => Name::CONTENT_LENGTH,
        "User-Agent" => Name::USER_AGENT,
        "Allow" => Name::ALLOW,
        "Supported" => Name::SUPPORTED,
        "Require" => Name::REQUIRE,
        "Expires" => Name::EXPIRES,
        "Server" => Name::SERVER,
        "Session-Expires" => Name::SESSION_EXPIRES,
        other => Name::from(BytesStr::from_parse(head, other)),
    }
}

/// A CSeq value (§20.16): `1*DIGIT LWS Method`, the number below 2³¹ (§8.1.1.5).
pub(super) fn cseq(value: &str) -> Result<(u32, Method), ()> {
    let v = value.trim();
    let digits_end = v.find(|c: char| !c.is_ascii_digit()).ok_or(())?;
    let number: u32 = v[..digits_end].parse().map_err(|_| ())?;
    let method = v[digits_end..].trim_start();
    let spaced = method.len() < v.len() - digits_end;
    if number >= 1 << 31 || !spaced || method.is_empty() || !method.chars().all(is_token) {
        return Err(());
    }
    Ok((number, self::method(method)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_of_name_addr_and_addr_spec() {
        let ok: &[(&str, Option<&str>)] = &[
            ("<sip:a@b>", None),
            ("<sip:a@b>;tag=x1", Some("x1")),
            (
                "\"Mario Rossi\" <sip:3331234567@10.0.0.1:5070>;tag=abc",
                Some("abc"),
            ),
            ("Mario Rossi <sip:a@b> ; TAG = k-9", Some("k-9")),
            ("\"a <b>; tag=no\" <sip:a@b>;tag=yes", Some("yes")),
            ("\"escaped \\\" quote\" <sip:a@b>;tag=q", Some("q")),
            ("<sip:a@b;tag=inside;transport=tcp>", None),
            ("<sip:a@b;transport=tcp>;x=1;tag=t;y", Some("t")),
            ("sip:a@b;tag=plain", Some("plain")),
            ("sip:a@b", None),
            ("tel:+390612345678;tag=t", Some("t")),
            ("<sip:a@[::1]:5070>;tag=v6;maddr=[::1]", Some("v6")),
            ("<sip:a@b>;tag=\"quoted\"", Some("quoted")),
            ("Zoë <sip:a@b>;tag=u", Some("u")),
        ];
        for (value, tag) in ok {
            assert_eq!(from_to_tag(value), Ok(*tag), "for {value:?}");
        }
    }

    #[test]
    fn malformed_from_to_values_are_refused() {
        for value in [
            "",
            "garbage",
            "<sip:a@b",
            "<>",
            "<:a@b>",
            "<1sip:a@b>",
            "<sip:>",
            "<sip:a b@c>",
            "\"unterminated <sip:a@b>",
            "\"name\" sip:a@b",
            "<sip:a@b>;tag",
            "<sip:a@b>;=x",
            "<sip:a@b> junk",
            "<sip:a@b>;tag=",
            "na\"me <sip:a@b>",
        ] {
            assert_eq!(from_to_tag(value), Err(()), "for {value:?}");
        }
    }

    #[test]
    fn cseq_values() {
        assert_eq!(cseq("1 INVITE"), Ok((1, Method::INVITE)));
        assert_eq!(cseq(" 42\t BYE "), Ok((42, Method::BYE)));
        assert_eq!(
            cseq("7 PUBLISH").map(|(_, m)| m.to_string()).unwrap(),
            "PUBLISH"
        );
        for bad in [
            "",
            "INVITE",
            "one INVITE",
            "1INVITE",
            "1 ",
            "-1 INVITE",
            "2147483648 INVITE",
            "1 INV ITE",
            "99999999999 BYE",
        ] {
            assert_eq!(cseq(bad), Err(()), "for {bad:?}");
        }
    }

    #[test]
    fn start_lines() {
        match start_line("INVITE sip:0612345678@10.0.0.1 SIP/2.0") {
            Some(StartLine::Request { method, uri }) => {
                assert_eq!(method, Method::INVITE);
                assert_eq!(uri, "sip:0612345678@10.0.0.1");
            }
            other => panic!("{other:?}"),
        }
        match start_line("SIP/2.0 180 Ringing") {
            Some(StartLine::Response { code, reason }) => {
                assert_eq!((code, &*reason), (180, "Ringing"))
            }
            other => panic!("{other:?}"),
        }
        match start_line("SIP/2.0 200") {
            Some(StartLine::Response { code, reason }) => assert_eq!((code, &*reason), (200, "")),
            other => panic!("{other:?}"),
        }
        for bad in [
            "",
            "INVITE  SIP/2.0",
            "INVITE sip:a@b SIP/3.0",
            "INVITE sip:a@b SIP/2.0 extra",
            "INVITE garbage SIP/2.0",
            "IN(VITE sip:a@b SIP/2.0",
            "SIP/2.0 2000 OK",
            "SIP/2.0 099 Low",
            "SIP/2.0 abc OK",
            "SIP/1.0 200 OK",
        ] {
            assert!(start_line(bad).is_none(), "for {bad:?}");
        }
    }

    #[test]
    fn names_and_methods_match_the_general_tables() {
        for n in [
            "Via",
            "v",
            "From",
            "f",
            "To",
            "t",
            "Call-ID",
            "i",
            "call-id",
            "CSeq",
            "Contact",
            "m",
            "Max-Forwards",
            "Content-Type",
            "c",
            "Content-Length",
            "l",
            "User-Agent",
            "Allow",
            "Supported",
            "k",
            "Require",
            "Expires",
            "Server",
            "Session-Expires",
            "X-Centralino-Dialled",
            "History-Info",
        ] {
            let head = Bytes::copy_from_slice(n.as_bytes());
            let fast = header_name(&head, std::str::from_utf8(&head).unwrap());
            let general = Name::from(n);
            assert_eq!(fast.as_print_str(), general.as_print_str(), "for {n}");
        }
        for m in [
            "INVITE",
            "ACK",
            "BYE",
            "CANCEL",
            "OPTIONS",
            "REGISTER",
            "INFO",
            "UPDATE",
            "REFER",
            "NOTIFY",
            "PRACK",
            "SUBSCRIBE",
            "MESSAGE",
            "PUBLISH",
            "FOO",
        ] {
            assert_eq!(method(m), Method::from(m), "for {m}");
            assert_eq!(method(m).to_string(), m);
        }
    }

    #[test]
    fn top_vias() {
        let v = top_via("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1;rport").unwrap();
        assert_eq!(
            (v.transport, v.host, v.port, v.branch),
            ("UDP", "127.0.0.1", Some(5070), Some("z9hG4bK-1"))
        );
        assert_eq!(v.sent_by(), "127.0.0.1:5070");
        let v = top_via(
            "SIP / 2.0 / TCP Proxy.Example.COM ; received=10.0.0.1 ; BRANCH=b2, SIP/2.0/UDP x",
        )
        .unwrap();
        assert_eq!(
            (v.transport, v.host, v.port, v.branch),
            ("TCP", "Proxy.Example.COM", None, Some("b2"))
        );
        assert_eq!(v.sent_by(), "proxy.example.com");
        let v = top_via("SIP/2.0/UDP [::1]:5070;rport=5070;received=::1").unwrap();
        assert_eq!((v.host, v.port, v.branch), ("[::1]", Some(5070), None));
        for bad in [
            "",
            "garbage",
            "garbageSIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1",
            "SIP/3.0/UDP h",
            "SIP/2.0/ h",
            "SIP/2.0/UDP",
            "SIP/2.0/UDP h:99999",
            "SIP/2.0/UDP h:x",
            "SIP/2.0/UDP [zz]",
            "SIP/2.0/UDP h;branch",
            "SIP/2.0/UDP h junk",
        ] {
            assert_eq!(top_via(bad), Err(()), "for {bad:?}");
        }
    }

    #[test]
    fn header_lines() {
        assert_eq!(
            header_line("Via: SIP/2.0/UDP h"),
            Some(("Via", "SIP/2.0/UDP h"))
        );
        assert_eq!(header_line("v :x "), Some(("v", "x")));
        assert_eq!(header_line("X-Empty:"), Some(("X-Empty", "")));
        assert_eq!(header_line("Call-ID:  a:b "), Some(("Call-ID", "a:b")));
        assert_eq!(header_line(": nameless"), None);
        assert_eq!(header_line("no colon here"), None);
        assert_eq!(header_line("Bad Name: x"), None);
    }
}
