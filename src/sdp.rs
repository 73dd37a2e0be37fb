//! SDP offer/answer for one G.711 audio stream: SDP per RFC 8866 (was RFC 4566), offer/answer per RFC 3264, DTMF as RFC 4733 telephone-event. Pure: no sockets, no clock.
//!
//! Three entry points:
//! - [`answer`]: an INVITE (or re-INVITE) carried an offer; pick the media and build our answer.
//! - [`offer`]: an INVITE came without SDP; we offer in the 200 OK.
//! - [`accept_answer`]: the ACK carried the answer to that offer.
//!
//! Negotiation rules:
//! - The audio stream is the first `m=audio` line with proto `RTP/AVP` and a G.711 format
//!   (PT 0/8, or any PT whose `a=rtpmap` says PCMU/8000 or PCMA/8000, case-insensitive),
//!   preferring one with a non-zero port. Its first G.711 format wins: the offerer's order
//!   is its preference. SRTP profiles (`RTP/SAVP`, `RTP/SAVPF`, ...) and `RTP/AVPF` are
//!   never chosen. Every other `m=` line is answered with port 0 (RFC 3264 §6), keeping
//!   the line count and order.
//! - telephone-event/8000 is answered at the payload type the offer used, with
//!   `a=fmtp:<pt> 0-16`.
//! - Direction is mirrored (their sendonly is our recvonly, ...). The media-level
//!   attribute wins over the session-level one; none means sendrecv.
//! - Hold: `c=0.0.0.0` (old-style hold, RFC 3264 §8.4) gives `remote_rtp: None` with the
//!   direction mirrored as usual; the caller must not send without a remote address. An
//!   audio stream offered with port 0 is disabled: our answer repeats port 0, and the
//!   params say `remote_rtp: None`, `Inactive`.
//! - A re-INVITE goes through the same [`answer`]; the caller bumps
//!   [`LocalSession::version`] for each new description it sends.

mod parse;
#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::media::codec::Codec;
use parse::{Media, Sdp};

/// The packet time we send, and the default when the peer gives no `a=ptime`.
pub const DEFAULT_PTIME_MS: u32 = 20;

/// The payload type we use for telephone-event in our own offers.
pub const OFFER_DTMF_PAYLOAD_TYPE: u8 = 101;

/// Why a session description could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// Not valid SDP, or missing something we need (such as the stream's `c=`).
    #[error("malformed SDP: {0}")]
    Malformed(String),
    /// No plain-RTP audio stream with PCMU or PCMA: the endpoint replies 488.
    #[error("no common codec: no RTP/AVP audio stream offering PCMU or PCMA")]
    NoCommonCodec,
}

/// A stream direction (RFC 8866 §6.7), as an `a=` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The answerer's direction for an offered one (RFC 3264 §6.1).
    pub const fn mirror(self) -> Self {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// The attribute name, as in `a=sendrecv`.
    pub const fn attribute(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// Whether this side sends media.
    pub const fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether this side expects to receive media.
    pub const fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn from_attribute(name: &str) -> Option<Self> {
        [
            Direction::SendRecv,
            Direction::SendOnly,
            Direction::RecvOnly,
            Direction::Inactive,
        ]
        .into_iter()
        .find(|d| d.attribute().eq_ignore_ascii_case(name))
    }
}

/// What the call's media will use, from the negotiated descriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaParams {
    pub codec: Codec,
    /// The payload type to send with: 0 or 8, or the peer's dynamic PT mapped to G.711.
    pub payload_type: u8,
    /// telephone-event/8000 payload type as the peer gave it (e.g. 101, 96).
    pub dtmf_payload_type: Option<u8>,
    /// The peer's `a=ptime`, default 20. We always send 20 ms; this is recorded only.
    pub ptime_ms: u32,
    /// Where to send RTP: `c=` address + `m=` port. `None` on hold (`c=0.0.0.0`) or port 0.
    pub remote_rtp: Option<SocketAddr>,
    /// OUR direction: the mirror of the peer's (their sendonly => our recvonly).
    pub direction: Direction,
}

/// Our side of the session: address, RTP port and the `o=` line's id and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSession {
    pub ip: IpAddr,
    pub rtp_port: u16,
    pub session_id: u64,
    /// Incremented by the caller for every new description (re-INVITE answers).
    pub version: u64,
}

/// Checks that an offer can be answered, without writing the answer (which needs the
/// RTP port, allocated only once the call is taken).
pub fn check(offer: &str) -> Result<(), SdpError> {
    let sdp = parse::parse(offer)?;
    let (index, chosen) = select_stream(&sdp, None)?;
    media_params(&sdp, &sdp.media[index], chosen).map(|_| ())
}

/// Answers an SDP offer: the media to use and the answer body (CRLF line endings).
pub fn answer(offer: &str, local: &LocalSession) -> Result<(MediaParams, String), SdpError> {
    let sdp = parse::parse(offer)?;
    let (index, chosen) = select_stream(&sdp, None)?;
    let params = media_params(&sdp, &sdp.media[index], chosen)?;

    let mut out = session_header(local);
    for (i, m) in sdp.media.iter().enumerate() {
        if i == index {
            let port = if m.port == 0 { 0 } else { local.rtp_port };
            write_audio(
                &mut out,
                port,
                &[(chosen.payload_type, chosen.codec)],
                chosen.dtmf_payload_type,
                params.direction,
            );
        } else {
            line(
                &mut out,
                format_args!("m={} 0 {} {}", m.kind, m.proto, m.fmts.join(" ")),
            );
        }
    }
    Ok((params, out))
}

/// Our offer, for an INVITE without SDP: PCMU 0, PCMA 8, telephone-event 101, ptime 20,
/// sendrecv.
pub fn offer(local: &LocalSession) -> String {
    let mut out = session_header(local);
    write_audio(
        &mut out,
        local.rtp_port,
        &[(0, Codec::Pcmu), (8, Codec::Pcma)],
        Some(OFFER_DTMF_PAYLOAD_TYPE),
        Direction::SendRecv,
    );
    out
}

/// Reads the answer (in the ACK) to our [`offer`].
///
/// A format listed without `a=rtpmap` at our telephone-event PT is taken as
/// telephone-event, since our offer defined it.
pub fn accept_answer(answer: &str) -> Result<MediaParams, SdpError> {
    let sdp = parse::parse(answer)?;
    let (index, chosen) = select_stream(&sdp, Some(OFFER_DTMF_PAYLOAD_TYPE))?;
    media_params(&sdp, &sdp.media[index], chosen)
}

/// The formats picked from one `m=audio` line.
#[derive(Debug, Clone, Copy)]
struct Chosen {
    codec: Codec,
    payload_type: u8,
    dtmf_payload_type: Option<u8>,
}

/// What one payload type of an `m=` line carries.
enum Format {
    Audio(Codec),
    TelephoneEvent,
    Other,
}

/// Classifies payload type `pt` by its rtpmap, else by the static table of RFC 3551.
/// `implied_dtmf` is a PT known to be telephone-event without an rtpmap.
fn classify(pt: u8, rtpmap: Option<&str>, implied_dtmf: Option<u8>) -> Format {
    let Some(encoding) = rtpmap else {
        return match pt {
            0 => Format::Audio(Codec::Pcmu),
            8 => Format::Audio(Codec::Pcma),
            _ if Some(pt) == implied_dtmf => Format::TelephoneEvent,
            _ => Format::Other,
        };
    };
    // <encoding name>/<clock rate>[/<channels>]
    let mut parts = encoding.split('/');
    let name = parts.next().unwrap_or("");
    let rate = parts.next();
    let channels = parts.next();
    if rate != Some("8000") || !matches!(channels, None | Some("1")) || parts.next().is_some() {
        return Format::Other;
    }
    if name.eq_ignore_ascii_case("PCMU") {
        Format::Audio(Codec::Pcmu)
    } else if name.eq_ignore_ascii_case("PCMA") {
        Format::Audio(Codec::Pcma)
    } else if name.eq_ignore_ascii_case("telephone-event") && channels.is_none() {
        Format::TelephoneEvent
    } else {
        Format::Other
    }
}

/// The G.711 codec and telephone-event of an `m=` line, if it is plain-RTP audio with one.
fn choose(m: &Media<'_>, implied_dtmf: Option<u8>) -> Option<Chosen> {
    if !m.kind.eq_ignore_ascii_case("audio") || !m.proto.eq_ignore_ascii_case("RTP/AVP") {
        return None;
    }
    let formats = m.fmts.iter().filter_map(|fmt| {
        let pt = fmt.parse::<u8>().ok().filter(|&pt| pt < 128)?;
        Some((pt, classify(pt, m.rtpmap(fmt), implied_dtmf)))
    });
    let (payload_type, codec) = formats.clone().find_map(|(pt, f)| match f {
        Format::Audio(codec) => Some((pt, codec)),
        _ => None,
    })?;
    let dtmf_payload_type = formats
        .clone()
        .find_map(|(pt, f)| matches!(f, Format::TelephoneEvent).then_some(pt));
    Some(Chosen {
        codec,
        payload_type,
        dtmf_payload_type,
    })
}

/// The index of the audio stream we use: the first usable one with a non-zero port,
/// else the first usable one (disabled, port 0).
fn select_stream(sdp: &Sdp<'_>, implied_dtmf: Option<u8>) -> Result<(usize, Chosen), SdpError> {
    if sdp.media.is_empty() {
        return Err(SdpError::Malformed("no m= line".into()));
    }
    let usable = || {
        sdp.media
            .iter()
            .enumerate()
            .filter_map(|(i, m)| Some((i, choose(m, implied_dtmf)?)))
    };
    usable()
        .find(|&(i, _)| sdp.media[i].port != 0)
        .or_else(|| usable().next())
        .ok_or(SdpError::NoCommonCodec)
}

fn media_params(sdp: &Sdp<'_>, m: &Media<'_>, chosen: Chosen) -> Result<MediaParams, SdpError> {
    let ptime_ms = m
        .attr(sdp, "ptime")
        .and_then(parse_ptime)
        .unwrap_or(DEFAULT_PTIME_MS);
    let (remote_rtp, direction) = if m.port == 0 {
        (None, Direction::Inactive)
    } else {
        let Some((n, conn)) = m.conn.or(sdp.session_conn) else {
            return Err(SdpError::Malformed(format!(
                "no c= line for the m={} on line {}, neither in the media nor at session level",
                m.kind, m.line
            )));
        };
        let ip = parse::parse_connection(n, conn)?;
        let remote = (!ip.is_unspecified()).then(|| SocketAddr::new(ip, m.port));
        (remote, m.direction(sdp).mirror())
    };
    Ok(MediaParams {
        codec: chosen.codec,
        payload_type: chosen.payload_type,
        dtmf_payload_type: chosen.dtmf_payload_type,
        ptime_ms,
        remote_rtp,
        direction,
    })
}

/// `a=ptime` in milliseconds; some stacks write decimals ("20.0"). Junk or 0 is ignored.
fn parse_ptime(value: &str) -> Option<u32> {
    let ms = match value.parse::<u32>() {
        Ok(ms) => ms,
        Err(_) => {
            let ms = value.parse::<f64>().ok()?.round();
            if !(1.0..=10_000.0).contains(&ms) {
                return None;
            }
            ms as u32
        }
    };
    (ms > 0).then_some(ms)
}

/// Appends one line with its CRLF.
fn line(out: &mut String, args: std::fmt::Arguments<'_>) {
    // Writing into a String cannot fail.
    let _ = out.write_fmt(args);
    out.push_str("\r\n");
}

/// v=, o=, s=, c=, t= for our description.
fn session_header(local: &LocalSession) -> String {
    let family = match local.ip {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    };
    let mut out = String::with_capacity(256);
    line(&mut out, format_args!("v=0"));
    line(
        &mut out,
        format_args!(
            "o=centralino {} {} IN {family} {}",
            local.session_id, local.version, local.ip
        ),
    );
    line(&mut out, format_args!("s=centralino"));
    line(&mut out, format_args!("c=IN {family} {}", local.ip));
    line(&mut out, format_args!("t=0 0"));
    out
}

/// Our `m=audio` section: formats in order, telephone-event last.
fn write_audio(
    out: &mut String,
    port: u16,
    codecs: &[(u8, Codec)],
    dtmf: Option<u8>,
    direction: Direction,
) {
    let _ = write!(out, "m=audio {port} RTP/AVP");
    for pt in codecs.iter().map(|(pt, _)| *pt).chain(dtmf) {
        let _ = write!(out, " {pt}");
    }
    out.push_str("\r\n");
    for (pt, codec) in codecs {
        line(out, format_args!("a=rtpmap:{pt} {}/8000", codec.name()));
    }
    if let Some(pt) = dtmf {
        line(out, format_args!("a=rtpmap:{pt} telephone-event/8000"));
        line(out, format_args!("a=fmtp:{pt} 0-16"));
    }
    line(out, format_args!("a=ptime:{DEFAULT_PTIME_MS}"));
    line(out, format_args!("a={}", direction.attribute()));
}
