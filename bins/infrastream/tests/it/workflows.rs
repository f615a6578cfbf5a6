//! `infrastream workflows generate|publish|pins update`, as an operator runs them; GitHub is
//! the stand-in (`cd-github-standin`), which answers as GitHub's API documents.

use std::fs;
use std::path::Path;
use std::process::Command;

use cd_github_standin::FakeGithub;

use crate::{example_copy, examples, infrastream, stderr, stdout};

fn golden() -> std::path::PathBuf {
    examples().join("../workflows")
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap()
}

#[test]
fn generate_writes_the_example_files_and_check_names_every_difference() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap();
    let ex = examples();
    let ex = ex.to_str().unwrap();
    let run = infrastream(&["workflows", "generate", ex, "--out", out]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stdout(&run).contains("for 3 repositories"),
        "{}",
        stdout(&run)
    );
    let push = "shop-api/.github/workflows/ci-primary-push.yml";
    assert_eq!(read(&out_dir.path().join(push)), read(&golden().join(push)));
    let check = infrastream(&["workflows", "generate", ex, "--out", out, "--check"]);
    assert!(check.status.success(), "{}", stdout(&check));

    // One changed, one missing, one extra; a file outside .github is not the generator's.
    fs::write(out_dir.path().join(push), "edited by hand\n").unwrap();
    let gone = "shop-web/.github/rulesets/tags.json";
    fs::remove_file(out_dir.path().join(gone)).unwrap();
    let extra = "shop-worker/.github/workflows/ci-old-push.yml";
    fs::write(
        out_dir.path().join(extra),
        format!("{} from an older manifest.\n", cd_workflows::GENERATED_MARK),
    )
    .unwrap();
    // Files the generator did not write are never its own, not even under .github.
    let custom = "shop-worker/.github/workflows/custom.yml";
    fs::write(out_dir.path().join(custom), "name: custom\n").unwrap();
    fs::write(out_dir.path().join("shop-api/README.md"), "kept\n").unwrap();
    let check = infrastream(&["workflows", "generate", ex, "--out", out, "--check"]);
    assert_eq!(check.status.code(), Some(1));
    let report = stdout(&check);
    for line in [
        format!("changed: {push}"),
        format!("missing: {gone}"),
        format!("extra: {extra}"),
    ] {
        assert!(report.contains(&line), "{report}");
    }
    assert!(report.contains("3 file(s) differ"), "{report}");
    assert!(
        !report.contains("README") && !report.contains("custom.yml"),
        "{report}"
    );
    // --check writes nothing.
    assert_eq!(read(&out_dir.path().join(push)), "edited by hand\n");

    let run = infrastream(&["workflows", "generate", ex, "--out", out]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(
        stdout(&run).contains(&format!("removed: {extra}")),
        "{}",
        stdout(&run)
    );
    assert_eq!(read(&out_dir.path().join(push)), read(&golden().join(push)));
    assert!(out_dir.path().join(gone).exists());
    assert_eq!(read(&out_dir.path().join("shop-api/README.md")), "kept\n");
    assert_eq!(read(&out_dir.path().join(custom)), "name: custom\n");
    let check = infrastream(&["workflows", "generate", ex, "--out", out, "--check"]);
    assert!(check.status.success(), "{}", stdout(&check));
}

#[test]
fn a_build_the_generator_cannot_read_is_named_and_nothing_is_written() {
    let tenant = example_copy();
    let app = tenant.path().join("apps/shop-api/application.yaml");
    let text = read(&app);
    fs::write(&app, text.replace("type: GOLANG", "type: GOLANG2")).unwrap();
    let validate = infrastream(&["manifests", "validate", tenant.path().to_str().unwrap()]);
    assert_eq!(validate.status.code(), Some(1));
    assert!(
        stdout(&validate).contains("apps/shop-api/application.yaml:38: BuildDefinition/shop-api: spec.type: 'GOLANG2' is not one of GOLANG, REACT, DOCKER, RUST"),
        "{}",
        stdout(&validate)
    );
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("out");
    let run = infrastream(&[
        "workflows",
        "generate",
        tenant.path().to_str().unwrap(),
        "--out",
        target.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        stderr(&run).contains("spec.type: 'GOLANG2'"),
        "{}",
        stderr(&run)
    );
    assert!(!target.exists(), "nothing is written");

    // An option its type does not have: named with the type's own options.
    fs::write(&app, text.replace("target: ./cmd/api", "tagret: ./cmd/api")).unwrap();
    let validate = infrastream(&["manifests", "validate", tenant.path().to_str().unwrap()]);
    assert_eq!(validate.status.code(), Some(1));
    assert!(
        stdout(&validate).contains("BuildDefinition/shop-api: spec.golang.tagret: unknown option for type GOLANG; known: target, buildType, goVersionFile"),
        "{}",
        stdout(&validate)
    );
    // A setting workflows need and the tenant lacks: the repository is named.
    fs::write(&app, &text).unwrap();
    fs::remove_file(tenant.path().join("organization/ci.yaml")).unwrap();
    let run = infrastream(&[
        "workflows",
        "generate",
        tenant.path().to_str().unwrap(),
        "--out",
        target.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(
        stderr(&run).contains("GithubRepository/shop-api: metadata.name: generating its workflows needs a WorkflowSettings with spec.ciTools"),
        "{}",
        stderr(&run)
    );
    assert!(!target.exists());
}

/// Runs the binary off the async runtime's threads, so the stand-in keeps answering.
async fn infrastream_with(
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_infrastream"))
            .args(&args)
            .envs(env)
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITHUB_API_URL")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_opens_one_pull_request_per_repository_and_then_nothing() {
    let github = FakeGithub::start(3600).await;
    github.org("northwind");
    for repo in ["shop-api", "shop-web", "shop-worker"] {
        let full = format!("northwind/{repo}");
        github.repo(&full);
        github.commit_files(&full, "main", &[("README.md", "hello\n")]);
    }
    let key_dir = tempfile::tempdir().unwrap();
    let key = key_dir.path().join("app.pem");
    fs::write(&key, github.private_key()).unwrap();
    let args: Vec<String> = [
        "workflows",
        "publish",
        examples().to_str().unwrap(),
        "--github-api",
        &github.url(),
        "--app-id",
        "4242",
        "--private-key-file",
        key.to_str().unwrap(),
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    let first = infrastream_with(args.clone(), Vec::new()).await;
    assert!(
        first.status.success(),
        "{}{}",
        stdout(&first),
        stderr(&first)
    );
    let report = stdout(&first);
    assert!(
        report.contains(
            "northwind/shop-api: pull request #1 opened; rulesets: applied once the pull request is merged"
        ),
        "{report}"
    );
    {
        let world = github.state();
        for repo in ["shop-api", "shop-web", "shop-worker"] {
            let r = &world.repos[&format!("northwind/{repo}")];
            assert_eq!(r.pull_requests.len(), 1, "{repo}");
            let files = r.files_at("ci/infrastream-workflows").unwrap();
            let push = format!("{repo}/.github/workflows/ci-primary-push.yml");
            assert_eq!(
                files[".github/workflows/ci-primary-push.yml"],
                read(&golden().join(&push))
            );
            assert!(
                r.rulesets.is_empty(),
                "{repo}: the rulesets follow the merge"
            );
            // Published through a pull request: main itself is untouched.
            assert!(r.files_at("main").unwrap().len() == 1);
        }
    }
    let second = infrastream_with(args.clone(), Vec::new()).await;
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stdout(&second).contains(
            "northwind/shop-api: pull request #1 already carries the changes; rulesets: applied once the pull request is merged"
        ),
        "{}",
        stdout(&second)
    );
    assert_eq!(
        github.state().repos["northwind/shop-api"]
            .pull_requests
            .len(),
        1
    );
    // Merged, nothing differs: no pull request at all.
    github.merge("northwind/shop-api", 1);
    let third = infrastream_with(args.clone(), Vec::new()).await;
    assert!(
        stdout(&third)
            .contains("northwind/shop-api: up to date, no pull request; rulesets: 3 created"),
        "{}",
        stdout(&third)
    );
    assert_eq!(github.state().repos["northwind/shop-api"].rulesets.len(), 3);
    // A CODEOWNERS a person wrote is left alone, named, and fails the run.
    github.commit_files(
        "northwind/shop-web",
        "main",
        &[
            ("README.md", "hello\n"),
            (".github/CODEOWNERS", "* @northwind/founders\n"),
        ],
    );
    let fourth = infrastream_with(args, Vec::new()).await;
    assert_eq!(fourth.status.code(), Some(1));
    assert!(
        stderr(&fourth).contains("northwind/shop-web: .github/CODEOWNERS was written by hand"),
        "{}",
        stderr(&fourth)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pins_update_re_pins_actions_to_their_latest_release_commit() {
    let github = FakeGithub::start(3600).await;
    let table = fs::read_to_string(examples().join("../../workflows/pins.toml")).unwrap();
    let pins = cd_workflows::pins::Pins::parse(&table).unwrap();
    // Every action's repository, its release as pinned; checkout has a newer one.
    for (action, pin) in &pins.actions {
        github.public_repo(action);
        github
            .state()
            .repos
            .get_mut(action)
            .unwrap()
            .tags
            .insert(pin.tag.clone(), ("commit".into(), pin.commit.clone()));
        github.release(action, &pin.tag);
    }
    let newer = github.tag("actions/checkout", "v7.1.0", true);
    github.release("actions/checkout", "v7.1.0");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pins.toml");
    fs::write(&file, &table).unwrap();
    let args: Vec<String> = [
        "workflows",
        "pins",
        "update",
        "--file",
        file.to_str().unwrap(),
        "--github-api",
        &github.url(),
    ]
    .iter()
    .map(|s| (*s).to_string())
    .collect();
    let out = infrastream_with(args.clone(), Vec::new()).await;
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("actions/checkout: v7.0.1 (3d3c42e5aac5ba805825da76410c181273ba90b1) -> v7.1.0 ({newer})")),
        "{}",
        stdout(&out)
    );
    let updated = cd_workflows::pins::Pins::parse(&read(&file)).unwrap();
    assert_eq!(updated.actions["actions/checkout"].commit, newer);
    assert_eq!(updated.actions["actions/checkout"].tag, "v7.1.0");
    assert_eq!(
        updated.actions["actions/setup-go"],
        pins.actions["actions/setup-go"]
    );
    assert_eq!(updated.images, pins.images);
    // Nothing newer: the file stays byte for byte.
    let before = read(&file);
    let out = infrastream_with(args.clone(), Vec::new()).await;
    assert!(
        stdout(&out).contains("every action is at its latest release"),
        "{}",
        stdout(&out)
    );
    assert_eq!(read(&file), before);
    // An action GitHub cannot answer for leaves the table as it was.
    github
        .state()
        .repos
        .get_mut("actions/setup-go")
        .unwrap()
        .release_order
        .clear();
    let out = infrastream_with(args, Vec::new()).await;
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("actions/setup-go"),
        "{}",
        stderr(&out)
    );
    assert_eq!(read(&file), before);
}
