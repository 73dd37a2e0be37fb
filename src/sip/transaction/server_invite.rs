//! Server INVITE transaction: RFC 3261 §17.2.1 with the RFC 6026 Accepted state, plus the
//! UAS core's 2xx retransmission duty of §13.3.1.4.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Core, Reliability, TimerConfig, TimerName, TxError, TxEvent, backoff, common_verbs};

/// States, each named in the RFC and documented with what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerInviteState {
    /// Waiting for the TU's final response (provisionals may go out meanwhile).
    Proceeding,
    /// Non-2xx final sent; waiting for the ACK (Timer G retransmits, Timer H gives up).
    Completed,
    /// ACK received; waiting out Timer I to absorb ACK retransmissions.
    Confirmed,
    /// 2xx sent; waiting for its ACK (2xx retransmitted) and then Timer L (RFC 6026).
    Accepted,
    Terminated,
}

#[derive(Debug)]
pub struct ServerInvite {
    core: Core,
    state: ServerInviteState,
    /// Latest provisional, resent when the INVITE is retransmitted in Proceeding.
    last_provisional: Option<Bytes>,
    /// The final response (2xx or not), resent on request retransmissions and timers.
    final_response: Option<Bytes>,
    /// Current Timer G / 2xx retransmission interval.
    interval: Duration,
    /// Accepted: whether the 2xx has been ACKed (decides NoAckFor2xx at Timer L).
    acked: bool,
}

common_verbs!(ServerInvite);

impl ServerInvite {
    /// A fresh transaction for a received INVITE. The TU should send `100 Trying` itself
    /// via [`send_provisional`](Self::send_provisional).
    pub fn new(_now: Instant, reliability: Reliability, cfg: TimerConfig) -> Self {
        Self {
            core: Core::new(reliability, cfg),
            state: ServerInviteState::Proceeding,
            last_provisional: None,
            final_response: None,
            interval: cfg.t1,
            acked: false,
        }
    }

    pub fn state(&self) -> ServerInviteState {
        self.state
    }

    /// The TU sends a 1xx. Only allowed in Proceeding.
    pub fn send_provisional(
        &mut self,
        _now: Instant,
        status: u16,
        bytes: Bytes,
    ) -> Result<(), TxError> {
        if !(100..=199).contains(&status) {
            return Err(TxError::InvalidStatus(status));
        }
        if self.state != ServerInviteState::Proceeding {
            return Err(TxError::WrongState);
        }
        self.core.transmit(bytes.clone());
        self.last_provisional = Some(bytes);
        Ok(())
    }

    /// The TU sends the final response. Only one final response is accepted: a later one
    /// (e.g. a 487 racing a CANCEL after the 2xx went out) gets `Err(WrongState)`.
    pub fn send_final(&mut self, now: Instant, status: u16, bytes: Bytes) -> Result<(), TxError> {
        if !(200..=699).contains(&status) {
            return Err(TxError::InvalidStatus(status));
        }
        if self.state != ServerInviteState::Proceeding {
            return Err(TxError::WrongState);
        }
        self.core.transmit(bytes.clone());
        self.final_response = Some(bytes);
        // A retransmitted INVITE now gets the final response, never the provisional.
        self.last_provisional = None;
        self.interval = self.core.cfg.t1;
        let unreliable = self.core.unreliable();
        if status < 300 {
            self.state = ServerInviteState::Accepted;
            self.core.arm(TimerName::L, now, self.core.cfg.t1x64());
            // §13.3.1.4 asks the UAS core to retransmit the 2xx on every transport, because
            // a proxy may be stateless and the next hop unreliable. We deliberately do it on
            // unreliable transports only: over TCP the peer's transport delivers it, and the
            // stateful-proxy deployments we serve don't need the extra copies.
            if unreliable {
                self.core.arm(TimerName::Retransmit2xx, now, self.interval);
            }
        } else {
            self.state = ServerInviteState::Completed;
            if unreliable {
                self.core.arm(TimerName::G, now, self.interval);
            }
            self.core.arm(TimerName::H, now, self.core.cfg.t1x64());
        }
        Ok(())
    }

    /// The INVITE arrived again: answer with whatever we last said, if anything.
    pub fn handle_request_retransmit(&mut self, _now: Instant) {
        let resend = match self.state {
            ServerInviteState::Proceeding => self.last_provisional.clone(),
            ServerInviteState::Completed | ServerInviteState::Accepted => {
                self.final_response.clone()
            }
            ServerInviteState::Confirmed | ServerInviteState::Terminated => None,
        };
        if let Some(bytes) = resend {
            self.core.transmit(bytes);
        }
    }

    /// An ACK for this transaction arrived (for a non-2xx final, or for the 2xx).
    pub fn handle_ack(&mut self, now: Instant) {
        match self.state {
            ServerInviteState::Completed => {
                self.state = ServerInviteState::Confirmed;
                self.core.disarm(TimerName::G);
                self.core.disarm(TimerName::H);
                let i = self.core.zero_if_reliable(self.core.cfg.t4);
                self.core.arm(TimerName::I, now, i);
            }
            ServerInviteState::Accepted => {
                // Stop the 2xx retransmissions; keep absorbing ACKs (and INVITE
                // retransmissions, RFC 6026 §8.7) until Timer L. The peer has the 2xx:
                // its bytes need not stay in memory for the 32 s of Timer L.
                self.acked = true;
                self.core.disarm(TimerName::Retransmit2xx);
                self.final_response = None;
            }
            // An ACK before any final response is bogus; later ones are retransmissions.
            _ => {}
        }
        self.handle_timeout(now); // Timer I may be zero
    }

    fn on_timer(&mut self, now: Instant, timer: TimerName) {
        match timer {
            TimerName::G | TimerName::Retransmit2xx => {
                if let Some(bytes) = self.final_response.clone() {
                    self.core.transmit(bytes);
                }
                self.interval = backoff(self.interval, &self.core.cfg, true);
                self.core.arm(timer, now, self.interval);
            }
            TimerName::H => {
                self.core.emit(TxEvent::Timeout);
                self.terminate();
            }
            TimerName::I => self.terminate(),
            TimerName::L => {
                if !self.acked {
                    self.core.emit(TxEvent::NoAckFor2xx);
                }
                self.terminate();
            }
            _ => unreachable!("timer {timer:?} is never armed by a server INVITE transaction"),
        }
    }

    fn terminate(&mut self) {
        self.state = ServerInviteState::Terminated;
        self.core.terminate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::harness::{Harness, b};

    fn new(rel: Reliability) -> Harness<ServerInvite> {
        Harness::new(|t0| ServerInvite::new(t0, rel, TimerConfig::default()))
    }

    #[test]
    fn non_2xx_over_udp_retransmits_with_backoff_until_timer_h() {
        let mut h = new(Reliability::Unreliable);
        h.input(0, |m, now| m.send_provisional(now, 100, b("100")).unwrap());
        h.input(100, |m, now| m.send_final(now, 486, b("486")).unwrap());
        assert_eq!(h.m.state(), ServerInviteState::Completed);
        h.run();
        assert_eq!(
            h.offsets_of("486"),
            vec![
                100, 600, 1600, 3600, 7600, 11600, 15600, 19600, 23600, 27600, 31600
            ]
        );
        assert_eq!(
            h.events,
            vec![(32100, TxEvent::Timeout), (32100, TxEvent::Terminated)]
        );
        assert!(h.m.is_terminated());
        assert_eq!(h.m.state(), ServerInviteState::Terminated);
    }

    #[test]
    fn non_2xx_over_tcp_does_not_retransmit_but_timer_h_fires() {
        let mut h = new(Reliability::Reliable);
        h.input(0, |m, now| m.send_final(now, 503, b("503")).unwrap());
        h.run();
        assert_eq!(h.send_offsets(), vec![0]);
        assert_eq!(
            h.events,
            vec![(32000, TxEvent::Timeout), (32000, TxEvent::Terminated)]
        );
    }

    #[test]
    fn ack_stops_timer_g_and_timer_i_terminates_after_t4() {
        let mut h = new(Reliability::Unreliable);
        h.input(0, |m, now| m.send_final(now, 486, b("486")).unwrap());
        h.input(2000, |m, now| m.handle_ack(now));
        assert_eq!(h.m.state(), ServerInviteState::Confirmed);
        // ACK retransmissions and INVITE retransmissions are absorbed in Confirmed.
        h.input(3000, |m, now| m.handle_ack(now));
        h.input(3000, |m, now| m.handle_request_retransmit(now));
        h.run();
        assert_eq!(h.send_offsets(), vec![0, 500, 1500]);
        assert_eq!(h.events, vec![(7000, TxEvent::Terminated)]);
    }

    #[test]
    fn ack_over_tcp_terminates_immediately() {
        let mut h = new(Reliability::Reliable);
        h.input(0, |m, now| m.send_final(now, 404, b("404")).unwrap());
        h.input(50, |m, now| m.handle_ack(now));
        assert!(h.m.is_terminated());
        assert_eq!(h.events, vec![(50, TxEvent::Terminated)]);
        assert_eq!(h.m.poll_timeout(), None);
    }

    #[test]
    fn request_retransmits_answered_per_state() {
        let mut h = new(Reliability::Unreliable);
        h.input(0, |m, now| m.handle_request_retransmit(now)); // nothing to resend yet
        h.input(0, |m, now| m.send_provisional(now, 100, b("100")).unwrap());
        h.input(10, |m, now| m.send_provisional(now, 180, b("180")).unwrap());
        h.input(20, |m, now| m.handle_request_retransmit(now));
        h.input(30, |m, now| m.send_final(now, 486, b("486")).unwrap());
        h.input(40, |m, now| m.handle_request_retransmit(now));
        let sent: Vec<_> = h.sends.iter().map(|(t, b)| (*t, b.clone())).collect();
        assert_eq!(
            sent,
            vec![
                (0, b("100")),
                (10, b("180")),
                (20, b("180")),
                (30, b("486")),
                (40, b("486"))
            ]
        );
    }

    #[test]
    fn two_xx_retransmitted_until_ack_then_terminated_at_timer_l() {
        let mut h = new(Reliability::Unreliable);
        h.input(0, |m, now| m.send_final(now, 200, b("200")).unwrap());
        assert_eq!(h.m.state(), ServerInviteState::Accepted);
        h.input(5000, |m, now| m.handle_ack(now));
        h.input(6000, |m, now| m.handle_ack(now)); // absorbed
        assert_eq!(h.m.state(), ServerInviteState::Accepted);
        // A late INVITE copy after the ACK is absorbed (RFC 6026 §8.7): the peer has the
        // 2xx, whose bytes were dropped at the ACK.
        h.input(6000, |m, now| m.handle_request_retransmit(now));
        h.run();
        assert_eq!(h.send_offsets(), vec![0, 500, 1500, 3500]);
        assert_eq!(h.events, vec![(32000, TxEvent::Terminated)]);
    }

    #[test]
    fn two_xx_without_ack_reports_no_ack_at_timer_l() {
        let mut h = new(Reliability::Unreliable);
        h.input(0, |m, now| m.send_final(now, 200, b("200")).unwrap());
        h.run();
        assert_eq!(
            h.send_offsets(),
            vec![
                0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
            ]
        );
        assert_eq!(
            h.events,
            vec![(32000, TxEvent::NoAckFor2xx), (32000, TxEvent::Terminated)]
        );
    }

    #[test]
    fn two_xx_over_tcp_not_retransmitted_timer_l_still_runs() {
        let mut h = new(Reliability::Reliable);
        h.input(0, |m, now| m.send_final(now, 200, b("200")).unwrap());
        h.run();
        assert_eq!(h.send_offsets(), vec![0]);
        assert_eq!(
            h.events,
            vec![(32000, TxEvent::NoAckFor2xx), (32000, TxEvent::Terminated)]
        );
    }

    #[test]
    fn final_after_2xx_is_refused_cancel_race() {
        let mut h = new(Reliability::Unreliable);
        h.input(0, |m, now| m.send_final(now, 200, b("200")).unwrap());
        // CANCEL arrived after the 2xx: the TU's 487 must not go out.
        let r = h.input(100, |m, now| m.send_final(now, 487, b("487")));
        assert_eq!(r, Err(TxError::WrongState));
        let r = h.input(100, |m, now| m.send_provisional(now, 180, b("180")));
        assert_eq!(r, Err(TxError::WrongState));
        assert_eq!(h.m.state(), ServerInviteState::Accepted);
        h.run();
        assert!(h.offsets_of("487").is_empty());
        assert!(h.offsets_of("180").is_empty());
    }

    #[test]
    fn bad_status_codes_rejected() {
        let mut h = new(Reliability::Unreliable);
        let r = h.input(0, |m, now| m.send_final(now, 180, b("180")));
        assert_eq!(r, Err(TxError::InvalidStatus(180)));
        let r = h.input(0, |m, now| m.send_provisional(now, 200, b("200")));
        assert_eq!(r, Err(TxError::InvalidStatus(200)));
        assert_eq!(h.m.state(), ServerInviteState::Proceeding);
        assert!(h.sends.is_empty());
        assert_eq!(h.m.poll_timeout(), None);
    }
}
