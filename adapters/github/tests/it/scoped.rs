//! Installation tokens for one request: exactly the scope asked, never cached, a wider answer
//! revoked, and the App's own failures told apart from a refused scope.

use std::collections::BTreeMap;

use cd_github::{GithubApi, Installation, ScopedTokenError};
use cd_github_standin::FakeGithub;

async fn setup() -> (FakeGithub, GithubApi) {
    let github = FakeGithub::start(3600).await;
    github.org("northwind");
    github.repo("northwind/shop-libs");
    let api = GithubApi::app(
        &github.url(),
        "4242",
        &github.private_key(),
        Installation::Owner("northwind".into()),
    )
    .unwrap();
    (github, api)
}

fn read(name: &str) -> BTreeMap<String, String> {
    [(name.to_string(), "read".to_string())].into()
}

#[tokio::test]
async fn each_call_is_a_new_token_of_exactly_the_scope_asked() {
    let (github, api) = setup().await;
    let repos = vec!["Shop-Libs".to_string()];
    let first = api.scoped_token(&repos, &read("contents")).await.unwrap();
    let second = api.scoped_token(&repos, &read("contents")).await.unwrap();
    assert_ne!(first.token, second.token, "never cached");
    assert_eq!(first.repositories, ["shop-libs"]);
    assert_eq!(first.permissions["contents"], "read");
    assert!(
        !format!("{first:?}").contains(&first.token),
        "Debug redacts the token"
    );
    assert_eq!(
        github.state().issued[0],
        serde_json::json!({ "repositories": ["Shop-Libs"], "permissions": { "contents": "read" } })
    );
    assert_eq!(api.check_installation().await.unwrap(), 7);
}

#[tokio::test]
async fn a_wider_token_is_revoked_and_refused() {
    let (github, api) = setup().await;
    github.state().widen_tokens = true;
    let err = api
        .scoped_token(&["shop-libs".to_string()], &read("contents"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ScopedTokenError::Unavailable(m) if m.contains("administration") && m.contains("revoked")),
        "{err}"
    );
    let state = github.state();
    assert_eq!(state.revoked.len(), 1, "the wider token was revoked");
}

#[tokio::test]
async fn a_scope_github_refuses_differs_from_a_broken_app() {
    let (github, api) = setup().await;
    // A repository the installation cannot see: the scope is refused.
    let err = api
        .scoped_token(&["nowhere".to_string()], &read("contents"))
        .await
        .unwrap_err();
    assert!(matches!(err, ScopedTokenError::Refused(_)), "{err}");
    // The App uninstalled: its own failure, not the request's, and readiness says so.
    github.state().orgs.clear();
    let err = api.check_installation().await.unwrap_err();
    assert!(matches!(err, ScopedTokenError::Unavailable(_)), "{err}");
    let err = api
        .scoped_token(&["shop-libs".to_string()], &read("contents"))
        .await
        .unwrap_err();
    assert!(matches!(err, ScopedTokenError::Unavailable(_)), "{err}");
    // Installed again: found anew.
    github.org("northwind");
    assert!(api.check_installation().await.is_ok());
}
