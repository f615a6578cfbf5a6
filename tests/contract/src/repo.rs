//! The `ManifestRepo` contract.

use std::sync::Arc;

use async_trait::async_trait;
use cd_core::pipeline::{DeploymentId, ManifestCommit, ManifestEdit, Promotion};
use cd_ports::{ManifestRepo, RepoError};

/// A repository under test, and a way to change it as another writer would.
#[async_trait]
pub trait RepoHandle: Send + Sync {
    /// The adapter under test.
    fn repo(&self) -> Arc<dyn ManifestRepo>;
    /// Commits `text` to `path` as another writer, on the same remote.
    async fn commit_as_other(&self, path: &str, text: &str, message: &str);
}

/// Makes fresh repositories.
#[async_trait]
pub trait RepoFixture: Send + Sync {
    /// A new repository whose head holds `files`.
    async fn fresh(&self, files: &[(String, String)]) -> Box<dyn RepoHandle>;
}

fn dc(app: &str, env: &str, version: &str) -> String {
    format!(
        "apiVersion: lowops.manifests.v1\nkind: DeploymentConfig\nmetadata:\n  name: {app}\n  environment: {env}\nspec:\n  # written by the CD engine\n  version: {version} # keep this comment\n"
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

fn promotion(deployment: &str, stage: usize) -> Promotion {
    Promotion {
        deployment: DeploymentId(deployment.into()),
        stage,
    }
}

fn message(deployment: &str, stage: usize) -> ManifestCommit {
    ManifestCommit::promotion("deploy(api): promote", promotion(deployment, stage))
}

/// Runs the `ManifestRepo` contract.
pub async fn repo_contract(f: &dyn RepoFixture) {
    let files = vec![
        ("apps/api/dev.yaml".to_string(), dc("api", "dev", "v1.0.0")),
        ("apps/web/dev.yaml".to_string(), dc("web", "dev", "v1.0.0")),
        ("README.md".to_string(), "# manifests\n".to_string()),
    ];
    let h = f.fresh(&files).await;
    let repo = h.repo();

    let (head, read) = repo.read().await.unwrap();
    let paths: Vec<&str> = read.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["apps/api/dev.yaml", "apps/web/dev.yaml"],
        "read returns the YAML files"
    );
    assert_eq!(read[0].1, files[0].1, "byte for byte");

    let c1 = repo
        .write(
            &[edit("apps/api/dev.yaml", "api", "dev", "v1.1.0")],
            &message("d1", 0),
        )
        .await
        .unwrap()
        .expect("a change makes a commit");
    let (head2, read) = repo.read().await.unwrap();
    assert_ne!(head, head2);
    assert_eq!(
        read[0].1,
        dc("api", "dev", "v1.1.0"),
        "only the version changed, comments kept"
    );
    assert_eq!(
        repo.changed_files(&c1).await.unwrap(),
        ["apps/api/dev.yaml"]
    );
    let msg = repo.message(&c1).await.unwrap();
    assert_eq!(
        Promotion::parse(&msg),
        Some(promotion("d1", 0)),
        "trailers survive: {msg:?}"
    );

    let again = repo
        .write(
            &[edit("apps/api/dev.yaml", "api", "dev", "v1.1.0")],
            &message("d1", 0),
        )
        .await
        .unwrap();
    assert_eq!(
        again,
        Some(c1.clone()),
        "a repeated promotion returns its earlier commit"
    );
    let none = repo
        .write(
            &[edit("apps/api/dev.yaml", "api", "dev", "v1.1.0")],
            &message("d9", 0),
        )
        .await
        .unwrap();
    assert_eq!(
        none, None,
        "no commit when the files already hold the versions"
    );

    h.commit_as_other("docs/notes.md", "a human was here\n", "docs: notes")
        .await;
    let c2 = repo
        .write(
            &[
                edit("apps/api/dev.yaml", "api", "dev", "shop-2026.11-rc.0"),
                edit("apps/web/dev.yaml", "web", "dev", "shop-2026.11-rc.0"),
            ],
            &message("d2", 1),
        )
        .await
        .unwrap()
        .expect("commit");
    let mut changed = repo.changed_files(&c2).await.unwrap();
    changed.sort();
    assert_eq!(
        changed,
        ["apps/api/dev.yaml", "apps/web/dev.yaml"],
        "one commit for every edit"
    );
    let log = repo.commits_since(Some(&c1)).await.unwrap();
    assert_eq!(log.len(), 2, "another writer's commit is kept: {log:?}");
    assert_eq!(log.last(), Some(&c2));
    assert!(repo.commits_since(None).await.unwrap().len() >= 4);

    let bad = repo
        .write(
            &[edit("apps/none/dev.yaml", "none", "dev", "v1")],
            &message("d3", 0),
        )
        .await;
    assert!(
        matches!(bad, Err(RepoError::Invalid(_))),
        "an edit to a missing file: {bad:?}"
    );
    let missing = repo
        .changed_files("0000000000000000000000000000000000000000")
        .await;
    assert!(
        matches!(missing, Err(RepoError::NotFound(_))),
        "{missing:?}"
    );
}
