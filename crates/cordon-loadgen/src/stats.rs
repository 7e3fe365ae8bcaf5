//! Latency histograms (HDR, microseconds) and counters, mergeable across tasks and processes.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Highest latency a histogram records: one hour in microseconds (larger values are clamped).
const MAX_US: u64 = 3_600_000_000;

/// A latency histogram in microseconds, 3 significant figures.
#[derive(Debug, Clone)]
pub(crate) struct Hist(Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

impl Hist {
    pub(crate) fn new() -> Self {
        // Bounds are constants (1 ≤ low, high ≥ 2·low, sigfig 3 ≤ 5), so construction cannot fail; the fallback
        // keeps the type total anyway.
        Hist(
            Histogram::new_with_bounds(1, MAX_US, 3)
                .or_else(|_| Histogram::new(3))
                .unwrap_or_else(|_| unreachable_histogram()),
        )
    }

    pub(crate) fn record_us(&mut self, us: u64) {
        let _ = self.0.record(us.clamp(1, MAX_US));
    }

    pub(crate) fn merge(&mut self, other: &Hist) {
        let _ = self.0.add(&other.0);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.0.len()
    }

    pub(crate) fn reset(&mut self) {
        self.0.reset();
    }

    /// Non-empty buckets as (value, count), for the wire between processes.
    pub(crate) fn to_data(&self) -> HistData {
        HistData(
            self.0
                .iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect(),
        )
    }

    pub(crate) fn from_data(data: &HistData) -> Hist {
        let mut h = Hist::new();
        for (value, count) in &data.0 {
            let _ = h.0.record_n((*value).clamp(1, MAX_US), *count);
        }
        h
    }

    pub(crate) fn summary(&self) -> Summary {
        let h = &self.0;
        let ms = |us: u64| us as f64 / 1000.0;
        if h.is_empty() {
            return Summary::default();
        }
        Summary {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

#[cold]
fn unreachable_histogram() -> Histogram<u64> {
    // Histogram::new(3) only fails for sigfig > 5; reaching this would be a bug in hdrhistogram itself.
    panic!("hdrhistogram refused constant bounds")
}

/// A histogram's non-empty buckets.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct HistData(pub(crate) Vec<(u64, u64)>);

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub(crate) struct Summary {
    pub(crate) count: u64,
    pub(crate) mean_ms: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p90_ms: f64,
    pub(crate) p99_ms: f64,
    pub(crate) p999_ms: f64,
    pub(crate) max_ms: f64,
}

/// What one worker measured in one step: named counters and named histograms. Merging sums counters and adds
/// histograms, so results from several processes combine exactly.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Tally {
    pub(crate) counters: BTreeMap<String, u64>,
    pub(crate) hists: BTreeMap<String, HistData>,
}

impl Tally {
    pub(crate) fn add(&mut self, name: &str, n: u64) {
        *self.counters.entry(name.to_string()).or_insert(0) += n;
    }

    pub(crate) fn get(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    pub(crate) fn set_hist(&mut self, name: &str, h: &Hist) {
        self.hists.insert(name.to_string(), h.to_data());
    }

    pub(crate) fn hist(&self, name: &str) -> Hist {
        self.hists
            .get(name)
            .map(Hist::from_data)
            .unwrap_or_default()
    }

    pub(crate) fn merge(&mut self, other: &Tally) {
        for (k, v) in &other.counters {
            let mine = self.counters.entry(k.clone()).or_insert(0);
            // `last_*` counters are times: the merge keeps the latest, it does not add them.
            if k.starts_with("last_") {
                *mine = (*mine).max(*v);
            } else {
                *mine += v;
            }
        }
        for (k, v) in &other.hists {
            let mut h = self.hist(k);
            h.merge(&Hist::from_data(v));
            self.hists.insert(k.clone(), h.to_data());
        }
    }

    /// Counters whose name starts with `prefix`, without the prefix (e.g. errors by code).
    pub(crate) fn with_prefix(&self, prefix: &str) -> BTreeMap<String, u64> {
        self.counters
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|s| (s.to_string(), *v)))
            .collect()
    }

    pub(crate) fn sum_prefix(&self, prefix: &str) -> u64 {
        self.with_prefix(prefix).values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_merge_round_trip() {
        let mut a = Hist::new();
        for us in 1..=1000 {
            a.record_us(us * 10);
        }
        let s = a.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 5.0).abs() < 0.02, "{s:?}");
        assert!((s.p99_ms - 9.9).abs() < 0.02, "{s:?}");
        let b = Hist::from_data(&a.to_data());
        assert_eq!(b.summary(), s);

        let mut t1 = Tally::default();
        t1.add("sent", 3);
        t1.add("err.rate_limited", 1);
        t1.set_hist("ack", &a);
        let mut t2 = Tally::default();
        t2.add("sent", 4);
        t2.add("err.closed", 2);
        t2.set_hist("ack", &a);
        t1.merge(&t2);
        assert_eq!(t1.get("sent"), 7);
        assert_eq!(t1.sum_prefix("err."), 3);
        assert_eq!(t1.hist("ack").len(), 2000);
    }
}
