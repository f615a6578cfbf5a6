//! The audit trail: one JSON object a line for every decision — who asked (the token's
//! claims), what for, what was decided, and for an issued token its SHA-256, never the token.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Where audit events go.
pub struct Audit {
    sink: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").finish_non_exhaustive()
    }
}

/// The hex SHA-256 of an issued token: enough to match it with GitHub's audit log, useless
/// to anyone who finds it.
#[must_use]
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Audit {
    /// Appends to `path`, or writes to stdout without one.
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn open(path: Option<&Path>) -> Result<Audit, String> {
        let sink: Box<dyn Write + Send> = match path {
            Some(p) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("audit_log {}: {e}", p.display()))?,
            ),
            None => Box::new(std::io::stdout()),
        };
        Ok(Audit {
            sink: Mutex::new(sink),
        })
    }

    /// Writes one event: `fields` with `time` and `type` added.
    pub fn record(&self, kind: &str, mut fields: Value) {
        let time = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        if let Some(map) = fields.as_object_mut() {
            map.insert("time".into(), json!(time));
            map.insert("type".into(), json!(kind));
        }
        if let Ok(mut sink) = self.sink.lock() {
            let _ = writeln!(sink, "{fields}");
            let _ = sink.flush();
        }
    }
}
