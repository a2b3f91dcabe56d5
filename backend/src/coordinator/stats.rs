//! The pool's counters, read by `/metrics` and `/healthz`: runs by outcome, a run-duration
//! histogram, workers alive, busy, starting and lost.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

/// Counters read by `/metrics` and `/healthz`.
#[derive(Debug, Default)]
pub struct PoolStats {
    pub running: AtomicUsize,
    pub running_max: AtomicUsize,
    pub waiting: AtomicUsize,
    /// Idle workers (busy ones are `running`).
    pub alive: AtomicUsize,
    /// Replacement workers being started.
    pub starting: AtomicUsize,
    pub restarts: AtomicU64,
    /// Workers that died or went silent while idle (noticed when it happened, and replaced).
    pub lost_idle: AtomicU64,
    pub rejected_busy: AtomicU64,
    pub outcomes: OutcomeCounters,
    pub durations: Histogram,
}

/// Runs by how they ended.
#[derive(Debug, Default)]
pub struct OutcomeCounters {
    pub completed: AtomicU64,
    pub limit_exceeded: AtomicU64,
    pub failed: AtomicU64,
    pub cancelled: AtomicU64,
    pub timeout: AtomicU64,
    pub worker_died: AtomicU64,
    pub error: AtomicU64,
}

impl OutcomeCounters {
    /// `(label, count)` pairs in a fixed order.
    pub fn snapshot(&self) -> [(&'static str, u64); 7] {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("completed", get(&self.completed)),
            ("limit_exceeded", get(&self.limit_exceeded)),
            ("failed", get(&self.failed)),
            ("cancelled", get(&self.cancelled)),
            ("timeout", get(&self.timeout)),
            ("worker_died", get(&self.worker_died)),
            ("error", get(&self.error)),
        ]
    }
}

/// Upper bounds (seconds) of the run-duration histogram's buckets.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// A Prometheus-style cumulative histogram of run durations.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; DURATION_BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, bucket) in DURATION_BUCKETS.iter().zip(&self.buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    /// Cumulative counts per bucket, total count, and sum in seconds.
    pub fn snapshot(&self) -> (Vec<(f64, u64)>, u64, f64) {
        let buckets = DURATION_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(b, c)| (*b, c.load(Ordering::Relaxed)))
            .collect();
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        (buckets, self.count.load(Ordering::Relaxed), sum)
    }
}
