use std::fs;

use crate::{example_copy, examples, infrastream, stderr, stdout};

#[test]
fn validate_accepts_the_examples_and_summarizes_them() {
    let out = infrastream(&["manifests", "validate", examples().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            "release      [1] production  (approval: 2 of release-managers@northwind.example)"
        ),
        "{text}"
    );
    assert!(
        text.contains("shop (track main): shop-api, shop-web, shop-worker"),
        "{text}"
    );
    assert!(
        text.contains("shop-api (set shop, image shop-api): development, production, staging"),
        "{text}"
    );
    assert!(
        text.contains("shop-api-reads-shop-libs: northwind/shop-api on push|pull_request at refs/heads/main refs/heads/release/* refs/pull/*/merge -> shop-libs (contents:read)"),
        "{text}"
    );
    assert!(text.contains("20 file(s): valid"), "{text}");
}

#[test]
fn output_into_a_closed_pipe_ends_quietly_without_a_panic() {
    let dir = examples();
    let scenario = dir.parent().unwrap().join("scenarios").join("release.yaml");
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().to_string_lossy().into_owned();
    let commands: [Vec<&str>; 4] = [
        vec!["manifests", "validate", "--json", dir.to_str().unwrap()],
        vec!["manifests", "validate", dir.to_str().unwrap()],
        vec!["sim", scenario.to_str().unwrap()],
        vec![
            "workflows",
            "generate",
            dir.to_str().unwrap(),
            "--out",
            &out_dir,
            "--check",
        ],
    ];
    for args in commands {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_infrastream"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The reader goes away before the first byte is written (as `head -c 1` can).
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
    }
}

#[test]
fn a_closed_standard_error_is_not_written_to_and_the_exit_status_still_tells() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let cases: [(Vec<&str>, i32); 2] = [
        // A directory that is not there: said on stderr, the status is 2.
        (vec!["manifests", "validate", missing.to_str().unwrap()], 2),
        // A service that cannot be reached: 2.
        (
            vec!["status", "--server", "http://127.0.0.1:1", "--as", "sam"],
            2,
        ),
    ];
    for (args, code) in cases {
        // The reader is gone before the process starts: its first write to stderr fails.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_infrastream"))
            .args(&args)
            .stderr(writer)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}: not a panic's 101");
    }
}

#[test]
fn validate_json_has_the_same_content() {
    let out = infrastream(&[
        "manifests",
        "validate",
        "--json",
        examples().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], true);
    assert_eq!(doc["applications"].as_array().unwrap().len(), 3);
    assert_eq!(
        doc["releaseTracks"][0]["releaseStages"][1]["approval"]["minApprovals"],
        2
    );
    assert_eq!(doc["ignoredKinds"]["Organization"], 1);
}

#[test]
fn validate_rejects_a_broken_tree_naming_file_kind_and_field() {
    let dir = example_copy();
    let path = dir.path().join("apps/shop-web/application.yaml");
    let text = fs::read_to_string(&path)
        .unwrap()
        .replace("buildDefinition: shop-web", "buildDefinition: web");
    fs::write(&path, text).unwrap();
    let out = infrastream(&["manifests", "validate", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("apps/shop-web/application.yaml:2: Application/shop-web: spec.buildDefinition: no BuildDefinition named 'web'"),
        "{text}"
    );
    let out = infrastream(&[
        "manifests",
        "validate",
        "--json",
        dir.path().to_str().unwrap(),
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], false);
    assert_eq!(doc["problems"][0]["field"], "spec.buildDefinition");
}

#[test]
fn validate_reports_non_utf8_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("bad.yaml"), [0xff, 0xfe, 0x00]).unwrap();
    let out = infrastream(&["manifests", "validate", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.yaml: not UTF-8 text"),
        "{}",
        stderr(&out)
    );
    let out = infrastream(&["manifests", "validate", "/no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    let out = infrastream(&["manifests", "frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn set_version_changes_exactly_the_version_line() {
    let dir = example_copy();
    let path = dir.path().join("apps/shop-api/deploy/staging.yaml");
    let before = fs::read_to_string(&path).unwrap();
    let out = infrastream(&[
        "manifests",
        "set-version",
        path.to_str().unwrap(),
        "shop-2026.11-rc.0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after = fs::read_to_string(&path).unwrap();
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed,
        vec![("  version: \"v0.0.0\"", "  version: \"shop-2026.11-rc.0\"")]
    );
    assert_eq!(before.lines().count(), after.lines().count());
    assert_eq!(
        stdout(&out).trim(),
        format!(
            "{}: shop-api in staging: v0.0.0 -> shop-2026.11-rc.0",
            path.display()
        )
    );
    let again = infrastream(&[
        "manifests",
        "set-version",
        path.to_str().unwrap(),
        "shop-2026.11-rc.0",
    ]);
    assert_eq!(
        stdout(&again).trim(),
        format!(
            "{}: already at shop-2026.11-rc.0; nothing changed",
            path.display()
        )
    );
}

#[test]
fn set_version_refuses_bad_input_and_leaves_the_file_alone() {
    let dir = example_copy();
    let path = dir.path().join("apps/shop-api/deploy/staging.yaml");
    let before = fs::read(&path).unwrap();
    let out = infrastream(&[
        "manifests",
        "set-version",
        path.to_str().unwrap(),
        "not a tag",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("staging.yaml: 'not a tag' is not a valid version"),
        "{}",
        stderr(&out)
    );
    let env = dir.path().join("environments/staging.yaml");
    let out = infrastream(&["manifests", "set-version", env.to_str().unwrap(), "v1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no DeploymentConfig"));
    assert_eq!(fs::read(&path).unwrap(), before);
    let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 3, "no temporary files left behind");
}
