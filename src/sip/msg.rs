//! SIP message framing, limits and parsing (RFC 3261 §7, §18.3, §20): size and header-line
//! caps are enforced before any parsing. The values every message carries (From, To, CSeq,
//! header lines) are decoded by hand in `lean`; ezk-sip-types does the rest of the grammar.

use bytes::{BufMut, Bytes, BytesMut};
use bytesstr::BytesStr;
use ezk_sip_types::header::HeaderParse;
use ezk_sip_types::header::typed::Via;
use ezk_sip_types::msg::PullParser;
use ezk_sip_types::{Method, Name};
use std::fmt::Write as _;
use std::net::SocketAddr;

/// Largest message we accept on any transport (a UDP datagram can't be larger anyway).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Most header lines we parse; real messages have 10–30.
pub const MAX_HEADER_LINES: usize = 128;

/// Why a message was refused. Each maps to a `400` reason phrase naming the fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MsgError {
    #[error("Message Too Large")]
    TooLarge,
    #[error("Too Many Header Lines")]
    TooManyHeaders,
    #[error("Incomplete Header")]
    Incomplete,
    #[error("Not UTF-8")]
    NotUtf8,
    #[error("Malformed Start Line")]
    BadStartLine,
    #[error("Malformed Header Line")]
    BadHeaderLine,
    #[error("Missing {0} Header")]
    Missing(&'static str),
    #[error("Malformed {0} Header")]
    Malformed(&'static str),
    #[error("CSeq Method Mismatch")]
    CSeqMismatch,
    #[error("Malformed Content-Length")]
    BadContentLength,
    #[error("Body Shorter Than Content-Length")]
    BodyTruncated,
}

/// The outcome of looking for one message at the front of a TCP stream buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// Bytes to skip: CRLF keep-alives (RFC 5626 §3.5.1) between messages.
    KeepAlive(usize),
    /// A whole message of this many bytes is at the front of the buffer.
    Message(usize),
    /// More bytes are needed.
    Partial,
}

/// Finds the extent of the first message in a stream (RFC 3261 §18.3: Content-Length
/// frames a message on stream transports). Enforces the size limit before parsing.
pub fn frame_stream(buf: &[u8]) -> Result<Frame, MsgError> {
    let ws = buf
        .iter()
        .take_while(|b| matches!(b, b'\r' | b'\n'))
        .count();
    if ws > 0 {
        return Ok(Frame::KeepAlive(ws));
    }
    let Some(head_len) = head_end(buf) else {
        return if buf.len() >= MAX_MESSAGE_BYTES {
            Err(MsgError::TooLarge)
        } else {
            Ok(Frame::Partial)
        };
    };
    let head = &buf[..head_len];
    let body_len = content_length(head)?.ok_or(MsgError::Missing("Content-Length"))?;
    let total = head_len + body_len;
    if total > MAX_MESSAGE_BYTES {
        return Err(MsgError::TooLarge);
    }
    Ok(if buf.len() >= total {
        Frame::Message(total)
    } else {
        Frame::Partial
    })
}

/// Length of the head including its blank line, if the blank line has arrived.
fn head_end(buf: &[u8]) -> Option<usize> {
    let limit = buf.len().min(MAX_MESSAGE_BYTES);
    let mut i = 0;
    while i < limit {
        if buf[i] == b'\n' {
            if buf.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if buf.get(i + 1) == Some(&b'\r') && buf.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
    }
    None
}

/// Scans raw head lines for Content-Length (`l` compact form). Cheap: no full parse.
fn content_length(head: &[u8]) -> Result<Option<usize>, MsgError> {
    let mut found = None;
    for line in head.split(|b| *b == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|b| *b == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = std::str::from_utf8(line[colon + 1..].trim_ascii())
                .map_err(|_| MsgError::BadContentLength)?;
            let n: usize = value.parse().map_err(|_| MsgError::BadContentLength)?;
            if found.is_some_and(|f| f != n) {
                return Err(MsgError::BadContentLength);
            }
            found = Some(n);
        }
    }
    Ok(found)
}

/// A request's or response's first line.
#[derive(Debug, Clone)]
pub enum StartLine {
    Request { method: Method, uri: String },
    Response { code: u16, reason: String },
}

/// A parsed SIP message. Header values are kept raw (unfolded) in arrival order; typed
/// views are decoded on demand so that a response can still echo a header whose
/// neighbour was malformed.
#[derive(Debug, Clone)]
pub struct SipMessage {
    pub start: StartLine,
    headers: Vec<(Name, BytesStr)>,
    pub body: Bytes,
}

/// Whether a parsed header has the name a lookup wants. The parser gives every header it
/// knows (compact forms included: `v` is Via) its canonical name, and keeps unknown ones
/// as written, so one case-insensitive comparison of canonical names decides. (ezk's own
/// `Name == Name` compares every spelling of both names as strings: it was a tenth of
/// the SIP task's time at a few thousand calls a second.)
fn same_name(parsed: &Name, wanted: &str) -> bool {
    parsed.as_print_str().eq_ignore_ascii_case(wanted)
}

/// The facts every request must carry (RFC 3261 §8.1.1), decoded once.
#[derive(Debug, Clone)]
pub struct Essentials {
    /// The top Via's sent-by, as transaction keys compare it.
    pub sent_by: String,
    pub branch: String,
    pub call_id: String,
    pub cseq: u32,
    pub cseq_method: Method,
    pub from_tag: Option<String>,
    pub to_tag: Option<String>,
}

impl SipMessage {
    /// Parses one message. `stream` says whether it came over a stream transport, where a
    /// Content-Length is mandatory; on UDP a missing one means "the rest of the datagram".
    pub fn parse(raw: Bytes, stream: bool) -> Result<SipMessage, MsgError> {
        if raw.len() > MAX_MESSAGE_BYTES {
            return Err(MsgError::TooLarge);
        }
        let head_len = head_end(&raw).ok_or(MsgError::Incomplete)?;
        // Every byte of the head is in the start line or a header line (or is a line
        // break), and each of those is checked to be UTF-8 below.
        let head = unfold(raw.slice(..head_len));

        let mut lines = PullParser::new(&head, 0);
        let first = match lines.next() {
            Some(Ok(line)) => line,
            _ => return Err(MsgError::BadStartLine),
        };
        let first = std::str::from_utf8(first).map_err(|_| MsgError::NotUtf8)?;
        let start = lean::start_line(first).ok_or(MsgError::BadStartLine)?;

        let mut headers = Vec::with_capacity(16);
        for line in lines {
            let line = line.map_err(|_| MsgError::Incomplete)?;
            if headers.len() == MAX_HEADER_LINES {
                return Err(MsgError::TooManyHeaders);
            }
            let text = std::str::from_utf8(line).map_err(|_| MsgError::NotUtf8)?;
            let (name, value) = lean::header_line(text).ok_or(MsgError::BadHeaderLine)?;
            headers.push((
                lean::header_name(&head, name),
                BytesStr::from_parse(&head, value),
            ));
        }
        let mut declared = None;
        for (_, v) in headers
            .iter()
            .filter(|(n, _)| same_name(n, "Content-Length"))
        {
            let n: usize = v.as_str().parse().map_err(|_| MsgError::BadContentLength)?;
            if declared.is_some_and(|d| d != n) {
                return Err(MsgError::BadContentLength);
            }
            declared = Some(n);
        }
        let available = raw.len() - head_len;
        let body_len = match declared {
            Some(n) if n > available => return Err(MsgError::BodyTruncated),
            Some(n) => n,
            None if stream => return Err(MsgError::Missing("Content-Length")),
            None => available,
        };
        let body = raw.slice(head_len..head_len + body_len);
        Ok(SipMessage {
            start,
            headers,
            body,
        })
    }

    pub fn method(&self) -> Option<&Method> {
        match &self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match &self.start {
            StartLine::Response { code, .. } => Some(*code),
            StartLine::Request { .. } => None,
        }
    }

    /// Every raw value of a header, in order; comma-joined values stay one entry.
    pub fn values<'a>(&'a self, name: &'a Name) -> impl Iterator<Item = &'a BytesStr> + 'a {
        let wanted = name.as_print_str();
        self.headers
            .iter()
            .filter(move |(n, _)| same_name(n, wanted))
            .map(|(_, v)| v)
    }

    pub fn first(&self, name: &Name) -> Option<&BytesStr> {
        let wanted = name.as_print_str();
        self.headers
            .iter()
            .find(|(n, _)| same_name(n, wanted))
            .map(|(_, v)| v)
    }

    pub fn has(&self, name: &Name) -> bool {
        self.first(name).is_some()
    }

    /// Comma-separated list headers (Require, Supported, Allow…) flattened into tokens.
    pub fn tokens<'a>(&'a self, name: &'a Name) -> impl Iterator<Item = &'a str> + 'a {
        self.values(name)
            .flat_map(|v| v.as_str().split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }

    /// All Via entries, top first, split across lines and commas.
    pub fn vias(&self) -> Result<Vec<Via>, MsgError> {
        let mut out = Vec::new();
        for raw in self.values(&Name::VIA) {
            let mut rest = raw.as_str();
            while !rest.trim().is_empty() {
                let (r, via) =
                    Via::parse(raw.as_ref(), rest).map_err(|_| MsgError::Malformed("Via"))?;
                out.push(via);
                rest = r.trim_start().strip_prefix(',').unwrap_or(r);
                if rest.len() == r.len() && !rest.trim().is_empty() {
                    return Err(MsgError::Malformed("Via"));
                }
            }
        }
        Ok(out)
    }

    /// The top Via entry (the first of a comma-joined line).
    pub fn top_via(&self) -> Result<TopVia<'_>, MsgError> {
        let raw = self.first(&Name::VIA).ok_or(MsgError::Missing("Via"))?;
        lean::top_via(raw.as_str()).map_err(|_| MsgError::Malformed("Via"))
    }

    /// The CSeq number and method.
    pub fn cseq(&self) -> Result<(u32, Method), MsgError> {
        let raw = self.first(&Name::CSEQ).ok_or(MsgError::Missing("CSeq"))?;
        lean::cseq(raw.as_str()).map_err(|_| MsgError::Malformed("CSeq"))
    }

    /// Decodes what every request needs for transaction and dialog matching.
    pub fn essentials(&self) -> Result<Essentials, MsgError> {
        let via = self.top_via()?;
        let branch = via.branch.unwrap_or_default().to_owned();
        let sent_by = via.sent_by();
        let call_id = self
            .first(&Name::CALL_ID)
            .ok_or(MsgError::Missing("Call-ID"))?
            .to_string();
        if call_id.is_empty() {
            return Err(MsgError::Malformed("Call-ID"));
        }
        let (cseq, cseq_method) = self.cseq()?;
        let tag = |name: &Name, label: &'static str| -> Result<Option<String>, MsgError> {
            let raw = self.first(name).ok_or(MsgError::Missing(label))?;
            lean::from_to_tag(raw.as_str())
                .map(|t| t.map(str::to_owned))
                .map_err(|_| MsgError::Malformed(label))
        };
        let from_tag = tag(&Name::FROM, "From")?;
        let to_tag = tag(&Name::TO, "To")?;
        if let Some(m) = self.method()
            && *m != cseq_method
            && *m != Method::ACK
        {
            return Err(MsgError::CSeqMismatch);
        }
        Ok(Essentials {
            sent_by,
            branch,
            call_id,
            cseq,
            cseq_method,
            from_tag,
            to_tag,
        })
    }

    /// Max-Forwards, or 70 when absent (RFC 3261 §8.1.1.6 recommends 70).
    pub fn max_forwards(&self) -> Result<u32, MsgError> {
        match self.first(&Name::MAX_FORWARDS) {
            None => Ok(70),
            Some(v) => v
                .as_str()
                .parse()
                .map_err(|_| MsgError::Malformed("Max-Forwards")),
        }
    }

    pub fn content_type(&self) -> Option<&str> {
        self.first(&Name::CONTENT_TYPE).map(|v| v.as_str())
    }
}

/// Replaces folded continuation lines (CRLF followed by SP/HT, RFC 3261 §7.3.1) with a
/// single space. Copies only when a fold is present, which is rare.
fn unfold(head: Bytes) -> Bytes {
    let folded = head
        .windows(2)
        .any(|w| w[0] == b'\n' && matches!(w[1], b' ' | b'\t'));
    if !folded {
        return head;
    }
    let mut out = BytesMut::with_capacity(head.len());
    let mut i = 0;
    while i < head.len() {
        let b = head[i];
        let at_fold = |j: usize| head.get(j).is_some_and(|c| matches!(c, b' ' | b'\t'));
        if b == b'\r' && head.get(i + 1) == Some(&b'\n') && at_fold(i + 2) {
            i += 2;
        } else if b == b'\n' && at_fold(i + 1) {
            i += 1;
        } else {
            out.put_u8(b);
            i += 1;
            continue;
        }
        while at_fold(i) {
            i += 1;
        }
        out.put_u8(b' ');
    }
    out.freeze()
}

/// Builds a response to `req` (RFC 3261 §8.2.6): Via, From, To, Call-ID and CSeq are
/// copied; the top Via gets `received`/`rport` (RFC 3581) for the address the request
/// came from; a To tag is added when the request had none.
pub struct ResponseBuilder {
    text: String,
    body: Bytes,
}

impl ResponseBuilder {
    pub fn new(req: &SipMessage, code: u16, reason: &str, source: SocketAddr) -> Self {
        let mut text = String::with_capacity(512);
        let _ = write!(text, "SIP/2.0 {code} {reason}\r\n");
        let mut top = true;
        for via in req.values(&Name::VIA) {
            if top {
                let _ = write!(text, "Via: {}\r\n", stamp_via(via.as_str(), source));
                top = false;
            } else {
                let _ = write!(text, "Via: {via}\r\n");
            }
        }
        for (name, label) in [(Name::FROM, "From"), (Name::TO, "To")] {
            if let Some(v) = req.first(&name) {
                let _ = write!(text, "{label}: {v}\r\n");
            }
        }
        for (name, label) in [(Name::CALL_ID, "Call-ID"), (Name::CSEQ, "CSeq")] {
            if let Some(v) = req.first(&name) {
                let _ = write!(text, "{label}: {v}\r\n");
            }
        }
        ResponseBuilder {
            text,
            body: Bytes::new(),
        }
    }

    /// Adds `;tag=` to the To line unless the request's To already had one.
    pub fn to_tag(mut self, tag: &str) -> Self {
        if let Some(start) = self.text.find("\r\nTo: ") {
            let line_start = start + 2;
            let line_end = line_start + self.text[line_start..].find("\r\n").unwrap_or(0);
            let line = &self.text[line_start..line_end];
            if !has_tag_param(line) {
                self.text.insert_str(line_end, &format!(";tag={tag}"));
            }
        }
        self
    }

    pub fn header(mut self, name: &str, value: impl std::fmt::Display) -> Self {
        let _ = write!(self.text, "{name}: {value}\r\n");
        self
    }

    pub fn body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        let _ = write!(self.text, "Content-Type: {content_type}\r\n");
        self.body = body.into();
        self
    }

    pub fn build(self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.text.len() + self.body.len() + 32);
        out.put_slice(self.text.as_bytes());
        let _ = write!(
            StringSink(&mut out),
            "Server: centralino\r\nContent-Length: {}\r\n\r\n",
            self.body.len()
        );
        out.put_slice(&self.body);
        out.freeze()
    }
}

struct StringSink<'a>(&'a mut BytesMut);
impl std::fmt::Write for StringSink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put_slice(s.as_bytes());
        Ok(())
    }
}

/// Does a From/To line carry a `tag` parameter outside its `<...>` URI?
fn has_tag_param(line: &str) -> bool {
    let params = match line.rfind('>') {
        Some(gt) => &line[gt..],
        None => line,
    };
    params
        .split(';')
        .skip(1)
        .any(|p| p.trim().to_ascii_lowercase().starts_with("tag="))
}

/// Adds `received` (RFC 3261 §18.2.1; always, which is harmless) and fills `rport`
/// (RFC 3581 §4) on the top Via entry, so the client can match the response.
fn stamp_via(via: &str, source: SocketAddr) -> String {
    // A comma-joined Via line: only its first entry is ours to stamp.
    let (first, rest) = via.split_at(via.find(',').unwrap_or(via.len()));
    let mut parts = first.split(';');
    let mut out = String::with_capacity(via.len() + 48);
    out.push_str(parts.next().unwrap_or_default().trim());
    for p in parts.map(str::trim) {
        let name = p.split('=').next().unwrap_or_default().trim_end();
        if name.eq_ignore_ascii_case("received") {
            continue;
        }
        out.push(';');
        if name.eq_ignore_ascii_case("rport") {
            let _ = write!(out, "rport={}", source.port());
        } else {
            out.push_str(p);
        }
    }
    let _ = write!(out, ";received={}{rest}", source.ip());
    out
}

/// A `400` for a request too broken to parse, built from its raw lines, when a response
/// can still be addressed: the first line must look like a request other than ACK and a
/// Via line must be present. Otherwise `None`: the message is dropped.
pub fn raw_bad_request(raw: &[u8], fault: &MsgError, source: SocketAddr) -> Option<Bytes> {
    let head = &raw[..raw.len().min(MAX_MESSAGE_BYTES)];
    let mut lines = head
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let first = std::str::from_utf8(lines.next()?).ok()?;
    let mut parts = first.split_ascii_whitespace();
    let method = parts.next()?;
    let _uri = parts.next()?;
    let version = parts.next()?;
    let looks_like_request = method.bytes().all(|b| b.is_ascii_uppercase())
        && version.starts_with("SIP/")
        && parts.next().is_none();
    if !looks_like_request || method == "ACK" {
        return None;
    }
    // §8.2.6 / §21.5.20: another protocol version gets 505, not 400.
    let mut text = if version == "SIP/2.0" {
        format!("SIP/2.0 400 {fault}\r\n")
    } else {
        "SIP/2.0 505 Version Not Supported\r\n".to_owned()
    };
    let mut via_seen = false;
    for line in lines.take_while(|l| !l.is_empty()) {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let label = match name.trim().to_ascii_lowercase().as_str() {
            "via" | "v" => "Via",
            "from" | "f" => "From",
            "to" | "t" => "To",
            "call-id" | "i" => "Call-ID",
            "cseq" => "CSeq",
            _ => continue,
        };
        let value = value.trim();
        if label == "Via" && !via_seen {
            via_seen = true;
            let _ = write!(text, "Via: {}\r\n", stamp_via(value, source));
        } else {
            let _ = write!(text, "{label}: {value}\r\n");
        }
    }
    if !via_seen {
        return None;
    }
    text.push_str("Server: centralino\r\nContent-Length: 0\r\n\r\n");
    Some(Bytes::from(text))
}

mod lean;
pub use lean::TopVia;

#[cfg(test)]
mod tests;
