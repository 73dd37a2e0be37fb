//! Client non-INVITE transaction: RFC 3261 §17.1.2.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Core, Reliability, TimerConfig, TimerName, TxError, TxEvent, backoff, common_verbs};

/// States, each named in the RFC and documented with what it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientNonInviteState {
    /// Waiting for any response; Timer E retransmits with backoff, Timer F gives up.
    Trying,
    /// A provisional arrived; waiting for the final (E now every T2, F still running).
    Proceeding,
    /// Final received; waiting out Timer K to absorb response retransmissions.
    Completed,
    Terminated,
}

#[derive(Debug)]
pub struct ClientNonInvite {
    core: Core,
    state: ClientNonInviteState,
    request: Bytes,
    /// Current Timer E interval.
    interval: Duration,
}

common_verbs!(ClientNonInvite);

impl ClientNonInvite {
    /// Starts the transaction: queues the request for sending and arms Timers E and F.
    pub fn new(now: Instant, reliability: Reliability, cfg: TimerConfig, request: Bytes) -> Self {
        let mut core = Core::new(reliability, cfg);
        core.transmit(request.clone());
        if core.unreliable() {
            core.arm(TimerName::E, now, cfg.t1);
        }
        core.arm(TimerName::F, now, cfg.t1x64());
        Self {
            core,
            state: ClientNonInviteState::Trying,
            request,
            interval: cfg.t1,
        }
    }

    pub fn state(&self) -> ClientNonInviteState {
        self.state
    }

    /// A response matching this transaction arrived. 1xx and the first final are passed up;
    /// anything after the final is absorbed. `InvalidStatus` outside 100–699.
    pub fn handle_response(
        &mut self,
        now: Instant,
        status: u16,
        bytes: Bytes,
    ) -> Result<(), TxError> {
        if !(100..=699).contains(&status) {
            return Err(TxError::InvalidStatus(status));
        }
        if !matches!(
            self.state,
            ClientNonInviteState::Trying | ClientNonInviteState::Proceeding
        ) {
            return Ok(()); // retransmission after the final: absorbed
        }
        if status < 200 {
            // The pending Timer E keeps its deadline; it re-arms at T2 from now on.
            self.state = ClientNonInviteState::Proceeding;
        } else {
            self.state = ClientNonInviteState::Completed;
            self.core.disarm(TimerName::E);
            self.core.disarm(TimerName::F);
            let k = self.core.zero_if_reliable(self.core.cfg.t4);
            self.core.arm(TimerName::K, now, k);
        }
        self.core.emit(TxEvent::Response { status, bytes });
        self.handle_timeout(now); // Timer K may be zero
        Ok(())
    }

    fn on_timer(&mut self, now: Instant, timer: TimerName) {
        match timer {
            TimerName::E => {
                self.core.transmit(self.request.clone());
                self.interval = match self.state {
                    ClientNonInviteState::Proceeding => self.core.cfg.t2,
                    _ => backoff(self.interval, &self.core.cfg, true),
                };
                self.core.arm(TimerName::E, now, self.interval);
            }
            TimerName::F => {
                self.core.emit(TxEvent::Timeout);
                self.terminate();
            }
            TimerName::K => self.terminate(),
            _ => unreachable!("timer {timer:?} is never armed by a client non-INVITE transaction"),
        }
    }

    fn terminate(&mut self) {
        self.state = ClientNonInviteState::Terminated;
        self.core.terminate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::transaction::harness::{Harness, b};

    fn new(rel: Reliability) -> Harness<ClientNonInvite> {
        Harness::new(|t0| ClientNonInvite::new(t0, rel, TimerConfig::default(), b("BYE")))
    }

    fn resp(status: u16, bytes: &'static str) -> TxEvent {
        TxEvent::Response {
            status,
            bytes: b(bytes),
        }
    }

    #[test]
    fn timer_e_capped_at_t2_and_timer_f_times_out_over_udp() {
        let mut h = new(Reliability::Unreliable);
        h.run();
        assert_eq!(
            h.send_offsets(),
            vec![
                0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
            ]
        );
        assert_eq!(
            h.events,
            vec![(32000, TxEvent::Timeout), (32000, TxEvent::Terminated)]
        );
        assert_eq!(h.m.state(), ClientNonInviteState::Terminated);
    }

    #[test]
    fn no_retransmits_over_tcp_but_timer_f_fires() {
        let mut h = new(Reliability::Reliable);
        h.run();
        assert_eq!(h.send_offsets(), vec![0]);
        assert_eq!(
            h.events,
            vec![(32000, TxEvent::Timeout), (32000, TxEvent::Terminated)]
        );
    }

    #[test]
    fn provisional_switches_timer_e_to_t2_and_f_still_fires() {
        let mut h = new(Reliability::Unreliable);
        // E is pending for 1500 when the 100 arrives; it keeps that deadline, then every T2.
        h.input(600, |m, now| m.handle_response(now, 100, b("100")).unwrap());
        assert_eq!(h.m.state(), ClientNonInviteState::Proceeding);
        h.run();
        assert_eq!(
            h.send_offsets(),
            vec![0, 500, 1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]
        );
        assert_eq!(
            h.events,
            vec![
                (600, resp(100, "100")),
                (32000, TxEvent::Timeout),
                (32000, TxEvent::Terminated)
            ]
        );
    }

    #[test]
    fn final_stops_retransmits_absorbs_copies_and_timer_k_terminates() {
        let mut h = new(Reliability::Unreliable);
        h.input(700, |m, now| m.handle_response(now, 180, b("180")).unwrap());
        h.input(800, |m, now| m.handle_response(now, 200, b("200")).unwrap());
        assert_eq!(h.m.state(), ClientNonInviteState::Completed);
        h.input(900, |m, now| m.handle_response(now, 200, b("200")).unwrap());
        h.input(950, |m, now| m.handle_response(now, 180, b("180")).unwrap());
        h.run();
        assert_eq!(h.send_offsets(), vec![0, 500]);
        assert_eq!(
            h.events,
            vec![
                (700, resp(180, "180")),
                (800, resp(200, "200")),
                (5800, TxEvent::Terminated)
            ]
        );
    }

    #[test]
    fn timer_k_is_zero_over_tcp() {
        let mut h = new(Reliability::Reliable);
        h.input(40, |m, now| m.handle_response(now, 481, b("481")).unwrap());
        assert!(h.m.is_terminated());
        assert_eq!(h.m.poll_timeout(), None);
        assert_eq!(
            h.events,
            vec![(40, resp(481, "481")), (40, TxEvent::Terminated)]
        );
    }

    #[test]
    fn invalid_status_rejected() {
        let mut h = new(Reliability::Unreliable);
        let r = h.input(0, |m, now| m.handle_response(now, 99, b("99")));
        assert_eq!(r, Err(TxError::InvalidStatus(99)));
        assert_eq!(h.m.state(), ClientNonInviteState::Trying);
        assert!(h.events.is_empty());
    }
}
