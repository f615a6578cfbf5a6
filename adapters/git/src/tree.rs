//! A manifest tree on disk, read as the core takes it: (path, text) pairs.

use std::fs;
use std::path::Path;

/// Every `*.yaml` / `*.yml` file under `dir` (hidden directories skipped), as (path relative to
/// `dir`, text), in path order. The CD Manager reads a `--manifests` directory with it, the
/// Token Broker its policy tree, and the command line the tree it validates.
///
/// # Errors
/// A sentence naming the file or directory that cannot be read or is not UTF-8.
pub fn read_manifest_tree(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = fs::read_dir(&current)
            .map_err(|e| format!("{}: cannot read directory: {e}", current.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("{}: {e}", current.display()))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let file_type = entry
                .file_type()
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if file_type.is_dir() {
                if !name.starts_with('.') {
                    pending.push(path);
                }
                continue;
            }
            if !(name.ends_with(".yaml") || name.ends_with(".yml")) {
                continue;
            }
            let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let text = String::from_utf8(bytes)
                .map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
            let shown = path.strip_prefix(dir).unwrap_or(&path);
            files.push((shown.to_string_lossy().into_owned(), text));
        }
    }
    files.sort();
    Ok(files)
}
