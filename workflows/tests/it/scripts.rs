//! The generated scripts, run in bash as a runner would run them (`bash -e -o pipefail`),
//! with the environment their step declares.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Command, Stdio};

use cd_core::manifest::{BranchStrategy, BuildType};
use cd_workflows::branching::{HeadRule, branch_configs};
use proptest::prelude::*;
use serde_json::Value;

use crate::{matrix_generated, matrix_name, yaml};

/// The step named `name` of job `job` in `path` of the matrix tenant.
fn step(path: &str, job: &str, name: &str) -> Value {
    let w = yaml(&matrix_generated()[path]);
    w["jobs"][job]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("{path}: {job}: no step {name}"))
        .clone()
}

/// Runs a step's script with its own environment plus `extra`; answers the exit code and
/// what it printed.
fn run(step: &Value, extra: &[(&str, &str)], dir: &Path) -> (i32, String) {
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-e", "-o", "pipefail", "-c"])
        .arg(step["run"].as_str().unwrap())
        .current_dir(dir);
    for (k, v) in step["env"].as_object().into_iter().flatten() {
        cmd.env(k, v.as_str().unwrap());
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The head-branch check of each configuration with a rule, by strategy.
fn head_checks() -> Vec<(HeadRule, Value)> {
    let mut out = Vec::new();
    for strategy in BranchStrategy::ALL {
        for config in branch_configs(*strategy) {
            if config.heads == HeadRule::Any {
                continue;
            }
            let path = format!(
                "{}/.github/workflows/ci-{}-pull-request.yml",
                matrix_name(*strategy, BuildType::Golang),
                config.id
            );
            out.push((
                config.heads.clone(),
                step(&path, "initialize", "Check the head branch"),
            ));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_head_branch_check_in_bash_is_the_rule(
        head in "(feat|fix|bugfix|release|hotfix|revert-[0-9]{1,3}-|revert-x-|dependabot|Feat|main|x)(/[a-z0-9.]{1,5}){0,2}"
    ) {
        static CHECKS: std::sync::OnceLock<Vec<(HeadRule, Value)>> = std::sync::OnceLock::new();
        let dir = tempfile::tempdir().unwrap();
        for (rule, step) in CHECKS.get_or_init(head_checks) {
            let (code, out) = run(step, &[("HEAD_REF", &head)], dir.path());
            prop_assert_eq!(code == 0, rule.allows(&head), "{} {:?}: {}", head, rule, out);
        }
    }
}

#[test]
fn the_merge_gate_fails_on_failed_or_cancelled_jobs_only() {
    let path = format!(
        "{}/.github/workflows/ci-primary-push.yml",
        matrix_name(BranchStrategy::TrunkBased, BuildType::Rust)
    );
    let gate = step(
        &path,
        "all-passed",
        "Fail unless every job passed or was skipped",
    );
    let dir = tempfile::tempdir().unwrap();
    for (results, passes) in [
        (r#"["success","success"]"#, true),
        (r#"["success","skipped"]"#, true),
        (r#"["success","failure"]"#, false),
        (r#"["cancelled","success"]"#, false),
        ("[]", true),
    ] {
        let (code, out) = run(&gate, &[("RESULTS", results)], dir.path());
        assert_eq!(code == 0, passes, "{results}: {out}");
    }
}

/// A local HTTPS server (Python's, with a certificate made for it) serving `dir`.
struct Https {
    child: std::process::Child,
    port: u16,
}

impl Drop for Https {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn https(dir: &Path, cert: &Path, key: &Path) -> Https {
    let server = "import http.server, os, ssl, sys\n\
os.chdir(sys.argv[1])\n\
class Quiet(http.server.SimpleHTTPRequestHandler):\n    def log_message(self, *a):\n        pass\n\
httpd = http.server.HTTPServer(('127.0.0.1', 0), Quiet)\n\
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
ctx.load_cert_chain(sys.argv[2], sys.argv[3])\n\
httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)\n\
print(httpd.server_address[1], flush=True)\n\
httpd.serve_forever()\n";
    let mut child = Command::new("python3")
        .args(["-c", server])
        .arg(dir)
        .arg(cert)
        .arg(key)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    Https {
        port: line.trim().parse().unwrap(),
        child,
    }
}

#[test]
fn the_ci_tools_install_only_the_file_whose_sha256_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let served = dir.path().join("served");
    std::fs::create_dir(&served).unwrap();
    std::fs::write(served.join("infrastream-ci"), "#!/bin/sh\necho tools-ran\n").unwrap();
    let sum = Command::new("sha256sum")
        .arg(served.join("infrastream-ci"))
        .output()
        .unwrap();
    let sha = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let server = https(&served, &cert, &key);

    let path = format!(
        "{}/.github/workflows/ci-primary-push.yml",
        matrix_name(BranchStrategy::GithubFlow, BuildType::Golang)
    );
    let install = step(
        &path,
        "initialize",
        "Install infrastream-ci (sha256-verified)",
    );
    let url = format!("https://127.0.0.1:{}/infrastream-ci", server.port);
    let cert = cert.to_str().unwrap().to_string();
    let attempt = |url: &str, sha: &str| {
        let runner_temp = tempfile::tempdir().unwrap();
        let (code, out) = run(
            &install,
            &[
                ("CI_TOOLS_URL", url),
                ("CI_TOOLS_SHA256", sha),
                ("RUNNER_TEMP", runner_temp.path().to_str().unwrap()),
                ("CURL_CA_BUNDLE", &cert),
            ],
            dir.path(),
        );
        let ran = Command::new(runner_temp.path().join("infrastream-ci"))
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        (code, out, ran)
    };
    let (code, out, ran) = attempt(&url, &sha);
    assert_eq!(code, 0, "{out}");
    assert_eq!(ran, "tools-ran\n");
    // Another file, or the right file under another checksum: refused, never made runnable.
    let wrong = "0".repeat(64);
    let (code, out, ran) = attempt(&url, &wrong);
    assert_ne!(code, 0, "{out}");
    assert_eq!(ran, "");
    // Plain http is refused before any byte is fetched.
    let (code, out, _) = attempt(
        &format!("http://127.0.0.1:{}/infrastream-ci", server.port),
        &sha,
    );
    assert_ne!(code, 0, "{out}");
}
