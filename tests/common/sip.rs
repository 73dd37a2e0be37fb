//! Literal SIP (RFC 3261) over raw sockets: a small message parser that knows compact
//! header names and folding, and UDP / TCP clients (RFC 3261 §18.3 framing).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use super::*;

/// A parsed SIP message (just enough for assertions): start line, unfolded headers, body.
#[derive(Clone, Debug)]
pub struct SipMessage {
    pub start_line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub raw: String,
}

/// Long form of a compact header name (RFC 3261 §7.3.3 and friends).
fn long_header_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    match lower.as_str() {
        "v" => "via",
        "f" => "from",
        "t" => "to",
        "i" => "call-id",
        "m" => "contact",
        "l" => "content-length",
        "c" => "content-type",
        "s" => "subject",
        "k" => "supported",
        "e" => "content-encoding",
        other => return other.to_string(),
    }
    .to_string()
}

impl SipMessage {
    pub fn parse(bytes: &[u8]) -> Option<SipMessage> {
        let raw = String::from_utf8_lossy(bytes).into_owned();
        let (head, body) = match raw.find("\r\n\r\n") {
            Some(i) => (&raw[..i], raw[i + 4..].to_string()),
            None => (raw.as_str(), String::new()),
        };
        let mut lines = head.split("\r\n");
        let start_line = lines.next()?.to_string();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = headers.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line.trim());
                }
                continue;
            }
            let (name, value) = line.split_once(':')?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        Some(SipMessage {
            start_line,
            headers,
            body,
            raw,
        })
    }

    pub fn is_response(&self) -> bool {
        self.start_line.starts_with("SIP/2.0 ")
    }

    /// Status code of a response.
    pub fn status(&self) -> Option<u16> {
        if !self.is_response() {
            return None;
        }
        self.start_line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Reason phrase of a response.
    pub fn reason(&self) -> String {
        self.start_line
            .splitn(3, ' ')
            .nth(2)
            .unwrap_or("")
            .trim()
            .to_string()
    }

    /// Method of a request.
    pub fn method(&self) -> Option<&str> {
        if self.is_response() {
            return None;
        }
        self.start_line.split_whitespace().next()
    }

    /// First value of a header (compact and long names both match).
    pub fn header(&self, name: &str) -> Option<&str> {
        let want = long_header_name(name);
        self.headers
            .iter()
            .find(|(n, _)| long_header_name(n) == want)
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header, comma-joined lines kept separate.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        let want = long_header_name(name);
        self.headers
            .iter()
            .filter(|(n, _)| long_header_name(n) == want)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn cseq_number(&self) -> Option<u32> {
        self.header("cseq")?.split_whitespace().next()?.parse().ok()
    }

    pub fn cseq_method(&self) -> Option<&str> {
        self.header("cseq")?.split_whitespace().nth(1)
    }

    /// `branch` parameter of the top Via.
    pub fn via_branch(&self) -> Option<String> {
        let via = self.header("via")?;
        let first = via.split(',').next()?;
        first.split(';').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.eq_ignore_ascii_case("branch")
                .then(|| v.trim().to_string())
        })
    }

    /// `tag` parameter of the To header.
    pub fn to_tag(&self) -> Option<String> {
        let to = self.header("to")?;
        let params = to.rsplit_once('>').map(|(_, p)| p).unwrap_or(to);
        params.split(';').find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.eq_ignore_ascii_case("tag").then(|| v.trim().to_string())
        })
    }
}

/// A literal-SIP client over UDP on a socket of its own.
pub struct SipUdp {
    pub sock: UdpSocket,
    pub daemon: SocketAddr,
}

impl SipUdp {
    pub fn new(daemon: SocketAddr) -> SipUdp {
        let sock = UdpSocket::bind((LOOPBACK, 0)).expect("bind SIP client socket");
        SipUdp { sock, daemon }
    }

    pub fn local_port(&self) -> u16 {
        self.sock.local_addr().unwrap().port()
    }

    pub fn send(&self, bytes: &[u8]) {
        self.sock
            .send_to(bytes, self.daemon)
            .unwrap_or_else(|e| panic!("send {} bytes to {}: {e}", bytes.len(), self.daemon));
    }

    /// Next SIP message until `deadline` (`None` at the deadline).
    pub fn recv_until(&self, deadline: Instant) -> Option<SipMessage> {
        let mut buf = vec![0u8; 65536];
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            if left.is_zero() {
                return None;
            }
            self.sock.set_read_timeout(Some(left)).unwrap();
            match self.sock.recv_from(&mut buf) {
                Ok((n, _)) => {
                    if let Some(m) = SipMessage::parse(&buf[..n]) {
                        return Some(m);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits for a response matching `pred`, collecting everything seen on the way.
    pub fn wait_response(
        &self,
        limit: Duration,
        mut pred: impl FnMut(&SipMessage) -> bool,
        seen: &mut Vec<SipMessage>,
    ) -> Option<SipMessage> {
        let deadline = Instant::now() + limit;
        while let Some(m) = self.recv_until(deadline) {
            seen.push(m.clone());
            if pred(&m) {
                return Some(m);
            }
        }
        None
    }

    /// A plain OPTIONS request from this socket.
    pub fn options_request(&self, call_id: &str, cseq: u32) -> String {
        let me = self.local_port();
        let d = self.daemon;
        format!(
            "OPTIONS sip:ping@{d} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {LOOPBACK}:{me};branch=z9hG4bK-{}-{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:harness@{LOOPBACK}:{me}>;tag=harness{me}\r\n\
             To: <sip:ping@{d}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} OPTIONS\r\n\
             Accept: application/sdp\r\n\
             Content-Length: 0\r\n\r\n",
            token()
        )
    }
}

/// A literal-SIP client over one TCP connection (RFC 3261 §18.3 framing).
pub struct SipTcp {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl SipTcp {
    pub fn connect(daemon: SocketAddr) -> SipTcp {
        let stream = TcpStream::connect_timeout(&daemon, Duration::from_secs(3))
            .unwrap_or_else(|e| panic!("TCP connect to {daemon}: {e}"));
        stream.set_nodelay(true).ok();
        SipTcp {
            stream,
            buf: Vec::new(),
        }
    }

    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().unwrap().port()
    }

    /// Writes bytes; returns false if the connection is gone.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok() && self.stream.flush().is_ok()
    }

    /// Next message by Content-Length framing; `Err` says why none came (closed / timeout).
    pub fn recv(&mut self, limit: Duration) -> Result<SipMessage, String> {
        let deadline = Instant::now() + limit;
        loop {
            // Skip CRLF keep-alives in front of a message.
            while self.buf.starts_with(b"\r\n") {
                self.buf.drain(..2);
            }
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let len = head
                    .split("\r\n")
                    .skip(1)
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        (long_header_name(n.trim()) == "content-length")
                            .then(|| v.trim().parse::<usize>().ok())
                            .flatten()
                    })
                    .unwrap_or(0);
                let total = end + 4 + len;
                if self.buf.len() >= total {
                    let msg: Vec<u8> = self.buf.drain(..total).collect();
                    return SipMessage::parse(&msg).ok_or_else(|| "unparsable message".into());
                }
            }
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| "timed out".to_string())?;
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 8192];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err("connection closed by the daemon".into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err("timed out".into());
                }
                Err(e) => return Err(format!("read error: {e}")),
            }
        }
    }

    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A minimal SDP offer: PCMU + telephone-event/101, audio to `port` on loopback.
pub fn sdp_offer(port: u16) -> String {
    format!(
        "v=0\r\n\
         o=harness 1 1 IN IP4 {LOOPBACK}\r\n\
         s=-\r\n\
         c=IN IP4 {LOOPBACK}\r\n\
         t=0 0\r\n\
         m=audio {port} RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\n\
         a=fmtp:101 0-15\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n"
    )
}
