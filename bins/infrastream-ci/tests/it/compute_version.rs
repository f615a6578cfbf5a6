use crate::{ci, stderr, stdout};

#[test]
fn prints_key_value_lines_with_current_version_first() {
    let out = ci(&[
        "compute-version",
        "--labels",
        "release/minor,bug",
        "--merged-tag",
        "v1.2.3",
        "--merged-tag",
        "v1.10.0",
        "--tag",
        "v9.0.0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "current_version=v1.10.0\ntarget_version=v1.11.0\nskip=false\nrelease_type=LATEST\n"
    );
}

#[test]
fn empty_labels_mean_none_and_release_types_are_case_insensitive() {
    let out = ci(&[
        "compute-version",
        "--labels",
        "",
        "--release-type",
        "hotfix",
        "--merged-tag",
        "v2.0.0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("target_version=v2.0.0-hotfix.0\n"));
    assert!(stdout(&out).contains("release_type=HOTFIX\n"));
}

#[test]
fn a_tag_collision_fails_but_still_prints_the_base() {
    let out = ci(&[
        "compute-version",
        "--merged-tag",
        "v1.0.0",
        "--tag",
        "v1.0.1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "current_version=v1.0.0\n");
    assert!(stderr(&out).contains("tag v1.0.1 already exists on another commit"));
}

#[test]
fn appends_to_github_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out");
    std::fs::write(&file, "earlier=1\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_infrastream-ci"))
        .args(["compute-version", "--head-tag", "v3.0.0"])
        .env("GITHUB_OUTPUT", &file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        written,
        "earlier=1\ncurrent_version=v3.0.0\ntarget_version=v3.0.0\nskip=true\nrelease_type=LATEST\n"
    );
}

#[test]
fn an_unknown_release_type_is_a_usage_error() {
    let out = ci(&["compute-version", "--release-type", "GA"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("GA"));
}
