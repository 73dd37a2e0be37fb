//! The daemon's admin HTTP endpoint from a test: a free loopback address for
//! `admin.listen`, waiting until the endpoint answers `GET /health`, and plain HTTP/1.1
//! requests (RFC 9112) on a fresh connection each, read to EOF (the endpoint closes).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use super::*;

/// A loopback address free right now, for `admin: {listen: ...}`.
pub fn free_admin_addr() -> SocketAddr {
    format!("{LOOPBACK}:{}", free_udp_tcp_port())
        .parse()
        .expect("a socket address")
}

/// One HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpReply {
    pub status: u16,
    /// Names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (panics, showing the answer, when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("answer body is not JSON ({e}): {self:?}"))
    }
}

/// `method path` with `headers` and an optional body, sent in one write on a fresh
/// connection; the answer is read to EOF. Panics on a network error.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> HttpReply {
    try_http_request(addr, method, path, headers, body)
        .unwrap_or_else(|e| panic!("{method} http://{addr}{path}: {e}"))
}

/// `POST path` with a JSON body.
pub fn post_json(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &serde_json::Value,
) -> HttpReply {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    http_request(addr, "POST", path, &all, Some(&body.to_string()))
}

fn try_http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<HttpReply, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    request.push_str(body);
    s.write_all(request.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("read the answer to EOF: {e}"))?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no header/body split in {text:?}"))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(HttpReply {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// Waits until the admin endpoint on `addr` answers `GET /health` with 200; panics
/// (with the daemon's log tail) after `limit`, or at once if the daemon says the
/// endpoint was not started.
pub fn wait_admin_up(daemon: &Daemon, addr: SocketAddr, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let last = match try_http_request(addr, "GET", "/health", &[], None) {
            Ok(r) if r.status == 200 => return,
            Ok(r) => format!("status {}: {}", r.status, r.body),
            Err(e) => e,
        };
        let log = daemon.log();
        assert!(
            !log.contains("admin endpoint not started"),
            "[{}] the admin endpoint on {addr} was not started:\n{}",
            daemon.name(),
            tail(&log, 40)
        );
        assert!(
            Instant::now() < deadline,
            "[{}] the admin endpoint on {addr} did not answer GET /health within {limit:?} \
             ({last})",
            daemon.name()
        );
        thread::sleep(Duration::from_millis(50));
    }
}
