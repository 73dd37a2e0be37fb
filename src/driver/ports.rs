//! The RTP port pool: one UDP socket per call from the configured range. Ports are
//! reused oldest-first so a late packet of an ended call rarely reaches a new one.

use crate::config::PortRange;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr, UdpSocket};

pub struct PortPool {
    ip: IpAddr,
    free: VecDeque<u16>,
}

impl PortPool {
    pub fn new(ip: IpAddr, range: PortRange) -> Self {
        PortPool {
            ip,
            // Every port, odd ones too: we announce no RTCP, so RTP needs no even/odd
            // pair (RFC 3550 §11 only recommends it), and the range serves twice the calls.
            free: (range.low..=range.high).collect(),
        }
    }

    /// Binds a non-blocking socket on a free port; ports held by other programs are
    /// skipped and put back at the end.
    pub fn allocate(&mut self) -> Option<(u16, UdpSocket)> {
        for _ in 0..self.free.len().min(64) {
            let port = self.free.pop_front()?;
            match bind_nonblocking(SocketAddr::new(self.ip, port)) {
                Ok(socket) => return Some((port, socket)),
                Err(_) => self.free.push_back(port),
            }
        }
        None
    }

    pub fn release(&mut self, port: u16) {
        self.free.push_back(port);
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }
}

/// A UDP socket bound to `addr`, created non-blocking (and close-on-exec): two system
/// calls per call set-up instead of three.
fn bind_nonblocking(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM.nonblocking(), None)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}
