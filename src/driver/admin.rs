//! The admin HTTP endpoint (HTTP/1.1, RFC 9112, just enough of it): `GET /metrics` in
//! the Prometheus text format, `GET /health`, and the operator console's
//! `POST /api/tickets` (RFC 9110 §9.3.3; an `Idempotency-Key` header makes a retried
//! request return the ticket already stored). Each request is answered by the SIP task,
//! which owns the counters, the calls and the plugins.

use serde::Deserialize;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// Largest request body accepted (a ticket's notes are short).
const MAX_BODY: usize = 64 * 1024;

/// What the admin endpoint asks the SIP task.
pub enum AdminRequest {
    /// The metrics text.
    Metrics(oneshot::Sender<String>),
    /// Open a ticket for an operator (their current caller, or the caller named).
    OpenTicket {
        ticket: ApiTicket,
        idempotency_key: Option<String>,
        reply: oneshot::Sender<Result<crate::plugin::Ticket, ApiError>>,
    },
}

/// The body of `POST /api/tickets`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiTicket {
    /// The operator opening it (their id in the operators file).
    pub operator: String,
    /// `pensioni`, `sostegno-reddito`, `contribuente` or `assistenza-informatica`.
    pub section: String,
    pub notes: Option<String>,
    /// Without a caller connected to the operator: the caller's number and the office
    /// number they dialled.
    pub caller: Option<String>,
    pub dialled: Option<String>,
}

/// Why an API request failed, as an HTTP status and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

/// Serves until the process ends. A port already in use is logged, not fatal: the
/// switchboard matters more than its counters.
pub async fn serve(addr: SocketAddr, requests: mpsc::UnboundedSender<AdminRequest>) {
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%addr, %e, "admin endpoint not started");
            return;
        }
    };
    tracing::info!(%addr, "admin endpoint: /metrics, /health, /api/tickets");
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let requests = requests.clone();
        tokio::spawn(async move {
            let read =
                tokio::time::timeout(std::time::Duration::from_secs(5), read_request(&mut stream));
            let (status, ctype, body) = match read.await {
                Ok(Ok(req)) => answer(req, &requests).await,
                Ok(Err(e)) => (400, "text/plain", format!("{}\n", e.message)),
                Err(_) => return,
            };
            let response = format!(
                "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                reason(status),
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

/// One parsed request.
struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the head (a client may send it in pieces) and a `Content-Length` body: closing
/// with unread bytes would reset the connection instead of ending it cleanly.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Result<Request, ApiError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() >= 8192 {
            return Err(ApiError::new(400, "request head too large"));
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err(ApiError::new(400, "incomplete request")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut start = lines.next().unwrap_or("").split_whitespace();
    let (method, path) = (
        start.next().unwrap_or("").to_owned(),
        start.next().unwrap_or("").to_owned(),
    );
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse::<usize>())
        .transpose()
        .map_err(|_| ApiError::new(400, "bad Content-Length"))?
        .unwrap_or(0);
    if length > MAX_BODY {
        return Err(ApiError::new(400, "body too large"));
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err(ApiError::new(400, "body shorter than Content-Length")),
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    Ok(Request {
        method,
        path,
        headers,
        body,
    })
}

async fn answer(
    req: Request,
    requests: &mpsc::UnboundedSender<AdminRequest>,
) -> (u16, &'static str, String) {
    let stopping = (503, "text/plain", "stopping\n".to_owned());
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/metrics") => {
            let (tx, rx) = oneshot::channel();
            let _ = requests.send(AdminRequest::Metrics(tx));
            match rx.await {
                Ok(text) => (200, "text/plain; version=0.0.4", text),
                Err(_) => stopping,
            }
        }
        ("GET", "/health") => (200, "text/plain", "ok\n".into()),
        ("POST", "/api/tickets") => {
            let ticket: ApiTicket = match serde_json::from_slice(&req.body) {
                Ok(t) => t,
                Err(e) => return json_error(&ApiError::new(400, format!("bad ticket JSON: {e}"))),
            };
            let (tx, rx) = oneshot::channel();
            let _ = requests.send(AdminRequest::OpenTicket {
                ticket,
                idempotency_key: req.header("idempotency-key").map(str::to_owned),
                reply: tx,
            });
            match rx.await {
                Ok(Ok(t)) => (
                    201,
                    "application/json",
                    serde_json::to_string(&t).unwrap_or_default() + "\n",
                ),
                Ok(Err(e)) => json_error(&e),
                Err(_) => stopping,
            }
        }
        (_, "/metrics" | "/health") => (405, "text/plain", "GET only\n".into()),
        (_, "/api/tickets") => (405, "text/plain", "POST only\n".into()),
        _ => (404, "text/plain", "not found\n".into()),
    }
}

fn json_error(e: &ApiError) -> (u16, &'static str, String) {
    let body = serde_json::json!({ "error": e.message });
    (e.status, "application/json", body.to_string() + "\n")
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        422 => "Unprocessable Content",
        503 => "Service Unavailable",
        _ => "Error",
    }
}
