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
    /// Datagram buffers, kept from tick to tick; the first `lens.len()` are queued.
    frames: Vec<[u8; SLOT]>,
    lens: Vec<usize>,
    dests: Vec<libc::sockaddr_in>,
    /// The sendmmsg headers, rebuilt at every flush in storage kept from tick to tick.
    iovs: Vec<libc::iovec>,
    msgs: Vec<libc::mmsghdr>,
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
            iovs: Vec::new(),
            msgs: Vec::new(),
        })
    }

    /// Queues one datagram; `false` when it cannot go this way (too large), and the
    /// caller sends it through the call's socket.
    pub fn queue(&mut self, src: SocketAddrV4, dst: SocketAddrV4, payload: &[u8]) -> bool {
        if self.lens.len() == BATCH {
            self.flush();
        }
        let i = self.lens.len();
        if i == self.frames.len() {
            self.frames.push([0; SLOT]);
        }
        let Some(len) = write_ipv4_udp(src, dst, payload, &mut self.frames[i]) else {
            return false;
        };
        self.lens.push(len);
        self.dests.push(sockaddr(dst));
        true
    }

    /// Sends everything queued. A datagram the kernel refuses (full queue, unreachable)
    /// is lost, as a full socket buffer loses it with `sendto`; the rest go on.
    pub fn flush(&mut self) {
        let n = self.lens.len();
        if n == 0 {
            return;
        }
        self.iovs.clear();
        self.iovs.extend(
            self.frames[..n]
                .iter_mut()
                .zip(&self.lens)
                .map(|(f, &len)| libc::iovec {
                    iov_base: f.as_mut_ptr().cast(),
                    iov_len: len,
                }),
        );
        self.msgs.clear();
        // SAFETY: mmsghdr is plain data; every pointer refers to `self.iovs` or
        // `self.dests`, neither of which is touched until the sendmmsg calls are done.
        self.msgs.extend(
            self.iovs
                .iter_mut()
                .zip(&mut self.dests)
                .map(|(iov, dest)| {
                    let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                    m.msg_hdr.msg_name = (dest as *mut libc::sockaddr_in).cast();
                    m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                    m.msg_hdr.msg_iov = iov;
                    m.msg_hdr.msg_iovlen = 1;
                    m
                }),
        );
        let mut at = 0;
        while at < n {
            // SAFETY: `msgs[at..n]` are valid headers (see above).
            let sent = unsafe {
                libc::sendmmsg(
                    self.fd.as_raw_fd(),
                    self.msgs[at..].as_mut_ptr(),
                    (n - at) as libc::c_uint,
                    0,
                )
            };
            // Refused (-1): the datagram at `at` is dropped.
            at += if sent > 0 { sent as usize } else { 1 };
        }
        self.lens.clear();
        self.dests.clear();
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
