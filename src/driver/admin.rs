//! The admin HTTP endpoint (HTTP/1.1, RFC 9112, just enough of it): `GET /metrics` in
//! the Prometheus text format and `GET /health`. Each request asks the SIP task, which
//! owns the counters, for a fresh rendering.

use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// A request for the metrics text, answered by the SIP task.
pub type MetricsRequest = oneshot::Sender<String>;

/// Serves until the process ends. A port already in use is logged, not fatal: the
/// switchboard matters more than its counters.
pub async fn serve(addr: SocketAddr, requests: mpsc::UnboundedSender<MetricsRequest>) {
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(%addr, %e, "admin endpoint not started");
            return;
        }
    };
    tracing::info!(%addr, "admin endpoint: /metrics, /health");
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let requests = requests.clone();
        tokio::spawn(async move {
            // Read the whole head (a client may send it in pieces): closing with unread
            // bytes would reset the connection instead of ending it cleanly.
            let mut buf = Vec::with_capacity(1024);
            let read_head = async {
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 8192 {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return false,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                true
            };
            match tokio::time::timeout(std::time::Duration::from_secs(5), read_head).await {
                Ok(true) => {}
                _ => return,
            }
            let n = buf.len();
            let head = String::from_utf8_lossy(&buf[..n]);
            let mut parts = head.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            let (status, ctype, body) = match (method, path) {
                ("GET", "/metrics") => {
                    let (tx, rx) = oneshot::channel();
                    let _ = requests.send(tx);
                    match rx.await {
                        Ok(text) => ("200 OK", "text/plain; version=0.0.4", text),
                        Err(_) => ("503 Service Unavailable", "text/plain", "stopping\n".into()),
                    }
                }
                ("GET", "/health") => ("200 OK", "text/plain", "ok\n".into()),
                ("GET", _) => ("404 Not Found", "text/plain", "not found\n".into()),
                _ => ("405 Method Not Allowed", "text/plain", "GET only\n".into()),
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}
