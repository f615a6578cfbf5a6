//! `/metrics`: tokens issued and requests refused by reason, in the Prometheus text format.
//! No token material, no claims: only counts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The broker's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    issued: AtomicU64,
    refused: Mutex<BTreeMap<&'static str, u64>>,
}

impl Metrics {
    /// One token issued.
    pub fn issued(&self) {
        self.issued.fetch_add(1, Ordering::Relaxed);
    }

    /// One request refused for `reason`.
    pub fn refused(&self, reason: &'static str) {
        if let Ok(mut r) = self.refused.lock() {
            *r.entry(reason).or_default() += 1;
        }
    }

    /// The text of `/metrics`, with the gauges passed in.
    pub fn render(&self, policies: usize, key_fetches: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP token_broker_issued_total GitHub installation tokens issued.\n# TYPE token_broker_issued_total counter\ntoken_broker_issued_total {}",
            self.issued.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP token_broker_refused_total Requests refused, by reason.\n# TYPE token_broker_refused_total counter"
        );
        if let Ok(r) = self.refused.lock() {
            for (reason, n) in r.iter() {
                let _ = writeln!(out, "token_broker_refused_total{{reason=\"{reason}\"}} {n}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP token_broker_policies TokenPolicies in force.\n# TYPE token_broker_policies gauge\ntoken_broker_policies {policies}"
        );
        let _ = writeln!(
            out,
            "# HELP token_broker_oidc_key_fetches_total Fetches of the OIDC issuer's keys.\n# TYPE token_broker_oidc_key_fetches_total counter\ntoken_broker_oidc_key_fetches_total {key_fetches}"
        );
        out
    }
}
