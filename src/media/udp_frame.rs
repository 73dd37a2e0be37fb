//! IPv4 + UDP headers written by hand (RFC 791, RFC 768, checksum per RFC 1071), for
//! media sent through one raw socket: the datagram leaves with the call's own address and
//! port, exactly as if its socket had sent it.

use std::net::SocketAddrV4;

/// IPv4 header without options, then the UDP header.
pub const HEADERS: usize = 20 + 8;

/// Writes the datagram `src` → `dst` carrying `payload` into `out`; its length, or `None`
/// when `out` is too small. The IP checksum and identification are left at 0: the
/// kernel fills both in for a raw socket (raw(7), IP_HDRINCL).
pub fn write_ipv4_udp(
    src: SocketAddrV4,
    dst: SocketAddrV4,
    payload: &[u8],
    out: &mut [u8],
) -> Option<usize> {
    let total = HEADERS + payload.len();
    let udp_len = u16::try_from(8 + payload.len()).ok()?;
    let frame = out.get_mut(..total)?;
    let (ip, rest) = frame.split_at_mut(20);
    ip.copy_from_slice(&[0; 20]);
    ip[0] = 0x45; // version 4, five 32-bit words
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[6] = 0x40; // don't fragment
    ip[8] = 64; // TTL
    ip[9] = 17; // UDP
    ip[12..16].copy_from_slice(&src.ip().octets());
    ip[16..20].copy_from_slice(&dst.ip().octets());
    let (udp, body) = rest.split_at_mut(8);
    udp[0..2].copy_from_slice(&src.port().to_be_bytes());
    udp[2..4].copy_from_slice(&dst.port().to_be_bytes());
    udp[4..6].copy_from_slice(&udp_len.to_be_bytes());
    udp[6..8].copy_from_slice(&[0, 0]);
    body.copy_from_slice(payload);
    // Over the pseudo-header (addresses, protocol, length), the UDP header and the data.
    let mut sum = ones_sum(0, &ip[12..20]) + 17 + u32::from(udp_len);
    sum = ones_sum(sum, &frame[20..]);
    let mut check = !fold(sum);
    if check == 0 {
        check = 0xffff; // 0 means "no checksum" in UDP over IPv4
    }
    frame[26..28].copy_from_slice(&check.to_be_bytes());
    Some(total)
}

/// Adds `data` as 16-bit big-endian words (an odd byte padded with zero) to `sum`.
fn ones_sum(mut sum: u32, data: &[u8]) -> u32 {
    let mut words = data.chunks_exact(2);
    for w in &mut words {
        sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    #[test]
    fn headers_carry_the_call_addresses_and_lengths() {
        let mut out = [0u8; 64];
        let n = write_ipv4_udp(
            addr("198.51.100.1:40000"),
            addr("192.0.2.10:4000"),
            b"abc",
            &mut out,
        )
        .unwrap();
        assert_eq!(n, 31);
        assert_eq!(out[0], 0x45);
        assert_eq!(u16::from_be_bytes([out[2], out[3]]), 31);
        assert_eq!(out[9], 17);
        assert_eq!(&out[12..16], &[198, 51, 100, 1]);
        assert_eq!(&out[16..20], &[192, 0, 2, 10]);
        assert_eq!(u16::from_be_bytes([out[20], out[21]]), 40000);
        assert_eq!(u16::from_be_bytes([out[22], out[23]]), 4000);
        assert_eq!(u16::from_be_bytes([out[24], out[25]]), 11);
        assert_eq!(&out[28..31], b"abc");
    }

    #[test]
    fn the_udp_checksum_verifies_over_the_pseudo_header() {
        for payload in [&b""[..], b"x", b"odd length!", &[0xffu8; 172]] {
            let mut out = [0u8; 256];
            let n = write_ipv4_udp(
                addr("127.0.0.1:10000"),
                addr("127.0.0.1:20000"),
                payload,
                &mut out,
            )
            .unwrap();
            // The receiver's check: everything, checksum included, sums to all ones.
            let udp_len = (n - 20) as u32;
            let sum = ones_sum(ones_sum(0, &out[12..20]) + 17 + udp_len, &out[20..n]);
            assert_eq!(fold(sum), 0xffff, "payload of {} bytes", payload.len());
            assert_ne!(&out[26..28], &[0, 0]);
        }
    }

    #[test]
    fn a_known_datagram_gets_the_known_checksum() {
        // 10.0.0.1:1 → 10.0.0.2:2, payload "hi", summed by hand:
        // pseudo 0a00+0001+0a00+0002+0011+000a, UDP 0001+0002+000a+0000, data 6869
        // = 0x7c94, so the checksum is !0x7c94 = 0x836b.
        let mut out = [0u8; 64];
        write_ipv4_udp(addr("10.0.0.1:1"), addr("10.0.0.2:2"), b"hi", &mut out).unwrap();
        assert_eq!(u16::from_be_bytes([out[26], out[27]]), 0x836b);
    }

    #[test]
    fn a_buffer_too_small_is_refused() {
        let mut out = [0u8; 30];
        assert_eq!(
            write_ipv4_udp(addr("10.0.0.1:1"), addr("10.0.0.2:2"), b"abc", &mut out),
            None
        );
    }
}
