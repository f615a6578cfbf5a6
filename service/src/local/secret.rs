//! Secrets kept in files of their own: the webhook secret machines sign with, and the Portal's
//! session key, which only the replicas hold.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::error::StartError;

fn read_secret(path: &Path) -> Result<Option<Vec<u8>>, StartError> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Err(StartError::Io(format!(
            "{}: the secret file is empty; put a secret in it, or delete it to have one generated",
            path.display()
        ))),
        Ok(text) => Ok(Some(text.trim().as_bytes().to_vec())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StartError::Io(format!("{}: {e}", path.display()))),
    }
}

/// The shared webhook secret: read from its file, or generated there (mode 0600) when absent.
/// The file appears whole or not at all (written aside, then linked into place), so a crash
/// never leaves an empty secret, and two processes starting together agree on one.
///
/// # Errors
/// [`StartError::Io`] when the file cannot be read or written, or exists and is empty.
pub fn webhook_secret(path: &Path) -> Result<Vec<u8>, StartError> {
    secret_in(path)
}

/// The Portal's session key: read from its file, or generated there as [`webhook_secret`] is.
/// A key of its own, never the webhook secret: CI and engines hold that one, and whoever holds
/// the session key can sign anyone in.
///
/// # Errors
/// As [`webhook_secret`].
pub fn session_key(path: &Path) -> Result<Vec<u8>, StartError> {
    secret_in(path)
}

fn secret_in(path: &Path) -> Result<Vec<u8>, StartError> {
    if let Some(secret) = read_secret(path)? {
        return Ok(secret);
    }
    let io = |e: std::io::Error| StartError::Io(format!("{}: {e}", path.display()));
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StartError::Io(format!("random source: {e}")))?;
    let secret = hex::encode(bytes);
    let tmp = tempfile_in(dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options
        .open(&tmp)
        .and_then(|mut f| f.write_all(secret.as_bytes()).and_then(|()| f.sync_all()));
    let linked = written.and_then(|()| std::fs::hard_link(&tmp, path));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(secret.into_bytes()),
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_secret(path)?
            .ok_or_else(|| StartError::Io(format!("{}: vanished while starting", path.display()))),
        Err(e) => Err(io(e)),
    }
}

/// A fresh, unused path in `dir` for a file written aside.
fn tempfile_in(dir: &Path) -> Result<PathBuf, StartError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| StartError::Io(format!("random source: {e}")))?;
    Ok(dir.join(format!(".secret.{}.tmp", hex::encode(bytes))))
}
