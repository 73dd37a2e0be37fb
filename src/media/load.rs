//! How busy a media worker is, and whether the switchboard can take one more call: the
//! admission rule that refuses new calls (503) before the audio of calls already up
//! degrades. Pure: the worker reports how long it worked and how long a period was.

use std::time::Duration;

/// Smoothing of the busy share: each period counts for 1/8 (about 160 ms of memory at
/// 20 ms periods: a burst of call set-ups does not trip it, a lasting overload does).
const WEIGHT: u64 = 8;

/// A worker's smoothed busy share, in thousandths.
#[derive(Debug, Default, Clone)]
pub struct LoadMeter {
    busy: Duration,
    /// In millionths, so the integer smoothing does not drift down by rounding.
    smoothed_ppm: u64,
}

impl LoadMeter {
    /// Time spent working (sending a tick, reading packets, taking commands).
    pub fn add_busy(&mut self, busy: Duration) {
        self.busy += busy;
    }

    /// A period of `length` ended: folds its busy share into the smoothed value and
    /// returns it (thousandths; 1000 = busy all the time).
    pub fn end_period(&mut self, length: Duration) -> u32 {
        let share_ppm = if length.is_zero() {
            1_000_000
        } else {
            (self.busy.as_nanos() * 1_000_000 / length.as_nanos()).min(1_000_000) as u64
        };
        self.busy = Duration::ZERO;
        self.smoothed_ppm = (self.smoothed_ppm * (WEIGHT - 1) + share_ppm) / WEIGHT;
        (self.smoothed_ppm / 1000) as u32
    }
}

/// Whether a new call may be taken: every worker below `max_permille` (a call lands on
/// any worker, and one saturated worker is enough to spoil its calls). 0 disables.
pub fn admit(loads_permille: impl IntoIterator<Item = u32>, max_permille: u32) -> bool {
    max_permille == 0 || loads_permille.into_iter().all(|l| l < max_permille)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(20);

    #[test]
    fn the_smoothed_share_follows_a_lasting_load_not_a_burst() {
        let mut m = LoadMeter::default();
        // A quiet worker: 1 ms of work per 20 ms tick, 5 %.
        let mut load = 0;
        for _ in 0..100 {
            m.add_busy(Duration::from_millis(1));
            load = m.end_period(TICK);
        }
        assert!((45..=50).contains(&load), "{load}");
        // One saturated tick (a burst of call set-ups) moves it by an eighth at most.
        m.add_busy(TICK);
        let burst = m.end_period(TICK);
        assert!(burst < 200, "{burst}");
        // A lasting overload: 19 ms of every 20.
        for _ in 0..100 {
            m.add_busy(Duration::from_millis(19));
            load = m.end_period(TICK);
        }
        assert!((900..=950).contains(&load), "{load}");
    }

    #[test]
    fn busy_time_beyond_the_period_counts_as_full() {
        let mut m = LoadMeter::default();
        for _ in 0..200 {
            m.add_busy(Duration::from_millis(45));
            m.end_period(TICK);
        }
        assert!(m.end_period(TICK) >= 870); // the last period had no work
    }

    #[test]
    fn admission_needs_every_worker_below_the_limit() {
        assert!(admit([100, 790], 800));
        assert!(!admit([100, 800], 800));
        assert!(admit([1000, 1000], 0), "0 turns the rule off");
        assert!(admit([], 800));
    }
}
