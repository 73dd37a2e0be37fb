//! Batched media sends through one raw socket per media worker (raw(7) with IP_HDRINCL,
//! sendmmsg(2)): a tick's packets for every session leave in a few system calls instead
//! of one `sendto` each. Each datagram carries its call's own address and port (RFC 4961
//! symmetric RTP holds: the far end sees the port it sends to). Needs CAP_NET_RAW; without
//! it the worker sends through each call's socket as before.

use crate::media::udp_frame::{HEADERS, write_ipv4_udp};
use std::io;
use std::net::SocketAddrV4;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Room for one datagram: the headers and an RTP packet of up to 40 ms of G.711.
const SLOT: usize = HEADERS + 12 + 320;
/// Datagrams per sendmmsg call.
const BATCH: usize = 1024;

pub struct RawSender {
    fd: OwnedFd,
    frames: Vec<[u8; SLOT]>,
    lens: Vec<usize>,
    dests: Vec<libc::sockaddr_in>,
    queued: usize,
    /// Datagrams the kernel refused (full queues, unreachable): the frame is lost, as a
    /// full socket buffer loses it with `sendto`.
    pub refused: u64,
}

impl RawSender {
    /// The raw socket; fails without CAP_NET_RAW.
    pub fn open() -> io::Result<RawSender> {
        // SAFETY: a plain socket(2); the descriptor is owned at once.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::IPPROTO_RAW,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RawSender {
            // SAFETY: `fd` is a fresh descriptor nobody else owns.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            frames: Vec::new(),
            lens: Vec::new(),
            dests: Vec::new(),
            queued: 0,
            refused: 0,
        })
    }

    /// Queues one datagram; `false` when it cannot go this way (too large), and the
    /// caller sends it through the call's socket.
    pub fn queue(&mut self, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> bool {
        if self.queued == BATCH {
            self.flush();
        }
        if self.queued == self.frames.len() {
            self.frames.push([0; SLOT]);
            self.lens.push(0);
            self.dests.push(sockaddr(dst));
        }
        let i = self.queued;
        let Some(len) = write_ipv4_udp(src, dst, payload, &mut self.frames[i]) else {
            return false;
        };
        self.lens[i] = len;
        self.dests[i] = sockaddr(dst);
        self.queued += 1;
        true
    }

    /// Sends everything queued.
    pub fn flush(&mut self) {
        let n = self.queued;
        self.queued = 0;
        if n == 0 {
            return;
        }
        let mut iovs: Vec<libc::iovec> = self.frames[..n]
            .iter_mut()
            .zip(&self.lens)
            .map(|(f, &len)| libc::iovec {
                iov_base: f.as_mut_ptr().cast(),
                iov_len: len,
            })
            .collect();
        // SAFETY: mmsghdr is plain data; every pointer refers to `iovs` or `self.dests`,
        // which outlive the sendmmsg calls below and are not moved meanwhile.
        let mut msgs: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .zip(&mut self.dests)
            .map(|(iov, dest)| {
                let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                m.msg_hdr.msg_name = (dest as *mut libc::sockaddr_in).cast();
                m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                m.msg_hdr.msg_iov = iov;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        let mut at = 0;
        while at < n {
            // SAFETY: `msgs[at..n]` are valid headers (see above).
            let sent = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    msgs[at..].as_mut_ptr(),
                    (n - at) as libc::c_uint,
                    0,
                )
            };
            if sent > 0 {
                at += sent as usize;
            } else {
                // The datagram at `at` was refused: drop it and go on with the rest.
                self.refused += 1;
                at += 1;
            }
        }
    }
}

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        // Raw sockets take the port from the header we wrote; the address routes it.
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}
