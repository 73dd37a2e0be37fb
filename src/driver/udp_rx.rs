//! UDP datagrams read with their kernel arrival time (`SO_TIMESTAMPNS`, socket(7)): the
//! SIP task learns how long every request waited in the socket queue (the overload
//! signal of `sip::overload`; RFC 3261 §18.2.1), and the load generator measures RTP
//! spacing (RFC 3550) from when packets arrived rather than from when it read them.
#![allow(clippy::disallowed_methods)] // the kernel's stamp is wall-clock time: compared with the wall clock

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Asks the kernel to stamp every datagram received on `sock`.
pub fn enable_arrival_times(sock: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a plain setsockopt on an open socket, with a correctly sized int.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// One datagram if one is queued (`WouldBlock` otherwise): its length, its sender and
/// how long it waited since the kernel received it (`None` without a stamp).
pub fn try_recv(
    sock: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<Duration>)> {
    let (n, from, arrived) =
        sock.try_io(Interest::READABLE, || recv_stamped(sock.as_raw_fd(), buf))?;
    // A clock step backwards reads as no wait rather than a huge one.
    let waited = arrived.map(|t| SystemTime::now().duration_since(t).unwrap_or_default());
    Ok((n, from, waited))
}

/// One `recvmsg` without blocking: the datagram's length, its sender and when the kernel
/// received it (`None` without a stamp); `WouldBlock` when nothing is queued.
pub fn recv_stamped(
    fd: libc::c_int,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, Option<SystemTime>)> {
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut control = [0u64; 8];
    // SAFETY: msghdr and sockaddr_storage are plain data; every pointer placed in the
    // header refers to a live local buffer of the stated size, and the control messages
    // are walked with the libc macros within `msg_controllen`.
    unsafe {
        let mut addr: libc::sockaddr_storage = std::mem::zeroed();
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut addr as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        let n = libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut arrived = None;
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                arrived = Some(UNIX_EPOCH + Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
        let from = match addr.ss_family as libc::c_int {
            libc::AF_INET => {
                let a: libc::sockaddr_in =
                    std::ptr::read_unaligned((&addr as *const libc::sockaddr_storage).cast());
                SocketAddr::from((
                    std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                    u16::from_be(a.sin_port),
                ))
            }
            libc::AF_INET6 => {
                let a: libc::sockaddr_in6 =
                    std::ptr::read_unaligned((&addr as *const libc::sockaddr_storage).cast());
                SocketAddr::V6(std::net::SocketAddrV6::new(
                    std::net::Ipv6Addr::from(a.sin6_addr.s6_addr),
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                ))
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "not an IP sender",
                ));
            }
        };
        Ok((n as usize, from, arrived))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn datagrams_come_with_their_sender_and_a_stamp() {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        enable_arrival_times(&rx).unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(b"OPTIONS sip:x SIP/2.0\r\n\r\n", rx.local_addr().unwrap())
            .unwrap();
        rx.readable().await.unwrap();
        let mut buf = [0u8; 2048];
        let (n, from, waited) = try_recv(&rx, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"OPTIONS sip:x SIP/2.0\r\n\r\n");
        assert_eq!(from, tx.local_addr().unwrap());
        assert!(waited.is_some(), "the kernel stamped the datagram");
        // Nothing else queued.
        let err = try_recv(&rx, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }
}
