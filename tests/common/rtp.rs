//! [`RtpProbe`] and [`Capture`]: the caller's RTP (RFC 3550) as the test receives it;
//! G.711 decoding (ITU-T G.711), prompt WAV reading, and [`similarity`], an FFT-based
//! normalised cross-correlation that tells which prompt was heard.

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::*;

/// One received RTP packet (RFC 3550 §5.1).
#[derive(Clone, Debug)]
pub struct RtpPacket {
    /// Arrival time since the probe started.
    pub at: Duration,
    pub from: SocketAddr,
    pub marker: bool,
    pub pt: u8,
    pub seq: u16,
    pub ts: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

/// Parses an RTP packet; `None` if it is not RTP version 2.
pub fn parse_rtp(buf: &[u8], at: Duration, from: SocketAddr) -> Option<RtpPacket> {
    if buf.len() < 12 || buf[0] >> 6 != 2 {
        return None;
    }
    let padding = buf[0] & 0x20 != 0;
    let extension = buf[0] & 0x10 != 0;
    let cc = (buf[0] & 0x0f) as usize;
    let mut off = 12 + 4 * cc;
    if extension {
        if buf.len() < off + 4 {
            return None;
        }
        let words = u16::from_be_bytes([buf[off + 2], buf[off + 3]]) as usize;
        off += 4 + 4 * words;
    }
    let mut end = buf.len();
    if padding {
        let pad = *buf.last()? as usize;
        end = end.checked_sub(pad)?;
    }
    if off > end {
        return None;
    }
    Some(RtpPacket {
        at,
        from,
        marker: buf[1] & 0x80 != 0,
        pt: buf[1] & 0x7f,
        seq: u16::from_be_bytes([buf[2], buf[3]]),
        ts: u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
        ssrc: u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
        payload: buf[off..end].to_vec(),
    })
}

/// A UDP socket owned by the test that records every RTP packet sent to it.
pub struct RtpProbe {
    port: u16,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Vec<RtpPacket>>>,
}

impl RtpProbe {
    pub fn start() -> RtpProbe {
        let sock = UdpSocket::bind((LOOPBACK, 0)).expect("bind RTP probe");
        sock.set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let port = sock.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = thread::spawn(move || {
            let started = Instant::now();
            let mut packets = Vec::new();
            let mut buf = vec![0u8; 2048];
            while !stop2.load(Ordering::Relaxed) {
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        if let Some(p) = parse_rtp(&buf[..n], started.elapsed(), from) {
                            packets.push(p);
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => {}
                }
            }
            packets
        });
        RtpProbe {
            port,
            stop,
            handle: Some(handle),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops recording and returns what arrived.
    pub fn finish(mut self) -> Capture {
        self.stop.store(true, Ordering::Relaxed);
        let packets = self.handle.take().unwrap().join().expect("probe thread");
        Capture { packets }
    }
}

impl Drop for RtpProbe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The RTP packets a probe received, in arrival order.
pub struct Capture {
    pub packets: Vec<RtpPacket>,
}

/// G.711 payload types (RFC 3551): PCMU and PCMA.
pub const PT_PCMU: u8 = 0;
pub const PT_PCMA: u8 = 8;

impl Capture {
    /// G.711 audio packets of the first stream (the SSRC of the first audio packet).
    pub fn first_stream(&self) -> Vec<&RtpPacket> {
        let Some(first) = self
            .packets
            .iter()
            .find(|p| p.pt == PT_PCMU || p.pt == PT_PCMA)
        else {
            return Vec::new();
        };
        self.packets
            .iter()
            .filter(|p| p.ssrc == first.ssrc && (p.pt == PT_PCMU || p.pt == PT_PCMA))
            .collect()
    }

    /// One-line summary for test output.
    pub fn summary(&self) -> String {
        let audio = self.first_stream();
        let span = match (audio.first(), audio.last()) {
            (Some(a), Some(b)) => b.at.saturating_sub(a.at),
            _ => Duration::ZERO,
        };
        let mut ssrcs: Vec<u32> = self.packets.iter().map(|p| p.ssrc).collect();
        ssrcs.sort();
        ssrcs.dedup();
        let mut pts: Vec<u8> = self.packets.iter().map(|p| p.pt).collect();
        pts.sort();
        pts.dedup();
        format!(
            "{} RTP packets ({} in the first audio stream over {:?}), SSRCs {:08x?}, payload types {:?}",
            self.packets.len(),
            audio.len(),
            span,
            ssrcs,
            pts
        )
    }

    /// RFC 3550 basics over the packets of the first stream that arrived within `window`
    /// of its first packet: sequence +1 and timestamp +160 (20 ms of 8 kHz) per packet in
    /// timestamp order, one SSRC, marker bit on the first packet, 20 ms payloads, and a
    /// packet count plausible for 20 ms pacing (not a burst, not a trickle).
    pub fn assert_rtp_basics(&self, window: Duration) {
        let stream = self.first_stream();
        assert!(
            !stream.is_empty(),
            "no G.711 RTP received: {}",
            self.summary()
        );
        let t0 = stream[0].at;
        let mut win: Vec<&RtpPacket> = stream
            .iter()
            .copied()
            .filter(|p| p.at.saturating_sub(t0) < window)
            .collect();
        // Every packet before the first stream's SSRC change must share one SSRC.
        let ssrc = stream[0].ssrc;
        let other = self
            .packets
            .iter()
            .take_while(|p| p.at.saturating_sub(t0) < window)
            .find(|p| p.ssrc != ssrc);
        assert!(
            other.is_none(),
            "more than one SSRC within the first {window:?}: {ssrc:08x} and {:08x}",
            other.unwrap().ssrc
        );
        let ts0 = win[0].ts;
        win.sort_by_key(|p| p.ts.wrapping_sub(ts0) as i32);
        assert!(
            win[0].marker,
            "first RTP packet (seq {}, ts {}) lacks the marker bit",
            win[0].seq, win[0].ts
        );
        for pair in win.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            assert_eq!(
                b.seq,
                a.seq.wrapping_add(1),
                "RTP sequence jumps from {} to {} (ts {} -> {})",
                a.seq,
                b.seq,
                a.ts,
                b.ts
            );
            assert_eq!(
                b.ts,
                a.ts.wrapping_add(160),
                "RTP timestamp jumps from {} to {} (seq {} -> {}); expected +160 per 20 ms packet",
                a.ts,
                b.ts,
                a.seq,
                b.seq
            );
        }
        for p in &win {
            assert_eq!(
                p.payload.len(),
                160,
                "RTP packet seq {} carries {} bytes, expected 160 (20 ms of G.711)",
                p.seq,
                p.payload.len()
            );
        }
        let expected = window.as_millis() as usize / 20;
        let (lo, hi) = (expected * 7 / 10, expected * 13 / 10);
        assert!(
            (lo..=hi).contains(&win.len()),
            "{} RTP packets arrived within {window:?} of the first; 20 ms pacing gives about {expected} \
             (accepted {lo}..={hi})",
            win.len()
        );
    }

    /// Audio of the first stream placed by RTP timestamp (relative to its first packet),
    /// at most `max` long, as PCM samples scaled to -1.0..1.0.
    pub fn audio_by_timestamp(&self, max: Duration) -> Vec<f32> {
        let stream = self.first_stream();
        let Some(first) = stream.first() else {
            return Vec::new();
        };
        let max_samples = (max.as_millis() as usize) * 8;
        let ts0 = stream
            .iter()
            .map(|p| p.ts.wrapping_sub(first.ts) as i32)
            .min()
            .unwrap();
        let mut out = vec![0f32; 0];
        for p in &stream {
            let off = (p.ts.wrapping_sub(first.ts) as i32 - ts0) as usize;
            if off >= max_samples {
                continue;
            }
            let end = (off + p.payload.len()).min(max_samples);
            if out.len() < end {
                out.resize(end, 0.0);
            }
            for (i, &b) in p.payload[..end - off].iter().enumerate() {
                out[off + i] = decode_g711(p.pt, b);
            }
        }
        out
    }

    /// All G.711 audio in arrival order, concatenated (ignores timestamps and SSRCs).
    pub fn audio_in_arrival_order(&self) -> Vec<f32> {
        self.packets
            .iter()
            .filter(|p| p.pt == PT_PCMU || p.pt == PT_PCMA)
            .flat_map(|p| p.payload.iter().map(move |&b| decode_g711(p.pt, b)))
            .collect()
    }
}

fn decode_g711(pt: u8, b: u8) -> f32 {
    let s = if pt == PT_PCMA {
        alaw_to_linear(b)
    } else {
        ulaw_to_linear(b)
    };
    s as f32 / 32768.0
}

/// G.711 µ-law byte to 16-bit linear PCM (ITU-T G.711).
pub fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let exponent = (u >> 4) & 0x07;
    let mantissa = (u & 0x0f) as i32;
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// 16-bit linear PCM to G.711 µ-law (used by the harness self-check only).
pub fn linear_to_ulaw(s: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut x = s as i32;
    let sign = if x < 0 {
        x = -x;
        0x80
    } else {
        0
    };
    x = x.min(CLIP) + BIAS;
    let mut exponent = 7u8;
    let mut mask = 0x4000;
    while exponent > 0 && x & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = ((x >> (exponent + 3)) & 0x0f) as u8;
    !(sign | (exponent << 4) | mantissa)
}

/// G.711 A-law byte to 16-bit linear PCM (ITU-T G.711).
pub fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let exponent = (a >> 4) & 0x07;
    let mantissa = (a & 0x0f) as i32;
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    if a & 0x80 != 0 {
        magnitude as i16
    } else {
        -magnitude as i16
    }
}

/// Reads an 8 kHz mono PCM16 WAV (the prompt format) as samples in -1.0..1.0.
pub fn read_wav(path: &Path) -> Vec<f32> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "{} is not a RIFF/WAVE file",
        path.display()
    );
    let mut off = 12;
    let mut format: Option<(u16, u16, u32, u16)> = None;
    while off + 8 <= bytes.len() {
        let id = &bytes[off..off + 4];
        let len = u32::from_le_bytes(bytes[off + 4..off + 8].try_into().unwrap()) as usize;
        let body = &bytes[off + 8..(off + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            format = Some((
                u16::from_le_bytes([body[0], body[1]]),
                u16::from_le_bytes([body[2], body[3]]),
                u32::from_le_bytes(body[4..8].try_into().unwrap()),
                u16::from_le_bytes([body[14], body[15]]),
            ));
        } else if id == b"data" {
            let (tag, channels, rate, bits) =
                format.unwrap_or_else(|| panic!("{}: data before fmt", path.display()));
            assert_eq!(
                (tag, channels, rate, bits),
                (1, 1, 8000, 16),
                "{}: expected PCM (1), mono, 8000 Hz, 16 bit",
                path.display()
            );
            return body
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as f32 / 32768.0)
                .collect();
        }
        off += 8 + len + (len & 1);
    }
    panic!("{}: no data chunk", path.display());
}

/// In-place iterative radix-2 FFT (`re.len()` a power of two).
fn fft(re: &mut [f64], im: &mut [f64], inverse: bool) {
    let n = re.len();
    debug_assert!(n.is_power_of_two() && im.len() == n);
    let mut j = 0usize;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let ang = 2.0 * std::f64::consts::PI / len as f64 * if inverse { 1.0 } else { -1.0 };
        let (wr, wi) = (ang.cos(), ang.sin());
        for start in (0..n).step_by(len) {
            let (mut cr, mut ci) = (1.0f64, 0.0f64);
            for k in 0..len / 2 {
                let a = start + k;
                let b = a + len / 2;
                let (xr, xi) = (re[b] * cr - im[b] * ci, re[b] * ci + im[b] * cr);
                re[b] = re[a] - xr;
                im[b] = im[a] - xi;
                re[a] += xr;
                im[a] += xi;
                let ncr = cr * wr - ci * wi;
                ci = cr * wi + ci * wr;
                cr = ncr;
            }
        }
        len <<= 1;
    }
    if inverse {
        for v in re.iter_mut().chain(im.iter_mut()) {
            *v /= n as f64;
        }
    }
}

/// Peak normalised cross-correlation of the shorter signal slid along the longer one
/// (full overlaps only): about 1.0 when the shorter is a piece of the longer (even after
/// G.711 coding), small for unrelated speech. Windows of the longer signal that are
/// nearly silent are ignored so silence cannot produce a spurious peak.
pub fn similarity(a: &[f32], b: &[f32]) -> f64 {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let m = short.len();
    let n = long.len();
    if m < 160 {
        return 0.0;
    }
    let mean = |x: &[f32]| x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
    let (ms, ml) = (mean(short), mean(long));
    let s: Vec<f64> = short.iter().map(|&v| v as f64 - ms).collect();
    let l: Vec<f64> = long.iter().map(|&v| v as f64 - ml).collect();
    let es: f64 = s.iter().map(|v| v * v).sum();
    if es <= 1e-9 {
        return 0.0;
    }
    let size = (n + m).next_power_of_two();
    let (mut lr, mut li) = (vec![0f64; size], vec![0f64; size]);
    let (mut sr, mut si) = (vec![0f64; size], vec![0f64; size]);
    lr[..n].copy_from_slice(&l);
    sr[..m].copy_from_slice(&s);
    fft(&mut lr, &mut li, false);
    fft(&mut sr, &mut si, false);
    // L * conj(S)
    for k in 0..size {
        let (a, b, c, d) = (lr[k], li[k], sr[k], si[k]);
        lr[k] = a * c + b * d;
        li[k] = b * c - a * d;
    }
    fft(&mut lr, &mut li, true);
    let mut prefix = vec![0f64; n + 1];
    for i in 0..n {
        prefix[i + 1] = prefix[i] + l[i] * l[i];
    }
    let windows: Vec<f64> = (0..=n - m).map(|k| prefix[k + m] - prefix[k]).collect();
    let loudest = windows.iter().cloned().fold(0.0, f64::max);
    let mut best = 0.0f64;
    for (k, &el) in windows.iter().enumerate() {
        if el < 0.02 * loudest || el <= 1e-12 {
            continue;
        }
        let c = lr[k] / (es * el).sqrt();
        best = best.max(c);
    }
    best
}
