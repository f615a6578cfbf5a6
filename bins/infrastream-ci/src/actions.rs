//! GitHub Actions' environment files: step outputs (`$GITHUB_OUTPUT`) and the job summary
//! (`$GITHUB_STEP_SUMMARY`). Outside Actions neither is set and only stdout is written.

use std::fs::OpenOptions;
use std::io::Write as _;

/// Appends `text` to the file named by the environment variable `var`, when it is set.
fn append(var: &str, text: &str) -> std::io::Result<()> {
    match std::env::var_os(var).filter(|p| !p.is_empty()) {
        Some(path) => OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes())),
        None => Ok(()),
    }
}

/// Appends `text` to `$GITHUB_STEP_SUMMARY` when it is set.
pub(crate) fn summary(text: &str) {
    let _ = append("GITHUB_STEP_SUMMARY", text);
}

/// Prints `key=value` lines on stdout and appends them to `$GITHUB_OUTPUT` when it is set.
pub(crate) fn emit(lines: &[(&str, String)]) {
    let text: String = lines.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    print!("{text}");
    if let Err(e) = append("GITHUB_OUTPUT", &text) {
        eprintln!("warning: cannot append to GITHUB_OUTPUT: {e}");
    }
}

/// Appends `key=value` to `$GITHUB_OUTPUT` only: for values stdout must never show.
pub(crate) fn append_output(key: &str, value: &str) -> std::io::Result<()> {
    if std::env::var_os("GITHUB_OUTPUT").is_none_or(|p| p.is_empty()) {
        return Err(std::io::Error::other("GITHUB_OUTPUT is not set"));
    }
    append("GITHUB_OUTPUT", &format!("{key}={value}\n"))
}
