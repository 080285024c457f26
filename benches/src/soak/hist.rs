//! A lock-free log-linear histogram of microsecond latencies.
//!
//! Go: none (the Go twin, benches/go/soak/hist.go, uses the same layout so
//! both print comparable percentiles).
//!
//! Values below 256 have a bucket each; above, every power of two is split
//! into 128 buckets, so a reported quantile is at most 1/128 above the true
//! value. A quantile is the nearest rank's bucket upper bound, capped at the
//! exact maximum. Recording is three relaxed atomic updates; readers run
//! after the recorders are joined (or accept a racy snapshot).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-bucket bits: 2^7 buckets per power of two.
const SUB_BITS: u32 = 7;
/// Enough buckets for any u64.
const BUCKETS: usize = 64 << SUB_BITS;

/// See the module docs.
pub struct Hist {
    counts: Box<[AtomicU64]>,
    n: AtomicU64,
    max: AtomicU64,
}

/// The bucket of `v`.
fn index(v: u64) -> usize {
    if v < 2 << SUB_BITS {
        return v as usize;
    }
    let shift = 63 - v.leading_zeros() - SUB_BITS;
    ((shift as usize) << SUB_BITS) + (v >> shift) as usize
}

/// The largest value that maps to bucket `i`.
fn upper(i: usize) -> u64 {
    if i < 2 << SUB_BITS {
        return i as u64;
    }
    let shift = (i >> SUB_BITS) - 1;
    let mant = (i - (shift << SUB_BITS)) as u64;
    // The top bucket's bound is 2^64 - 1: the shift wraps to 0.
    ((mant + 1) << shift).wrapping_sub(1)
}

impl Hist {
    /// An empty histogram.
    pub fn new() -> Hist {
        Hist {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            n: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    /// Records one value in microseconds.
    pub fn record_us(&self, v: u64) {
        self.counts[index(v)].fetch_add(1, Ordering::Relaxed);
        self.n.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
    }

    /// Records how far `elapsed` overshot `want` (0 if it did not).
    pub fn record_late(&self, elapsed: Duration, want: Duration) {
        self.record_us(elapsed.saturating_sub(want).as_micros() as u64);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.n.load(Ordering::Relaxed)
    }

    /// The largest value recorded.
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// The nearest-rank quantile `q` (0 < q ≤ 1), see the module docs.
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        let rank = ((q * n as f64).ceil() as u64).max(1);
        let mut cum = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cum += c.load(Ordering::Relaxed);
            if cum >= rank {
                return upper(i).min(self.max());
            }
        }
        self.max()
    }

    /// `latency NAME n=.. p50=.. p99=.. p99.9=.. max=..`, the line both
    /// soaks print and the comparison program reads.
    pub fn line(&self, name: &str) -> String {
        format!(
            "latency {name} n={} p50={} p99={} p99.9={} max={}",
            self.count(),
            self.quantile(0.50),
            self.quantile(0.99),
            self.quantile(0.999),
            self.max()
        )
    }
}

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order() {
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let i = index(v);
            assert!(upper(i) >= v, "v={v} i={i} upper={}", upper(i));
            if i > 0 {
                assert!(upper(i - 1) < v, "v={v} in bucket {i} but fits {}", i - 1);
            }
        }
    }

    #[test]
    fn quantiles_are_nearest_rank_within_one_percent() {
        let h = Hist::new();
        for v in 1..=10_000 {
            h.record_us(v);
        }
        let p50 = h.quantile(0.5);
        assert!((5_000..=5_000 + 5_000 / 128).contains(&p50), "p50={p50}");
        let p99 = h.quantile(0.99);
        assert!((9_900..=9_900 + 9_900 / 128).contains(&p99), "p99={p99}");
        assert_eq!(h.quantile(1.0), 10_000);
        assert_eq!(h.max(), 10_000);
        assert_eq!(Hist::new().quantile(0.5), 0);
    }
}
