//! The Token Broker's decision against a direct reading of its rules, over random policies,
//! jobs and requests.

use std::collections::{BTreeMap, BTreeSet};

use cd_core::broker::{Level, Refusal, Subject, TokenRequest, decide};
use cd_core::manifest::{Origin, TokenGrant, TokenPolicy, TokenSubject};
use proptest::prelude::*;

/// `*` is any run of characters but `/`, read as literally as it is written.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => {
            let run = text.iter().take_while(|c| **c != b'/').count();
            (0..=run).any(|i| glob(rest, &text[i..]))
        }
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// The rules, read directly: may `policy` alone give `request` to `subject`?
fn policy_subject_matches(p: &TokenPolicy, s: &Subject) -> bool {
    let t = &p.subject;
    s.event_name != "pull_request_target"
        && t.repository.to_lowercase() == s.repository.to_lowercase()
        && t.repository_id == s.repository_id
        && t.refs
            .iter()
            .any(|r| glob(r.as_bytes(), s.git_ref.as_bytes()))
        && t.events.contains(&s.event_name)
        && (t.workflow_refs.is_empty()
            || s.job_workflow_ref.as_ref().is_some_and(|w| {
                t.workflow_refs
                    .iter()
                    .any(|p| glob(p.as_bytes(), w.as_bytes()))
            }))
}

fn policy_grants(p: &TokenPolicy, r: &TokenRequest) -> bool {
    r.repositories.iter().all(|name| {
        p.grant
            .repositories
            .iter()
            .any(|g| g.to_lowercase() == *name)
    }) && r
        .permissions
        .iter()
        .all(|(name, level)| p.grant.permissions.get(name).is_some_and(|g| g >= level))
}

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![Just(Level::Read), Just(Level::Write), Just(Level::Admin)]
}

fn permissions() -> impl Strategy<Value = BTreeMap<String, Level>> {
    prop::collection::btree_map(
        prop_oneof![
            Just("contents"),
            Just("pull_requests"),
            Just("repository_projects")
        ]
        .prop_map(str::to_string),
        level(),
        0..3,
    )
}

const REPOS: &[&str] = &[
    "northwind/shop-api",
    "northwind/Shop-Api",
    "northwind/shop-web",
];
const IDS: &[&str] = &["1", "2"];
const EVENTS: &[&str] = &[
    "push",
    "pull_request",
    "pull_request_target",
    "workflow_dispatch",
];

fn ref_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("refs/heads/main".to_string()),
        Just("refs/heads/*".to_string()),
        Just("refs/heads/release/*".to_string()),
        Just("refs/*/main".to_string()),
        Just("refs/tags/v*".to_string()),
        "refs/[a-z*/]{0,8}",
    ]
}

fn git_ref() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("refs/heads/main".to_string()),
        Just("refs/heads/release/1.2".to_string()),
        Just("refs/heads/feature/x".to_string()),
        Just("refs/tags/v1.0.0".to_string()),
        Just("refs/pull/7/merge".to_string()),
        "refs/[a-z/]{0,8}",
    ]
}

fn policy() -> impl Strategy<Value = TokenPolicy> {
    (
        prop::sample::select(REPOS),
        prop::sample::select(IDS),
        prop::collection::vec(ref_pattern(), 1..3),
        prop::collection::vec(prop::sample::select(EVENTS), 1..3),
        prop::collection::vec(
            prop_oneof![
                Just("northwind/shop-api/.github/workflows/*@*".to_string()),
                Just("northwind/ci/.github/workflows/build.yaml@refs/heads/main".to_string()),
            ],
            0..2,
        ),
        prop::collection::vec(
            prop::sample::select(&["shop-libs", "Shop-Libs", "base-images", "ci"][..]),
            1..3,
        ),
        permissions(),
        0..1000u32,
    )
        .prop_map(
            |(repo, id, refs, events, wf, repos, perms, n)| TokenPolicy {
                name: format!("p{n}"),
                organization: "northwind".into(),
                subject: TokenSubject {
                    repository: repo.to_string(),
                    repository_id: id.to_string(),
                    refs,
                    events: events.into_iter().map(str::to_string).collect(),
                    workflow_refs: wf,
                },
                grant: TokenGrant {
                    repositories: repos.into_iter().map(str::to_string).collect(),
                    permissions: perms,
                },
                origin: Origin {
                    file: "tokens.yaml".into(),
                    line: 1,
                },
            },
        )
}

fn subject() -> impl Strategy<Value = Subject> {
    (
        prop::sample::select(REPOS),
        prop::sample::select(IDS),
        git_ref(),
        prop::sample::select(EVENTS),
        prop::option::of(prop_oneof![
            Just("northwind/shop-api/.github/workflows/ci.yaml@refs/heads/main".to_string()),
            Just("northwind/ci/.github/workflows/build.yaml@refs/heads/main".to_string()),
            Just("evil/ci/.github/workflows/build.yaml@refs/heads/main".to_string()),
        ]),
    )
        .prop_map(|(repo, id, git_ref, event, wf)| Subject {
            repository: repo.to_string(),
            repository_id: id.to_string(),
            git_ref,
            event_name: event.to_string(),
            job_workflow_ref: wf,
        })
}

fn request() -> impl Strategy<Value = TokenRequest> {
    (
        prop::collection::btree_set(
            prop::sample::select(&["shop-libs", "base-images", "ci", "secrets"][..]),
            1..3,
        ),
        permissions().prop_filter("non-empty", |p| !p.is_empty()),
    )
        .prop_map(|(repos, permissions)| TokenRequest {
            repositories: repos
                .into_iter()
                .map(str::to_string)
                .collect::<BTreeSet<_>>(),
            permissions,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decides_as_the_rules_read(
        policies in prop::collection::vec(policy(), 0..5),
        subject in subject(),
        request in request(),
    ) {
        let matching: Vec<&TokenPolicy> =
            policies.iter().filter(|p| policy_subject_matches(p, &subject)).collect();
        let allowed = matching.iter().any(|p| policy_grants(p, &request));
        match decide(&policies, &subject, &request) {
            Ok(grant) => {
                prop_assert!(allowed, "allowed against the rules: {grant:?}");
                // Exactly what was asked, and the named policy allows it on its own.
                prop_assert_eq!(&grant.repositories, &request.repositories);
                prop_assert_eq!(&grant.permissions, &request.permissions);
                let p = policies.iter().find(|p| p.name == grant.policy).unwrap();
                prop_assert!(policy_subject_matches(p, &subject) && policy_grants(p, &request));
            }
            Err(refusal) => {
                prop_assert!(!allowed, "refused against the rules: {refusal}");
                prop_assert_eq!(
                    matches!(refusal, Refusal::NoPolicy { .. }),
                    matching.is_empty()
                );
            }
        }
        if subject.event_name == "pull_request_target" {
            prop_assert!(decide(&policies, &subject, &request).is_err());
        }
    }
}

#[test]
fn grants_of_two_policies_never_combine() {
    let base = |name: &str, repo: &str, perm: &str| TokenPolicy {
        name: name.into(),
        organization: "northwind".into(),
        subject: TokenSubject {
            repository: "northwind/shop-api".into(),
            repository_id: "1".into(),
            refs: vec!["refs/heads/main".into()],
            events: vec!["push".into()],
            workflow_refs: vec![],
        },
        grant: TokenGrant {
            repositories: vec![repo.into()],
            permissions: [(perm.to_string(), Level::Write)].into(),
        },
        origin: Origin {
            file: "t.yaml".into(),
            line: 1,
        },
    };
    let policies = [
        base("a", "shop-libs", "contents"),
        base("b", "base-images", "contents"),
    ];
    let subject = Subject {
        repository: "NorthWind/Shop-API".into(),
        repository_id: "1".into(),
        git_ref: "refs/heads/main".into(),
        event_name: "push".into(),
        job_workflow_ref: None,
    };
    let both = TokenRequest::parse(
        br#"{"repositories":["shop-libs","base-images"],"permissions":{"contents":"read"}}"#,
    )
    .unwrap();
    let refusal = decide(&policies, &subject, &both).unwrap_err();
    assert_eq!(refusal.reason(), "outside_grant");
    assert!(refusal.to_string().contains("never combine"), "{refusal}");
    let one = TokenRequest::parse(
        br#"{"repositories":["Base-Images"],"permissions":{"contents":"write"}}"#,
    )
    .unwrap();
    assert_eq!(decide(&policies, &subject, &one).unwrap().policy, "b");
}

/// The example tenant's policy lets shop-api's own CI runs read shop-libs, and nothing else.
#[test]
fn the_example_policy_lets_shop_apis_ci_read_its_private_modules() {
    let catalog = cd_core::manifest::Catalog::load_valid(crate::example_files()).unwrap();
    let policies: Vec<&TokenPolicy> = catalog.token_policies.values().collect();
    let request =
        TokenRequest::parse(br#"{"repositories":["shop-libs"],"permissions":{"contents":"read"}}"#)
            .unwrap();
    let run = |event: &str, git_ref: &str, workflow: &str| Subject {
        repository: "northwind/shop-api".into(),
        repository_id: "700000101".into(),
        git_ref: git_ref.into(),
        event_name: event.into(),
        job_workflow_ref: Some(format!(
            "northwind/shop-api/.github/workflows/{workflow}@{git_ref}"
        )),
    };
    for subject in [
        run("push", "refs/heads/main", "ci-primary-push.yml"),
        run("push", "refs/heads/release/1.4", "ci-release-push.yml"),
        run(
            "pull_request",
            "refs/pull/12/merge",
            "ci-primary-pull-request.yml",
        ),
    ] {
        assert!(
            decide(policies.iter().copied(), &subject, &request).is_ok(),
            "{subject:?}"
        );
    }
    let mut other_workflow = run("push", "refs/heads/main", "ci.yml");
    other_workflow.job_workflow_ref =
        Some("northwind/shared/.github/workflows/ci.yml@refs/heads/main".into());
    let write = TokenRequest::parse(
        br#"{"repositories":["shop-libs"],"permissions":{"contents":"write"}}"#,
    )
    .unwrap();
    for (subject, request) in [
        (other_workflow, &request),
        (run("push", "refs/heads/feature/x", "ci.yml"), &request),
        (
            run("push", "refs/heads/main", "ci-primary-push.yml"),
            &write,
        ),
    ] {
        assert!(
            decide(policies.iter().copied(), &subject, request).is_err(),
            "{subject:?}"
        );
    }
}
