//! Bridged media (RFC 3550 §7 translator behaviour, RFC 4733 events passed through):
//! packets received on one leg are re-sent on the other with that leg's SSRC, its own
//! sequence numbers, timestamps shifted by a fixed offset, its payload types, and G.711
//! µ-law/A-law transcoding when the legs chose different codecs. Pure, no allocation.

use super::codec::Codec;
use super::g711;
use super::rtp::{RtpHeader, RtpSender};
use crate::sdp::MediaParams;

/// One direction of a bridge (leg A in → leg B out).
#[derive(Debug, Default, Clone)]
pub struct RelayDirection {
    /// Added to incoming timestamps; fixed per incoming SSRC so timing is preserved.
    ts_offset: Option<u32>,
    in_ssrc: Option<u32>,
}

impl RelayDirection {
    /// Rewrites one received packet for the other leg into `out`, returning its length,
    /// or `None` when it must not be forwarded (unknown payload type, events the other
    /// leg did not negotiate).
    pub fn rewrite(
        &mut self,
        hdr: &RtpHeader,
        payload: &[u8],
        from: &MediaParams,
        to: &MediaParams,
        sender: &mut RtpSender,
        out: &mut [u8],
    ) -> Option<usize> {
        let audio = hdr.payload_type == from.payload_type;
        let event = from.dtmf_payload_type == Some(hdr.payload_type);
        let payload_type = match (audio, event) {
            (true, _) => to.payload_type,
            (false, true) => to.dtmf_payload_type?,
            _ => return None,
        };
        let mut marker = hdr.marker;
        if self.in_ssrc != Some(hdr.ssrc) {
            // A new source (or the first packet): anchor its timeline after what this
            // leg last sent, and mark the discontinuity.
            self.in_ssrc = Some(hdr.ssrc);
            self.ts_offset = Some(sender.ts.wrapping_sub(hdr.timestamp));
            marker = true;
        }
        let timestamp = hdr.timestamp.wrapping_add(self.ts_offset.unwrap_or(0));
        let header = RtpHeader {
            marker,
            payload_type,
            seq: sender.seq,
            timestamp,
            ssrc: sender.ssrc,
        };
        let len = header.write(payload, out);
        if audio && from.codec != to.codec {
            let body = &mut out[12..len];
            let convert = match from.codec {
                Codec::Pcmu => g711::ulaw_to_alaw,
                Codec::Pcma => g711::alaw_to_ulaw,
            };
            for b in body.iter_mut() {
                *b = convert(*b);
            }
        }
        sender.seq = sender.seq.wrapping_add(1);
        if audio {
            // Where this leg's own frames would continue if the bridge ended now.
            sender.ts = timestamp.wrapping_add(payload.len() as u32);
        }
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::Direction;

    fn media(codec: Codec, pt: u8, dtmf: Option<u8>) -> MediaParams {
        MediaParams {
            codec,
            payload_type: pt,
            dtmf_payload_type: dtmf,
            ptime_ms: 20,
            remote_rtp: None,
            direction: Direction::SendRecv,
        }
    }

    fn hdr(pt: u8, seq: u16, ts: u32, ssrc: u32) -> RtpHeader {
        RtpHeader {
            marker: false,
            payload_type: pt,
            seq,
            timestamp: ts,
            ssrc,
        }
    }

    #[test]
    fn rewrites_ssrc_seq_and_keeps_timing() {
        let (a, b) = (
            media(Codec::Pcmu, 0, Some(101)),
            media(Codec::Pcmu, 0, Some(96)),
        );
        let mut sender = RtpSender::new(0xBBBB, 500, 80_000);
        let mut dir = RelayDirection::default();
        let mut out = [0u8; 200];
        let payload = [0x55u8; 160];
        let n = dir
            .rewrite(
                &hdr(0, 7, 1000, 0xAAAA),
                &payload,
                &a,
                &b,
                &mut sender,
                &mut out,
            )
            .unwrap();
        let (h1, p1) = RtpHeader::parse(&out[..n]).unwrap();
        assert_eq!(
            (h1.ssrc, h1.seq, h1.timestamp, h1.marker),
            (0xBBBB, 500, 80_000, true)
        );
        assert_eq!(p1, &payload[..]);
        dir.rewrite(
            &hdr(0, 8, 1160, 0xAAAA),
            &payload,
            &a,
            &b,
            &mut sender,
            &mut out,
        )
        .unwrap();
        let (h2, _) = RtpHeader::parse(&out[..172]).unwrap();
        assert_eq!((h2.seq, h2.timestamp, h2.marker), (501, 80_160, false));
        // An event is forwarded at the other leg's telephone-event type.
        let ev = [1u8, 0x0a, 0, 160];
        let n = dir
            .rewrite(
                &hdr(101, 9, 1320, 0xAAAA),
                &ev,
                &a,
                &b,
                &mut sender,
                &mut out,
            )
            .unwrap();
        let (h3, p3) = RtpHeader::parse(&out[..n]).unwrap();
        assert_eq!((h3.payload_type, h3.seq, h3.timestamp), (96, 502, 80_320));
        assert_eq!(p3, &ev[..]);
    }

    #[test]
    fn transcodes_between_ulaw_and_alaw() {
        let (a, b) = (media(Codec::Pcmu, 0, None), media(Codec::Pcma, 8, None));
        let mut sender = RtpSender::new(1, 1, 1);
        let mut dir = RelayDirection::default();
        let mut out = [0u8; 200];
        let mut payload = [0u8; 160];
        for (i, p) in payload.iter_mut().enumerate() {
            *p = g711::encode_ulaw((i as i16 - 80) * 200);
        }
        let n = dir
            .rewrite(&hdr(0, 1, 0, 9), &payload, &a, &b, &mut sender, &mut out)
            .unwrap();
        let (h, p) = RtpHeader::parse(&out[..n]).unwrap();
        assert_eq!(h.payload_type, 8);
        for (u, al) in payload.iter().zip(p) {
            let (x, y) = (g711::decode_ulaw(*u) as i32, g711::decode_alaw(*al) as i32);
            assert!((x - y).abs() <= (x.abs() / 8).max(16), "{x} vs {y}");
        }
    }

    #[test]
    fn drops_what_the_other_leg_cannot_take_and_reanchors_a_new_source() {
        let (a, b) = (
            media(Codec::Pcmu, 0, Some(101)),
            media(Codec::Pcmu, 0, None),
        );
        let mut sender = RtpSender::new(1, 10, 5000);
        let mut dir = RelayDirection::default();
        let mut out = [0u8; 200];
        assert!(
            dir.rewrite(
                &hdr(101, 1, 0, 9),
                &[1, 0, 0, 0],
                &a,
                &b,
                &mut sender,
                &mut out
            )
            .is_none()
        );
        assert!(
            dir.rewrite(&hdr(13, 1, 0, 9), &[0; 1], &a, &b, &mut sender, &mut out)
                .is_none()
        );
        dir.rewrite(
            &hdr(0, 1, 100, 9),
            &[0xFF; 160],
            &a,
            &b,
            &mut sender,
            &mut out,
        )
        .unwrap();
        // The caller's phone restarts with a new SSRC and a far-away timestamp.
        let n = dir
            .rewrite(
                &hdr(0, 60_000, 9_999_999, 10),
                &[0xFF; 160],
                &a,
                &b,
                &mut sender,
                &mut out,
            )
            .unwrap();
        let (h, _) = RtpHeader::parse(&out[..n]).unwrap();
        assert_eq!((h.seq, h.timestamp, h.marker), (11, 5000 + 160, true));
    }
}
