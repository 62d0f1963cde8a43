//! The label sets and buckets every group of metrics shares.

use prometheus_client::metrics::histogram::Histogram;

pub(crate) type Labels1 = [(&'static str, String); 1];
pub(crate) type Labels2 = [(&'static str, String); 2];

/// Latency buckets from 5 ms to ~40 s: a checkout answer, a Stripe call, a sweep.
pub(crate) fn latency_buckets() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0,
    ])
}

pub(crate) fn l1(k: &'static str, v: impl Into<String>) -> Labels1 {
    [(k, v.into())]
}

pub(crate) fn l2(
    k1: &'static str,
    v1: impl Into<String>,
    k2: &'static str,
    v2: impl Into<String>,
) -> Labels2 {
    [(k1, v1.into()), (k2, v2.into())]
}
