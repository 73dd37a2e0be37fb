//! SIP over TCP (RFC 3261 §18.3): accepts connections, frames the byte stream by
//! Content-Length with our size limits, and writes responses back on the same connection.

use crate::sip::endpoint::ConnId;
use crate::sip::msg::{Frame, frame_stream, raw_bad_request};
use bytes::{Bytes, BytesMut};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

/// What connections tell the SIP task.
pub enum TcpEvent {
    Opened {
        conn: ConnId,
        writer: UnboundedSender<Bytes>,
    },
    Message {
        conn: ConnId,
        peer: SocketAddr,
        bytes: Bytes,
    },
    Closed {
        conn: ConnId,
    },
}

/// Accepts connections forever, numbering them.
pub async fn accept_loop(listener: TcpListener, events: UnboundedSender<TcpEvent>) {
    let mut next = 1u64;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and the like: wait a little rather than spin.
                tracing::warn!(%e, "TCP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let conn = ConnId(next);
        next += 1;
        let (mut reader, mut writer) = stream.into_split();
        let (tx, mut rx) = unbounded_channel::<Bytes>();
        if events
            .send(TcpEvent::Opened {
                conn,
                writer: tx.clone(),
            })
            .is_err()
        {
            return;
        }
        tokio::spawn(async move {
            while let Some(bytes) = rx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        let events = events.clone();
        tokio::spawn(async move {
            read_messages(&mut reader, conn, peer, &events, &tx).await;
            let _ = events.send(TcpEvent::Closed { conn });
        });
    }
}

async fn read_messages(
    reader: &mut tokio::net::tcp::OwnedReadHalf,
    conn: ConnId,
    peer: SocketAddr,
    events: &UnboundedSender<TcpEvent>,
    writer: &UnboundedSender<Bytes>,
) {
    let mut buf = BytesMut::with_capacity(8192);
    loop {
        match frame_stream(&buf) {
            Ok(Frame::KeepAlive(n)) => {
                let _ = buf.split_to(n);
                continue;
            }
            Ok(Frame::Message(n)) => {
                let bytes = buf.split_to(n).freeze();
                if events
                    .send(TcpEvent::Message { conn, peer, bytes })
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Ok(Frame::Partial) => {}
            Err(fault) => {
                // The stream cannot be resynchronised: answer if possible, then close.
                tracing::info!(%fault, %peer, "closing TCP connection after a framing error");
                if let Some(resp) = raw_bad_request(&buf, &fault, peer) {
                    let _ = writer.send(resp);
                }
                return;
            }
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
