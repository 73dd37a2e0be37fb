//! Operator inputs: softphone registration, log in / log out, pause / resume. A change
//! asked for mid-call takes effect when the call and its wrap-up end.

use super::acd::Acd;
use super::store::{AfterCall, Store};
use super::timers::Timer;
use super::{AcdError, OperatorId, OperatorState};
use std::time::Instant;

impl<S: Store> Acd<S> {
    /// The softphone registered. With `auto_login` this also logs the operator in.
    pub fn operator_registered(&mut self, now: Instant, op: &OperatorId) -> Result<(), AcdError> {
        self.operator_record(op)?;
        let auto = self.auto_login(op);
        self.update_op(now, op, |r| {
            r.registered = true;
            if auto && r.state == OperatorState::LoggedOut {
                r.state = OperatorState::Available;
                r.no_answer_streak = 0;
            }
        });
        self.run(now);
        Ok(())
    }

    /// The softphone's binding is gone: a ring in progress is withdrawn; with
    /// `auto_login` the operator is logged out (after the current call, if any).
    pub fn operator_unregistered(&mut self, now: Instant, op: &OperatorId) -> Result<(), AcdError> {
        let rec = self.operator_record(op)?;
        if let OperatorState::Ringing { call } = rec.state {
            self.withdraw(now, op, call);
            self.update_op(now, op, |r| r.state = OperatorState::Available);
        }
        self.update_op(now, op, |r| r.registered = false);
        if self.auto_login(op) {
            self.logout(now, op);
        }
        self.run(now);
        Ok(())
    }

    /// Log in (feature code or console). Already logged in: nothing changes.
    pub fn operator_login(&mut self, now: Instant, op: &OperatorId) -> Result<(), AcdError> {
        self.operator_record(op)?;
        self.update_op(now, op, |r| {
            if r.state == OperatorState::LoggedOut {
                r.state = OperatorState::Available;
                r.no_answer_streak = 0;
                r.after_call = None;
            }
        });
        self.run(now);
        Ok(())
    }

    /// Log out. Ringing: the offer is withdrawn and the caller offered elsewhere. On a
    /// call: after it (and its wrap-up).
    pub fn operator_logout(&mut self, now: Instant, op: &OperatorId) -> Result<(), AcdError> {
        self.operator_record(op)?;
        self.logout(now, op);
        self.run(now);
        Ok(())
    }

    /// Pause with a reason (break, training, ...). Ringing: the offer is withdrawn. On a
    /// call: after it. Already paused: the reason is updated.
    pub fn operator_pause(
        &mut self,
        now: Instant,
        op: &OperatorId,
        reason: &str,
    ) -> Result<(), AcdError> {
        let rec = self.operator_record(op)?;
        let paused = OperatorState::Paused {
            reason: reason.to_owned(),
        };
        match rec.state {
            OperatorState::LoggedOut => {}
            OperatorState::OnCall { .. } => {
                self.update_op(now, op, |r| {
                    r.after_call = Some(AfterCall::Pause {
                        reason: reason.to_owned(),
                    })
                });
            }
            OperatorState::Ringing { call } => {
                self.withdraw(now, op, call);
                self.update_op(now, op, |r| r.state = paused);
            }
            OperatorState::Available | OperatorState::WrapUp | OperatorState::Paused { .. } => {
                self.timers.cancel(&Timer::WrapUp(op.clone()));
                self.update_op(now, op, |r| {
                    r.state = paused;
                    r.after_call = None;
                });
            }
        }
        self.run(now);
        Ok(())
    }

    /// Back from a pause (also from a "no answer" pause: the streak restarts). A pause
    /// asked for during a call is cancelled.
    pub fn operator_resume(&mut self, now: Instant, op: &OperatorId) -> Result<(), AcdError> {
        self.operator_record(op)?;
        self.update_op(now, op, |r| match r.state {
            OperatorState::Paused { .. } => {
                r.state = OperatorState::Available;
                r.no_answer_streak = 0;
            }
            _ => {
                if matches!(r.after_call, Some(AfterCall::Pause { .. })) {
                    r.after_call = None;
                }
            }
        });
        self.run(now);
        Ok(())
    }

    fn auto_login(&self, op: &OperatorId) -> bool {
        self.config.operators.get(op).is_some_and(|c| c.auto_login)
    }

    fn logout(&mut self, now: Instant, op: &OperatorId) {
        let Some(rec) = self.store.operator(op) else {
            return;
        };
        match rec.state {
            OperatorState::LoggedOut => {}
            OperatorState::OnCall { .. } => {
                self.update_op(now, op, |r| r.after_call = Some(AfterCall::Logout));
            }
            OperatorState::Ringing { call } => {
                self.withdraw(now, op, call);
                self.update_op(now, op, |r| r.state = OperatorState::LoggedOut);
            }
            OperatorState::Available | OperatorState::WrapUp | OperatorState::Paused { .. } => {
                self.timers.cancel(&Timer::WrapUp(op.clone()));
                self.update_op(now, op, |r| {
                    r.state = OperatorState::LoggedOut;
                    r.after_call = None;
                });
            }
        }
    }
}
