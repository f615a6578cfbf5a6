//! The example tenant's generated files are checked in under `examples/workflows/` and must
//! be reproduced byte for byte (`UPDATE_GOLDEN=1` rewrites them after an intended change;
//! review the diff like code). Generation is deterministic: same manifests, same bytes.

use std::collections::BTreeMap;

use crate::{example_catalog, generate, root};

fn checked_in() -> BTreeMap<String, String> {
    let dir = root().join("examples/workflows");
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.clone()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(&dir).unwrap();
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.insert(rel.join("/"), std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

#[test]
fn the_example_tenant_generates_the_checked_in_files_byte_for_byte() {
    let files = generate(&example_catalog());
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let dir = root().join("examples/workflows");
        let _ = std::fs::remove_dir_all(&dir);
        for (path, text) in &files {
            let target = dir.join(path);
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(target, text).unwrap();
        }
    }
    let golden = checked_in();
    let missing: Vec<&String> = files.keys().filter(|p| !golden.contains_key(*p)).collect();
    let extra: Vec<&String> = golden.keys().filter(|p| !files.contains_key(*p)).collect();
    let changed: Vec<&String> = files
        .iter()
        .filter(|(p, t)| golden.get(*p).is_some_and(|g| g != *t))
        .map(|(p, _)| p)
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && changed.is_empty(),
        "examples/workflows differs from what the example tenant generates (UPDATE_GOLDEN=1 rewrites it):\nmissing {missing:?}\nextra {extra:?}\nchanged {changed:?}"
    );
}

#[test]
fn generation_is_deterministic() {
    let catalog = crate::matrix_catalog();
    let first = generate(&catalog);
    // Loading the files in another order changes nothing either.
    let mut files = crate::matrix_files();
    files.reverse();
    let reloaded = cd_core::manifest::Catalog::load_valid(files).unwrap();
    assert_eq!(first, generate(&reloaded));
    assert_eq!(first, generate(&catalog));
}
