//! Client INVITE transaction: RFC 3261 §17.1.1 with the RFC 6026 Accepted state.
//!
//! The machine cannot build SIP, so the ACK for a non-2xx final response (§17.1.1.3) is
//! supplied by the caller alongside that response: `handle_response(.., ack: Some(bytes))`.
//! It is only needed the first time a 300–699 arrives; later copies reuse the stored ACK.
//! The ACK for a 2xx is the TU's business (a separate transaction), not this machine's.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{
    Core, Reliability, TIMER_D_UNRELIABLE, TimerConfig, TimerName, TxError, TxEvent, backoff,
    common_verbs,
};

/// States, each named in the RFC and documented with what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientInviteState {
    /// Waiting for any response; Timer A retransmits the INVITE, Timer B gives up.
    Calling,
    /// A provisional arrived; waiting (without a deadline) for the final response.
    Proceeding,
    /// Non-2xx final received and ACKed; waiting out Timer D to re-ACK its retransmissions.
    Completed,
    /// 2xx received; waiting out Timer M, passing further 2xx up so the TU can re-ACK.
    Accepted,
    Terminated,
}

#[derive(Debug)]
pub struct ClientInvite {
    core: Core,
    state: ClientInviteState,
    request: Bytes,
    /// The ACK sent for the non-2xx final, resent for each of its retransmissions.
    ack: Option<Bytes>,
    /// Current Timer A interval.
    interval: Duration,
}

common_verbs!(ClientInvite);

impl ClientInvite {
    /// Starts the transaction: queues the INVITE for sending and arms Timers A and B.
    pub fn new(now: Instant, reliability: Reliability, cfg: TimerConfig, request: Bytes) -> Self {
        let mut core = Core::new(reliability, cfg);
        core.transmit(request.clone());
        if core.unreliable() {
            core.arm(TimerName::A, now, cfg.t1);
        }
        core.arm(TimerName::B, now, cfg.t1x64());
        Self {
            core,
            state: ClientInviteState::Calling,
            request,
            ack: None,
            interval: cfg.t1,
        }
    }

    pub fn state(&self) -> ClientInviteState {
        self.state
    }

    /// A response matching this transaction arrived. `ack` must carry the ACK bytes when
    /// `status` is 300–699 and this is the first final response; it is ignored otherwise.
    ///
    /// Errors (state unchanged, response dropped): `InvalidStatus` outside 100–699;
    /// `MissingAck` for a first non-2xx final without `ack`. Responses that the state
    /// absorbs (e.g. a 1xx in Completed) are not errors.
    pub fn handle_response(
        &mut self,
        now: Instant,
        status: u16,
        bytes: Bytes,
        ack: Option<Bytes>,
    ) -> Result<(), TxError> {
        use ClientInviteState::*;
        if !(100..=699).contains(&status) {
            return Err(TxError::InvalidStatus(status));
        }
        let waiting = matches!(self.state, Calling | Proceeding);
        match status {
            100..=199 if waiting => {
                // Stop retransmitting; Timer B only guards Calling, so it goes too.
                self.state = Proceeding;
                self.core.disarm(TimerName::A);
                self.core.disarm(TimerName::B);
                self.pass_up(status, bytes);
            }
            200..=299 if waiting => {
                self.state = Accepted;
                self.core.disarm(TimerName::A);
                self.core.disarm(TimerName::B);
                self.core.arm(TimerName::M, now, self.core.cfg.t1x64());
                self.pass_up(status, bytes);
            }
            // RFC 6026: every 2xx copy (possibly from other forks) goes up for (re-)ACKing.
            200..=299 if self.state == Accepted => self.pass_up(status, bytes),
            300..=699 if waiting => {
                let ack = ack.ok_or(TxError::MissingAck)?;
                self.state = Completed;
                self.core.disarm(TimerName::A);
                self.core.disarm(TimerName::B);
                self.core.transmit(ack.clone());
                self.ack = Some(ack);
                let d = self.core.zero_if_reliable(TIMER_D_UNRELIABLE);
                self.core.arm(TimerName::D, now, d);
                self.pass_up(status, bytes);
            }
            // A retransmitted final: the ACK was lost, send it again; the TU already knows.
            300..=699 if self.state == Completed => {
                if let Some(ack) = self.ack.clone() {
                    self.core.transmit(ack);
                }
            }
            _ => {} // absorbed
        }
        self.handle_timeout(now); // Timer D may be zero
        Ok(())
    }

    fn pass_up(&mut self, status: u16, bytes: Bytes) {
        self.core.emit(TxEvent::Response { status, bytes });
    }

    fn on_timer(&mut self, now: Instant, timer: TimerName) {
        match timer {
            TimerName::A => {
                self.core.transmit(self.request.clone());
                // INVITE backoff is not capped at T2 (§17.1.1.2); Timer B ends it anyway.
                self.interval = backoff(self.interval, &self.core.cfg, false);
                self.core.arm(TimerName::A, now, self.interval);
            }
            TimerName::B => {
                self.core.emit(TxEvent::Timeout);
                self.terminate();
            }
            TimerName::D | TimerName::M => self.terminate(),
            _ => unreachable!("timer {timer:?} is never armed by a client INVITE transaction"),
        }
    }

    fn terminate(&mut self) {
        self.state = ClientInviteState::Terminated;
        self.core.terminate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::harness::{Harness, b};

    fn new(rel: Reliability) -> Harness<ClientInvite> {
        Harness::new(|t0| ClientInvite::new(t0, rel, TimerConfig::default(), b("INVITE")))
    }

    fn resp(status: u16, bytes: &'static str) -> TxEvent {
        TxEvent::Response {
            status,
            bytes: b(bytes),
        }
    }

    #[test]
    fn timer_a_doubles_uncapped_and_timer_b_times_out_over_udp() {
        let mut h = new(Reliability::Unreliable);
        h.run();
        assert_eq!(
            h.offsets_of("INVITE"),
            vec![0, 500, 1500, 3500, 7500, 15500, 31500]
        );
        assert_eq!(h.sends.len(), 7);
        assert_eq!(
            h.events,
            vec![(32000, TxEvent::Timeout), (32000, TxEvent::Terminated)]
        );
        assert_eq!(h.m.state(), ClientInviteState::Terminated);
    }

    #[test]
    fn no_retransmits_over_tcp_but_timer_b_fires() {
        let mut h = new(Reliability::Reliable);
        h.run();
        assert_eq!(h.send_offsets(), vec![0]);
        assert_eq!(
            h.events,
            vec![(32000, TxEvent::Timeout), (32000, TxEvent::Terminated)]
        );
    }

    #[test]
    fn provisional_stops_timer_a_and_is_passed_up() {
        let mut h = new(Reliability::Unreliable);
        h.input(2000, |m, now| {
            m.handle_response(now, 180, b("180"), None).unwrap()
        });
        assert_eq!(h.m.state(), ClientInviteState::Proceeding);
        h.input(2500, |m, now| {
            m.handle_response(now, 183, b("183"), None).unwrap()
        });
        // Proceeding has no deadline: the INVITE waits for its final response (or a CANCEL).
        assert_eq!(h.m.poll_timeout(), None);
        assert_eq!(h.send_offsets(), vec![0, 500, 1500]);
        assert_eq!(
            h.events,
            vec![(2000, resp(180, "180")), (2500, resp(183, "183"))]
        );
    }

    #[test]
    fn non_2xx_final_is_acked_once_reacked_on_retransmit_and_timer_d_terminates() {
        let mut h = new(Reliability::Unreliable);
        h.input(100, |m, now| {
            m.handle_response(now, 100, b("100"), None).unwrap()
        });
        h.input(1000, |m, now| {
            m.handle_response(now, 486, b("486"), Some(b("ACK")))
                .unwrap()
        });
        assert_eq!(h.m.state(), ClientInviteState::Completed);
        assert_eq!(h.sends, vec![(0, b("INVITE")), (1000, b("ACK"))]);
        // The 486 again: ACK again, nothing for the TU. The ack argument is not needed now.
        h.input(1500, |m, now| {
            m.handle_response(now, 486, b("486"), None).unwrap()
        });
        h.input(1600, |m, now| {
            m.handle_response(now, 180, b("180"), None).unwrap()
        });
        h.run();
        assert_eq!(h.offsets_of("ACK"), vec![1000, 1500]);
        assert_eq!(
            h.events,
            vec![
                (100, resp(100, "100")),
                (1000, resp(486, "486")),
                (33000, TxEvent::Terminated)
            ]
        );
    }

    #[test]
    fn non_2xx_final_over_tcp_terminates_immediately() {
        let mut h = new(Reliability::Reliable);
        h.input(300, |m, now| {
            m.handle_response(now, 603, b("603"), Some(b("ACK")))
                .unwrap()
        });
        assert!(h.m.is_terminated());
        assert_eq!(h.offsets_of("ACK"), vec![300]);
        assert_eq!(
            h.events,
            vec![(300, resp(603, "603")), (300, TxEvent::Terminated)]
        );
    }

    #[test]
    fn first_non_2xx_final_without_ack_is_refused() {
        let mut h = new(Reliability::Unreliable);
        let r = h.input(100, |m, now| m.handle_response(now, 486, b("486"), None));
        assert_eq!(r, Err(TxError::MissingAck));
        assert_eq!(h.m.state(), ClientInviteState::Calling);
        assert!(h.events.is_empty());
        let r = h.input(100, |m, now| m.handle_response(now, 700, b("700"), None));
        assert_eq!(r, Err(TxError::InvalidStatus(700)));
    }

    #[test]
    fn two_xx_goes_to_accepted_passes_copies_up_and_timer_m_terminates() {
        let mut h = new(Reliability::Unreliable);
        h.input(600, |m, now| {
            m.handle_response(now, 200, b("200"), None).unwrap()
        });
        assert_eq!(h.m.state(), ClientInviteState::Accepted);
        h.input(1100, |m, now| {
            m.handle_response(now, 200, b("200"), None).unwrap()
        });
        // Late non-2xx and provisionals are absorbed in Accepted.
        h.input(1200, |m, now| {
            m.handle_response(now, 486, b("486"), Some(b("ACK")))
                .unwrap()
        });
        h.input(1200, |m, now| {
            m.handle_response(now, 180, b("180"), None).unwrap()
        });
        h.run();
        assert_eq!(h.send_offsets(), vec![0, 500]); // A stopped; no ACK from this machine
        assert_eq!(
            h.events,
            vec![
                (600, resp(200, "200")),
                (1100, resp(200, "200")),
                (32600, TxEvent::Terminated)
            ]
        );
    }

    #[test]
    fn two_xx_after_provisional_also_accepted() {
        let mut h = new(Reliability::Reliable);
        h.input(100, |m, now| {
            m.handle_response(now, 180, b("180"), None).unwrap()
        });
        h.input(40_000, |m, now| {
            m.handle_response(now, 200, b("200"), None).unwrap()
        });
        h.run();
        assert_eq!(
            h.events,
            vec![
                (100, resp(180, "180")),
                (40_000, resp(200, "200")),
                (72_000, TxEvent::Terminated)
            ]
        );
    }
}
