//! A line parser for the SDP subset we negotiate (RFC 8866 §5): v=, o=, c=, m=, a=.
//!
//! Every other line type (s=, t=, b=, i=, k=, ...) is accepted and ignored. CRLF and
//! bare LF line endings are both accepted; blank lines are skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{Direction, SdpError};

/// A parsed session description, borrowing from the text.
#[derive(Debug)]
pub(super) struct Sdp<'a> {
    /// Session-level `c=` line: (1-based line number, value), parsed on demand.
    pub session_conn: Option<(usize, &'a str)>,
    /// Session-level `a=` attributes as (name, value); value is "" for flags.
    pub session_attrs: Vec<(&'a str, &'a str)>,
    pub media: Vec<Media<'a>>,
}

/// One `m=` section.
#[derive(Debug)]
pub(super) struct Media<'a> {
    /// 1-based line number of the `m=` line, for error messages.
    pub line: usize,
    /// "audio", "video", ...
    pub kind: &'a str,
    pub port: u16,
    /// "RTP/AVP", "RTP/SAVP", ...
    pub proto: &'a str,
    pub fmts: Vec<&'a str>,
    /// Media-level `c=` line: (line number, value).
    pub conn: Option<(usize, &'a str)>,
    pub attrs: Vec<(&'a str, &'a str)>,
}

fn malformed(reason: impl Into<String>) -> SdpError {
    SdpError::Malformed(reason.into())
}

/// Quotes a line for an error message, cut to a sane length.
fn quote(line: &str) -> String {
    const MAX: usize = 80;
    match line.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}...", &line[..cut]),
        None => format!("{line:?}"),
    }
}

pub(super) fn parse(text: &str) -> Result<Sdp<'_>, SdpError> {
    let mut sdp = Sdp {
        session_conn: None,
        session_attrs: Vec::new(),
        media: Vec::new(),
    };
    let mut seen_v = false;
    let mut seen_o = false;

    for (index, raw) in text.split('\n').enumerate() {
        let n = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
            return Err(malformed(format!(
                "line {n} is not of the form <type>=<value>: {}",
                quote(line)
            )));
        }
        let (kind, value) = (bytes[0], &line[2..]);

        if !seen_v {
            if kind != b'v' {
                return Err(malformed(format!(
                    "SDP must start with v=0, line {n} is {}",
                    quote(line)
                )));
            }
            if value.trim() != "0" {
                return Err(malformed(format!(
                    "unsupported SDP version {} on line {n}",
                    quote(value)
                )));
            }
            seen_v = true;
            continue;
        }

        match kind {
            b'v' => return Err(malformed(format!("duplicate v= line on line {n}"))),
            b'o' => {
                if seen_o {
                    return Err(malformed(format!("duplicate o= line on line {n}")));
                }
                if !sdp.media.is_empty() {
                    return Err(malformed(format!("o= line {n} appears after an m= line")));
                }
                if value.split_ascii_whitespace().count() != 6 {
                    return Err(malformed(format!(
                        "o= line {n} needs 6 fields (username sess-id sess-version nettype \
                         addrtype address): {}",
                        quote(line)
                    )));
                }
                seen_o = true;
            }
            b'c' => {
                let slot = match sdp.media.last_mut() {
                    Some(m) => &mut m.conn,
                    None => &mut sdp.session_conn,
                };
                // Several c= lines only occur with multicast layering; the first one wins.
                if slot.is_none() {
                    *slot = Some((n, value));
                }
            }
            b'm' => sdp.media.push(parse_media(n, line, value)?),
            b'a' => {
                let attr = value.split_once(':').unwrap_or((value, ""));
                let attr = (attr.0.trim(), attr.1.trim());
                match sdp.media.last_mut() {
                    Some(m) => m.attrs.push(attr),
                    None => sdp.session_attrs.push(attr),
                }
            }
            _ => {}
        }
    }

    if !seen_v {
        return Err(malformed("empty SDP: no v= line"));
    }
    if !seen_o {
        return Err(malformed("missing o= line"));
    }
    Ok(sdp)
}

/// `m=<media> <port>[/<number of ports>] <proto> <fmt> ...`
fn parse_media<'a>(n: usize, line: &str, value: &'a str) -> Result<Media<'a>, SdpError> {
    let mut fields = value.split_ascii_whitespace();
    let (Some(kind), Some(port), Some(proto)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed(format!(
            "m= line {n} needs media, port, proto and formats: {}",
            quote(line)
        )));
    };
    let fmts: Vec<&str> = fields.collect();
    if fmts.is_empty() {
        return Err(malformed(format!(
            "m= line {n} lists no media formats: {}",
            quote(line)
        )));
    }
    let (port_text, count) = match port.split_once('/') {
        Some((p, c)) => (p, Some(c)),
        None => (port, None),
    };
    let bad_port = || malformed(format!("bad port {} in m= line {n}", quote(port)));
    let port = port_text.parse::<u16>().map_err(|_| bad_port())?;
    if let Some(count) = count
        && count.parse::<u16>().map_or(true, |c| c == 0)
    {
        return Err(bad_port());
    }
    Ok(Media {
        line: n,
        kind,
        port,
        proto,
        fmts,
        conn: None,
        attrs: Vec::new(),
    })
}

/// `c=IN IP4 <address>[/ttl][/count]` or `c=IN IP6 <address>[/count]`.
///
/// Host names are legal SDP but need a resolver; they are rejected as malformed.
pub(super) fn parse_connection(n: usize, value: &str) -> Result<IpAddr, SdpError> {
    let fields: Vec<&str> = value.split_ascii_whitespace().collect();
    let &[nettype, addrtype, address] = fields.as_slice() else {
        return Err(malformed(format!(
            "c= line {n} must be \"IN IP4|IP6 <address>\": {}",
            quote(value)
        )));
    };
    if nettype != "IN" {
        return Err(malformed(format!(
            "c= line {n}: unsupported network type {}",
            quote(nettype)
        )));
    }
    let address = address.split('/').next().unwrap_or(address);
    let ip = match addrtype {
        "IP4" => address.parse::<Ipv4Addr>().map(IpAddr::V4),
        "IP6" => address.parse::<Ipv6Addr>().map(IpAddr::V6),
        _ => {
            return Err(malformed(format!(
                "c= line {n}: unsupported address type {}",
                quote(addrtype)
            )));
        }
    };
    ip.map_err(|_| {
        malformed(format!(
            "c= line {n}: {} is not an {addrtype} address literal",
            quote(address)
        ))
    })
}

impl<'a> Media<'a> {
    /// The encoding of `a=rtpmap:<pt> <encoding>` for this payload type, if any.
    pub fn rtpmap(&self, pt: &str) -> Option<&'a str> {
        self.attrs
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("rtpmap"))
            .find_map(|(_, value)| {
                let (num, encoding) = value.split_once(|c: char| c.is_ascii_whitespace())?;
                (num == pt).then(|| encoding.trim())
            })
    }

    /// The first value of attribute `name` at media level, else at session level.
    pub fn attr<'s>(&'s self, session: &'s Sdp<'a>, name: &str) -> Option<&'a str> {
        let find = |attrs: &[(&'a str, &'a str)]| {
            attrs
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|&(_, v)| v)
        };
        find(&self.attrs).or_else(|| find(&session.session_attrs))
    }

    /// The direction attribute at media level, else session level, else sendrecv.
    pub fn direction(&self, session: &Sdp<'a>) -> Direction {
        let find =
            |attrs: &[(&str, &str)]| attrs.iter().find_map(|(n, _)| Direction::from_attribute(n));
        find(&self.attrs)
            .or_else(|| find(&session.session_attrs))
            .unwrap_or(Direction::SendRecv)
    }
}
