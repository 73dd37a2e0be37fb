//! The built-in DTMF test line, a per-call state machine: greeting, each key spoken back,
//! `#` says goodbye and hangs up. Kept as a diagnostic line once menus exist.

use std::time::{Duration, Instant};

/// Prompt ids the test line plays (files under `prompts/`).
pub const GREETING: &str = "it/benvenuto";
pub const GOODBYE: &str = "it/arrivederci";

/// How long the line waits for a key after its last prompt before saying goodbye.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// What the driver must do for this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Stop whatever plays (barge-in) and play these prompts; `token` comes back when
    /// they have finished.
    Play { prompts: Vec<String>, token: u64 },
    /// End the call (BYE).
    Hangup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not answered yet.
    Idle,
    /// Playing a prompt or waiting for a key.
    Listening,
    /// The goodbye prompt with this token plays; its end hangs up.
    SayingGoodbye(u64),
    Done,
}

/// One caller on the test line.
#[derive(Debug)]
pub struct TestLine {
    state: State,
    next_token: u64,
    /// The token of the prompt now playing, if any.
    playing: Option<u64>,
    idle_deadline: Option<Instant>,
    actions: Vec<Action>,
}

impl Default for TestLine {
    fn default() -> Self {
        Self::new()
    }
}

impl TestLine {
    pub fn new() -> Self {
        TestLine {
            state: State::Idle,
            next_token: 1,
            playing: None,
            idle_deadline: None,
            actions: Vec::new(),
        }
    }

    /// The call is up: greet.
    pub fn handle_answered(&mut self, _now: Instant) {
        if self.state == State::Idle {
            self.state = State::Listening;
            self.play(vec![GREETING.to_owned()]);
        }
    }

    /// A key, already de-duplicated across DTMF sources.
    pub fn handle_digit(&mut self, _now: Instant, digit: char) {
        if self.state != State::Listening {
            return;
        }
        let name = match digit {
            '0'..='9' => format!("it/cifra-{digit}"),
            '*' => "it/cifra-asterisco".to_owned(),
            '#' => "it/cifra-cancelletto".to_owned(),
            'A'..='D' => format!("it/cifra-{}", digit.to_ascii_lowercase()),
            _ => return,
        };
        if digit == '#' {
            let token = self.play(vec![name, GOODBYE.to_owned()]);
            self.state = State::SayingGoodbye(token);
        } else {
            self.play(vec![name]);
        }
    }

    /// The prompts started with `token` have played to the end.
    pub fn handle_prompt_finished(&mut self, now: Instant, token: u64) {
        if self.playing != Some(token) {
            return; // a prompt that was cut by barge-in
        }
        self.playing = None;
        match self.state {
            State::SayingGoodbye(t) if t == token => {
                self.state = State::Done;
                self.actions.push(Action::Hangup);
            }
            State::Listening => self.idle_deadline = Some(now + IDLE_TIMEOUT),
            _ => {}
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.state == State::Listening && self.idle_deadline.is_some_and(|t| t <= now) {
            self.idle_deadline = None;
            let token = self.play(vec![GOODBYE.to_owned()]);
            self.state = State::SayingGoodbye(token);
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.idle_deadline
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        if self.actions.is_empty() {
            None
        } else {
            Some(self.actions.remove(0))
        }
    }

    fn play(&mut self, prompts: Vec<String>) -> u64 {
        let token = self.next_token;
        self.next_token += 1;
        self.playing = Some(token);
        self.idle_deadline = None;
        self.actions.push(Action::Play { prompts, token });
        token
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start a virtual clock at a real instant
mod tests {
    use super::*;

    fn drain(line: &mut TestLine) -> Vec<Action> {
        std::iter::from_fn(|| line.poll_action()).collect()
    }

    fn play(ids: &[&str], token: u64) -> Action {
        Action::Play {
            prompts: ids.iter().map(|s| s.to_string()).collect(),
            token,
        }
    }

    #[test]
    fn greets_echoes_digits_and_hangs_up_after_goodbye() {
        let t0 = Instant::now();
        let mut line = TestLine::new();
        line.handle_digit(t0, '1'); // before the answer: ignored
        assert!(drain(&mut line).is_empty());
        line.handle_answered(t0);
        assert_eq!(drain(&mut line), vec![play(&["it/benvenuto"], 1)]);
        // Barge-in: a key during the greeting plays the digit at once.
        line.handle_digit(t0, '7');
        assert_eq!(drain(&mut line), vec![play(&["it/cifra-7"], 2)]);
        // The greeting's end (cut, token 1) changes nothing.
        line.handle_prompt_finished(t0, 1);
        assert_eq!(line.poll_timeout(), None);
        line.handle_digit(t0, '*');
        line.handle_digit(t0, 'B');
        assert_eq!(
            drain(&mut line),
            vec![play(&["it/cifra-asterisco"], 3), play(&["it/cifra-b"], 4)]
        );
        line.handle_digit(t0, '#');
        assert_eq!(
            drain(&mut line),
            vec![play(&["it/cifra-cancelletto", "it/arrivederci"], 5)]
        );
        // Keys during the goodbye are ignored; its end hangs up.
        line.handle_digit(t0, '1');
        assert!(drain(&mut line).is_empty());
        line.handle_prompt_finished(t0, 5);
        assert_eq!(drain(&mut line), vec![Action::Hangup]);
    }

    #[test]
    fn silence_ends_the_call_politely() {
        let t0 = Instant::now();
        let mut line = TestLine::new();
        line.handle_answered(t0);
        drain(&mut line);
        let t1 = t0 + Duration::from_secs(5);
        line.handle_prompt_finished(t1, 1);
        assert_eq!(line.poll_timeout(), Some(t1 + IDLE_TIMEOUT));
        line.handle_timeout(t1 + IDLE_TIMEOUT - Duration::from_millis(1));
        assert!(drain(&mut line).is_empty());
        line.handle_timeout(t1 + IDLE_TIMEOUT);
        assert_eq!(drain(&mut line), vec![play(&["it/arrivederci"], 2)]);
        line.handle_prompt_finished(t1 + IDLE_TIMEOUT, 2);
        assert_eq!(drain(&mut line), vec![Action::Hangup]);
    }
}
