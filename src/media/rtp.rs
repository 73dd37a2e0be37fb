//! RTP packet framing: the fixed header of RFC 3550 §5.1, parsed and written in place.
//!
//! Parsing borrows the payload out of the datagram and writing fills a caller-owned
//! buffer, so the per-packet path never allocates.

use crate::media::codec::{Codec, FRAME_SAMPLES};
use thiserror::Error;

/// Length of the fixed RTP header (no CSRCs, no extension), which is all we send.
pub const HEADER_LEN: usize = 12;

/// The RTP version we speak (RFC 3550 §5.1, field V).
const VERSION: u8 = 2;

/// The header fields the media plane cares about. CSRCs and header extensions are
/// skipped on parse and never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    /// 7-bit payload type.
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

/// Why a datagram is not an RTP packet we accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    #[error("packet of {0} bytes is shorter than the 12-byte RTP header")]
    TooShort(usize),
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    #[error("CSRC list or header extension runs past the end of the packet")]
    Truncated,
    #[error("padding count {0} does not fit in the packet")]
    BadPadding(u8),
    /// RFC 5761 §4: payload types 72–76 would collide with RTCP packet types 200–204,
    /// so a packet carrying them is RTCP muxed onto the RTP port, not media.
    #[error("payload type {0} is reserved (looks like RTCP)")]
    RtcpPayloadType(u8),
}

impl RtpHeader {
    /// Parses an RTP packet, returning its header and its payload with CSRCs,
    /// header extension and padding removed.
    pub fn parse(packet: &[u8]) -> Result<(RtpHeader, &[u8]), RtpError> {
        if packet.len() < HEADER_LEN {
            return Err(RtpError::TooShort(packet.len()));
        }
        let b0 = packet[0];
        let b1 = packet[1];
        let version = b0 >> 6;
        if version != VERSION {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = b0 & 0x20 != 0;
        let has_extension = b0 & 0x10 != 0;
        let csrc_count = usize::from(b0 & 0x0f);
        let payload_type = b1 & 0x7f;
        if (72..=76).contains(&payload_type) {
            return Err(RtpError::RtcpPayloadType(payload_type));
        }

        let mut start = HEADER_LEN + 4 * csrc_count;
        if has_extension {
            // RFC 3550 §5.3.1: 16-bit profile id, 16-bit length in 32-bit words,
            // not counting this 4-byte extension header itself.
            let ext = packet.get(start..start + 4).ok_or(RtpError::Truncated)?;
            let words = usize::from(u16::from_be_bytes([ext[2], ext[3]]));
            start += 4 + 4 * words;
        }
        if start > packet.len() {
            return Err(RtpError::Truncated);
        }

        let mut end = packet.len();
        if has_padding {
            // The last octet counts the padding octets, itself included.
            let pad = packet[end - 1];
            if pad == 0 || usize::from(pad) > end - start {
                return Err(RtpError::BadPadding(pad));
            }
            end -= usize::from(pad);
        }

        let header = RtpHeader {
            marker: b1 & 0x80 != 0,
            payload_type,
            seq: u16::from_be_bytes([packet[2], packet[3]]),
            timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
            ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
        };
        Ok((header, &packet[start..end]))
    }

    /// Writes the 12-byte header followed by `payload` into `out` and returns the
    /// packet length.
    ///
    /// # Panics
    /// If `out` is shorter than `HEADER_LEN + payload.len()`: buffers are sized once
    /// by the caller (e.g. 1500 bytes), so a short one is a programming error.
    pub fn write(&self, payload: &[u8], out: &mut [u8]) -> usize {
        let len = HEADER_LEN + payload.len();
        assert!(
            out.len() >= len,
            "RTP output buffer of {} bytes, need {len}",
            out.len()
        );
        out[0] = VERSION << 6;
        out[1] = (u8::from(self.marker) << 7) | (self.payload_type & 0x7f);
        out[2..4].copy_from_slice(&self.seq.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        out[HEADER_LEN..len].copy_from_slice(payload);
        len
    }
}

/// RTP timestamp units per 20 ms frame at the 8 kHz G.711 clock.
const TS_PER_FRAME: u32 = FRAME_SAMPLES as u32;

/// The sending side of one outgoing audio stream: owns SSRC, sequence number and
/// timestamp, and stamps one 20 ms frame per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpSender {
    pub ssrc: u32,
    /// Sequence number of the next packet.
    pub seq: u16,
    /// Timestamp of the next frame (sent or skipped).
    pub ts: u32,
    /// Payload type stamped on audio packets; PCMU (0) until changed.
    pub pt: u8,
}

impl RtpSender {
    /// RFC 3550 §5.1 wants random initial `seq` and `ts`; the caller draws them.
    pub fn new(ssrc: u32, initial_seq: u16, initial_ts: u32) -> RtpSender {
        RtpSender {
            ssrc,
            seq: initial_seq,
            ts: initial_ts,
            pt: Codec::Pcmu.payload_type(),
        }
    }

    /// Sets the payload type to the negotiated codec's.
    pub fn set_codec(&mut self, codec: Codec) {
        self.pt = codec.payload_type();
    }

    /// Writes one audio packet carrying `frame` into `out`, returns its length and
    /// advances seq by 1 and the timestamp by one frame (both wrapping).
    pub fn next_audio(
        &mut self,
        frame: &[u8; FRAME_SAMPLES],
        marker: bool,
        out: &mut [u8],
    ) -> usize {
        let header = RtpHeader {
            marker,
            payload_type: self.pt,
            seq: self.seq,
            timestamp: self.ts,
            ssrc: self.ssrc,
        };
        let len = header.write(frame, out);
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(TS_PER_FRAME);
        len
    }

    /// Lets one frame time pass without sending: the timestamp advances (it tracks
    /// the sampling clock, RFC 3550 §5.1) but the sequence number does not, so the
    /// receiver sees a silence gap rather than loss. The next packet should carry
    /// the marker bit (RFC 3551 §4.1).
    pub fn skip_silence(&mut self) {
        self.ts = self.ts.wrapping_add(TS_PER_FRAME);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RtpHeader {
        RtpHeader {
            marker: true,
            payload_type: 8,
            seq: 0xBEEF,
            timestamp: 0xDEAD_BEEF,
            ssrc: 0x0102_0304,
        }
    }

    #[test]
    fn write_produces_the_exact_wire_bytes() {
        let mut buf = [0u8; 32];
        let n = header().write(&[0xAA, 0xBB], &mut buf);
        assert_eq!(n, 14);
        assert_eq!(
            &buf[..n],
            &[
                0x80, 0x88, 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4, 0xAA, 0xBB
            ]
        );
    }

    #[test]
    fn parse_round_trips_write() {
        let mut buf = [0u8; 200];
        let payload = [7u8; 160];
        let n = header().write(&payload, &mut buf);
        let (h, p) = RtpHeader::parse(&buf[..n]).unwrap();
        assert_eq!(h, header());
        assert_eq!(p, &payload[..]);
    }

    #[test]
    fn parse_skips_csrcs_extension_and_padding() {
        let mut pkt = vec![0xB2, 0x65]; // V=2 P=1 X=1 CC=2; M=0 PT=101
        pkt.extend_from_slice(&[0, 9, 0, 0, 0, 100, 0, 0, 0, 42]);
        pkt.extend_from_slice(&[1, 1, 1, 1, 2, 2, 2, 2]); // 2 CSRCs
        pkt.extend_from_slice(&[0xBE, 0xDE, 0, 1, 9, 9, 9, 9]); // extension, 1 word
        pkt.extend_from_slice(&[5, 0x8A, 0x03, 0x20]); // payload
        pkt.extend_from_slice(&[0, 0, 3]); // 3 bytes padding
        let (h, p) = RtpHeader::parse(&pkt).unwrap();
        assert_eq!(
            h,
            RtpHeader {
                marker: false,
                payload_type: 101,
                seq: 9,
                timestamp: 100,
                ssrc: 42
            }
        );
        assert_eq!(p, &[5, 0x8A, 0x03, 0x20]);
    }

    #[test]
    fn parse_rejects_bad_packets() {
        assert_eq!(RtpHeader::parse(&[0x80; 11]), Err(RtpError::TooShort(11)));
        let mut pkt = [0u8; 12];
        pkt[0] = 0x40;
        assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::BadVersion(1)));
        pkt[0] = 0x81; // one CSRC announced, none present
        assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::Truncated));
        pkt[0] = 0x90; // extension announced, none present
        assert_eq!(RtpHeader::parse(&pkt), Err(RtpError::Truncated));
        let mut ext = [0u8; 16];
        ext[0] = 0x90;
        ext[15] = 2; // extension length 2 words but none follow
        assert_eq!(RtpHeader::parse(&ext), Err(RtpError::Truncated));
        let mut padded = [0u8; 14];
        padded[0] = 0xA0;
        padded[13] = 3; // 3 bytes of padding but only 2 bytes after the header
        assert_eq!(RtpHeader::parse(&padded), Err(RtpError::BadPadding(3)));
        padded[13] = 0;
        assert_eq!(RtpHeader::parse(&padded), Err(RtpError::BadPadding(0)));
        padded[13] = 2; // all of the body is padding: valid, empty payload
        assert_eq!(RtpHeader::parse(&padded).unwrap().1, &[] as &[u8]);
        let mut rtcp = [0u8; 12];
        rtcp[0] = 0x80;
        rtcp[1] = 200; // RTCP SR: M=1, PT=72
        assert_eq!(RtpHeader::parse(&rtcp), Err(RtpError::RtcpPayloadType(72)));
    }

    #[test]
    fn sender_advances_seq_and_timestamp_with_wraparound() {
        let mut tx = RtpSender::new(0x1234_5678, 0xFFFF, 0xFFFF_FF00);
        tx.set_codec(Codec::Pcma);
        let mut buf = [0u8; 1500];
        let frame = [0xD5u8; FRAME_SAMPLES];

        let n = tx.next_audio(&frame, true, &mut buf);
        assert_eq!(n, 172);
        let (h, p) = RtpHeader::parse(&buf[..n]).unwrap();
        assert_eq!(
            (h.seq, h.timestamp, h.marker, h.payload_type),
            (0xFFFF, 0xFFFF_FF00, true, 8)
        );
        assert_eq!(h.ssrc, 0x1234_5678);
        assert_eq!(p, &frame[..]);

        let n = tx.next_audio(&frame, false, &mut buf);
        let (h, _) = RtpHeader::parse(&buf[..n]).unwrap();
        assert_eq!(
            (h.seq, h.timestamp, h.marker),
            (0, 0xFFFF_FF00u32.wrapping_add(160), false)
        );
    }

    #[test]
    fn skipped_silence_moves_only_the_timestamp() {
        let mut tx = RtpSender::new(1, 100, 1000);
        let mut buf = [0u8; 1500];
        tx.next_audio(&[0xFF; FRAME_SAMPLES], true, &mut buf);
        tx.skip_silence();
        tx.skip_silence();
        let n = tx.next_audio(&[0xFF; FRAME_SAMPLES], true, &mut buf);
        let (h, _) = RtpHeader::parse(&buf[..n]).unwrap();
        assert_eq!(
            (h.seq, h.timestamp, h.payload_type),
            (101, 1000 + 3 * 160, 0)
        );
    }

    #[test]
    #[should_panic(expected = "need 172")]
    fn write_into_a_short_buffer_panics() {
        let mut buf = [0u8; 100];
        RtpSender::new(1, 1, 1).next_audio(&[0; FRAME_SAMPLES], false, &mut buf);
    }
}
