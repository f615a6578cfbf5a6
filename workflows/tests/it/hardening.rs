//! Every hardening rule, read off the generated YAML of both tenants (not off the model, so a
//! bug in emitting cannot hide a rule broken on disk).

use std::collections::BTreeSet;

use cd_core::manifest::{BranchStrategy, Catalog};
use cd_workflows::Files;
use cd_workflows::branching::{MERGE_AUTHORIZED, branch_configs};
use cd_workflows::pins::Pins;
use serde_json::Value;

use crate::{example_catalog, generate, matrix_catalog, workflows, yaml};

/// Both tenants and what they generate, generated once per test binary.
fn both() -> &'static [(Catalog, Files)] {
    static BOTH: std::sync::OnceLock<Vec<(Catalog, Files)>> = std::sync::OnceLock::new();
    BOTH.get_or_init(|| {
        [example_catalog(), matrix_catalog()]
            .into_iter()
            .map(|c| {
                let f = generate(&c);
                (c, f)
            })
            .collect()
    })
}

fn jobs(w: &Value) -> Vec<(&String, &Value)> {
    w["jobs"].as_object().unwrap().iter().collect()
}

fn steps(job: &Value) -> Vec<&Value> {
    job["steps"]
        .as_array()
        .map(|s| s.iter().collect())
        .unwrap_or_default()
}

/// Every string in a value, recursively.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.iter().for_each(|(k, x)| {
            out.push(k.clone());
            strings(x, out);
        }),
        _ => {}
    }
}

#[test]
fn permissions_are_empty_at_the_top_and_named_per_job() {
    for (_, files) in both() {
        for (path, text) in workflows(files) {
            let w = yaml(text);
            assert_eq!(w["permissions"], serde_json::json!({}), "{path}");
            for (id, job) in jobs(&w) {
                let p = job["permissions"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{path}: {id} has no permissions"));
                for (scope, level) in p {
                    assert!(
                        matches!(level.as_str(), Some("read" | "write")),
                        "{path}: {id}: {scope}"
                    );
                }
                // Each permission carries its reason, on its line.
                for scope in p.keys() {
                    let line = text
                        .lines()
                        .find(|l| l.trim_start().starts_with(&format!("{scope}: ")))
                        .unwrap();
                    assert!(line.contains(" # "), "{path}: {line}");
                }
            }
        }
    }
}

#[test]
fn pull_request_workflows_write_nothing_on_github() {
    for (_, files) in both() {
        for (path, text) in workflows(files).filter(|(p, _)| p.ends_with("-pull-request.yml")) {
            let w = yaml(text);
            for (id, job) in jobs(&w) {
                for (scope, level) in job["permissions"].as_object().unwrap() {
                    // The one write: the dependencies job's OIDC identity, for the Token
                    // Broker's read-only token.
                    assert!(
                        level == "read" || (scope == "id-token" && id.ends_with("-dependencies")),
                        "{path}: {id} has {scope}: {level}"
                    );
                }
            }
            let ids: BTreeSet<&str> = w["jobs"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            for forbidden in ["tag", "release"] {
                assert!(!ids.contains(forbidden), "{path}: {forbidden}");
            }
            assert!(
                !ids.iter().any(|j| j.ends_with("-containerize")
                    || j.ends_with("-publish")
                    || j.ends_with("-notify")
                    || j.ends_with("-publish-bundle")),
                "{path}: {ids:?}"
            );
        }
    }
}

#[test]
fn jobs_that_run_the_repositorys_code_hold_no_identity() {
    for (_, files) in both() {
        for (path, text) in workflows(files) {
            let w = yaml(text);
            for (id, job) in jobs(&w) {
                let runs_code = ["-analysis", "-test", "-build", "-containerize"]
                    .iter()
                    .any(|s| id.ends_with(s));
                if runs_code {
                    assert!(job["permissions"].get("id-token").is_none(), "{path}: {id}");
                    assert!(
                        job["permissions"]
                            .as_object()
                            .unwrap()
                            .values()
                            .all(|l| l == "read"),
                        "{path}: {id}"
                    );
                }
                if id.ends_with("-dependencies") {
                    // The job that holds an identity restores no cache a pull request wrote.
                    for step in steps(job) {
                        let with = &step["with"];
                        assert!(
                            matches!(with.get("cache"), None | Some(Value::Bool(false))),
                            "{path}: {id}: {with}"
                        );
                    }
                    // Fetches run no package's code: scripts off, no build.
                    let scripts: Vec<&str> = steps(job)
                        .iter()
                        .filter_map(|s| s["run"].as_str())
                        .collect();
                    assert!(
                        scripts.iter().any(|r| r.contains("go mod download")
                            || r.contains("npm ci --ignore-scripts")
                            || r.contains("cargo fetch --locked")),
                        "{path}: {id}"
                    );
                    assert!(
                        !scripts.iter().any(|r| r.contains("npm rebuild")
                            || r.contains("go test")
                            || r.contains("cargo build")),
                        "{path}: {id}"
                    );
                }
            }
        }
    }
}

#[test]
fn actions_are_pinned_to_commits_of_the_pin_table_with_their_tag_beside() {
    let pins = Pins::default_table().unwrap();
    let mut used = BTreeSet::new();
    for (_, files) in both() {
        for (path, text) in workflows(files) {
            let w = yaml(text);
            for (id, job) in jobs(&w) {
                // No reusable workflow at all, so none from another repository.
                assert!(job.get("uses").is_none(), "{path}: {id}");
                for step in steps(job) {
                    let Some(uses) = step["uses"].as_str() else {
                        continue;
                    };
                    let (action, commit) = uses.split_once('@').unwrap();
                    let pin = &pins.actions[action];
                    assert_eq!(commit, pin.commit, "{path}: {uses}");
                    assert!(commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()));
                    let line = text.lines().find(|l| l.contains(uses)).unwrap();
                    assert!(
                        line.ends_with(&format!("{uses} # {}", pin.tag)),
                        "{path}: {line}"
                    );
                    used.insert(action.to_string());
                }
            }
        }
    }
    // The table pins what the workflows use, and only that.
    let table: BTreeSet<String> = pins.actions.keys().cloned().collect();
    assert_eq!(used, table);
}

#[test]
fn no_secret_no_expression_in_a_script_no_persisted_credential() {
    for (_, files) in both() {
        for (path, text) in workflows(files) {
            let w = yaml(text);
            let mut all = Vec::new();
            strings(&w, &mut all);
            assert!(
                !all.iter().any(|s| s == "secrets" || s.contains("secrets.")),
                "{path}"
            );
            for (id, job) in jobs(&w) {
                assert!(job.get("secrets").is_none(), "{path}: {id}");
                for step in steps(job) {
                    if let Some(run) = step["run"].as_str() {
                        assert!(!run.contains("${{"), "{path}: {id}: {run}");
                    }
                    if step["uses"]
                        .as_str()
                        .is_some_and(|u| u.starts_with("actions/checkout@"))
                    {
                        assert_eq!(step["with"]["persist-credentials"], false, "{path}: {id}");
                    }
                }
            }
        }
    }
}

#[test]
fn every_job_has_a_timeout_and_every_workflow_a_concurrency_group() {
    for (_, files) in both() {
        for (path, text) in workflows(files) {
            let w = yaml(text);
            assert!(
                w["concurrency"]["group"]
                    .as_str()
                    .is_some_and(|g| g.contains("github.workflow")),
                "{path}"
            );
            assert_eq!(w["defaults"]["run"]["shell"], "bash", "{path}");
            for (id, job) in jobs(&w) {
                let t = job["timeout-minutes"].as_u64().unwrap_or(0);
                assert!((1..=60).contains(&t), "{path}: {id}: {t}");
                assert!(
                    job["name"].as_str().is_some_and(|n| !n.is_empty()),
                    "{path}: {id}"
                );
            }
        }
    }
}

#[test]
fn one_push_and_one_pull_request_workflow_per_branch_configuration() {
    for (catalog, files) in both() {
        let repos: BTreeSet<&str> = catalog
            .build_definitions
            .values()
            .map(|b| b.github_repository.as_str())
            .collect();
        for repo in repos {
            let strategy = catalog.github_repositories[repo].strategy.unwrap();
            let configs = branch_configs(strategy);
            let found: BTreeSet<String> = files
                .keys()
                .filter(|p| p.starts_with(&format!("{repo}/.github/workflows/")))
                .cloned()
                .collect();
            assert_eq!(found.len(), configs.len() * 2, "{repo}: {found:?}");
            for config in &configs {
                let push =
                    yaml(&files[&format!("{repo}/.github/workflows/ci-{}-push.yml", config.id)]);
                let pr = yaml(
                    &files[&format!("{repo}/.github/workflows/ci-{}-pull-request.yml", config.id)],
                );
                let patterns: Vec<Value> = config
                    .patterns
                    .iter()
                    .map(|p| Value::String(p.clone()))
                    .collect();
                assert_eq!(
                    push["on"]["push"]["branches"].as_array().unwrap(),
                    &patterns,
                    "{repo}"
                );
                assert_eq!(
                    push["on"].as_object().unwrap().len(),
                    1,
                    "{repo}: push only"
                );
                assert_eq!(
                    pr["on"]["pull_request"]["branches"].as_array().unwrap(),
                    &patterns,
                    "{repo}"
                );
                assert_eq!(
                    pr["on"].as_object().unwrap().len(),
                    1,
                    "{repo}: pull_request only"
                );
            }
        }
    }
}

#[test]
fn the_gate_needs_every_job_and_always_runs_and_only_pull_requests_report_the_check() {
    for (_, files) in both() {
        for (path, text) in workflows(files) {
            let w = yaml(text);
            // Only a pull request's run may report the check the rulesets require: a push to a
            // branch that is also a pull request's head must not stand in for it.
            let pull_request = path.ends_with("-pull-request.yml");
            let id = if pull_request {
                "merge-authorized"
            } else {
                "all-passed"
            };
            let gate = &w["jobs"][id];
            let names: Vec<&str> = jobs(&w)
                .iter()
                .filter_map(|(_, j)| j["name"].as_str())
                .collect();
            assert_eq!(names.contains(&MERGE_AUTHORIZED), pull_request, "{path}");
            assert_eq!(gate["if"], "always()", "{path}");
            let others: BTreeSet<&str> = w["jobs"]
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .filter(|j| *j != id)
                .collect();
            let needs: BTreeSet<&str> = gate["needs"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(needs, others, "{path}");
        }
    }
}

#[test]
fn releases_happen_only_on_pushes_of_versioned_branches_and_in_order() {
    for (catalog, files) in both() {
        for (path, text) in workflows(files).filter(|(p, _)| p.ends_with("-push.yml")) {
            let w = yaml(text);
            let repo = path.split('/').next().unwrap();
            let strategy = catalog.github_repositories[repo].strategy.unwrap();
            let id = path
                .rsplit('/')
                .next()
                .unwrap()
                .trim_start_matches("ci-")
                .trim_end_matches("-push.yml");
            let config = branch_configs(strategy)
                .into_iter()
                .find(|c| c.id == id)
                .unwrap();
            let has_tag = w["jobs"].get("tag").is_some();
            assert_eq!(
                has_tag,
                config.release_type != cd_core::version::ReleaseType::None,
                "{path}"
            );
            if !has_tag {
                continue;
            }
            let tag_needs: Vec<&str> = w["jobs"]["tag"]["needs"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(Value::as_str)
                .collect();
            for (job_id, job) in jobs(&w) {
                // Every stage and image job comes before the tag; publishing after it.
                let stage = ["-analysis", "-test", "-build", "-containerize"]
                    .iter()
                    .any(|s| job_id.ends_with(s));
                if stage {
                    assert!(
                        tag_needs.contains(&job_id.as_str()),
                        "{path}: tag before {job_id}"
                    );
                }
                if job_id.ends_with("-publish") || job_id == "release" {
                    let needs: Vec<&str> = job["needs"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter_map(Value::as_str)
                        .collect();
                    assert!(needs.contains(&"tag"), "{path}: {job_id}");
                    assert_eq!(
                        job["if"], "needs.initialize.outputs.skip != 'true'",
                        "{path}: {job_id}"
                    );
                }
            }
        }
    }
}

#[test]
fn dockerfiles_pin_their_base_by_digest_and_run_unprivileged() {
    for (_, files) in both() {
        let dockerfiles: Vec<(&String, &String)> = files
            .iter()
            .filter(|(p, _)| p.ends_with(".Dockerfile"))
            .collect();
        assert!(!dockerfiles.is_empty());
        for (path, text) in dockerfiles {
            let from: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
            assert_eq!(from.len(), 1, "{path}");
            assert!(
                from[0].contains(":") && from[0].contains("@sha256:"),
                "{path}: {}",
                from[0]
            );
            let user = text
                .lines()
                .rfind(|l| l.starts_with("USER "))
                .unwrap_or_default();
            let name = user
                .trim_start_matches("USER ")
                .split(':')
                .next()
                .unwrap_or_default();
            assert!(
                !name.is_empty() && name != "root" && name != "0",
                "{path}: {user}"
            );
            // A binary handed on through an artifact has lost its mode: the image sets it.
            if let Some(copy) = text.lines().find(|l| l.contains("/app /app")) {
                assert!(copy.starts_with("COPY --chmod=0755 "), "{path}: {copy}");
            }
        }
        let binaries = files
            .iter()
            .filter(|(p, t)| p.ends_with(".Dockerfile") && t.contains("/app /app"))
            .count();
        assert!(binaries > 0);
    }
}

#[test]
fn rulesets_require_the_gate_from_github_actions_and_codeowners_name_teams() {
    let catalog = matrix_catalog();
    let files = generate(&catalog);
    let mut seen = 0;
    for (path, text) in files
        .iter()
        .filter(|(p, _)| p.contains("/.github/rulesets/"))
    {
        let r: Value = serde_json::from_str(text).unwrap();
        assert!(
            r["name"].as_str().unwrap().starts_with("infrastream: "),
            "{path}"
        );
        assert_eq!(r["enforcement"], "active");
        assert_eq!(r["bypass_actors"], serde_json::json!([]));
        if r["target"] == "branch" {
            let checks = r["rules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["type"] == "required_status_checks")
                .unwrap();
            assert_eq!(
                checks["parameters"]["required_status_checks"][0],
                serde_json::json!({"context": MERGE_AUTHORIZED, "integration_id": 15368})
            );
            seen += 1;
        }
    }
    assert!(seen > 0);
    let owners = &files[&format!(
        "{}/.github/CODEOWNERS",
        crate::matrix_name(BranchStrategy::GitFlow, cd_core::manifest::BuildType::Rust)
    )];
    assert!(owners.lines().any(|l| l == "* @acme/platform"), "{owners}");
}
