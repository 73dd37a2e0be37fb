//! In-band DTMF detection (ITU-T Q.23 frequencies, Q.24-style acceptance) with the
//! Goertzel algorithm, for calls whose peer sends key tones in the audio instead of
//! RFC 4733 events (RFC 4733 §1 notes both exist).
//!
//! The signal is cut into blocks of 105 samples (13 ms at 8 kHz), independent of how
//! frames are fed. A block "hits" a key when its two tones pass the checks in
//! [`InbandDetector::classify`]; a key is reported once, when two consecutive blocks
//! hit it (26 ms of tone, so any tone of 40 ms or more is caught whatever its
//! alignment), and again only after a block without it.

use crate::media::dtmf::Digit;

/// Samples per analysis block. 105 puts the Goertzel bins (76 Hz wide) so that each
/// DTMF tone leaks at least 15 dB less into its neighbours than into its own bin.
pub const BLOCK_LEN: usize = 105;

const SAMPLE_RATE: f32 = 8000.0;

/// Q.23 row (low group) then column (high group) frequencies, Hz.
const FREQS: [f32; 8] = [697.0, 770.0, 852.0, 941.0, 1209.0, 1336.0, 1477.0, 1633.0];

/// Keys by [row][column], as on the keypad.
const KEYPAD: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Peak amplitude of a 0 dBm0 sine in 16-bit G.711 (full scale is +3.17 dBm0).
const DBM0_PEAK: f32 = 22_300.0;

/// Weakest tone accepted, about -36 dBm0 per frequency.
const MIN_TONE_PEAK: f32 = DBM0_PEAK * 0.015_85;

/// Goertzel power of a sine of peak `a` filling a block is (a·N/2)².
const MIN_POWER: f32 =
    (MIN_TONE_PEAK * BLOCK_LEN as f32 / 2.0) * (MIN_TONE_PEAK * BLOCK_LEN as f32 / 2.0);

/// Normal twist: the high tone may be up to 8 dB weaker than the low one (line loss
/// grows with frequency). Reverse twist: at most 4 dB stronger. Power ratios.
const NORMAL_TWIST: f32 = 6.31;
const REVERSE_TWIST: f32 = 2.51;

/// Each tone must beat the other tones of its group by 8 dB (power ratio).
const RELATIVE_PEAK: f32 = 6.31;

/// The two tones must carry this share of the block's energy. Speech and noise
/// spread their energy over the band and fail this, which rejects them more robustly
/// than a second-harmonic check; a block only partly covered by tone fails it too.
const MIN_TONE_SHARE: f32 = 0.8;

/// Detects DTMF key presses in 8 kHz linear PCM.
#[derive(Debug, Clone)]
pub struct InbandDetector {
    /// Goertzel coefficients 2·cos(2πf/fs).
    coeffs: [f32; 8],
    /// Goertzel state per frequency.
    s1: [f32; 8],
    s2: [f32; 8],
    /// Σx² over the block.
    energy: f32,
    filled: usize,
    /// The previous block's key, if any.
    last_hit: Option<Digit>,
    /// The key currently held and already reported.
    reported: Option<Digit>,
}

impl Default for InbandDetector {
    fn default() -> Self {
        InbandDetector::new()
    }
}

impl InbandDetector {
    pub fn new() -> InbandDetector {
        InbandDetector {
            coeffs: FREQS.map(|f| 2.0 * (2.0 * std::f32::consts::PI * f / SAMPLE_RATE).cos()),
            s1: [0.0; 8],
            s2: [0.0; 8],
            energy: 0.0,
            filled: 0,
            last_hit: None,
            reported: None,
        }
    }

    /// Forgets any partial block and held key, e.g. after a gap in the stream.
    pub fn reset(&mut self) {
        *self = InbandDetector {
            coeffs: self.coeffs,
            ..InbandDetector::new()
        };
    }

    /// Feeds samples (normally one 160-sample frame) and returns the key whose tone
    /// onset was confirmed in them. Frames of up to 4 blocks (420 samples) can
    /// confirm at most one key, so none is lost.
    pub fn on_frame(&mut self, samples: &[i16]) -> Option<Digit> {
        let mut found = None;
        for &x in samples {
            let x = f32::from(x);
            for i in 0..8 {
                let s = x + self.coeffs[i] * self.s1[i] - self.s2[i];
                self.s2[i] = self.s1[i];
                self.s1[i] = s;
            }
            self.energy += x * x;
            self.filled += 1;
            if self.filled == BLOCK_LEN {
                let hit = self.classify();
                found = self.on_block(hit).or(found);
                self.s1 = [0.0; 8];
                self.s2 = [0.0; 8];
                self.energy = 0.0;
                self.filled = 0;
            }
        }
        found
    }

    /// Debounce: report on the second consecutive hit; re-arm after any block that
    /// does not hit the held key.
    fn on_block(&mut self, hit: Option<Digit>) -> Option<Digit> {
        let mut out = None;
        if hit.is_some() && hit == self.last_hit && hit != self.reported {
            self.reported = hit;
            out = hit;
        }
        if hit != self.reported {
            self.reported = None;
        }
        self.last_hit = hit;
        out
    }

    /// The key the completed block holds, if any: the strongest tone of each group
    /// must be loud enough, within twist limits, well above its group's other tones,
    /// and together the two must carry most of the block's energy.
    fn classify(&self) -> Option<Digit> {
        let power: [f32; 8] = std::array::from_fn(|i| {
            let (s1, s2) = (self.s1[i], self.s2[i]);
            s1 * s1 + s2 * s2 - self.coeffs[i] * s1 * s2
        });
        let (row, low) = strongest(&power[..4]);
        let (col, high) = strongest(&power[4..]);
        if low < MIN_POWER || high < MIN_POWER {
            return None;
        }
        if low > high * NORMAL_TWIST || high > low * REVERSE_TWIST {
            return None;
        }
        let clear_peak = |group: &[f32], peak: usize, p: f32| {
            group
                .iter()
                .enumerate()
                .all(|(i, &q)| i == peak || q * RELATIVE_PEAK <= p)
        };
        if !clear_peak(&power[..4], row, low) || !clear_peak(&power[4..], col, high) {
            return None;
        }
        // (2/N)·power is the energy of the tone in the block; see MIN_POWER.
        let tone_energy = (low + high) * 2.0 / BLOCK_LEN as f32;
        if tone_energy < MIN_TONE_SHARE * self.energy {
            return None;
        }
        Digit::from_char(KEYPAD[row][col])
    }
}

/// Index and value of the largest power in `group`.
fn strongest(group: &[f32]) -> (usize, f32) {
    group.iter().copied().enumerate().fold(
        (0, f32::MIN),
        |best, (i, p)| if p > best.1 { (i, p) } else { best },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::codec::{Codec, FRAME_SAMPLES};
    use crate::media::g711;
    use std::f64::consts::PI;

    const KEYS: &str = "123A456B789C*0#D";

    /// Peak amplitude of a sine at `dbm0`.
    fn peak(dbm0: f64) -> f64 {
        f64::from(DBM0_PEAK) * 10f64.powf(dbm0 / 20.0)
    }

    fn freqs(key: char) -> (f64, f64) {
        let i = KEYS.find(key).unwrap();
        (f64::from(FREQS[i / 4]), f64::from(FREQS[4 + i % 4]))
    }

    /// A signal built piece by piece, phase-continuous across pieces.
    #[derive(Default)]
    struct Signal {
        samples: Vec<i16>,
    }

    impl Signal {
        fn tones(&mut self, parts: &[(f64, f64)], ms: usize) -> &mut Self {
            let start = self.samples.len();
            for n in start..start + ms * 8 {
                let t = n as f64 / 8000.0;
                let v: f64 = parts
                    .iter()
                    .map(|&(f, a)| a * (2.0 * PI * f * t).sin())
                    .sum();
                self.samples.push(v.round().clamp(-32768.0, 32767.0) as i16);
            }
            self
        }

        fn key(&mut self, key: char, dbm0: f64, ms: usize) -> &mut Self {
            let (lo, hi) = freqs(key);
            self.tones(&[(lo, peak(dbm0)), (hi, peak(dbm0))], ms)
        }

        fn silence(&mut self, ms: usize) -> &mut Self {
            self.samples.extend(std::iter::repeat_n(0, ms * 8));
            self
        }
    }

    /// Runs `samples` through a fresh detector in frames of `frame` samples and
    /// returns the keys reported, in order.
    fn detect_in(samples: &[i16], frame: usize) -> String {
        let mut det = InbandDetector::new();
        samples
            .chunks(frame)
            .filter_map(|f| det.on_frame(f))
            .map(|d| d.as_char())
            .collect()
    }

    fn detect(samples: &[i16]) -> String {
        detect_in(samples, FRAME_SAMPLES)
    }

    /// Deterministic white noise from a 32-bit LCG (Numerical Recipes constants).
    fn noise(seed: u32, len: usize, amplitude: f64) -> Vec<f64> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (f64::from(state >> 8) / f64::from(1u32 << 24) * 2.0 - 1.0) * amplitude
            })
            .collect()
    }

    #[test]
    fn every_key_is_detected_once_at_normal_and_weak_levels() {
        for dbm0 in [-7.0, -10.0, -30.0, -34.0] {
            for key in KEYS.chars() {
                let mut s = Signal::default();
                s.silence(30).key(key, dbm0, 100).silence(100);
                assert_eq!(detect(&s.samples), key.to_string(), "{key} at {dbm0} dBm0");
            }
        }
    }

    #[test]
    fn tones_survive_g711_round_trips() {
        for codec in [Codec::Pcmu, Codec::Pcma] {
            for dbm0 in [-10.0, -30.0] {
                let mut s = Signal::default();
                for key in KEYS.chars() {
                    s.key(key, dbm0, 80).silence(80);
                }
                let coded: Vec<i16> = s
                    .samples
                    .iter()
                    .map(|&x| g711::decode(codec, g711::encode(codec, x)))
                    .collect();
                assert_eq!(detect(&coded), KEYS, "{codec:?} at {dbm0} dBm0");
            }
        }
    }

    #[test]
    fn too_weak_tones_are_ignored() {
        let mut s = Signal::default();
        s.key('5', -45.0, 200);
        assert_eq!(detect(&s.samples), "");
    }

    #[test]
    fn silence_single_tones_and_noise_are_not_keys() {
        assert_eq!(detect(&[0; 8000]), "");
        let mut s = Signal::default();
        s.tones(&[(1000.0, peak(-10.0))], 500);
        assert_eq!(detect(&s.samples), "", "1 kHz test tone");
        for &f in &FREQS {
            let mut s = Signal::default();
            s.tones(&[(f64::from(f), peak(-10.0))], 200);
            assert_eq!(detect(&s.samples), "", "lone {f} Hz");
        }
        for (seed, amplitude) in [(1, 500.0), (7, 5000.0), (42, 20000.0)] {
            let n: Vec<i16> = noise(seed, 16000, amplitude)
                .iter()
                .map(|&v| v as i16)
                .collect();
            assert_eq!(detect(&n), "", "noise seed {seed} amplitude {amplitude}");
        }
    }

    #[test]
    fn harmonic_rich_voice_like_buzz_is_not_a_key() {
        // Pulse-train "vowels": 30 harmonics of f0, some of which land near DTMF
        // frequencies (e.g. 6 × 120 = 720 Hz, 10 × 120 = 1200 Hz).
        for f0 in [100.0, 120.0, 133.0, 150.0, 210.0] {
            let parts: Vec<(f64, f64)> = (1..=30)
                .map(|h| (f0 * f64::from(h), 3000.0 / f64::from(h).sqrt()))
                .filter(|&(f, _)| f < 3800.0)
                .collect();
            let mut s = Signal::default();
            s.tones(&parts, 300);
            assert_eq!(detect(&s.samples), "", "buzz at f0 = {f0} Hz");
        }
    }

    #[test]
    fn a_key_in_moderate_noise_is_still_detected() {
        let mut s = Signal::default();
        s.key('8', -10.0, 120);
        let n = noise(3, s.samples.len(), 700.0); // about 20 dB below the tones
        let noisy: Vec<i16> = s
            .samples
            .iter()
            .zip(&n)
            .map(|(&x, &v)| (f64::from(x) + v) as i16)
            .collect();
        assert_eq!(detect(&noisy), "8");
    }

    #[test]
    fn a_held_key_is_reported_once() {
        let mut s = Signal::default();
        s.key('#', -10.0, 200);
        assert_eq!(detect(&s.samples), "#");
        let mut s = Signal::default();
        s.key('0', -10.0, 2000);
        assert_eq!(detect(&s.samples), "0");
    }

    #[test]
    fn presses_separated_by_short_pauses_are_reported_each_time() {
        for gap_ms in [40, 60] {
            let mut s = Signal::default();
            s.key('2', -10.0, 60)
                .silence(gap_ms)
                .key('2', -10.0, 60)
                .silence(gap_ms)
                .key('9', -10.0, 60);
            assert_eq!(detect(&s.samples), "229", "gap {gap_ms} ms");
        }
    }

    #[test]
    fn key_change_without_pause_is_reported() {
        let mut s = Signal::default();
        s.key('1', -10.0, 100).key('4', -10.0, 100);
        assert_eq!(detect(&s.samples), "14");
    }

    #[test]
    fn a_40_ms_tone_is_caught_at_any_alignment_and_a_20_ms_one_never() {
        for offset_ms in 0..14 {
            // Offsets in 1/8 ms steps would be finer; whole ms over a 13 ms block
            // covers every phase of the block grid to within 8 samples.
            let mut s = Signal::default();
            s.silence(offset_ms).key('6', -10.0, 40).silence(40);
            assert_eq!(detect(&s.samples), "6", "40 ms at offset {offset_ms}");
            let mut s = Signal::default();
            s.silence(offset_ms).key('6', -10.0, 20).silence(40);
            assert_eq!(detect(&s.samples), "", "20 ms at offset {offset_ms}");
        }
    }

    #[test]
    fn twist_limits() {
        let key = |low_db: f64, high_db: f64| {
            let (lo, hi) = freqs('5');
            let mut s = Signal::default();
            s.tones(&[(lo, peak(low_db)), (hi, peak(high_db))], 100);
            detect(&s.samples)
        };
        assert_eq!(key(-8.0, -14.0), "5", "6 dB normal twist");
        assert_eq!(key(-8.0, -18.0), "", "10 dB normal twist");
        assert_eq!(key(-11.0, -8.0), "5", "3 dB reverse twist");
        assert_eq!(key(-14.0, -8.0), "", "6 dB reverse twist");
    }

    #[test]
    fn tolerates_q24_frequency_deviation() {
        for dev in [0.985, 1.015] {
            let (lo, hi) = freqs('9');
            let mut s = Signal::default();
            s.tones(&[(lo * dev, peak(-10.0)), (hi * dev, peak(-10.0))], 100);
            assert_eq!(detect(&s.samples), "9", "deviation {dev}");
        }
    }

    #[test]
    fn result_does_not_depend_on_frame_size() {
        let mut s = Signal::default();
        for key in "159#".chars() {
            s.key(key, -12.0, 70).silence(50);
        }
        for frame in [1, 80, 105, 160, 240, 420] {
            assert_eq!(detect_in(&s.samples, frame), "159#", "frames of {frame}");
        }
    }

    #[test]
    fn reset_forgets_a_half_confirmed_key() {
        let mut s = Signal::default();
        s.key('3', -10.0, 40);
        let (first, second) = (
            &s.samples[..BLOCK_LEN],
            &s.samples[BLOCK_LEN..2 * BLOCK_LEN],
        );
        let mut det = InbandDetector::new();
        assert_eq!(det.on_frame(first), None);
        assert_eq!(
            det.on_frame(second),
            Digit::from_char('3'),
            "control: two blocks confirm"
        );
        let mut det = InbandDetector::new();
        assert_eq!(det.on_frame(first), None);
        det.reset();
        assert_eq!(det.on_frame(second), None);
    }
}
