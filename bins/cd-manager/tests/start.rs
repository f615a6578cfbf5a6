//! `cd-manager` refuses to start on a bad configuration or an empty manifest repository, and
//! says why.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn cd_manager(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cd-manager"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

#[test]
fn a_bad_configuration_is_named_and_nothing_starts() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("cd.toml");
    std::fs::write(&file, "[registry]\nkind = \"oci\"\n").unwrap();
    let out = cd_manager(&["--config", &file.to_string_lossy(), "--check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("registry.url"), "{err}");
    let out = cd_manager(&["--check"], &[("INFRASTREAM_STORE", "mongodb")]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("INFRASTREAM_STORE"));
}

#[test]
fn an_empty_manifest_repository_is_not_seeded_in_production() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = cd_manager(
        &[],
        &[
            ("INFRASTREAM_DATA_DIR", &data.to_string_lossy()),
            ("INFRASTREAM_LISTEN", "127.0.0.1:0"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("has no branch 'main'"), "{err}");
}
