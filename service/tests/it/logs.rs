//! A request field with a newline cannot forge a log line: values are escaped.

use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn control_characters_in_logged_values_are_escaped() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .fmt_fields(cd_service::process::escaped_fields())
        .finish();
    let forged = "shop-api\n2026-12-03T00:00:00Z  INFO cd_service: accepted \u{1b}[2J";
    tracing::subscriber::with_default(subscriber, || {
        tracing::warn!(input = %forged, error = %format!("unknown build '{forged}'"), "refused");
        tracing::info!("engine: {forged}");
    });
    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "one line per event: {text}");
    assert!(lines[0].contains(r"input=shop-api\n2026-12-03"), "{text}");
    assert!(lines[0].contains(r"\u{1b}[2J"), "{text}");
    assert!(!text.contains('\u{1b}'), "{text}");
}
