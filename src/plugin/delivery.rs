//! Delivery of outbox items to their back end. Two lanes, tickets and bookings, each
//! delivering its pending items one at a time in creation order. After a temporary
//! failure the lane waits (exponential backoff from `retry.initial_ms` doubling to
//! `retry.max_ms`) and tries the same item again, for as long as it takes and across
//! restarts (attempts are stored with the item); a refusal marks the item failed and
//! the lane goes on. The schedule here is pure: `now` is a parameter, the service
//! thread owns the clock.

use super::outbox::{Item, Kind, Outbox};
use super::{Ack, AppointmentBook, PluginError, TicketDesk};
use chrono::{DateTime, FixedOffset};
use std::io;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wait before retry: `initial · 2^(attempts-1)`, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn from_config(cfg: &super::config::RetryConfig) -> Backoff {
        Backoff {
            initial: cfg.initial(),
            max: cfg.max(),
        }
    }

    /// The wait after `attempts` failed attempts (1 gives `initial`).
    pub fn delay(&self, attempts: u32) -> Duration {
        let doublings = attempts.saturating_sub(1).min(31);
        self.initial
            .checked_mul(1 << doublings)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// When a lane may next try its head item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    backoff: Backoff,
    retry_at: Option<Instant>,
}

impl Lane {
    pub fn new(backoff: Backoff) -> Lane {
        Lane {
            backoff,
            retry_at: None,
        }
    }

    /// Whether the head item may be tried at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|t| now >= t)
    }

    /// Records how an attempt ended; `attempts` counts the failed attempts of the item
    /// so far (including this one when it failed).
    pub fn handle_outcome(&mut self, now: Instant, outcome: &Outcome) {
        self.retry_at = match outcome {
            Outcome::Retry { attempts, .. } => Some(now + self.backoff.delay(*attempts)),
            Outcome::Delivered { .. } | Outcome::Failed { .. } => None,
        };
    }

    /// When the lane wants to be woken to retry, if it is waiting.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.retry_at
    }

    /// Forgets the wait (an administrator asked for a retry now).
    pub fn retry_now(&mut self) {
        self.retry_at = None;
    }
}

/// How one delivery attempt ended, as recorded in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Acknowledged.
    Delivered { remote_id: Option<String> },
    /// Temporary failure: still pending after `attempts` attempts.
    Retry { attempts: u32, error: String },
    /// Refused: the item is failed.
    Failed { reason: String },
}

/// Something a lane delivers to.
pub trait Deliver: Send {
    fn deliver(&mut self, item: &Item) -> Result<Ack, PluginError>;
}

/// The tickets lane's back end.
pub struct TicketSink(pub Box<dyn TicketDesk>);

impl Deliver for TicketSink {
    fn deliver(&mut self, item: &Item) -> Result<Ack, PluginError> {
        match item {
            Item::Ticket(t) => self.0.deliver_ticket(t),
            Item::Booking(b) => Err(PluginError::Refused(format!("{} is not a ticket", b.id))),
        }
    }
}

/// The bookings lane's back end.
pub struct BookingSink(pub Box<dyn AppointmentBook>);

impl Deliver for BookingSink {
    fn deliver(&mut self, item: &Item) -> Result<Ack, PluginError> {
        match item {
            Item::Booking(b) => self.0.deliver_booking(b),
            Item::Ticket(t) => Err(PluginError::Refused(format!("{} is not a booking", t.id))),
        }
    }
}

/// The lane an item kind goes through.
pub fn lane_of(kind: Kind) -> usize {
    match kind {
        Kind::Ticket => 0,
        Kind::Booking => 1,
    }
}

/// Delivers the pending item `id` once: reads it, calls the back end without holding
/// the outbox, then records the outcome durably. `wall_now` gives the delivery time.
/// An `Err` is an outbox I/O failure (the item stays pending on disk).
pub fn deliver_one(
    outbox: &Mutex<Outbox>,
    id: &str,
    sink: &mut dyn Deliver,
    wall_now: &dyn Fn() -> DateTime<FixedOffset>,
) -> io::Result<Outcome> {
    let item = lock(outbox).get(id)?;
    let Some(item) = item else {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{id} is no longer in the outbox"),
        ));
    };
    let result = sink.deliver(&item);
    let mut outbox = lock(outbox);
    Ok(match result {
        Ok(ack) => {
            outbox.record_delivered(id, wall_now(), ack.remote_id.clone())?;
            Outcome::Delivered {
                remote_id: ack.remote_id,
            }
        }
        Err(PluginError::Temporary(error)) => {
            let attempts = outbox.record_retry(id)?;
            Outcome::Retry { attempts, error }
        }
        Err(PluginError::Refused(reason)) => {
            outbox.record_failed(id, reason.clone())?;
            Outcome::Failed { reason }
        }
    })
}

/// Locks the outbox; a thread that panicked while holding it left it consistent on
/// disk (every change is one atomic file write), so the lock is taken anyway.
pub fn lock(outbox: &Mutex<Outbox>) -> std::sync::MutexGuard<'_, Outbox> {
    outbox.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // tests start a virtual clock at a real instant
mod tests {
    use super::*;

    fn backoff() -> Backoff {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let b = backoff();
        let delays: Vec<u64> = (1..=11).map(|n| b.delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(b.delay(0), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(300));
        let odd = Backoff {
            initial: Duration::from_millis(1500),
            max: Duration::from_millis(5000),
        };
        assert_eq!(odd.delay(2), Duration::from_millis(3000));
        assert_eq!(odd.delay(3), Duration::from_millis(5000));
    }

    #[test]
    fn a_lane_waits_after_a_temporary_failure_in_virtual_time() {
        let t0 = Instant::now();
        let mut lane = Lane::new(backoff());
        assert!(lane.is_due(t0));
        assert_eq!(lane.poll_timeout(), None);
        let mut now = t0;
        for (attempts, wait) in [(1, 1), (2, 2), (3, 4)] {
            lane.handle_outcome(
                now,
                &Outcome::Retry {
                    attempts,
                    error: "503".into(),
                },
            );
            let at = lane.poll_timeout().unwrap();
            assert_eq!(at - now, Duration::from_secs(wait));
            assert!(!lane.is_due(at - Duration::from_millis(1)));
            assert!(lane.is_due(at));
            now = at;
        }
        lane.handle_outcome(now, &Outcome::Delivered { remote_id: None });
        assert!(lane.is_due(now) && lane.poll_timeout().is_none());
        lane.handle_outcome(
            now,
            &Outcome::Retry {
                attempts: 40,
                error: "x".into(),
            },
        );
        assert_eq!(lane.poll_timeout().unwrap() - now, Duration::from_secs(300));
        lane.retry_now();
        assert!(lane.is_due(now));
        lane.handle_outcome(
            now,
            &Outcome::Failed {
                reason: "422".into(),
            },
        );
        assert!(lane.is_due(now), "a refusal does not hold the lane");
    }
}
