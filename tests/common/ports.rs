//! Randomness and port choice: free SIP/sipp ports from the kernel, and 200-port RTP
//! blocks outside the ephemeral range, claimed with a lock file so that parallel test
//! processes never share one.

use std::collections::hash_map::RandomState;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::net::{TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};

use super::*;

/// A random u64 from the standard library's per-process hash keys (no extra crates).
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// A short random token for tags, branches and Call-IDs.
pub fn token() -> String {
    format!("{:012x}", random_u64() & 0xffff_ffff_ffff)
}

/// A port free on 127.0.0.1 for both UDP and TCP right now (kernel-chosen, so it lies in
/// the ephemeral range, which never overlaps the RTP blocks of [`RtpBlock`]).
pub fn free_udp_tcp_port() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind((LOOPBACK, 0)).expect("bind UDP 127.0.0.1:0");
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind((LOOPBACK, port)).is_ok() {
            return port;
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1");
}

/// A UDP port `p` such that `p..p+span` are all free (sipp's -mp uses a few ports up).
pub fn free_udp_port_run(span: u16) -> u16 {
    for _ in 0..100 {
        let first = UdpSocket::bind((LOOPBACK, 0)).expect("bind UDP 127.0.0.1:0");
        let port = first.local_addr().unwrap().port();
        if port.checked_add(span).is_none() {
            continue;
        }
        let rest: Vec<_> = (1..span)
            .map(|i| UdpSocket::bind((LOOPBACK, port + i)))
            .collect();
        if rest.iter().all(|r| r.is_ok()) {
            return port;
        }
    }
    panic!("no run of {span} free UDP ports on 127.0.0.1");
}

/// The kernel's ephemeral port range (ports handed out for port 0).
fn ephemeral_range() -> (u16, u16) {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|x| x.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999))
}

/// A 200-port RTP block reserved for one daemon. Blocks lie outside the kernel's
/// ephemeral range (so no kernel-chosen port of another test lands in them) and are
/// claimed with an advisory lock on `$TMPDIR/centralino-test-rtp/<base>.lock`, which the
/// kernel releases when the test process ends; parallel test processes never share one.
pub struct RtpBlock {
    pub low: u16,
    pub high: u16,
    _lock: File,
}

impl RtpBlock {
    pub const SIZE: u16 = 200;

    pub fn claim() -> RtpBlock {
        let (eph_low, eph_high) = ephemeral_range();
        // Candidate bases: 10000.. up to the ephemeral range, else above it.
        let mut bases: Vec<u16> = (10000u32..65000)
            .step_by(Self::SIZE as usize)
            .map(|b| b as u16)
            .filter(|&b| {
                let end = b as u32 + Self::SIZE as u32 - 1;
                end < eph_low as u32 || b as u32 > eph_high as u32
            })
            .collect();
        assert!(
            !bases.is_empty(),
            "no RTP block outside the ephemeral range"
        );
        let start = (random_u64() % bases.len() as u64) as usize;
        bases.rotate_left(start);
        let dir = std::env::temp_dir().join("centralino-test-rtp");
        fs::create_dir_all(&dir).expect("create RTP lock dir");
        for base in bases {
            let path = dir.join(format!("{base}.lock"));
            let Ok(file) = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
            else {
                continue;
            };
            if file.try_lock().is_err() {
                continue;
            }
            // Something outside the test suite may hold ports here: check they bind.
            let all_free = (0..Self::SIZE).all(|i| UdpSocket::bind((LOOPBACK, base + i)).is_ok());
            if all_free {
                return RtpBlock {
                    low: base,
                    high: base + Self::SIZE - 1,
                    _lock: file,
                };
            }
        }
        panic!("no free RTP block of {} ports", Self::SIZE);
    }
}
