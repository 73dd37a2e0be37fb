//! DTMF digits from RTP telephone-events (RFC 4733 §2.3, §2.5), and the merge of
//! the three ways a key press can reach us (RFC 4733, SIP INFO, in-band tones).

use crate::media::rtp::RtpHeader;
use std::fmt;
use std::time::{Duration, Instant};

/// A DTMF key: `0`–`9`, `*`, `#`, `A`–`D`, stored as its RFC 4733 §3.2 event code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digit(u8);

/// Characters indexed by event code (RFC 4733 §3.2 table 7).
const DIGIT_CHARS: &[u8; 16] = b"0123456789*#ABCD";

impl Digit {
    /// The digit for telephone-event code 0–15; other events (flash, tones) are `None`.
    pub const fn from_event(event: u8) -> Option<Digit> {
        if event < 16 { Some(Digit(event)) } else { None }
    }

    /// Accepts `0-9 * # A-D`, letters in either case.
    pub fn from_char(c: char) -> Option<Digit> {
        let c = c.to_ascii_uppercase();
        let code = DIGIT_CHARS.iter().position(|&d| char::from(d) == c)?;
        Some(Digit(code as u8))
    }

    /// The RFC 4733 event code.
    pub const fn event(self) -> u8 {
        self.0
    }

    pub const fn as_char(self) -> char {
        DIGIT_CHARS[self.0 as usize] as char
    }
}

impl fmt::Display for Digit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// The fields of an RFC 4733 §2.3 event payload we use.
#[derive(Debug, Clone, Copy)]
struct EventPayload {
    event: u8,
    end: bool,
    duration: u16,
}

impl EventPayload {
    /// Only the first 4-byte block is read: multiple blocks in one packet are RFC 2198
    /// redundancy of older events, which we would drop as duplicates anyway.
    fn parse(payload: &[u8]) -> Option<EventPayload> {
        let b = payload.get(..4)?;
        Some(EventPayload {
            event: b[0],
            end: b[1] & 0x80 != 0,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }
}

/// One key press as the receiver has tracked it.
#[derive(Debug, Clone, Copy)]
struct EventInstance {
    ssrc: u32,
    timestamp: u32,
    event: u8,
    /// An end packet (E bit) has been seen.
    ended: bool,
    /// Shortest and longest duration seen: the shortest tells a fresh start of the
    /// same event apart from a late packet of the old one.
    min_duration: u16,
    max_duration: u16,
}

impl EventInstance {
    fn matches(&self, ssrc: u32, timestamp: u32, event: u8) -> bool {
        self.ssrc == ssrc && self.timestamp == timestamp && self.event == event
    }

    fn absorb(&mut self, p: EventPayload) {
        self.ended |= p.end;
        self.min_duration = self.min_duration.min(p.duration);
        self.max_duration = self.max_duration.max(p.duration);
    }
}

/// Event instances remembered, so late packets of a recent press stay duplicates.
const HISTORY: usize = 4;

/// A segment this long is about to hit the 16-bit duration limit; the sender then
/// continues the same press in a new segment (RFC 4733 §2.5.1.3).
const LONG_SEGMENT: u16 = 0xF000;

/// Turns telephone-event packets into key presses, one report per press.
///
/// A press is identified by (SSRC, RTP timestamp, event code): RFC 4733 §2.5.1 gives
/// all packets of one event the timestamp of its start. It is reported on its first
/// packet, without waiting for the end bit; later packets of it (growing durations,
/// the end packet and its retransmissions) are absorbed. Sequence numbers are
/// ignored, so jumps backwards and SSRC changes are harmless.
///
/// Restart rule: pcap replayers such as sipp send every press of a key with
/// identical SSRC, timestamp and sequence numbers, so a second press of "1" is
/// bit-for-bit a replay of the first. A packet matching a remembered press is
/// therefore a *new* press if that press is over (its end was seen, or a newer
/// event has begun since) and the packet looks like a start: E=0 and either the
/// marker bit (set on an event's first packet, §2.5.1.1) or a duration no longer
/// than the shortest seen in the old press. A packet delayed past its own event's
/// end carries a mid-press duration and no marker, so it stays a duplicate.
#[derive(Debug, Default)]
pub struct Rfc4733Receiver {
    recent: [Option<EventInstance>; HISTORY],
    newest: usize,
}

impl Rfc4733Receiver {
    pub fn new() -> Rfc4733Receiver {
        Rfc4733Receiver::default()
    }

    /// Feeds one packet of the negotiated telephone-event payload type (the caller
    /// checks the PT). Returns the digit when the packet starts a new key press.
    pub fn on_packet(&mut self, hdr: &RtpHeader, payload: &[u8]) -> Option<Digit> {
        let p = EventPayload::parse(payload)?;
        let digit = Digit::from_event(p.event)?;

        let found = (0..HISTORY)
            .find(|&i| self.recent[i].is_some_and(|e| e.matches(hdr.ssrc, hdr.timestamp, p.event)));
        if let Some(i) = found {
            let is_newest = i == self.newest;
            let known = self.recent[i].as_mut()?;
            let over = known.ended || !is_newest;
            let looks_like_start = !p.end && (hdr.marker || p.duration <= known.min_duration);
            if !(over && looks_like_start) {
                known.absorb(p);
                return None;
            }
            // A replayed press: forget the old one and track the new one below.
            self.recent[i] = None;
        } else if self.continues_long_event(hdr, p) {
            self.remember(hdr, p);
            return None;
        }
        self.remember(hdr, p);
        Some(digit)
    }

    /// Whether this packet opens the next segment of a press held past the 16-bit
    /// duration limit: same SSRC and event, previous segment not ended and nearly
    /// full, timestamp one segment later.
    fn continues_long_event(&self, hdr: &RtpHeader, p: EventPayload) -> bool {
        let Some(prev) = self.recent[self.newest] else {
            return false;
        };
        let advance = hdr.timestamp.wrapping_sub(prev.timestamp);
        prev.ssrc == hdr.ssrc
            && prev.event == p.event
            && !prev.ended
            && prev.max_duration >= LONG_SEGMENT
            && (u32::from(prev.max_duration)..=0x1_0000).contains(&advance)
    }

    fn remember(&mut self, hdr: &RtpHeader, p: EventPayload) {
        self.newest = (self.newest + 1) % HISTORY;
        self.recent[self.newest] = Some(EventInstance {
            ssrc: hdr.ssrc,
            timestamp: hdr.timestamp,
            event: p.event,
            ended: p.end,
            min_duration: p.duration,
            max_duration: p.duration,
        });
    }
}

/// Where a digit report came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Rfc4733,
    SipInfo,
    Inband,
}

impl Source {
    const fn bit(self) -> u8 {
        match self {
            Source::Rfc4733 => 1,
            Source::SipInfo => 2,
            Source::Inband => 4,
        }
    }
}

/// How close two reports of one digit from different sources must be to count as
/// the same press. In-band detection lags RFC 4733 by ~30 ms; SIP INFO travels the
/// signalling path and may lag more.
pub const DEFAULT_MERGE_WINDOW: Duration = Duration::from_millis(250);

/// The last press accepted and which sources have reported it so far.
#[derive(Debug, Clone, Copy)]
struct Accepted {
    at: Instant,
    digit: Digit,
    sources: u8,
}

/// Merges the digit sources so one key press is reported once, however many ways
/// it arrived.
///
/// Rule: a report is a duplicate when the last accepted press has the same digit,
/// was accepted less than `window` ago, and has not yet been reported by this
/// source. Each source de-duplicates itself, so a source repeating a digit is
/// always a new press, and each source can confirm a press at most once.
#[derive(Debug)]
pub struct DtmfMerger {
    window: Duration,
    last: Option<Accepted>,
}

impl Default for DtmfMerger {
    fn default() -> Self {
        DtmfMerger::new(DEFAULT_MERGE_WINDOW)
    }
}

impl DtmfMerger {
    pub fn new(window: Duration) -> DtmfMerger {
        DtmfMerger { window, last: None }
    }

    /// Offers a report; returns the digit if it is a new press.
    pub fn offer(&mut self, now: Instant, source: Source, digit: Digit) -> Option<Digit> {
        if let Some(last) = &mut self.last {
            let duplicate = last.digit == digit
                && last.sources & source.bit() == 0
                && now.saturating_duration_since(last.at) < self.window;
            if duplicate {
                last.sources |= source.bit();
                return None;
            }
        }
        self.last = Some(Accepted {
            at: now,
            digit,
            sources: source.bit(),
        });
        Some(digit)
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start a virtual clock at a real instant
mod tests {
    use super::*;

    fn d(c: char) -> Digit {
        Digit::from_char(c).unwrap()
    }

    #[test]
    fn digits_map_events_and_chars_both_ways() {
        let all = "0123456789*#ABCD";
        for (code, c) in all.chars().enumerate() {
            let digit = Digit::from_event(code as u8).unwrap();
            assert_eq!(digit.as_char(), c);
            assert_eq!(digit.event(), code as u8);
            assert_eq!(Digit::from_char(c), Some(digit));
            assert_eq!(digit.to_string(), c.to_string());
        }
        assert_eq!(Digit::from_char('b'), Some(d('B')));
        assert_eq!(Digit::from_event(16), None);
        assert_eq!(Digit::from_char('E'), None);
        assert_eq!(Digit::from_char('x'), None);
    }

    /// A telephone-event packet: header plus 4-byte payload.
    fn pkt(
        ssrc: u32,
        seq: u16,
        ts: u32,
        marker: bool,
        event: u8,
        end: bool,
        duration: u16,
    ) -> (RtpHeader, [u8; 4]) {
        let hdr = RtpHeader {
            marker,
            payload_type: 101,
            seq,
            timestamp: ts,
            ssrc,
        };
        let d = duration.to_be_bytes();
        (hdr, [event, (u8::from(end) << 7) | 10, d[0], d[1]])
    }

    /// One press as in sipp's pcaps: 7 packets with E=0 and growing duration (the
    /// first with the marker), then the end packet sent 3 times; one timestamp.
    fn sipp_press(
        event: u8,
        ssrc: u32,
        seq: u16,
        ts: u32,
        marker: bool,
    ) -> Vec<(RtpHeader, [u8; 4])> {
        let mut v = Vec::new();
        for i in 0..7u16 {
            v.push(pkt(
                ssrc,
                seq + i,
                ts,
                marker && i == 0,
                event,
                false,
                160 * (i + 1),
            ));
        }
        for i in 7..10u16 {
            v.push(pkt(ssrc, seq + i, ts, false, event, true, 1280));
        }
        v
    }

    /// Feeds packets and collects (packet index, digit) of every report.
    fn feed(rx: &mut Rfc4733Receiver, pkts: &[(RtpHeader, [u8; 4])]) -> Vec<(usize, char)> {
        pkts.iter()
            .enumerate()
            .filter_map(|(i, (h, p))| rx.on_packet(h, p).map(|d| (i, d.as_char())))
            .collect()
    }

    #[test]
    fn a_press_is_reported_once_on_its_first_packet() {
        let mut rx = Rfc4733Receiver::new();
        assert_eq!(
            feed(&mut rx, &sipp_press(5, 7, 100, 8000, true)),
            [(0, '5')]
        );
    }

    #[test]
    fn identical_sipp_replays_of_the_same_key_are_separate_presses() {
        for marker in [true, false] {
            let mut rx = Rfc4733Receiver::new();
            let press = sipp_press(1, 0x1234, 500, 4000, marker);
            let mut stream = press.clone();
            stream.extend(press.clone());
            stream.extend(press);
            assert_eq!(
                feed(&mut rx, &stream),
                [(0, '1'), (10, '1'), (20, '1')],
                "marker {marker}"
            );
        }
    }

    #[test]
    fn sipp_replays_of_different_keys_sharing_ts_and_ssrc() {
        let mut rx = Rfc4733Receiver::new();
        let mut stream = sipp_press(1, 9, 0, 0, true);
        stream.extend(sipp_press(2, 9, 0, 0, true));
        stream.extend(sipp_press(1, 9, 0, 0, true));
        stream.extend(sipp_press(11, 9, 0, 0, true));
        assert_eq!(
            feed(&mut rx, &stream),
            [(0, '1'), (10, '2'), (20, '1'), (30, '#')]
        );
    }

    #[test]
    fn a_conforming_sender_with_advancing_ts_gives_one_report_per_press() {
        let mut rx = Rfc4733Receiver::new();
        let mut stream = sipp_press(3, 1, 10, 1600, true);
        stream.extend(sipp_press(3, 1, 20, 4800, true));
        stream.extend(sipp_press(10, 1, 30, 8000, true));
        assert_eq!(feed(&mut rx, &stream), [(0, '3'), (10, '3'), (20, '*')]);
    }

    #[test]
    fn a_press_seen_only_through_its_end_packets_is_reported_once() {
        let mut rx = Rfc4733Receiver::new();
        let press = sipp_press(12, 1, 10, 1600, true);
        assert_eq!(feed(&mut rx, &press[7..]), [(0, 'A')]);
        // And a replay of it after that still counts as a new press.
        assert_eq!(feed(&mut rx, &press), [(0, 'A')]);
    }

    #[test]
    fn packets_delayed_past_the_end_are_duplicates() {
        let mut rx = Rfc4733Receiver::new();
        let press = sipp_press(4, 1, 10, 1600, true);
        let order = [0, 1, 2, 3, 5, 7, 4, 8, 6, 9];
        let stream: Vec<_> = order.iter().map(|&i| press[i]).collect();
        assert_eq!(feed(&mut rx, &stream), [(0, '4')]);
    }

    #[test]
    fn late_packets_of_an_older_press_stay_duplicates() {
        let mut rx = Rfc4733Receiver::new();
        let first = sipp_press(7, 1, 10, 1600, true);
        let second = sipp_press(8, 1, 20, 3200, true);
        let stream = [
            first[0], first[1], second[0], first[8], first[2], second[1], second[9],
        ];
        assert_eq!(feed(&mut rx, &stream), [(0, '7'), (2, '8')]);
    }

    #[test]
    fn timestamp_jumps_back_and_ssrc_changes_start_new_presses() {
        let mut rx = Rfc4733Receiver::new();
        let mut stream = sipp_press(9, 1, 1000, 90_000, true);
        stream.extend(sipp_press(9, 1, 5, 160, true)); // sender restarted its clock
        stream.extend(sipp_press(9, 2, 1000, 90_000, true)); // new SSRC, old ts
        assert_eq!(feed(&mut rx, &stream), [(0, '9'), (10, '9'), (20, '9')]);
    }

    #[test]
    fn a_press_held_past_the_duration_limit_is_one_press() {
        let mut rx = Rfc4733Receiver::new();
        let stream = [
            pkt(1, 1, 1000, true, 0, false, 800),
            pkt(1, 2, 1000, false, 0, false, 0xFFFF),
            // RFC 4733 §2.5.1.3: the next segment starts 0xFFFF units later.
            pkt(1, 3, 1000 + 0xFFFF, false, 0, false, 400),
            pkt(1, 4, 1000 + 0xFFFF, false, 0, true, 800),
            pkt(1, 5, 1000 + 0xFFFF, false, 0, true, 800),
        ];
        assert_eq!(feed(&mut rx, &stream), [(0, '0')]);
    }

    #[test]
    fn short_payloads_and_non_dtmf_events_are_ignored() {
        let mut rx = Rfc4733Receiver::new();
        let (h, p) = pkt(1, 1, 160, true, 16, false, 160); // flash
        assert_eq!(rx.on_packet(&h, &p), None);
        assert_eq!(rx.on_packet(&h, &p[..3]), None);
        assert_eq!(rx.on_packet(&h, &[]), None);
        let (h, p) = pkt(1, 2, 160, true, 15, false, 160);
        assert_eq!(rx.on_packet(&h, &p), Some(d('D')));
    }

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn merger_drops_the_same_press_arriving_by_other_sources() {
        let t0 = Instant::now();
        let mut m = DtmfMerger::default();
        assert_eq!(m.offer(at(t0, 0), Source::Rfc4733, d('5')), Some(d('5')));
        assert_eq!(m.offer(at(t0, 40), Source::Inband, d('5')), None);
        assert_eq!(m.offer(at(t0, 200), Source::SipInfo, d('5')), None);
        // Outside the window the same digit is a new press, whatever the source.
        assert_eq!(m.offer(at(t0, 600), Source::Inband, d('5')), Some(d('5')));
        assert_eq!(m.offer(at(t0, 900), Source::Rfc4733, d('5')), Some(d('5')));
    }

    #[test]
    fn merger_counts_repeats_from_one_source_as_new_presses() {
        let t0 = Instant::now();
        let mut m = DtmfMerger::new(Duration::from_millis(250));
        assert_eq!(m.offer(at(t0, 0), Source::Rfc4733, d('1')), Some(d('1')));
        assert_eq!(m.offer(at(t0, 100), Source::Rfc4733, d('1')), Some(d('1')));
        assert_eq!(m.offer(at(t0, 130), Source::Inband, d('1')), None);
    }

    #[test]
    fn merger_lets_each_source_confirm_a_press_only_once() {
        // Fast double press seen first in-band, then via RFC 4733 for both presses.
        let t0 = Instant::now();
        let mut m = DtmfMerger::default();
        assert_eq!(m.offer(at(t0, 0), Source::Inband, d('7')), Some(d('7')));
        assert_eq!(m.offer(at(t0, 10), Source::Rfc4733, d('7')), None);
        assert_eq!(m.offer(at(t0, 150), Source::Rfc4733, d('7')), Some(d('7')));
        assert_eq!(m.offer(at(t0, 190), Source::Inband, d('7')), None);
    }

    #[test]
    fn merger_never_merges_different_digits() {
        let t0 = Instant::now();
        let mut m = DtmfMerger::default();
        assert_eq!(m.offer(at(t0, 0), Source::Rfc4733, d('1')), Some(d('1')));
        assert_eq!(m.offer(at(t0, 20), Source::Inband, d('2')), Some(d('2')));
        // The window is against the last accepted press (now '2'), so a late
        // in-band '1' is a new press.
        assert_eq!(m.offer(at(t0, 40), Source::Inband, d('1')), Some(d('1')));
        assert_eq!(m.offer(at(t0, 60), Source::SipInfo, d('#')), Some(d('#')));
    }

    #[test]
    fn merger_window_edge_and_clock_going_backwards() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let mut m = DtmfMerger::new(Duration::from_millis(100));
        assert_eq!(m.offer(t0, Source::SipInfo, d('0')), Some(d('0')));
        assert_eq!(
            m.offer(at(t0, 100), Source::Inband, d('0')),
            Some(d('0')),
            "window is half-open"
        );
        // A report stamped earlier than the last accepted one is within the window.
        assert_eq!(
            m.offer(t0 - Duration::from_millis(5), Source::Rfc4733, d('0')),
            None
        );
    }
}
