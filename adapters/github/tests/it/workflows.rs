//! Publishing generated workflows, and reading actions' releases, against the GitHub stand-in.

use std::collections::BTreeMap;

use cd_core::manifest::BranchStrategy;
use cd_github::workflows::{
    PullRequestOutcome, RepositoryFiles, RulesetOutcome, latest_release, publish,
};
use cd_github::{GithubApi, Installation};
use cd_github_standin::FakeGithub;
use cd_workflows::branching::branch_configs;
use cd_workflows::{GENERATED_MARK, rulesets};
use serde_json::{Value, json};

const REPO: &str = "northwind/shop-api";

fn generated(name: &str, body: &str) -> String {
    format!(
        "{GENERATED_MARK} from GithubRepository shop-api and BuildDefinition shop-api.\n# Do not edit.\nname: {name}\n{body}"
    )
}

/// The rulesets the generator writes for a TRUNK_BASED repository, as request bodies.
fn trunk_rulesets() -> Vec<Value> {
    let mut out: Vec<Value> = branch_configs(BranchStrategy::TrunkBased)
        .iter()
        .filter_map(|c| rulesets::for_branches(c, true))
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    out.push(serde_json::to_value(rulesets::for_tags()).unwrap());
    out
}

fn wanted(files: &[(&str, String)]) -> RepositoryFiles {
    RepositoryFiles {
        owner: "northwind".into(),
        name: "shop-api".into(),
        target_branch: None,
        files: files
            .iter()
            .map(|(p, c)| ((*p).to_string(), c.clone()))
            .collect(),
        rulesets: trunk_rulesets(),
    }
}

async fn setup() -> (FakeGithub, GithubApi) {
    let github = FakeGithub::start(3600).await;
    github.org("northwind");
    github.repo(REPO);
    let old = generated("Old", "on: push\n");
    github.commit_files(
        REPO,
        "main",
        &[
            ("README.md", "# shop-api\n"),
            (".github/workflows/custom.yml", "name: custom\non: push\n"),
            (".github/workflows/ci-old-push.yml", &old),
        ],
    );
    let api = GithubApi::app(
        &github.url(),
        "4242",
        &github.private_key(),
        Installation::Owner("northwind".into()),
    )
    .unwrap();
    (github, api)
}

/// The requests that change something, from the `from`-th request on.
fn writes_since(github: &FakeGithub, from: usize) -> Vec<String> {
    github.state().requests[from..]
        .iter()
        .filter(|r| !r.starts_with("GET"))
        .cloned()
        .collect()
}

fn by_name(outcome: &cd_github::workflows::Published) -> BTreeMap<String, RulesetOutcome> {
    outcome.rulesets.clone().unwrap().into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_pull_request_per_repository_then_nothing_when_nothing_differs() {
    let (github, api) = setup().await;
    // A ruleset of the team's own, and one this engine made that the manifests dropped.
    {
        let mut world = github.state();
        let r = world.repos.get_mut(REPO).unwrap();
        r.rulesets.insert(1, json!({"id": 1, "name": "team: signed commits", "enforcement": "active", "target": "branch", "rules": [{"type": "required_signatures"}]}));
        r.rulesets.insert(2, json!({"id": 2, "name": "infrastream: hotfix branches", "enforcement": "active", "target": "branch", "rules": [{"type": "deletion"}]}));
    }
    let push = generated("Push to primary branch", "on: push\n");
    let files = [
        (".github/workflows/ci-primary-push.yml", push.clone()),
        (
            ".github/infrastream/shop-api.Dockerfile",
            "FROM x\n".to_string(),
        ),
        (
            ".github/CODEOWNERS",
            format!(
                "{GENERATED_MARK} from GithubRepository shop-api spec.codeOwners.\n* @northwind/developers\n"
            ),
        ),
    ];
    let outcome = publish(&api, &wanted(&files)).await.unwrap();
    assert_eq!(outcome.pull_request, PullRequestOutcome::Opened(1));
    assert!(outcome.conflicts.is_empty());
    // The rulesets require the check the new workflows provide: they wait for the merge.
    assert_eq!(outcome.rulesets, None);
    {
        let world = github.state();
        let r = &world.repos[REPO];
        // The pull request: from the ci/ branch into the default branch, conventional title.
        let pr = &r.pull_requests[0];
        assert_eq!(
            (pr.head.as_str(), pr.base.as_str()),
            ("ci/infrastream-workflows", "main")
        );
        assert!(pr.title.starts_with("ci: "), "{}", pr.title);
        // main is untouched; the branch holds the new files, keeps hand-written ones and drops
        // the generated file the manifests no longer ask for.
        assert!(
            !r.files_at("main")
                .unwrap()
                .contains_key(".github/workflows/ci-primary-push.yml")
        );
        let branch = r.files_at("ci/infrastream-workflows").unwrap();
        assert_eq!(branch[".github/workflows/ci-primary-push.yml"], push);
        assert!(branch.contains_key(".github/workflows/custom.yml"));
        assert!(branch.contains_key("README.md"));
        assert!(!branch.contains_key(".github/workflows/ci-old-push.yml"));
        assert_eq!(r.rulesets.len(), 2, "nothing applied yet");
    }

    // The same files again: no commit, no new pull request, nothing written at all; even
    // after the target branch moved on.
    github.commit_files(
        REPO,
        "main",
        &[
            ("README.md", "# shop-api, edited\n"),
            (".github/workflows/custom.yml", "name: custom\non: push\n"),
            (
                ".github/workflows/ci-old-push.yml",
                &generated("Old", "on: push\n"),
            ),
        ],
    );
    let before = github.state().requests.len();
    let again = publish(&api, &wanted(&files)).await.unwrap();
    assert_eq!(again.pull_request, PullRequestOutcome::Unchanged(1));
    assert_eq!(writes_since(&github, before), Vec::<String>::new());
    assert_eq!(github.state().repos[REPO].pull_requests.len(), 1);

    // New generated content: the open pull request is updated, not doubled.
    let changed = generated(
        "Push to primary branch",
        "on:\n  push:\n    branches: [main]\n",
    );
    let mut files2 = files.clone();
    files2[0].1 = changed.clone();
    let updated = publish(&api, &wanted(&files2)).await.unwrap();
    assert_eq!(updated.pull_request, PullRequestOutcome::Updated(1));
    {
        let world = github.state();
        let r = &world.repos[REPO];
        assert_eq!(r.pull_requests.len(), 1);
        assert_eq!(
            r.files_at("ci/infrastream-workflows").unwrap()[".github/workflows/ci-primary-push.yml"],
            changed
        );
        // Rebuilt on the target: one commit on top of main, never a pile.
        let head = &r.branches["ci/infrastream-workflows"];
        assert_eq!(r.commits[head].parents, vec![r.branches["main"].clone()]);
    }

    // Merged: nothing to propose, and now the rulesets: created, the dropped one deleted,
    // the team's own untouched.
    github.merge(REPO, 1);
    let merged = publish(&api, &wanted(&files2)).await.unwrap();
    assert_eq!(merged.pull_request, PullRequestOutcome::UpToDate);
    let rules = by_name(&merged);
    assert_eq!(
        rules["infrastream: primary branch"],
        RulesetOutcome::Created
    );
    assert_eq!(
        rules["infrastream: release branches"],
        RulesetOutcome::Created
    );
    assert_eq!(rules["infrastream: release tags"], RulesetOutcome::Created);
    assert_eq!(
        rules["infrastream: hotfix branches"],
        RulesetOutcome::Deleted
    );
    assert!(!rules.contains_key("team: signed commits"));
    assert!(
        github.state().repos[REPO]
            .rulesets
            .values()
            .any(|x| x["name"] == "team: signed commits")
    );
    let before = github.state().requests.len();
    let again = publish(&api, &wanted(&files2)).await.unwrap();
    assert_eq!(again.pull_request, PullRequestOutcome::UpToDate);
    assert!(
        by_name(&again)
            .values()
            .all(|o| *o == RulesetOutcome::Unchanged)
    );
    assert_eq!(writes_since(&github, before), Vec::<String>::new());

    // A ruleset changed by hand drifts back.
    {
        let mut world = github.state();
        let r = world.repos.get_mut(REPO).unwrap();
        let id = *r
            .rulesets
            .iter()
            .find(|(_, x)| x["name"] == "infrastream: release tags")
            .unwrap()
            .0;
        r.rulesets.get_mut(&id).unwrap()["enforcement"] = json!("disabled");
    }
    let drift = publish(&api, &wanted(&files2)).await.unwrap();
    assert_eq!(
        by_name(&drift)["infrastream: release tags"],
        RulesetOutcome::Updated
    );
    assert_eq!(
        by_name(&drift)["infrastream: primary branch"],
        RulesetOutcome::Unchanged
    );

    // The manifests change and change back before the pull request merged: the stale pull
    // request would undo the files, so it is closed.
    let opened = publish(&api, &wanted(&files)).await.unwrap();
    assert_eq!(opened.pull_request, PullRequestOutcome::Opened(2));
    let back = publish(&api, &wanted(&files2)).await.unwrap();
    assert_eq!(back.pull_request, PullRequestOutcome::Closed(2));
    assert_eq!(github.state().repos[REPO].pull_requests[1].state, "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_a_person_wrote_is_never_replaced_and_is_named() {
    let (github, api) = setup().await;
    github.commit_files(
        REPO,
        "main",
        &[
            ("README.md", "# shop-api\n"),
            (".github/CODEOWNERS", "* @northwind/founders\n"),
        ],
    );
    let owners = format!(
        "{GENERATED_MARK} from GithubRepository shop-api spec.codeOwners.\n* @northwind/developers\n"
    );
    let push = generated("Push to primary branch", "on: push\n");
    let files = [
        (".github/CODEOWNERS", owners),
        (".github/workflows/ci-primary-push.yml", push.clone()),
    ];
    let outcome = publish(&api, &wanted(&files)).await.unwrap();
    assert_eq!(outcome.conflicts, [".github/CODEOWNERS"]);
    assert_eq!(outcome.pull_request, PullRequestOutcome::Opened(1));
    let world = github.state();
    let branch = world.repos[REPO]
        .files_at("ci/infrastream-workflows")
        .unwrap();
    assert_eq!(branch[".github/CODEOWNERS"], "* @northwind/founders\n");
    assert_eq!(branch[".github/workflows/ci-primary-push.yml"], push);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_strategys_rulesets_have_the_shape_github_takes() {
    let (github, api) = setup().await;
    // Nothing of the generator's on main: publishing proposes nothing, applies the rulesets.
    github.commit_files(REPO, "main", &[("README.md", "# shop-api\n")]);
    for strategy in BranchStrategy::ALL {
        let mut bodies: Vec<Value> = branch_configs(*strategy)
            .iter()
            .flat_map(|c| {
                [
                    rulesets::for_branches(c, true),
                    rulesets::for_branches(c, false),
                ]
            })
            .flatten()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect();
        bodies.push(serde_json::to_value(rulesets::for_tags()).unwrap());
        for mut body in bodies {
            // Unique names: the stand-in, like GitHub, refuses a second ruleset of one name.
            let name = format!(
                "{} {}",
                body["name"].as_str().unwrap(),
                github.state().repos[REPO].rulesets.len()
            );
            body["name"] = json!(name);
            let repo = RepositoryFiles {
                rulesets: vec![body],
                ..wanted(&[])
            };
            // Nothing to propose: the rulesets are applied at once.
            let outcome = publish(&api, &repo).await;
            assert!(
                outcome.as_ref().is_ok_and(|o| o.rulesets.is_some()),
                "{outcome:?}"
            );
            assert!(outcome.is_ok(), "{strategy}: {outcome:?}");
        }
    }
    // A body GitHub would refuse is an error, named.
    let bad = RepositoryFiles {
        rulesets: vec![
            json!({"name": "infrastream: x", "enforcement": "active", "rules": [{"type": "pull_request"}]}),
        ],
        ..wanted(&[])
    };
    let err = publish(&api, &bad).await.unwrap_err();
    assert!(err.to_string().contains("creating the ruleset"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_releases_pin_the_commit_their_tag_names() {
    let github = FakeGithub::start(3600).await;
    github.public_repo("actions/checkout");
    github.tag("actions/checkout", "v6.0.0", false);
    github.release("actions/checkout", "v6.0.0");
    let commit = github.tag("actions/checkout", "v7.0.1", true);
    github.release("actions/checkout", "v7.0.1");
    // Public data: anonymously.
    let api = GithubApi::token(&github.url(), None).unwrap();
    let (tag, sha) = latest_release(&api, "actions/checkout").await.unwrap();
    assert_eq!((tag.as_str(), sha.as_str()), ("v7.0.1", commit.as_str()));
    github.public_repo("acme/no-releases");
    assert!(latest_release(&api, "acme/no-releases").await.is_err());
    // A private repository is invisible without a token.
    github.repo("acme/private");
    assert!(latest_release(&api, "acme/private").await.is_err());
}
