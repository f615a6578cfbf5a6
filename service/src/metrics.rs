//! Prometheus metrics in the text exposition format. A handful of counters and one histogram do
//! not justify a metrics framework; the format is small and stable.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

/// Upper bounds (seconds) of the stage-duration histogram buckets.
const BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0];

#[derive(Debug, Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

/// The service's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    inputs: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    effects: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    stages: Mutex<BTreeMap<&'static str, Histogram>>,
    queue: AtomicI64,
    channel: AtomicI64,
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_default() += 1;
    }
}

impl Metrics {
    /// An input was handled with `result` (`accepted`, `duplicate`, `rejected`, `error`).
    pub fn input(&self, input: &'static str, result: &'static str) {
        bump(&self.inputs, (input, result));
    }

    /// An effect ended (`done` or `failed`).
    pub fn effect(&self, kind: &'static str, result: &'static str) {
        bump(&self.effects, (kind, result));
    }

    /// A stage ended with `status` after `seconds` in the engine.
    pub fn stage(&self, status: &'static str, seconds: f64) {
        if let Ok(mut m) = self.stages.lock() {
            let h = m.entry(status).or_default();
            if h.counts.is_empty() {
                h.counts = vec![0; BUCKETS.len()];
            }
            for (bound, count) in BUCKETS.iter().zip(h.counts.iter_mut()) {
                if seconds <= *bound {
                    *count += 1;
                }
            }
            h.sum += seconds;
            h.count += 1;
        }
    }

    /// Effects handed to the worker (`added`) or taken by it.
    pub fn channel_add(&self, n: usize, added: bool) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        self.channel
            .fetch_add(if added { n } else { -n }, Ordering::Relaxed);
    }

    /// Effects waiting in the worker (to perform, or performed and not yet recorded).
    pub fn queue_set(&self, n: usize) {
        self.queue
            .store(i64::try_from(n).unwrap_or(i64::MAX), Ordering::Relaxed);
    }

    /// The exposition text.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP infrastream_inputs_total Inputs handled, by input and result."
        );
        let _ = writeln!(out, "# TYPE infrastream_inputs_total counter");
        if let Ok(m) = self.inputs.lock() {
            for ((input, result), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "infrastream_inputs_total{{input=\"{input}\",result=\"{result}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP infrastream_effects_total Side effects performed, by kind and result."
        );
        let _ = writeln!(out, "# TYPE infrastream_effects_total counter");
        let mut promotions = 0;
        if let Ok(m) = self.effects.lock() {
            for ((kind, result), n) in m.iter() {
                if *kind == "write-manifests" && *result == "done" {
                    promotions = *n;
                }
                let _ = writeln!(
                    out,
                    "infrastream_effects_total{{effect=\"{kind}\",result=\"{result}\"}} {n}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP infrastream_promotions_total Promotion commits written to the manifest repository."
        );
        let _ = writeln!(out, "# TYPE infrastream_promotions_total counter");
        let _ = writeln!(out, "infrastream_promotions_total {promotions}");
        let _ = writeln!(
            out,
            "# HELP infrastream_stage_duration_seconds Time from promotion commit to the engine's report."
        );
        let _ = writeln!(out, "# TYPE infrastream_stage_duration_seconds histogram");
        if let Ok(m) = self.stages.lock() {
            for (status, h) in m.iter() {
                for (bound, count) in BUCKETS.iter().zip(&h.counts) {
                    let _ = writeln!(
                        out,
                        "infrastream_stage_duration_seconds_bucket{{status=\"{status}\",le=\"{bound}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "infrastream_stage_duration_seconds_bucket{{status=\"{status}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "infrastream_stage_duration_seconds_sum{{status=\"{status}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "infrastream_stage_duration_seconds_count{{status=\"{status}\"}} {}",
                    h.count
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP infrastream_queue_depth Side effects waiting to be performed."
        );
        let _ = writeln!(out, "# TYPE infrastream_queue_depth gauge");
        let _ = writeln!(
            out,
            "infrastream_queue_depth {}",
            self.queue.load(Ordering::Relaxed) + self.channel.load(Ordering::Relaxed).max(0)
        );
        out
    }
}

/// A label value as the exposition format writes it (`\\`, `\"` and `\n` escaped).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Reads one figure's value, when it has one.
type Figure = dyn Fn(&cd_core::dora::Figures) -> Option<f64>;

/// The DORA figures as gauges, by application set and window (`7d`, `30d`, `90d`); a figure
/// that has no value yet (no change reached production) is left out.
#[must_use]
pub fn render_dora(
    figures: &std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<u32, cd_core::dora::Figures>,
    >,
) -> String {
    let mut out = String::new();
    let families: [(&str, &str, &Figure); 4] = [
        (
            "infrastream_dora_deployments",
            "Production deployments that succeeded in the window.",
            &|f| Some(f64::from(f.deployments)),
        ),
        (
            "infrastream_dora_lead_time_seconds",
            "Median time from a change's commit to its production deployment.",
            #[allow(clippy::cast_precision_loss)]
            &|f| f.lead_time_ms.map(|ms| ms as f64 / 1000.0),
        ),
        (
            "infrastream_dora_change_failure_ratio",
            "Share of changes reaching production that failed there or were undone.",
            &cd_core::dora::Figures::change_failure_rate,
        ),
        (
            "infrastream_dora_time_to_restore_seconds",
            "Median time from a failed change to the next successful production deployment.",
            #[allow(clippy::cast_precision_loss)]
            &|f| f.restore_ms.map(|ms| ms as f64 / 1000.0),
        ),
    ];
    for (name, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (set, windows) in figures {
            for (days, f) in windows {
                if let Some(v) = value(f) {
                    let _ = writeln!(
                        out,
                        "{name}{{application_set=\"{}\",window=\"{days}d\"}} {v}",
                        label(set)
                    );
                }
            }
        }
    }
    out
}
