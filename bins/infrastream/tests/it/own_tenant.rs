//! docs/OWN-TENANT.md, run as written: every `sh` block in order, in a fresh directory with the
//! example tenant copied to `my-manifests`, the service on a free port instead of 8080.

use std::path::Path;
use std::process::Command;

use crate::{copy_tree, examples, stderr, stdout};

/// The `sh` blocks of a Markdown page, in order.
fn shell_blocks(markdown: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```sh") => current = Some(String::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

#[test]
fn own_tenant_walkthrough() {
    let page = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/OWN-TENANT.md");
    let blocks = shell_blocks(&std::fs::read_to_string(&page).unwrap());
    assert!(blocks.len() >= 7, "{blocks:#?}");
    let tmp = tempfile::tempdir().unwrap();
    copy_tree(&examples(), &tmp.path().join("my-manifests"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = Path::new(env!("CARGO_BIN_EXE_infrastream"))
        .parent()
        .unwrap();
    let mut script = format!(
        "set -euo pipefail\nexport PATH={}:$PATH\ntrap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n",
        bin.display()
    );
    for block in &blocks {
        script.push_str(&block.replace("8080", &port.to_string()));
        // Between the builds and the release: a missing git tag is refused by name.
        if block.contains("infrastream notify") {
            script.push_str(
                "git -C src/shop-worker tag -d v0.2.0 > /dev/null\n\
                 if infrastream release shop 2026.12 --as jane 2> refused.txt; then exit 3; fi\n\
                 cat refused.txt\n\
                 git -C src/shop-worker tag v0.2.0\n",
            );
        }
    }
    let out = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(tmp.path())
        .env_remove("INFRASTREAM_SERVER")
        .env_remove("INFRASTREAM_ACTOR")
        .output()
        .unwrap();
    let log = std::fs::read_to_string(tmp.path().join("serve.log")).unwrap_or_default();
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "{script}\n--- stdout\n{text}\n--- stderr\n{}\n--- serve.log\n{log}",
        stderr(&out)
    );
    for expected in [
        "20 file(s): valid",
        "added shop-worker:v0.2.0 to registry containers",
        "PRERELEASE shop-api",
        "release shop/2026.12 refused: shop-worker: git tag v0.2.0 in source repository shop-worker does not exist (409)",
        "stage 1 AWAITING_APPROVAL",
        "approval: stage 1 APPROVE by omar",
        "production=SUCCEEDED",
        "release/shop/2026.12",
        "shop-2026.12\nshop-2026.12-rc.0\nv0.2.0\n",
    ] {
        assert!(text.contains(expected), "no {expected:?} in:\n{text}");
    }
}

#[test]
fn an_invalid_tree_is_refused_at_seeding_and_nothing_is_seeded() {
    let tmp = tempfile::tempdir().unwrap();
    let manifests = tmp.path().join("broken");
    copy_tree(&examples(), &manifests);
    let app = manifests.join("apps/shop-api/application.yaml");
    let text = std::fs::read_to_string(&app).unwrap();
    std::fs::write(
        &app,
        text.replacen("kind: Application", "kind: Aplication", 1),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_infrastream"))
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(&data)
        .arg("--manifests")
        .arg(&manifests)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("nothing was seeded"), "{err}");
    assert!(
        err.contains("unknown kind 'Aplication'; the closest known kind is 'Application'"),
        "{err}"
    );
    let branch = Command::new("git")
        .arg("--git-dir")
        .arg(data.join("manifests.git"))
        .args(["rev-parse", "--verify", "--quiet", "refs/heads/main"])
        .output()
        .unwrap();
    assert!(!branch.status.success(), "nothing was seeded");
}

#[test]
fn a_source_that_is_not_a_git_repository_is_refused_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_infrastream"))
        .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
        .arg(tmp.path().join("data"))
        .arg("--source")
        .arg(format!("shop-api={}", tmp.path().display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("source.repositories.shop-api")
            && stderr(&out).contains("is not a git repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_manifests_directory_given_to_a_seeded_service_is_said_to_be_ignored() {
    use std::io::{BufRead as _, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for run in 0..2 {
        let mut serve = Command::new(env!("CARGO_BIN_EXE_infrastream"))
            .args(["serve", "--listen", "127.0.0.1:0", "--dir"])
            .arg(&data)
            .arg("--manifests")
            .arg(examples())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut said = None;
        for line in BufReader::new(serve.stderr.take().unwrap()).lines() {
            let line = line.unwrap();
            if line.contains("is ignored")
                || line.contains("listening on")
                || line.contains("seeding")
            {
                said = Some(line);
                break;
            }
        }
        // The first run is stopped once its seed has landed.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while run == 0
            && !Command::new("git")
                .arg("--git-dir")
                .arg(data.join("manifests.git"))
                .args(["rev-parse", "--verify", "--quiet", "refs/heads/main"])
                .output()
                .unwrap()
                .status
                .success()
        {
            assert!(std::time::Instant::now() < deadline, "never seeded");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = serve.kill();
        let _ = serve.wait();
        let said = said.unwrap_or_default();
        if run == 0 {
            assert!(
                said.contains("seeding the empty manifest repository"),
                "{said}"
            );
        } else {
            assert!(
                said.contains("is ignored: the manifest repository")
                    && said.contains("to seed it again"),
                "{said}"
            );
        }
    }
}
