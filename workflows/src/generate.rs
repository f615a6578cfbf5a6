//! The generator: manifests in, every file of every repository out, as `(path, text)` pairs.
//!
//! For each GithubRepository that has a BuildDefinition: one push and one pull-request
//! workflow per branch configuration of its strategy, the generated Dockerfiles, CODEOWNERS
//! and the rulesets. The BuildDefinitionComputer step is [`branch_configurations`].

use std::collections::BTreeMap;

use cd_core::manifest::{BuildDefinition, BuildStage, Catalog, GithubRepository};

use crate::branching::{BranchConfig, branch_configs};
use crate::builders::{self, Output, WorkflowBuilder, job_id};
use crate::context::{Ctx, Event, Findings};
use crate::emit::{self, EmitError};
use crate::jobs::{gate, image, initialize, notify, release};
use crate::layout::GENERATED_MARK;
use crate::model::{
    BranchFilter, Concurrency, Defaults, Jobs, Permissions, PullRequestFilter, RunDefaults,
    Triggers, Workflow,
};
use crate::pins::{PinError, Pins};
use crate::rulesets;

/// Every generated file, by path relative to the output directory
/// (`<GithubRepository>/.github/...`).
pub type Files = BTreeMap<String, String>;

/// Why nothing was generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The manifests cannot be generated from; each problem names file, line, object, field.
    #[error("{} problem(s) in the manifests", .0.len())]
    Manifests(Vec<cd_core::manifest::Problem>),
    /// The pin table lacks actions or images the workflows need.
    #[error("the pin table is incomplete: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Pins(Vec<PinError>),
    /// A workflow could not be written faithfully.
    #[error(transparent)]
    Emit(#[from] EmitError),
}

/// A build's workflows are generated for these configurations (the BuildDefinitionComputer:
/// the repository's configurations, filtered by the build type's builder).
#[must_use]
pub fn branch_configurations(
    builder: &dyn WorkflowBuilder,
    configs: &[BranchConfig],
) -> Vec<BranchConfig> {
    builder.branch_configurations(configs.to_vec())
}

/// Checks what only the builders know: each BuildDefinition's options and stages against its
/// type (`manifests validate` reports these with the catalog's own problems).
#[must_use]
pub fn check(catalog: &Catalog) -> Vec<cd_core::manifest::Problem> {
    let mut findings = Findings::default();
    for build in catalog.build_definitions.values() {
        builders::check_build(build, &mut findings);
    }
    findings.problems
}

/// [`check`], and what generating needs of every repository with builds: a strategy and an
/// owner.
fn check_generation(catalog: &Catalog) -> Vec<cd_core::manifest::Problem> {
    let mut findings = Findings {
        problems: check(catalog),
        ..Findings::default()
    };
    for repo in repositories(catalog).keys() {
        if let Some(repo) = catalog.github_repositories.get(*repo) {
            owner(catalog, repo, &mut findings);
            if repo.strategy.is_none() {
                findings.repository(
                    repo,
                    "spec.strategy",
                    "is missing: workflows are generated per branch of the strategy (GITHUB_FLOW, GIT_FLOW or TRUNK_BASED)".into(),
                );
            }
        }
    }
    findings.problems
}

/// Builds per repository name, repositories without builds left out.
fn repositories(catalog: &Catalog) -> BTreeMap<&str, Vec<&BuildDefinition>> {
    let mut out: BTreeMap<&str, Vec<&BuildDefinition>> = BTreeMap::new();
    for build in catalog.build_definitions.values() {
        out.entry(build.github_repository.as_str())
            .or_default()
            .push(build);
    }
    out
}

pub(crate) fn owner<'a>(
    catalog: &'a Catalog,
    repo: &GithubRepository,
    findings: &mut Findings,
) -> Option<&'a str> {
    let owner = repo
        .connection
        .as_ref()
        .and_then(|c| catalog.github_connections.get(c))
        .map(|c| c.owner.as_str())
        .filter(|o| !o.is_empty());
    if owner.is_none() {
        findings.repository(
            repo,
            "metadata.github-connection",
            "generating workflows needs the repository's GitHub owner: name a GithubConnection with spec.owner".into(),
        );
    }
    owner
}

/// Generates every file.
///
/// # Errors
/// [`GenerateError`] with every problem found; nothing is returned partially.
pub fn generate(catalog: &Catalog, pins: &Pins) -> Result<Files, GenerateError> {
    let mut findings = Findings {
        problems: check_generation(catalog),
        ..Findings::default()
    };
    let settings = catalog.workflow_settings.values().next();
    let mut files = Files::new();
    for (repo_name, builds) in repositories(catalog) {
        let Some(repo) = catalog.github_repositories.get(repo_name) else {
            continue;
        };
        let (Some(owner), Some(strategy)) = (
            owner(catalog, repo, &mut Findings::default()),
            repo.strategy,
        ) else {
            continue;
        };
        let configs = branch_configs(strategy);
        let dir = format!("{}/.github", repo.name);
        // Each build's configurations and whether it has pull-request workflows, once.
        let generated_for: Vec<(&BuildDefinition, Vec<&'static str>, bool)> = builds
            .iter()
            .filter_map(|b| {
                let builder = builders::builder(b.build_type?);
                let ids = branch_configurations(builder, &configs)
                    .iter()
                    .map(|c| c.id)
                    .collect();
                Some((*b, ids, builder.supports_pull_request_workflow()))
            })
            .collect();
        for config in &configs {
            for event in [Event::Push, Event::PullRequest] {
                let ctx = Ctx {
                    pins,
                    settings,
                    owner,
                    repo,
                    config,
                    event,
                };
                let included: Vec<&BuildDefinition> = generated_for
                    .iter()
                    .filter(|(_, ids, pull_requests)| {
                        (event == Event::Push || *pull_requests) && ids.contains(&config.id)
                    })
                    .map(|(b, _, _)| *b)
                    .collect();
                if included.is_empty() {
                    continue;
                }
                let workflow = workflow(&ctx, catalog, &included, &mut findings);
                let header = header(repo, &included);
                let path = format!("{dir}/workflows/ci-{}-{}.yml", config.id, event.slug());
                files.insert(path, emit::to_yaml(&header, &workflow)?);
            }
        }
        for build in &builds {
            let Some(t) = build.build_type else { continue };
            if build.containerize.is_none() {
                continue;
            }
            let mut resolve = |name: &str| match pins.image(name) {
                Ok(reference) => Some(reference),
                Err(e) => {
                    if !findings.pins.contains(&e) {
                        findings.pins.push(e);
                    }
                    None
                }
            };
            if let Some(dockerfile) = builders::builder(t).dockerfile(build, &mut resolve) {
                files.insert(
                    format!("{}/{}", repo.name, image::dockerfile_path(build)),
                    dockerfile,
                );
            }
        }
        let code_owners = code_owners(owner, repo);
        for config in &configs {
            if let Some(ruleset) = rulesets::for_branches(config, code_owners.is_some()) {
                files.insert(
                    format!("{dir}/rulesets/{}.json", config.id),
                    rulesets::to_json(&ruleset),
                );
            }
        }
        files.insert(
            format!("{dir}/rulesets/tags.json"),
            rulesets::to_json(&rulesets::for_tags()),
        );
        if let Some(text) = code_owners {
            files.insert(format!("{dir}/CODEOWNERS"), text);
        }
    }
    if !findings.problems.is_empty() {
        return Err(GenerateError::Manifests(findings.problems));
    }
    if !findings.pins.is_empty() {
        return Err(GenerateError::Pins(findings.pins));
    }
    Ok(files)
}

fn header(repo: &GithubRepository, builds: &[&BuildDefinition]) -> Vec<String> {
    let names: Vec<&str> = builds.iter().map(|b| b.name.as_str()).collect();
    // The emitter adds "# ": the first line starts with GENERATED_MARK.
    vec![
        format!(
            "Generated by `infrastream workflows generate` from GithubRepository {} and BuildDefinition {}.",
            repo.name,
            names.join(", ")
        ),
        "Do not edit: change the manifests and generate again.".into(),
    ]
}

/// `.github/CODEOWNERS` from `spec.codeOwners`, groups as `@<owner>/<group>` teams.
fn code_owners(owner: &str, repo: &GithubRepository) -> Option<String> {
    if repo.code_owners.is_empty() {
        return None;
    }
    let mut text = format!(
        "{GENERATED_MARK} from GithubRepository {} spec.codeOwners.\n",
        repo.name
    );
    for entry in &repo.code_owners {
        let teams: Vec<String> = entry
            .owners
            .iter()
            .map(|g| format!("@{owner}/{g}"))
            .collect();
        text.push_str(&format!("{} {}\n", entry.path, teams.join(" ")));
    }
    Some(text)
}

/// One workflow: the common jobs around each build's stage jobs.
fn workflow(
    ctx: &Ctx<'_>,
    catalog: &Catalog,
    builds: &[&BuildDefinition],
    findings: &mut Findings,
) -> Workflow {
    let config = ctx.config;
    let mut jobs = Jobs::default();
    let (id, job) = initialize::initialize(ctx, findings);
    jobs.0.push((id, job));
    let mut stage_jobs: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for build in builds {
        let Some(t) = build.build_type else { continue };
        let ids = builders::builder(t).pipeline(ctx, catalog, build, &mut jobs, findings);
        stage_jobs.insert(build.name.as_str(), ids);
    }
    if ctx.releases() {
        let mut before_tag: Vec<String> = stage_jobs.values().flatten().cloned().collect();
        let mut containerized = Vec::new();
        for build in builds {
            let Some(t) = build.build_type else { continue };
            let builder = builders::builder(t);
            if !build.has_stage(BuildStage::Containerize) {
                continue;
            }
            let needs = match builder.output() {
                Output::Source => Vec::new(),
                Output::Built => vec![job_id(build, "build")],
            };
            if let Some((id, job)) = image::containerize(ctx, findings, builder, build, needs) {
                before_tag.push(id.clone());
                containerized.push((*build, id.clone()));
                jobs.0.push((id, job));
            }
        }
        let (tag_id, tag) = release::tag(ctx, before_tag);
        jobs.0.push((tag_id, tag));
        let mut published: BTreeMap<&str, String> = BTreeMap::new();
        let mut before_release = vec!["tag".to_string()];
        for (build, containerize) in &containerized {
            if let Some((id, job)) = image::publish(ctx, findings, build, containerize) {
                before_release.push(id.clone());
                published.insert(build.name.as_str(), id.clone());
                jobs.0.push((id, job));
            }
        }
        for build in builds {
            if !build.has_stage(BuildStage::Publish) {
                continue;
            }
            let build_job = job_id(build, "build");
            if let Some((id, job)) = image::publish_bundle(ctx, findings, build, &build_job) {
                before_release.push(id.clone());
                jobs.0.push((id, job));
            }
        }
        let (release_id, release) = release::release(ctx, findings, before_release);
        jobs.0.push((release_id.clone(), release));
        for (build, containerize) in &containerized {
            let mut needs = vec![containerize.clone(), release_id.clone()];
            if let Some(p) = published.get(build.name.as_str()) {
                needs.push(p.clone());
            }
            if let Some((id, job)) = notify::notify(ctx, findings, build, containerize, needs) {
                jobs.0.push((id, job));
            }
        }
        for build in builds {
            let Some(t) = build.build_type else { continue };
            let mut extra = Jobs::default();
            builders::builder(t).downstream_pipeline(ctx, build, &mut extra, findings);
            jobs.0.extend(extra.0);
        }
    }
    let all: Vec<String> = jobs.ids().map(str::to_string).collect();
    let (gate_id, gate) = gate::gate(ctx, all);
    jobs.0.push((gate_id, gate));
    let patterns = config.patterns.clone();
    let (name, on, concurrency) = match ctx.event {
        Event::Push => (
            format!("Push to {}", config.title),
            Triggers {
                push: Some(BranchFilter { branches: patterns }),
                pull_request: None,
            },
            Concurrency {
                // Releases of one branch run one after another, never cancelled halfway.
                group: "${{ github.workflow }}-${{ github.ref }}".into(),
                cancel_in_progress: false,
            },
        ),
        Event::PullRequest => (
            format!("Pull request into {}", config.title),
            Triggers {
                push: None,
                pull_request: Some(PullRequestFilter {
                    types: vec![
                        "opened",
                        "synchronize",
                        "reopened",
                        "edited",
                        "labeled",
                        "unlabeled",
                    ],
                    branches: patterns,
                }),
            },
            Concurrency {
                // A new push to the pull request supersedes the run of the previous one.
                group: "${{ github.workflow }}-${{ github.event.pull_request.number }}".into(),
                cancel_in_progress: true,
            },
        ),
    };
    Workflow {
        name,
        on,
        permissions: Permissions::none(),
        concurrency,
        defaults: Defaults {
            run: RunDefaults { shell: "bash" },
        },
        jobs,
    }
}
