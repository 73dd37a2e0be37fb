//! Server non-INVITE transaction: RFC 3261 §17.2.2.

use std::time::Instant;

use bytes::Bytes;

use super::{Core, Reliability, TimerConfig, TimerName, TxError, common_verbs};

/// States, each named in the RFC and documented with what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerNonInviteState {
    /// Waiting for the TU's first response; request retransmissions are absorbed.
    Trying,
    /// A provisional went out; waiting for the TU's final response.
    Proceeding,
    /// Final sent; waiting out Timer J to answer request retransmissions.
    Completed,
    Terminated,
}

#[derive(Debug)]
pub struct ServerNonInvite {
    core: Core,
    state: ServerNonInviteState,
    /// Latest response sent, replayed on request retransmissions.
    last_response: Option<Bytes>,
}

common_verbs!(ServerNonInvite);

impl ServerNonInvite {
    pub fn new(_now: Instant, reliability: Reliability, cfg: TimerConfig) -> Self {
        Self {
            core: Core::new(reliability, cfg),
            state: ServerNonInviteState::Trying,
            last_response: None,
        }
    }

    pub fn state(&self) -> ServerNonInviteState {
        self.state
    }

    /// The TU sends a 1xx. Allowed in Trying and Proceeding.
    pub fn send_provisional(
        &mut self,
        _now: Instant,
        status: u16,
        bytes: Bytes,
    ) -> Result<(), TxError> {
        if !(100..=199).contains(&status) {
            return Err(TxError::InvalidStatus(status));
        }
        if !matches!(
            self.state,
            ServerNonInviteState::Trying | ServerNonInviteState::Proceeding
        ) {
            return Err(TxError::WrongState);
        }
        self.state = ServerNonInviteState::Proceeding;
        self.respond(bytes);
        Ok(())
    }

    /// The TU sends the final response. Over a reliable transport Timer J is zero, so the
    /// transaction is terminated when this returns.
    pub fn send_final(&mut self, now: Instant, status: u16, bytes: Bytes) -> Result<(), TxError> {
        if !(200..=699).contains(&status) {
            return Err(TxError::InvalidStatus(status));
        }
        if !matches!(
            self.state,
            ServerNonInviteState::Trying | ServerNonInviteState::Proceeding
        ) {
            return Err(TxError::WrongState);
        }
        self.state = ServerNonInviteState::Completed;
        self.respond(bytes);
        let j = self.core.zero_if_reliable(self.core.cfg.t1x64());
        self.core.arm(TimerName::J, now, j);
        self.handle_timeout(now); // Timer J may be zero
        Ok(())
    }

    /// The request arrived again: replay the latest response (none yet in Trying).
    pub fn handle_request_retransmit(&mut self, _now: Instant) {
        if matches!(
            self.state,
            ServerNonInviteState::Proceeding | ServerNonInviteState::Completed
        ) && let Some(bytes) = self.last_response.clone()
        {
            self.core.transmit(bytes);
        }
    }

    fn respond(&mut self, bytes: Bytes) {
        self.core.transmit(bytes.clone());
        self.last_response = Some(bytes);
    }

    fn on_timer(&mut self, _now: Instant, timer: TimerName) {
        match timer {
            TimerName::J => {
                self.state = ServerNonInviteState::Terminated;
                self.core.terminate();
            }
            _ => unreachable!("timer {timer:?} is never armed by a server non-INVITE transaction"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::TxEvent;
    use crate::sip::transaction::harness::{Harness, b};

    fn new(rel: Reliability) -> Harness<ServerNonInvite> {
        Harness::new(|t0| ServerNonInvite::new(t0, rel, TimerConfig::default()))
    }

    #[test]
    fn retransmits_absorbed_in_trying_answered_later_and_timer_j_over_udp() {
        let mut h = new(Reliability::Unreliable);
        h.input(0, |m, now| m.handle_request_retransmit(now));
        assert!(h.sends.is_empty());
        h.input(100, |m, now| {
            m.send_provisional(now, 100, b("100")).unwrap()
        });
        h.input(200, |m, now| m.handle_request_retransmit(now));
        h.input(300, |m, now| m.send_final(now, 200, b("200")).unwrap());
        assert_eq!(h.m.state(), ServerNonInviteState::Completed);
        h.input(800, |m, now| m.handle_request_retransmit(now));
        h.input(900, |m, now| m.handle_request_retransmit(now));
        h.run();
        let sent: Vec<_> = h.sends.clone();
        assert_eq!(
            sent,
            vec![
                (100, b("100")),
                (200, b("100")),
                (300, b("200")),
                (800, b("200")),
                (900, b("200"))
            ]
        );
        assert_eq!(h.events, vec![(32300, TxEvent::Terminated)]);
        assert!(h.m.is_terminated());
    }

    #[test]
    fn final_responses_are_not_retransmitted_by_timers() {
        let mut h = new(Reliability::Unreliable);
        h.input(0, |m, now| m.send_final(now, 404, b("404")).unwrap());
        h.run_until(31_999);
        assert_eq!(h.send_offsets(), vec![0]);
        assert!(h.events.is_empty());
        h.run();
        assert_eq!(h.events, vec![(32000, TxEvent::Terminated)]);
    }

    #[test]
    fn timer_j_is_zero_over_tcp() {
        let mut h = new(Reliability::Reliable);
        h.input(10, |m, now| m.send_final(now, 200, b("200")).unwrap());
        assert!(h.m.is_terminated());
        assert_eq!(h.m.state(), ServerNonInviteState::Terminated);
        assert_eq!(h.events, vec![(10, TxEvent::Terminated)]);
        assert_eq!(h.m.poll_timeout(), None);
        // Too late for anything now.
        let r = h.input(20, |m, now| m.send_final(now, 200, b("200")));
        assert_eq!(r, Err(TxError::WrongState));
        h.input(20, |m, now| m.handle_request_retransmit(now));
        assert_eq!(h.send_offsets(), vec![10]);
    }

    #[test]
    fn second_final_refused() {
        let mut h = new(Reliability::Unreliable);
        h.input(0, |m, now| m.send_final(now, 200, b("200")).unwrap());
        let r = h.input(1, |m, now| m.send_final(now, 500, b("500")));
        assert_eq!(r, Err(TxError::WrongState));
        let r = h.input(1, |m, now| m.send_provisional(now, 100, b("100")));
        assert_eq!(r, Err(TxError::WrongState));
        h.input(2, |m, now| m.handle_request_retransmit(now));
        assert_eq!(h.sends, vec![(0, b("200")), (2, b("200"))]);
    }
}
