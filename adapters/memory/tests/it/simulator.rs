use std::path::{Path, PathBuf};

use cd_memory::sim::{RandomOptions, Scenario, SimOutput, run_random, run_scenario};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// A registry holding the example's images at `versions`, as CI would have pushed them.
pub(crate) fn built(versions: &[(&str, &str)]) -> std::sync::Arc<cd_memory::MemoryRegistry> {
    let registry = cd_memory::MemoryRegistry::new();
    for (image, version) in versions {
        registry.push(
            "containers",
            image,
            version,
            &format!("sha256:{image}-{version}"),
        );
    }
    std::sync::Arc::new(registry)
}

pub(crate) fn manifest_files() -> Vec<(String, String)> {
    let root = examples().join("manifests");
    let mut out = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "yaml") {
                let rel = p
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, std::fs::read_to_string(&p).unwrap()));
            }
        }
    }
    out
}

fn run(name: &str) -> SimOutput {
    let path = examples().join("scenarios").join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let scenario = Scenario::parse(name, &text).unwrap();
    run_scenario(&scenario, manifest_files()).unwrap()
}

fn statuses(out: &SimOutput) -> Vec<(String, String, String)> {
    out.deployments
        .iter()
        .map(|d| {
            (
                format!("{:?}", d.track),
                d.version.clone(),
                d.status.clone(),
            )
        })
        .collect()
}

#[test]
fn prerelease_runs_through_development() {
    let out = run("prerelease.yaml");
    assert_eq!(out.deployments.len(), 1);
    let d = &out.deployments[0];
    assert_eq!(
        (d.status.as_str(), d.application.as_deref()),
        ("SUCCEEDED", Some("shop-api"))
    );
    assert_eq!(d.stages[0].environments, ["development"]);
    assert_eq!(d.stages[0].status, "SUCCEEDED");
    assert_eq!(
        out.manifests["apps/shop-api/deploy/development.yaml"],
        "v1.0.1"
    );
    assert_eq!(out.manifests["apps/shop-api/deploy/staging.yaml"], "v0.0.0");
    assert_eq!(out.manifests.len(), 9, "every DeploymentConfig is listed");
    assert_eq!(out.commits, 1);
    assert!(out.registry["shop-api"]["v1.0.1"].starts_with("sha256:"));
}

#[test]
fn a_release_gets_rc_then_production_tags_after_the_quorum() {
    let out = run("release.yaml");
    let release = out.deployments.iter().find(|d| d.bundle.is_some()).unwrap();
    assert_eq!(release.version, "shop-2026.11-rc.0");
    assert_eq!(release.status, "SUCCEEDED");
    assert_eq!(release.application, None);
    assert_eq!(release.apps["shop-api"], "v1.4.0");
    assert_eq!(release.apps["shop-worker"], "v0.9.3");
    for (image, version) in [
        ("shop-api", "v1.4.0"),
        ("shop-web", "v2.1.0"),
        ("shop-worker", "v0.9.3"),
    ] {
        let tags = &out.registry[image];
        assert_eq!(
            tags["shop-2026.11-rc.0"], tags[version],
            "{image}: RC = semver digest"
        );
        assert_eq!(
            tags["shop-2026.11"], tags[version],
            "{image}: production tag"
        );
    }
    assert_eq!(
        out.manifests["apps/shop-web/deploy/production.yaml"],
        "shop-2026.11-rc.0"
    );
    assert_eq!(out.branches["shop-api"], ["release/shop/2026.11"]);
    assert_eq!(out.rejected.len(), 1);
    assert_eq!(out.rejected[0].step, 6);
    assert!(
        out.rejected[0]
            .reason
            .contains("'sam' is not a stakeholder"),
        "{}",
        out.rejected[0].reason
    );
    let actors: Vec<&str> = out.approvals.iter().map(|a| a.actor.as_str()).collect();
    assert_eq!(actors, ["jane", "omar@northwind.example"]);
    assert_eq!(out.commits, 5, "3 pre-release commits, staging, production");
}

#[test]
fn a_rejection_halts_until_a_new_quorum() {
    let out = run("rejection.yaml");
    let release = out.deployments.last().unwrap();
    assert_eq!(release.status, "SUCCEEDED");
    let ledger: Vec<(&str, &str)> = out
        .approvals
        .iter()
        .map(|a| (a.actor.as_str(), a.action.as_str()))
        .collect();
    assert_eq!(
        ledger,
        [
            ("jane", "APPROVE"),
            ("li", "REJECT"),
            ("omar", "APPROVE"),
            ("jane", "APPROVE")
        ]
    );
    assert_eq!(out.approvals[1].comment, "error budget exhausted");
}

#[test]
fn a_failed_engine_run_is_retried_as_a_new_attempt_with_the_next_rc() {
    let out = run("failed-engine-retry.yaml");
    let attempts: Vec<(String, String)> = out
        .deployments
        .iter()
        .filter(|d| d.bundle.is_some())
        .map(|d| (d.version.clone(), d.status.clone()))
        .collect();
    assert_eq!(
        attempts,
        [
            ("shop-2026.11-rc.0".to_string(), "FAILED".to_string()),
            (
                "shop-2026.11-rc.1".to_string(),
                "AWAITING_APPROVAL".to_string()
            )
        ]
    );
    assert!(
        out.registry["shop-api"].contains_key("shop-2026.11-rc.0"),
        "tags are never deleted"
    );
    assert_eq!(
        out.manifests["apps/shop-api/deploy/staging.yaml"],
        "shop-2026.11-rc.1"
    );
}

#[test]
fn redelivered_notifications_make_one_deployment() {
    let out = run("redelivery.yaml");
    assert_eq!(
        statuses(&out),
        [(
            "PreRelease".to_string(),
            "v3.2.1".to_string(),
            "SUCCEEDED".to_string()
        )]
    );
    assert_eq!(out.commits, 1);
    assert!(out.rejected.is_empty());
}

#[test]
fn crashes_in_the_middle_of_promotions_commit_each_once() {
    let out = run("crash.yaml");
    assert_eq!(
        statuses(&out),
        [
            (
                "PreRelease".to_string(),
                "v1.0.1".to_string(),
                "SUCCEEDED".to_string()
            ),
            (
                "PreRelease".to_string(),
                "v1.0.1".to_string(),
                "SUCCEEDED".to_string()
            )
        ]
    );
    assert_eq!(
        out.commits, 2,
        "one commit per promotion despite crashes and a failed push"
    );
}

#[test]
fn bad_scenarios_name_the_field() {
    let err = Scenario::parse(
        "s.yaml",
        "manifests: m\nsteps:\n  - push: {buildDefinition: a, container: a}\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "s.yaml: steps[0].push: missing field `version`"
    );
    let err = Scenario::parse("s.yaml", "manifests: m\nsteps:\n  - fly: {}\n").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("s.yaml: steps[0]: unknown variant `fly`"),
        "{err}"
    );
    let err = Scenario::parse(
        "s.yaml",
        "manifests: m\nsteps:\n  - fail-next: {operation: dns}\n",
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("steps[0].fail-next.operation"),
        "{err}"
    );
    let err = Scenario::parse("s.yaml", "steps: [\n").unwrap_err();
    assert!(err.to_string().starts_with("s.yaml: line "), "{err}");
}

#[test]
fn random_runs_keep_the_invariants_and_are_deterministic() {
    let files = manifest_files();
    let options = RandomOptions {
        seed: 7,
        runs: 6,
        steps: 40,
    };
    let first = run_random(&files, &options, |_| {}).unwrap_or_else(|v| panic!("{v}"));
    let second = run_random(&files, &options, |_| {}).unwrap();
    assert_eq!(
        first.digest, second.digest,
        "the same seed gives the same run"
    );
    assert!(
        first.faults > 0 && first.crashes > 0,
        "chaos was injected: {first:?}"
    );
    let other = run_random(&files, &RandomOptions { seed: 8, ..options }, |_| {}).unwrap();
    assert_ne!(first.digest, other.digest);
}

#[test]
fn every_event_type_is_published_as_a_cloudevents_1_0_event() {
    // The random runs check each event as it is published; these runs see every type.
    let report = run_random(
        &manifest_files(),
        &RandomOptions {
            seed: 1,
            runs: 40,
            steps: 60,
        },
        |_| {},
    )
    .unwrap_or_else(|v| panic!("{v}"));
    let deployment = [
        "created",
        "in_progress",
        "awaiting_approval",
        "succeeded",
        "failed",
        "rejected",
        "superseded",
        "cancelled",
    ];
    let stage = [
        "awaiting_approval",
        "held",
        "promoting",
        "deploying",
        "succeeded",
        "failed",
        "rejected",
        "cancelled",
    ];
    let expected: Vec<String> = deployment
        .iter()
        .map(|s| format!("dev.infrastream.deployment.{s}"))
        .chain(stage.iter().map(|s| format!("dev.infrastream.stage.{s}")))
        .collect();
    let missing: Vec<&String> = expected
        .iter()
        .filter(|t| !report.event_types.contains(*t))
        .collect();
    assert!(missing.is_empty(), "never published: {missing:?}");
    let unknown: Vec<&String> = report
        .event_types
        .iter()
        .filter(|t| !expected.contains(t) && !t.ends_with(".pending"))
        .collect();
    assert!(unknown.is_empty(), "unexpected types: {unknown:?}");
}

#[test]
fn a_held_build_is_cancelled_and_the_next_one_goes_when_the_hold_lifts() {
    let scenario = Scenario::parse(
        "cancel.yaml",
        "manifests: examples/manifests
steps:
  - hold: {environment: development, actor: jane, reason: audit}
  - push: {buildDefinition: shop-api, container: shop-api, version: v1.0.1}
  - cancel: {application: shop-api, version: v1.0.1}
  - cancel: {application: shop-api, version: v1.0.1}
  - push: {buildDefinition: shop-api, container: shop-api, version: v1.0.2}
  - unhold: {environment: development, actor: jane}
",
    )
    .unwrap();
    let out = run_scenario(&scenario, manifest_files()).unwrap();
    let got = statuses(&out);
    assert!(
        got.contains(&("PreRelease".into(), "v1.0.1".into(), "CANCELLED".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("PreRelease".into(), "v1.0.2".into(), "SUCCEEDED".into())),
        "{got:?}"
    );
    assert_eq!(
        out.manifests["apps/shop-api/deploy/development.yaml"],
        "v1.0.2"
    );
    let cancels: Vec<_> = out
        .approvals
        .iter()
        .filter(|a| a.action == "CANCEL")
        .collect();
    assert_eq!(
        cancels.len(),
        1,
        "a repeated cancel appends nothing: {cancels:?}"
    );
    assert!(out.rejected.is_empty(), "{:?}", out.rejected);
}
