//! `cd-manager` refuses to start on a bad configuration or an empty manifest repository, and
//! says why.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

/// Runs `cd-manager`; a process still running after 60 s (it started when it should not have)
/// is killed and fails the test instead of hanging it.
fn cd_manager(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cd-manager"));
    cmd.args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("cd-manager {args:?} kept running: it should have refused to start");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
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
    std::fs::write(&file, "[github]\napp_id = \"4242\"\n").unwrap();
    let out = cd_manager(&["--config", &file.to_string_lossy(), "--check"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("github") && err.contains("private_key_file"),
        "{err}"
    );
    std::fs::write(&file, "[registry]\nkind = \"artifact_registry\"\n").unwrap();
    let out = cd_manager(&["--config", &file.to_string_lossy(), "--check"], &[]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("PROJECT/REPOSITORY/"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

#[test]
fn the_documented_production_example_is_valid() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/cd-manager.toml"
    );
    let out = cd_manager(&["--config", example, "--check"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(
        shown.contains("Spanner") && shown.contains("ArtifactRegistry"),
        "{shown}"
    );
}
