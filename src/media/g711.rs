//! G.711 companding (ITU-T G.711 µ-law and A-law; RFC 3551 §4.5.14 PCMU/PCMA).
//!
//! Thin, inlined wrappers over `audio-codec-algorithms`, whose decode tables come from
//! the ITU G.191 reference tools, plus frame-at-a-time helpers for the media path.

use crate::media::codec::Codec;
use audio_codec_algorithms as acg;

/// Encodes one 16-bit linear sample to µ-law.
#[inline]
pub fn encode_ulaw(sample: i16) -> u8 {
    acg::encode_ulaw(sample)
}

/// Decodes one µ-law byte to a 16-bit linear sample.
#[inline]
pub fn decode_ulaw(byte: u8) -> i16 {
    acg::decode_ulaw(byte)
}

/// Encodes one 16-bit linear sample to A-law.
#[inline]
pub fn encode_alaw(sample: i16) -> u8 {
    acg::encode_alaw(sample)
}

/// Decodes one A-law byte to a 16-bit linear sample.
#[inline]
pub fn decode_alaw(byte: u8) -> i16 {
    acg::decode_alaw(byte)
}

/// Transcodes µ-law to A-law with G.711 table 3, which (unlike decode + encode)
/// survives µ-A-µ double conversion unchanged.
#[inline]
pub fn ulaw_to_alaw(byte: u8) -> u8 {
    acg::convert_ulaw_to_alaw(byte)
}

/// Transcodes A-law to µ-law with G.711 table 4.
#[inline]
pub fn alaw_to_ulaw(byte: u8) -> u8 {
    acg::convert_alaw_to_ulaw(byte)
}

/// The code of a zero sample: what silence looks like on the wire.
pub const fn silence(codec: Codec) -> u8 {
    match codec {
        Codec::Pcmu => 0xFF,
        Codec::Pcma => 0xD5,
    }
}

/// Encodes one sample with `codec`.
#[inline]
pub fn encode(codec: Codec, sample: i16) -> u8 {
    match codec {
        Codec::Pcmu => encode_ulaw(sample),
        Codec::Pcma => encode_alaw(sample),
    }
}

/// Decodes one byte with `codec`.
#[inline]
pub fn decode(codec: Codec, byte: u8) -> i16 {
    match codec {
        Codec::Pcmu => decode_ulaw(byte),
        Codec::Pcma => decode_alaw(byte),
    }
}

/// Decodes `min(encoded.len(), out.len())` samples and returns that count.
pub fn decode_frame(codec: Codec, encoded: &[u8], out: &mut [i16]) -> usize {
    // Matching once outside the loop keeps the inner loop a plain table lookup.
    let f = match codec {
        Codec::Pcmu => decode_ulaw,
        Codec::Pcma => decode_alaw,
    };
    let n = encoded.len().min(out.len());
    for (o, &b) in out[..n].iter_mut().zip(&encoded[..n]) {
        *o = f(b);
    }
    n
}

/// Encodes `min(samples.len(), out.len())` samples and returns that count.
pub fn encode_frame(codec: Codec, samples: &[i16], out: &mut [u8]) -> usize {
    let f = match codec {
        Codec::Pcmu => encode_ulaw,
        Codec::Pcma => encode_alaw,
    };
    let n = samples.len().min(out.len());
    for (o, &s) in out[..n].iter_mut().zip(&samples[..n]) {
        *o = f(s);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulaw_known_values() {
        assert_eq!(encode_ulaw(0), 0xFF);
        assert_eq!(encode_ulaw(i16::MAX), 0x80);
        assert_eq!(encode_ulaw(i16::MIN), 0x00);
        assert_eq!(encode_ulaw(1000), 0xCE);
        assert_eq!(encode_ulaw(-1000), 0x4E);
        assert_eq!(decode_ulaw(0xFF), 0);
        assert_eq!(decode_ulaw(0x7F), 0);
        assert_eq!(decode_ulaw(0x80), 32124);
        assert_eq!(decode_ulaw(0x00), -32124);
        assert_eq!(decode_ulaw(0xCE), 988);
        assert_eq!(decode_ulaw(0x4E), -988);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(encode_alaw(0), 0xD5);
        assert_eq!(encode_alaw(-1), 0x55);
        assert_eq!(encode_alaw(i16::MAX), 0xAA);
        assert_eq!(encode_alaw(i16::MIN), 0x2A);
        assert_eq!(encode_alaw(1000), 0xFA);
        assert_eq!(decode_alaw(0xD5), 8);
        assert_eq!(decode_alaw(0x55), -8);
        assert_eq!(decode_alaw(0xAA), 32256);
        assert_eq!(decode_alaw(0x2A), -32256);
        assert_eq!(decode_alaw(0xFA), 1008);
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            assert_eq!(encode_alaw(decode_alaw(code)), code, "A-law {code:#04x}");
            // µ-law has two zeros (+0 = 0xFF, -0 = 0x7F); both decode to 0 -> 0xFF.
            let want = if code == 0x7F { 0xFF } else { code };
            assert_eq!(encode_ulaw(decode_ulaw(code)), want, "µ-law {code:#04x}");
        }
    }

    /// Quantisation error is at most half a step. A step is 1/16 of a segment, so
    /// the error stays under ~4.3 % of the sample (µ-law's lower segments are a bit
    /// coarser than A-law's 3.1 %); near zero the absolute step dominates: ±8.
    #[test]
    fn round_trip_error_is_bounded_for_every_sample() {
        for x in i16::MIN..=i16::MAX {
            let x32 = i32::from(x);
            for (name, y, clip) in [
                ("µ", i32::from(decode_ulaw(encode_ulaw(x))), 32124),
                ("A", i32::from(decode_alaw(encode_alaw(x))), 32256),
            ] {
                let err = (y - x32).abs();
                if x32.abs() > clip {
                    assert_eq!(y.abs(), clip, "{name}-law {x} must clip");
                } else {
                    let ok = err * 23 <= x32.abs().max(8 * 23);
                    assert!(ok, "{name}-law {x} -> {y}: error {err}");
                }
            }
        }
    }

    #[test]
    fn decoding_is_monotonic_in_the_input() {
        let mut prev = (i16::MIN, i16::MIN);
        for x in i16::MIN..=i16::MAX {
            let cur = (decode_ulaw(encode_ulaw(x)), decode_alaw(encode_alaw(x)));
            assert!(cur.0 >= prev.0 && cur.1 >= prev.1, "not monotonic at {x}");
            prev = cur;
        }
    }

    #[test]
    fn frames_round_trip_and_report_counts() {
        let pcm: Vec<i16> = (0..160).map(|i| (i * 200 - 16000) as i16).collect();
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let mut enc = [0u8; 160];
            assert_eq!(encode_frame(codec, &pcm, &mut enc), 160);
            let mut dec = [0i16; 160];
            assert_eq!(decode_frame(codec, &enc, &mut dec), 160);
            for (i, (&a, &b)) in pcm.iter().zip(&dec).enumerate() {
                assert_eq!(enc[i], encode(codec, a));
                assert_eq!(b, decode(codec, enc[i]));
                assert!((i32::from(a) - i32::from(b)).abs() <= 16000 / 30 + 8);
            }
            // Short output: only what fits.
            assert_eq!(decode_frame(codec, &enc, &mut dec[..10]), 10);
            assert_eq!(encode_frame(codec, &pcm[..5], &mut enc), 5);
        }
    }

    #[test]
    fn silence_codes_decode_to_near_zero_and_transcode_into_each_other() {
        assert_eq!(decode(Codec::Pcmu, silence(Codec::Pcmu)), 0);
        assert_eq!(decode(Codec::Pcma, silence(Codec::Pcma)), 8);
        assert_eq!(encode(Codec::Pcmu, 0), silence(Codec::Pcmu));
        assert_eq!(encode(Codec::Pcma, 0), silence(Codec::Pcma));
        assert_eq!(ulaw_to_alaw(0xFF), 0xD5);
        // A-law has no zero: its smallest positive value (8) maps to µ-law 8.
        assert_eq!(alaw_to_ulaw(0xD5), 0xFE);
        assert_eq!(decode_ulaw(0xFE), 8);
        // A double conversion (G.711 tables 3 and 4) moves a value by at most one
        // step of the coarser law, never across segments.
        for code in 0..=255u8 {
            let back = alaw_to_ulaw(ulaw_to_alaw(code));
            let d = (i32::from(decode_ulaw(back)) - i32::from(decode_ulaw(code))).abs();
            assert!(
                d <= i32::from(decode_ulaw(code)).abs() / 16 + 8,
                "{code:#04x} -> {back:#04x}"
            );
            let back = ulaw_to_alaw(alaw_to_ulaw(code));
            let d = (i32::from(decode_alaw(back)) - i32::from(decode_alaw(code))).abs();
            assert!(
                d <= i32::from(decode_alaw(code)).abs() / 16 + 8,
                "{code:#04x} -> {back:#04x}"
            );
        }
    }
}
