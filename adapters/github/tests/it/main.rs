//! cd-github against a local server that answers as the GitHub REST API documents (no GitHub
//! runs here): the App JWT is verified with the App's public key, installation tokens expire,
//! refs, annotated tags, releases and commit pull requests have GitHub's shapes and codes.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod scoped;
mod workflows;

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use cd_contract::{SourceFixture, source_contract};
use cd_github::{GithubConfig, GithubSourceHost};
use cd_ports::{SourceError, SourceHost};

use cd_github_standin::FakeGithub;

struct Fixture {
    github: FakeGithub,
    host: GithubSourceHost,
}

#[async_trait]
impl SourceFixture for Fixture {
    fn host(&self) -> &dyn SourceHost {
        &self.host
    }

    fn tagged(&self) -> (String, String, String) {
        let commit = self.github.tag("northwind/shop-api", "v1.0.0", false);
        ("shop-api".into(), "v1.0.0".into(), commit)
    }

    async fn advance(&self) -> (String, String) {
        let commit = self.github.tag("northwind/shop-api", "v1.1.0", false);
        ("v1.1.0".into(), commit)
    }
}

async fn host(github: &FakeGithub) -> GithubSourceHost {
    GithubSourceHost::new(GithubConfig {
        api: github.url(),
        app_id: "4242".into(),
        private_key: github.private_key(),
        installation_id: 7,
        owner: "northwind".into(),
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn github_keeps_the_source_contract() {
    let github = FakeGithub::start(3600).await;
    github.repo("northwind/shop-api");
    let host = host(&github).await;
    let fixture = Fixture { github, host };
    source_contract(&fixture).await;
    // The branch exists on "GitHub", at the first tag's commit, and the release too.
    let state = fixture.github.state();
    let repo = &state.repos["northwind/shop-api"];
    assert_eq!(repo.branches["release/shop/2026.11"], repo.tags["v1.0.0"].1);
    assert!(repo.releases.contains("v1.0.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotated_tags_resolve_to_their_commit_and_prs_carry_labels() {
    let github = FakeGithub::start(3600).await;
    github.repo("northwind/shop-web");
    let commit = github.tag("northwind/shop-web", "v2.0.0", true);
    github.pull(
        "northwind/shop-web",
        &commit,
        42,
        "feat(cart): totals",
        &["release/minor", "scope/cart"],
        "omar",
    );
    let host = host(&github).await;
    assert_eq!(
        host.create_branch("shop-web", "release/shop/2026.12", "v2.0.0")
            .await
            .unwrap(),
        commit,
        "an annotated tag's branch starts at the commit, not the tag object"
    );
    let pr = host
        .pull_request_of("shop-web", &commit)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (pr.number, pr.title.as_str(), pr.author.as_str()),
        (42, "feat(cart): totals", "omar")
    );
    assert_eq!(pr.labels, ["release/minor", "scope/cart"]);
    assert_eq!(
        host.pull_request_of("shop-web", "0123abc").await.unwrap(),
        None
    );
    // Another org's repository, named in full.
    let missing = host.create_branch("acme/other", "release/x/1", "v1").await;
    assert!(
        matches!(missing, Err(SourceError::NotFound(_))),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn installation_tokens_are_reused_and_replaced_before_they_expire() {
    // Tokens that live an hour are fetched once.
    let github = FakeGithub::start(3600).await;
    github.repo("northwind/shop-api");
    github.tag("northwind/shop-api", "v1.0.0", false);
    let host = host(&github).await;
    for n in 0..3 {
        host.create_branch("shop-api", &format!("release/shop/{n}"), "v1.0.0")
            .await
            .unwrap();
    }
    assert_eq!(github.tokens_issued.load(Ordering::SeqCst), 1);
    // GitHub revokes the token early: the next call gets a fresh one and succeeds.
    github.revoke_tokens();
    host.create_branch("shop-api", "release/shop/after-revoke", "v1.0.0")
        .await
        .unwrap();
    assert_eq!(github.tokens_issued.load(Ordering::SeqCst), 2);

    // Tokens that expire within the refresh margin are replaced at every use.
    let short = FakeGithub::start(120).await;
    short.repo("northwind/shop-api");
    short.tag("northwind/shop-api", "v1.0.0", false);
    let host = host_for(&short).await;
    host.create_branch("shop-api", "release/shop/a", "v1.0.0")
        .await
        .unwrap();
    host.create_branch("shop-api", "release/shop/b", "v1.0.0")
        .await
        .unwrap();
    assert!(short.tokens_issued.load(Ordering::SeqCst) >= 2);
    // The token never shows in Debug output.
    let shown = format!("{host:?}");
    assert!(
        !shown.contains("ghs_") && !shown.contains("PRIVATE KEY"),
        "{shown}"
    );
}

async fn host_for(github: &FakeGithub) -> GithubSourceHost {
    host(github).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_app_key_is_denied() {
    let github = FakeGithub::start(3600).await;
    github.repo("northwind/shop-api");
    github.tag("northwind/shop-api", "v1.0.0", false);
    let other = FakeGithub::start(3600).await; // a different key pair
    let host = GithubSourceHost::new(GithubConfig {
        api: github.url(),
        app_id: "4242".into(),
        private_key: other.private_key(),
        installation_id: 7,
        owner: "northwind".into(),
    })
    .unwrap();
    let denied = host
        .create_branch("shop-api", "release/shop/x", "v1.0.0")
        .await;
    assert!(matches!(denied, Err(SourceError::Denied(_))), "{denied:?}");
    assert!(matches!(
        GithubSourceHost::new(GithubConfig {
            api: github.url(),
            app_id: "1".into(),
            private_key: "not a key".into(),
            installation_id: 1,
            owner: "x".into(),
        }),
        Err(SourceError::Denied(_))
    ));
}
