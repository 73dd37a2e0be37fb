//! Measurement helpers: the deviation histogram, the wall clock the kernel stamps packets
//! with, and `/proc` samples of the daemon (CPU time and RSS).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

/// Histogram resolution and range: 1 µs buckets up to 1 s, then one overflow bucket.
const BUCKETS: usize = 1_000_000;

/// Inter-arrival deviations from 20 ms, kept as a 1 µs histogram (exact max), plus the
/// mean interval itself (above 20 ms when the sender skips frames).
pub struct Hist {
    counts: Vec<u32>,
    pub n: u64,
    pub max_ns: u64,
    sum_ns: u128,
    sum_interval_ns: i128,
}

impl Hist {
    pub fn new() -> Hist {
        Hist {
            counts: vec![0; BUCKETS + 1],
            n: 0,
            max_ns: 0,
            sum_ns: 0,
            sum_interval_ns: 0,
        }
    }

    /// One interval between consecutive packets of a talk spurt.
    pub fn add(&mut self, interval_ns: i64, nominal_ns: i64) {
        let ns = (interval_ns - nominal_ns).unsigned_abs();
        self.sum_interval_ns += i128::from(interval_ns);
        let b = ((ns / 1000) as usize).min(BUCKETS);
        self.counts[b] += 1;
        self.n += 1;
        self.max_ns = self.max_ns.max(ns);
        self.sum_ns += u128::from(ns);
    }

    pub fn merge(&mut self, o: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.n += o.n;
        self.max_ns = self.max_ns.max(o.max_ns);
        self.sum_ns += o.sum_ns;
        self.sum_interval_ns += o.sum_interval_ns;
    }

    /// The upper edge of the bucket holding the `q` quantile, in µs (capped at the max).
    pub fn quantile_us(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return ((i + 1) as f64).min(self.max_ns as f64 / 1000.0);
            }
        }
        self.max_ns as f64 / 1000.0
    }

    pub fn mean_us(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum_ns as f64 / self.n as f64 / 1000.0
        }
    }

    /// Mean interval in µs (20,000 when the sender never skips a frame).
    pub fn mean_interval_us(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum_interval_ns as f64 / self.n as f64 / 1000.0
        }
    }

    /// Share of intervals off by more than `us`.
    pub fn share_over_us(&self, us: usize) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let over: u64 = self.counts[us.min(BUCKETS)..]
            .iter()
            .map(|&c| u64::from(c))
            .sum();
        over as f64 / self.n as f64
    }
}

/// CLOCK_REALTIME in ns: the clock of `SO_TIMESTAMPNS`, so send and receive times compare.
pub fn now_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Randomness from the standard library's hash keys (tags, SSRCs), no extra crate.
pub fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_i64(now_ns());
    h.finish()
}

/// One look at a process: CPU time used so far and resident memory.
#[derive(Clone, Copy, Debug)]
pub struct ProcSample {
    pub at_ns: i64,
    pub cpu_s: f64,
    pub rss_kib: u64,
    /// Peak RSS of the process so far (`VmHWM`).
    pub rss_peak_kib: u64,
}

impl ProcSample {
    pub fn read(pid: u32) -> Option<ProcSample> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the parenthesised command name; utime and stime are fields 14, 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let field = |name: &str| -> Option<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        };
        let rss_kib = field("VmRSS:")?;
        Some(ProcSample {
            at_ns: now_ns(),
            cpu_s: ticks as f64 / hz,
            rss_kib,
            rss_peak_kib: field("VmHWM:").unwrap_or(rss_kib),
        })
    }

    /// CPU% of one core between two samples.
    pub fn cpu_pct(a: &ProcSample, b: &ProcSample) -> f64 {
        let wall = (b.at_ns - a.at_ns) as f64 / 1e9;
        if wall <= 0.0 {
            0.0
        } else {
            100.0 * (b.cpu_s - a.cpu_s) / wall
        }
    }
}

/// This process's own CPU seconds (user + system).
pub fn self_cpu_s() -> f64 {
    // SAFETY: getrusage fills a struct we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// p-quantile of a small sample (nearest rank), in the sample's unit.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// p-quantile of sorted integers (nearest rank); 0 when empty.
pub fn quantile_u64(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
