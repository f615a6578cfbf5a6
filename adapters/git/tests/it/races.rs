//! Concurrent writers and human edits on one remote.

use std::sync::Arc;

use cd_core::pipeline::{DeploymentId, ManifestCommit, ManifestEdit, Promotion};
use cd_ports::{ManifestRepo, RepoError};
use futures_executor::block_on;

use crate::fixture::{Remotes, commit_as_other, git};

fn dc(app: &str, env: &str, version: &str) -> String {
    format!(
        "apiVersion: lowops.manifests.v1\nkind: DeploymentConfig\nmetadata:\n  name: {app}\n  environment: {env}\nspec:\n  version: {version}\n"
    )
}

fn edit(path: &str, app: &str, env: &str, version: &str) -> ManifestEdit {
    ManifestEdit {
        path: path.into(),
        application: app.into(),
        environment: env.into(),
        version: version.into(),
    }
}

/// Installs a pre-push hook in the adapter's clone that runs `script` once, before its first push.
fn before_first_push(repo: &cd_git::GitRepo, marker: &std::path::Path, script: &str) {
    let hook = format!(
        "#!/bin/sh\nif [ ! -e {m} ]; then\n  touch {m}\n  {script}\nfi\n",
        m = marker.display()
    );
    let path = repo.config().workdir.join(".git/hooks/pre-push");
    std::fs::write(&path, hook).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn message(id: &str, stage: usize) -> ManifestCommit {
    ManifestCommit::promotion(
        &format!("deploy: {id}"),
        Promotion {
            deployment: DeploymentId(id.into()),
            stage,
        },
    )
}

#[test]
fn eight_racing_writers_lose_no_commit() {
    let remotes = Remotes::new();
    // Eight apps; two share one multi-document file, so their edits touch one file.
    let mut files: Vec<(String, String)> = (0..6)
        .map(|i| (format!("apps/a{i}.yaml"), dc(&format!("a{i}"), "dev", "v0")))
        .collect();
    files.push((
        "apps/shared.yaml".into(),
        format!("{}---\n{}", dc("a6", "dev", "v0"), dc("a7", "dev", "v0")),
    ));
    let (url, bare) = remotes.create(&files);
    // The attempt bound is one call's: the driver retries a write that ran out of attempts.
    // What this test asks is that no commit is ever lost, so each writer gets attempts enough
    // to finish under eight-way contention on a busy two-core machine, where the default
    // bound (12) was seen to run out in about one run in six.
    let writers: Vec<Arc<cd_git::GitRepo>> = (0..8)
        .map(|_| Arc::new(remotes.open_with_attempts(&url, 64)))
        .collect();
    let rounds = 4;
    let threads: Vec<_> = writers
        .iter()
        .enumerate()
        .map(|(i, repo)| {
            let repo = repo.clone();
            std::thread::spawn(move || {
                let path = if i < 6 {
                    format!("apps/a{i}.yaml")
                } else {
                    "apps/shared.yaml".to_string()
                };
                for r in 1..=rounds {
                    let e = edit(&path, &format!("a{i}"), "dev", &format!("v{r}"));
                    let commit =
                        block_on(repo.write(&[e], &message(&format!("w{i}-r{r}"), 0))).unwrap();
                    assert!(commit.is_some());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let log = git(&bare, &["log", "--format=%B%x00", "main"]);
    let promotions = log
        .split('\0')
        .filter(|m| Promotion::parse(m).is_some())
        .count();
    assert_eq!(
        promotions,
        8 * rounds,
        "every writer's every commit is on the remote"
    );
    let (_, read) = block_on(writers[0].read()).unwrap();
    for (path, text) in read {
        let expected = if path == "apps/shared.yaml" {
            format!("{}---\n{}", dc("a6", "dev", "v4"), dc("a7", "dev", "v4"))
        } else {
            dc(
                path.trim_start_matches("apps/").trim_end_matches(".yaml"),
                "dev",
                "v4",
            )
        };
        assert_eq!(text, expected, "{path}");
    }
    assert_eq!(
        git(&bare, &["rev-list", "--count", "main"]).trim(),
        (1 + 8 * rounds).to_string(),
        "no force-push dropped anything"
    );
}

#[test]
fn a_human_edit_to_the_same_line_during_a_push_is_a_conflict() {
    let remotes = Remotes::new();
    let (url, bare) = remotes.create(&[("apps/api.yaml".to_string(), dc("api", "prod", "v1"))]);
    let repo = remotes.open(&url);
    // While our push is on its way, a human pushes a change to the same version line first.
    let scratch = remotes.root().join("human-clone");
    before_first_push(
        &repo,
        &remotes.root().join("hook-ran"),
        &format!(
            "rm -rf {s} && git clone --quiet {url} {s} && cd {s} && sed -i 's/version: v1/version: v1-hand/' apps/api.yaml && git -c user.name=H -c user.email=h@x commit --quiet -am 'ops: pin by hand' && git push --quiet origin HEAD:refs/heads/main",
            s = scratch.display()
        ),
    );
    let err = block_on(repo.write(
        &[edit("apps/api.yaml", "api", "prod", "v2")],
        &message("d1", 0),
    ))
    .unwrap_err();
    match &err {
        RepoError::Conflict(m) => {
            assert!(m.contains("changed by another commit to v1-hand"), "{m}")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    let head = git(&bare, &["show", "main:apps/api.yaml"]);
    assert!(
        head.contains("version: v1-hand"),
        "the human's edit stands:\n{head}"
    );
    assert!(!git(&bare, &["log", "--format=%B", "main"]).contains("Infrastream-Deployment: d1"));
}

#[test]
fn a_human_commit_elsewhere_during_a_push_is_kept_and_the_write_lands() {
    let remotes = Remotes::new();
    let (url, bare) = remotes.create(&[("apps/api.yaml".to_string(), dc("api", "prod", "v1"))]);
    let repo = remotes.open(&url);
    let scratch = remotes.root().join("other");
    before_first_push(
        &repo,
        &remotes.root().join("hook-ran"),
        &format!(
            "rm -rf {s} && git clone --quiet {url} {s} && cd {s} && echo notes > NOTES.md && git add NOTES.md && git -c user.name=H -c user.email=h@x commit --quiet -m 'docs: notes' && git push --quiet origin HEAD:refs/heads/main",
            s = scratch.display()
        ),
    );
    let commit = block_on(repo.write(
        &[edit("apps/api.yaml", "api", "prod", "v2")],
        &message("d1", 0),
    ))
    .unwrap()
    .unwrap();
    let log = git(&bare, &["log", "--format=%H %s", "main"]);
    assert!(log.contains("docs: notes"), "{log}");
    assert!(log.starts_with(&commit), "ours is on top: {log}");
    assert!(git(&bare, &["show", "main:apps/api.yaml"]).contains("version: v2"));
    let _ = commit_as_other;
}

#[test]
fn an_unreachable_remote_is_unavailable_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let err = cd_git::GitRepo::open(cd_git::GitConfig::new(
        "git://127.0.0.1:9/nothing.git",
        &dir.path().join("w"),
    ))
    .unwrap_err();
    assert!(matches!(err, RepoError::Unavailable(_)), "{err:?}");
}

#[test]
fn a_clone_that_skips_the_fetch_still_finds_a_promotion_another_writer_pushed() {
    // Two replicas: A writes d1 and so knows its clone is at the remote's head; B then
    // performs d2's promotion. A, asked for d2 too (the same effect, performed twice), starts
    // from its own head without fetching, loses the push race, fetches, and finds B's commit.
    let remotes = Remotes::new();
    let (url, bare) = remotes.create(&[
        ("apps/a.yaml".to_string(), dc("a", "dev", "v0")),
        ("apps/b.yaml".to_string(), dc("b", "dev", "v0")),
    ]);
    let a = remotes.open(&url);
    let b = remotes.open(&url);
    block_on(a.write(&[edit("apps/a.yaml", "a", "dev", "v1")], &message("d1", 0)))
        .unwrap()
        .unwrap();
    let by_b = block_on(b.write(&[edit("apps/b.yaml", "b", "dev", "v1")], &message("d2", 0)))
        .unwrap()
        .unwrap();
    let by_a = block_on(a.write(&[edit("apps/b.yaml", "b", "dev", "v1")], &message("d2", 0)))
        .unwrap()
        .unwrap();
    assert_eq!(by_a, by_b, "the promotion B pushed is the answer");
    let log = git(&bare, &["log", "--format=%B", "main"]);
    assert_eq!(
        log.matches("Infrastream-Deployment: d2").count(),
        1,
        "{log}"
    );
    // And A's next write lands on top of B's.
    let d3 = block_on(a.write(&[edit("apps/a.yaml", "a", "dev", "v2")], &message("d3", 0)))
        .unwrap()
        .unwrap();
    assert_eq!(git(&bare, &["rev-parse", "main"]).trim(), d3);
    assert_eq!(git(&bare, &["rev-parse", "main~1"]).trim(), by_b);
}

#[test]
fn a_write_that_failed_leaves_nothing_behind_for_the_next() {
    // The first push fails (a hook refuses it): its edit and commit stay in the clone, and the
    // next write must start from the remote again, not from them.
    let remotes = Remotes::new();
    let (url, bare) = remotes.create(&[
        ("apps/a.yaml".to_string(), dc("a", "dev", "v0")),
        ("apps/b.yaml".to_string(), dc("b", "dev", "v0")),
    ]);
    let repo = remotes.open(&url);
    block_on(repo.write(&[edit("apps/a.yaml", "a", "dev", "v1")], &message("d1", 0)))
        .unwrap()
        .unwrap();
    before_first_push(&repo, &remotes.root().join("refused"), "exit 1");
    let refused = block_on(repo.write(&[edit("apps/a.yaml", "a", "dev", "v9")], &message("d2", 0)));
    assert!(refused.is_err(), "{refused:?}");
    block_on(repo.write(&[edit("apps/b.yaml", "b", "dev", "v1")], &message("d3", 0)))
        .unwrap()
        .unwrap();
    let everything = git(&bare, &["log", "-p", "--format=%B", "main"]);
    assert!(!everything.contains("v9"), "{everything}");
    assert!(
        !everything.contains("Infrastream-Deployment: d2"),
        "{everything}"
    );
    assert!(git(&bare, &["show", "main:apps/a.yaml"]).contains("version: v1"));
    assert!(git(&bare, &["show", "main:apps/b.yaml"]).contains("version: v1"));

    // A commit that fails (git's index is locked) leaves the edited file in the tree: the
    // next write must not commit it.
    let lock = repo.config().workdir.join(".git/index.lock");
    std::fs::write(&lock, "").unwrap();
    let failed = block_on(repo.write(&[edit("apps/a.yaml", "a", "dev", "v8")], &message("d4", 0)));
    assert!(failed.is_err(), "{failed:?}");
    std::fs::remove_file(&lock).unwrap();
    block_on(repo.write(&[edit("apps/b.yaml", "b", "dev", "v2")], &message("d5", 0)))
        .unwrap()
        .unwrap();
    let everything = git(&bare, &["log", "-p", "--format=%B", "main"]);
    assert!(!everything.contains("v8"), "{everything}");
    assert!(git(&bare, &["show", "main:apps/b.yaml"]).contains("version: v2"));
}

#[test]
fn a_promotion_a_force_push_took_away_is_written_again() {
    // The remote is rewound past d1 by hand: asked for d1 again, the writer must not answer
    // with the commit it remembers, but write it anew on the remote's head.
    let remotes = Remotes::new();
    let (url, bare) = remotes.create(&[("apps/a.yaml".to_string(), dc("a", "dev", "v0"))]);
    let seed = git(&bare, &["rev-parse", "main"]).trim().to_string();
    let repo = remotes.open(&url);
    block_on(repo.write(&[edit("apps/a.yaml", "a", "dev", "v1")], &message("d1", 0)))
        .unwrap()
        .unwrap();
    block_on(repo.write(&[edit("apps/a.yaml", "a", "dev", "v2")], &message("d2", 0)))
        .unwrap()
        .unwrap();
    git(&bare, &["update-ref", "refs/heads/main", &seed]);
    let again = block_on(repo.write(&[edit("apps/a.yaml", "a", "dev", "v1")], &message("d1", 0)))
        .unwrap()
        .unwrap();
    // Pushed again (the same commit as the first, byte for byte, when made within the same
    // second: so what counts is what the remote holds).
    assert_eq!(git(&bare, &["rev-parse", "main"]).trim(), again);
    assert_eq!(git(&bare, &["rev-parse", "main~1"]).trim(), seed);
    assert!(git(&bare, &["show", "main:apps/a.yaml"]).contains("version: v1"));
}

#[test]
fn a_clone_trusted_without_a_fetch_never_answers_from_behind() {
    let remotes = Remotes::new();
    let (url, bare) = remotes.create(&[
        ("apps/a.yaml".to_string(), dc("a", "dev", "v0")),
        ("apps/b.yaml".to_string(), dc("b", "dev", "v0")),
    ]);
    let repo = remotes.open(&url);
    block_on(repo.write(&[edit("apps/a.yaml", "a", "dev", "v2")], &message("d1", 0)))
        .unwrap()
        .unwrap();
    let scratch = remotes.root().join("human");

    // Someone sets the line back to v1: the writer's own tree still says v2, but asked for v2
    // again (a new promotion) it must change the remote, not answer "nothing to do".
    commit_as_other(
        &url,
        &scratch,
        "apps/a.yaml",
        &dc("a", "dev", "v1"),
        "revert a",
    );
    let d2 =
        block_on(repo.write(&[edit("apps/a.yaml", "a", "dev", "v2")], &message("d2", 0))).unwrap();
    assert!(d2.is_some(), "a commit was needed");
    assert!(git(&bare, &["show", "main:apps/a.yaml"]).contains("version: v2"));

    // Someone changes the line the writer is about to change: what its stale tree said is no
    // evidence of a conflict, and the write lands on the new head.
    commit_as_other(
        &url,
        &scratch,
        "apps/a.yaml",
        &dc("a", "dev", "v5"),
        "bump a",
    );
    let d3 = block_on(repo.write(&[edit("apps/a.yaml", "a", "dev", "v6")], &message("d3", 0)));
    assert!(matches!(d3, Ok(Some(_))), "{d3:?}");
    assert!(git(&bare, &["show", "main:apps/a.yaml"]).contains("version: v6"));

    // The branch is rewound past d3 by hand: the next write must not bring d3 back by
    // fast-forwarding the remote onto the clone's old head.
    let d2 = d2.unwrap();
    git(&bare, &["update-ref", "refs/heads/main", &d2]);
    block_on(repo.write(&[edit("apps/b.yaml", "b", "dev", "v1")], &message("d4", 0)))
        .unwrap()
        .unwrap();
    let log = git(&bare, &["log", "--format=%B", "main"]);
    assert!(!log.contains("Infrastream-Deployment: d3"), "{log}");
    assert!(log.contains("Infrastream-Deployment: d4"), "{log}");
    assert_eq!(git(&bare, &["rev-parse", "main~1"]).trim(), d2);
}
