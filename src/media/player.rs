//! The per-call prompt player: a cursor over queued prompts that hands out one 20 ms
//! frame per tick, with the RTP marker on talk-spurt starts (RFC 3551 §4.1).
//!
//! The driver owns the clock: every 20 ms it calls [`Player::next_frame`] and sends
//! the frame, or calls `RtpSender::skip_silence` when it gets `None`. Ticks never
//! allocate; only `play`/`enqueue` may grow the queue.

use crate::media::codec::{Codec, FRAME_SAMPLES};
use crate::media::prompts::Prompt;
use std::collections::VecDeque;
use std::sync::Arc;

/// A queue entry: a prompt to play, or the end of one `play`/`enqueue` batch, whose
/// token is reported through `poll_finished` once everything before it has played.
#[derive(Debug)]
enum Entry {
    Prompt(Arc<Prompt>),
    BatchEnd(u64),
}

/// Plays queued prompts for one call.
#[derive(Debug)]
pub struct Player {
    /// The prompt being played and the index of its next frame.
    current: Option<Arc<Prompt>>,
    next_index: usize,
    queue: VecDeque<Entry>,
    /// True while a talk spurt is under way: the last tick produced a frame and
    /// nothing stopped us since. The next frame gets the marker when false.
    in_spurt: bool,
    finished: VecDeque<u64>,
}

impl Default for Player {
    fn default() -> Self {
        Player::new()
    }
}

impl Player {
    pub fn new() -> Player {
        Player {
            current: None,
            next_index: 0,
            queue: VecDeque::with_capacity(8),
            in_spurt: false,
            finished: VecDeque::with_capacity(4),
        }
    }

    /// Replaces whatever is playing or queued with `prompts`; `token` is reported by
    /// `poll_finished` when they have all played. The first frame carries the marker.
    /// Barge-in is just this (or `stop`).
    pub fn play(&mut self, prompts: impl IntoIterator<Item = Arc<Prompt>>, token: u64) {
        self.stop();
        self.enqueue(prompts, token);
    }

    /// Appends `prompts` after what is already queued, as its own batch with its own
    /// `token`. Playing on from a previous batch continues the same talk spurt.
    /// An empty batch finishes as soon as everything before it has.
    pub fn enqueue(&mut self, prompts: impl IntoIterator<Item = Arc<Prompt>>, token: u64) {
        // Zero-length prompts are dropped here so that a batch's end always directly
        // follows its last audible frame.
        let audible = prompts.into_iter().filter(|p| p.frame_count() > 0);
        self.queue.extend(audible.map(Entry::Prompt));
        self.queue.push_back(Entry::BatchEnd(token));
        if !self.has_frame() {
            self.report_batch_ends();
        }
    }

    /// Drops everything playing or queued. Their tokens are never reported (the
    /// caller knows it stopped them); tokens of batches that already finished stay
    /// pending in `poll_finished`. The next frame played starts a new talk spurt.
    pub fn stop(&mut self) {
        self.current = None;
        self.next_index = 0;
        self.queue.clear();
        self.in_spurt = false;
    }

    /// True while there is something left to play.
    pub fn is_playing(&self) -> bool {
        self.has_frame() || self.queue.iter().any(|e| matches!(e, Entry::Prompt(_)))
    }

    /// The frame for this tick and whether it starts a talk spurt (RTP marker), or
    /// `None` when idle. Call exactly once per 20 ms tick.
    pub fn next_frame(&mut self, codec: Codec) -> Option<(&[u8; FRAME_SAMPLES], bool)> {
        self.advance();
        let Some(prompt) = &self.current else {
            // Idle for a tick: the stream goes silent, the next frame is a new spurt.
            self.in_spurt = false;
            return None;
        };
        let index = self.next_index;
        self.next_index += 1;
        let last_of_prompt = self.next_index >= prompt.frame_count();
        let marker = !self.in_spurt;
        self.in_spurt = true;
        if last_of_prompt {
            // Report the batch end with its last frame, not a tick later, so the
            // caller can queue what follows without a silent gap. The exhausted
            // prompt stays in `current` so the frame can still be borrowed.
            self.report_batch_ends();
        }
        let frames = self.current.as_ref()?.frames(codec);
        Some((&frames[index], marker))
    }

    /// The token of a batch that finished playing, once per batch, oldest first.
    pub fn poll_finished(&mut self) -> Option<u64> {
        self.finished.pop_front()
    }

    /// Whether `current` still has a frame to play.
    fn has_frame(&self) -> bool {
        self.current
            .as_ref()
            .is_some_and(|p| self.next_index < p.frame_count())
    }

    /// Makes `current` the prompt with the next frame, reporting batch ends passed on
    /// the way; `current` becomes `None` when the queue is empty.
    fn advance(&mut self) {
        while !self.has_frame() {
            match self.queue.pop_front() {
                Some(Entry::Prompt(p)) => {
                    self.current = Some(p);
                    self.next_index = 0;
                }
                Some(Entry::BatchEnd(token)) => self.finished.push_back(token),
                None => {
                    self.current = None;
                    return;
                }
            }
        }
    }

    /// Reports the batch ends queued right after the exhausted current prompt.
    fn report_batch_ends(&mut self) {
        while let Some(&Entry::BatchEnd(token)) = self.queue.front() {
            self.queue.pop_front();
            self.finished.push_back(token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::g711;

    /// A prompt of `frames` frames whose frame `i` is filled with µ-law byte
    /// `tag + i`, so tests can tell which frame came out.
    fn prompt(id: &str, tag: u8, frames: usize) -> Arc<Prompt> {
        let mut bytes = Vec::new();
        for i in 0..frames {
            bytes.extend_from_slice(&[tag + i as u8; FRAME_SAMPLES]);
        }
        Arc::new(Prompt::from_ulaw(id, &bytes))
    }

    /// One tick: (first byte of the frame, marker), or None when idle.
    fn tick(p: &mut Player) -> Option<(u8, bool)> {
        p.next_frame(Codec::Pcmu).map(|(f, m)| (f[0], m))
    }

    #[test]
    fn idle_player_yields_nothing() {
        let mut p = Player::new();
        assert!(!p.is_playing());
        assert_eq!(tick(&mut p), None);
        assert_eq!(p.poll_finished(), None);
    }

    #[test]
    fn one_play_is_one_talk_spurt_and_finishes_once_with_its_last_frame() {
        let mut p = Player::new();
        p.play([prompt("a", 10, 2), prompt("b", 20, 3)], 7);
        assert!(p.is_playing());
        let mut got = Vec::new();
        for _ in 0..5 {
            assert_eq!(p.poll_finished(), None);
            got.push(tick(&mut p).unwrap());
        }
        assert_eq!(
            got,
            [
                (10, true),
                (11, false),
                (20, false),
                (21, false),
                (22, false)
            ]
        );
        // The token comes with the last frame, exactly once.
        assert_eq!(p.poll_finished(), Some(7));
        assert_eq!(p.poll_finished(), None);
        assert!(!p.is_playing());
        assert_eq!(tick(&mut p), None);
        assert_eq!(p.poll_finished(), None);
    }

    #[test]
    fn frames_follow_the_requested_codec() {
        let mut p = Player::new();
        p.play([Arc::new(Prompt::from_pcm16("t", &[1000; 160]))], 1);
        let (frame, marker) = p.next_frame(Codec::Pcma).unwrap();
        assert!(marker);
        assert_eq!(frame, &[g711::encode_alaw(1000); 160]);
    }

    #[test]
    fn barge_in_replaces_the_queue_drops_its_token_and_sets_the_marker() {
        let mut p = Player::new();
        p.play([prompt("a", 10, 5)], 1);
        assert_eq!(tick(&mut p), Some((10, true)));
        assert_eq!(tick(&mut p), Some((11, false)));
        p.stop();
        assert!(!p.is_playing());
        assert_eq!(tick(&mut p), None);
        p.play([prompt("b", 50, 1)], 2);
        assert_eq!(tick(&mut p), Some((50, true)));
        assert_eq!(p.poll_finished(), Some(2));
        assert_eq!(
            p.poll_finished(),
            None,
            "token 1 was stopped, never finished"
        );

        // play() while playing replaces too, without an idle tick in between.
        p.play([prompt("c", 60, 3)], 3);
        assert_eq!(tick(&mut p), Some((60, true)));
        p.play([prompt("d", 70, 1)], 4);
        assert_eq!(tick(&mut p), Some((70, true)));
        assert_eq!(p.poll_finished(), Some(4));
        assert_eq!(p.poll_finished(), None);
    }

    #[test]
    fn enqueued_batches_continue_the_spurt_and_finish_in_order() {
        let mut p = Player::new();
        p.play([prompt("a", 10, 1)], 1);
        p.enqueue([prompt("b", 20, 2)], 2);
        p.enqueue([], 3); // empty batch: done right after batch 2
        assert_eq!(tick(&mut p), Some((10, true)));
        assert_eq!(p.poll_finished(), Some(1));
        assert_eq!(p.poll_finished(), None);
        assert_eq!(tick(&mut p), Some((20, false)));
        assert_eq!(p.poll_finished(), None);
        assert_eq!(tick(&mut p), Some((21, false)));
        assert_eq!(p.poll_finished(), Some(2));
        assert_eq!(p.poll_finished(), Some(3));
        assert_eq!(tick(&mut p), None);
    }

    #[test]
    fn reacting_to_a_finish_before_the_next_tick_leaves_no_gap() {
        let mut p = Player::new();
        p.play([prompt("a", 10, 1)], 1);
        assert_eq!(tick(&mut p), Some((10, true)));
        assert_eq!(p.poll_finished(), Some(1));
        p.enqueue([prompt("b", 20, 1)], 2);
        assert_eq!(
            tick(&mut p),
            Some((20, false)),
            "same spurt: no silence between"
        );
    }

    #[test]
    fn a_silent_tick_ends_the_spurt() {
        let mut p = Player::new();
        p.play([prompt("a", 10, 1)], 1);
        assert_eq!(tick(&mut p), Some((10, true)));
        assert_eq!(tick(&mut p), None);
        p.enqueue([prompt("b", 20, 1)], 2);
        assert_eq!(tick(&mut p), Some((20, true)));
    }

    #[test]
    fn empty_batches_and_empty_prompts_finish_immediately_when_idle() {
        let mut p = Player::new();
        p.play([], 5);
        assert_eq!(p.poll_finished(), Some(5));
        p.play([Arc::new(Prompt::from_pcm16("empty", &[]))], 6);
        assert!(!p.is_playing());
        assert_eq!(p.poll_finished(), Some(6));
        assert_eq!(tick(&mut p), None);
        assert_eq!(p.poll_finished(), None);
    }

    #[test]
    fn finished_tokens_survive_a_later_stop() {
        let mut p = Player::new();
        p.play([prompt("a", 10, 1)], 1);
        p.enqueue([prompt("b", 20, 2)], 2);
        tick(&mut p);
        p.stop();
        assert_eq!(p.poll_finished(), Some(1));
        assert_eq!(p.poll_finished(), None);
    }
}
