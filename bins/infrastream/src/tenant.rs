//! The example tenant, built into the binary.

include!(concat!(env!("OUT_DIR"), "/tenant.rs"));

/// The example tenant as owned (path, text) pairs.
pub(crate) fn files() -> Vec<(String, String)> {
    EXAMPLE_TENANT
        .iter()
        .map(|(p, t)| ((*p).to_string(), (*t).to_string()))
        .collect()
}
