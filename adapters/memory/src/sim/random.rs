//! Random simulations: random scenarios with random faults, crashes and reorderings, checked
//! against the system's invariants after every step.

use std::collections::{BTreeMap, BTreeSet};

use cd_core::manifest::Catalog;
use cd_core::pipeline::{
    ApprovalAction, DeploymentTrack, EngineStatus, StageStatus, State, env_key,
};
use sha2::{Digest, Sha256};

use super::scenario::{
    ActStep, Empty, EngineStep, FailNextStep, HoldStep, PushStep, ReleaseStep, RetryStep,
    RollbackStep, Runner, Step, TickStep, UnholdStep,
};
use super::world::{Chaos, World};
use crate::engine::EngineMode;
use crate::faults::Operation;
use crate::rng::SimRng;

/// How a random simulation is run.
#[derive(Clone, Debug)]
pub struct RandomOptions {
    /// The first seed; run `i` uses `seed + i`.
    pub seed: u64,
    /// How many runs.
    pub runs: u64,
    /// Steps per run.
    pub steps: usize,
}

/// A broken invariant, with everything needed to reproduce it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invariant broken with seed {seed} after step {step}: {invariant}\nsteps:\n{steps}")]
pub struct Violation {
    /// The run's seed (`--seed` reproduces it with `--runs 1`).
    pub seed: u64,
    /// The step after which it broke (from 1; 0 for the final check).
    pub step: usize,
    /// What broke.
    pub invariant: String,
    /// The steps that led there, one per line, as scenario YAML.
    pub steps: String,
}

/// What a random simulation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RandomReport {
    /// Runs completed.
    pub runs: u64,
    /// Steps executed.
    pub steps: u64,
    /// Deployments created.
    pub deployments: u64,
    /// Faults injected.
    pub faults: u64,
    /// Manager crashes.
    pub crashes: u64,
    /// A digest of every run's trace: the same for the same seed and runs.
    pub digest: String,
    /// The CloudEvents types published, each checked against CloudEvents 1.0.
    pub event_types: BTreeSet<String>,
}

const ACTORS: [&str; 5] = ["jane", "omar", "li", "sam", "jane@northwind.example"];

/// Picks one step, using the catalog's names.
fn random_step(rng: &mut SimRng, catalog: &Catalog, pushed: usize) -> Step {
    let apps: Vec<&str> = catalog.applications.keys().map(String::as_str).collect();
    let sets: Vec<&str> = catalog
        .application_sets
        .keys()
        .map(String::as_str)
        .collect();
    let envs: Vec<&str> = catalog.environments.keys().map(String::as_str).collect();
    let app = rng.pick(&apps).copied().unwrap_or_default().to_string();
    let set = rng.pick(&sets).copied().unwrap_or_default().to_string();
    let env = rng.pick(&envs).copied().unwrap_or_default().to_string();
    let patch = rng.below(6);
    let version = format!("v1.0.{patch}");
    let bundle = format!("2026.{}", 11 + rng.below(2));
    let actor = rng.pick(&ACTORS).copied().unwrap_or_default().to_string();
    match rng.below(100) {
        0..=29 => {
            let build = catalog
                .applications
                .get(&app)
                .and_then(|a| match &a.source {
                    cd_core::manifest::Source::Build { build_definition } => {
                        Some(build_definition.clone())
                    }
                    cd_core::manifest::Source::External { .. } => None,
                });
            let build = build.unwrap_or_else(|| app.clone());
            let container = catalog
                .image_of(&app)
                .map(|i| i.name.to_string())
                .unwrap_or_default();
            let hotfix = rng.chance(10);
            let push = PushStep {
                build_definition: build,
                container,
                version: if hotfix {
                    format!("{version}-hotfix.0")
                } else {
                    version.clone()
                },
                commit: format!("{:07x}", rng.next_u64() & 0xfff_ffff),
                git_ref: "refs/heads/main".into(),
            };
            if rng.chance(10) {
                // Nobody pushed the image: a version above any CI builds here.
                Step::Notify(PushStep {
                    version: format!("v9.{patch}.0"),
                    ..push
                })
            } else {
                Step::Push(push)
            }
        }
        30..=39 => Step::Release(ReleaseStep {
            application_set: set,
            bundle,
            versions: BTreeMap::new(),
        }),
        40..=57 => {
            let release = rng.chance(50);
            Step::Approve(ActStep {
                application: (!release).then(|| app.clone()),
                version: (!release).then(|| version.clone()),
                application_set: release.then(|| set.clone()),
                bundle: release.then(|| bundle.clone()),
                environment: env,
                actor,
                comment: String::new(),
            })
        }
        58..=61 => Step::Reject(ActStep {
            application: None,
            version: None,
            application_set: Some(set),
            bundle: Some(bundle),
            environment: env,
            actor,
            comment: "not now".into(),
        }),
        62..=67 => {
            let release = rng.chance(50);
            Step::Engine(EngineStep {
                application: (!release).then(|| app.clone()),
                application_set: release.then(|| set.clone()),
                environment: env,
                result: if rng.chance(25) {
                    EngineStatus::Failed
                } else {
                    EngineStatus::Success
                },
            })
        }
        68..=70 => Step::Retry(RetryStep {
            application_set: Some(set),
            bundle: Some(bundle),
            application: None,
            version: None,
        }),
        71 => {
            // A release, or a build of an application.
            let release = rng.chance(50);
            Step::Cancel(RetryStep {
                application_set: release.then(|| set.clone()),
                bundle: release.then(|| bundle.clone()),
                application: (!release).then(|| app.clone()),
                version: (!release).then(|| version.clone()),
            })
        }
        72..=74 => Step::Rollback(RollbackStep {
            application: app,
            environment: env,
            version,
        }),
        75..=77 => Step::Hold(HoldStep {
            environment: env,
            actor,
            reason: "freeze".into(),
        }),
        78..=81 => Step::Unhold(UnholdStep {
            environment: env,
            actor,
        }),
        82..=85 if pushed > 0 => Step::Redeliver(1 + rng.below(pushed)),
        86..=88 => Step::Crash(Empty {}),
        89..=95 => {
            let ops = Operation::ALL;
            Step::FailNext(FailNextStep {
                operation: *rng.pick(&ops).unwrap_or(&Operation::GitPush),
                times: u32::try_from(1 + rng.below(5)).unwrap_or(1),
            })
        }
        _ => Step::Tick(TickStep {
            seconds: i64::try_from(60 * (1 + rng.below(45))).unwrap_or(60),
        }),
    }
}

/// What the checker remembers between steps.
#[derive(Default)]
struct Seen {
    deployments: BTreeSet<String>,
    approvals: usize,
    ledger: Vec<String>,
    /// Events already checked.
    events: usize,
    /// Commits on the branch when its head's versions were last found to resolve (none yet).
    commits: usize,
    event_types: BTreeSet<String>,
}

fn check(world: &World, seen: &mut Seen) -> Result<(), String> {
    let state = world.state();
    // No deployment lost or duplicated.
    for id in &seen.deployments {
        if !state
            .deployments
            .contains_key(&cd_core::pipeline::DeploymentId(id.clone()))
        {
            return Err(format!("deployment {id} disappeared"));
        }
    }
    seen.deployments
        .extend(state.deployments.keys().map(|k| k.0.clone()));
    let mut keys = BTreeSet::new();
    for d in state.deployments.values() {
        if let Some(k) = &d.dedup_key
            && !keys.insert(k)
        {
            return Err(format!("two deployments for one notification: {k}"));
        }
    }
    // The approval ledger only grows.
    let ledger: Vec<String> = state
        .approvals
        .iter()
        .map(|a| format!("{}/{}/{}", a.deployment, a.approval_id, a.action.as_str()))
        .collect();
    if ledger.len() < seen.approvals || ledger.get(..seen.ledger.len()) != Some(&seen.ledger[..]) {
        return Err("the approval ledger lost or changed an entry".into());
    }
    seen.approvals = ledger.len();
    seen.ledger = ledger;
    gates_honoured(world, &state)?;
    // No promotion was decided into a held environment.
    for (envs, holds) in &world.promotions {
        if let Some(e) = envs.iter().find(|e| holds.contains(e)) {
            return Err(format!("a promotion into held {e} was decided"));
        }
    }
    registry_immutable(world)?;
    manifests_consistent(world, &state)?;
    // Tags are never removed (checked above), so the head's versions resolve as long as the
    // head has not moved since they last did.
    let commits = world.repo.commit_count();
    if commits != seen.commits {
        manifests_resolvable(world)?;
        seen.commits = commits;
    }
    // Every event published is a CloudEvents 1.0 event.
    for event in world.notifier.events_since(seen.events) {
        super::cloudevents::check(&event.structured())
            .map_err(|e| format!("event {} ({}): {e}", event.id, event.event_type))?;
        seen.event_types.insert(event.event_type);
        seen.events += 1;
    }
    Ok(())
}

/// No manifest version without its image tag: every DeploymentConfig at the repository head
/// names a tag that exists in every registry of its application's image.
fn manifests_resolvable(world: &World) -> Result<(), String> {
    let head = Catalog::load(world.repo.files()).catalog;
    let images = world.registry.snapshot();
    for dc in head.deployment_configs.values() {
        let (Some(version), Some(image)) = (&dc.version, world.catalog.image_of(&dc.application))
        else {
            continue;
        };
        for registry in image.registries {
            let tagged = images
                .get(&format!("{registry}/{}", image.name))
                .is_some_and(|tags| tags.contains_key(version));
            if !tagged {
                return Err(format!(
                    "{} names {version}, but {registry} has no tag {version} of {}",
                    dc.origin.file, image.name
                ));
            }
        }
    }
    Ok(())
}

fn gates_honoured(world: &World, state: &State) -> Result<(), String> {
    let catalog = &world.catalog;
    for d in state.deployments.values() {
        for stage in &d.stages {
            let Some(policy) = &stage.approval else {
                continue;
            };
            if stage.commit_sha.is_none() && stage.status != StageStatus::Promoting {
                continue;
            }
            let ledger: Vec<_> = state
                .approvals
                .iter()
                .filter(|a| a.deployment == d.id && a.stage_index == stage.index)
                .collect();
            let after = ledger
                .iter()
                .rposition(|a| a.action == ApprovalAction::Reject)
                .map_or(0, |i| i + 1);
            let stakeholders = catalog.stakeholders(policy);
            let approvers: BTreeSet<String> = ledger
                .get(after..)
                .unwrap_or_default()
                .iter()
                .filter(|a| a.action == ApprovalAction::Approve)
                .map(|a| catalog.identity(&a.actor))
                .filter(|w| stakeholders.contains(w))
                .collect();
            if approvers.len() < policy.min_approvals as usize {
                return Err(format!(
                    "{} stage {} promoted with {} of {} approvals",
                    d.id,
                    stage.index,
                    approvers.len(),
                    policy.min_approvals
                ));
            }
        }
    }
    Ok(())
}

fn registry_immutable(world: &World) -> Result<(), String> {
    let mut seen: BTreeMap<(String, String), String> = BTreeMap::new();
    for e in world.registry.history() {
        if let Some(d) = seen.insert((e.image.clone(), e.tag.clone()), e.digest.clone()) {
            return Err(format!(
                "tag {}:{} was created twice ({d}, then {})",
                e.image, e.tag, e.digest
            ));
        }
    }
    let now = world.registry.snapshot();
    for ((image, tag), digest) in &seen {
        if now.get(image).and_then(|t| t.get(tag)) != Some(digest) {
            return Err(format!("tag {image}:{tag} changed digest or disappeared"));
        }
    }
    Ok(())
}

/// Every version the engine wrote existed as a tag of the app's image when it was committed,
/// and no environment's version went back except by a rollback.
fn manifests_consistent(world: &World, state: &State) -> Result<(), String> {
    let catalog = &world.catalog;
    let history = world.registry.history();
    let by_path: BTreeMap<&str, (&str, &str)> = catalog
        .deployment_configs
        .values()
        .map(|dc| {
            (
                dc.origin.file.as_str(),
                (dc.application.as_str(), dc.environment.as_str()),
            )
        })
        .collect();
    let mut written: BTreeMap<String, String> = BTreeMap::new();
    for commit in world.repo.commits() {
        if !commit.by_engine {
            continue;
        }
        let track = cd_core::pipeline::Promotion::parse(&commit.message)
            .and_then(|p| state.deployments.get(&p.deployment))
            .map(|d| d.track);
        for path in &commit.changed {
            let Some((app, env)) = by_path.get(path.as_str()) else {
                continue;
            };
            let head = Catalog::load([(
                path.as_str(),
                commit.files.get(path).map_or("", String::as_str),
            )])
            .catalog;
            let Some(version) = head
                .deployment_config(app, env)
                .and_then(|dc| dc.version.clone())
            else {
                return Err(format!(
                    "commit {} left {path} without a version",
                    commit.id
                ));
            };
            let image = catalog
                .image_of(app)
                .map(|i| i.name.to_string())
                .unwrap_or_default();
            let tagged_before = history.iter().any(|e| {
                e.seq < commit.seq && e.image.ends_with(&format!("/{image}")) && e.tag == version
            });
            if !tagged_before {
                return Err(format!(
                    "commit {} wrote {version} to {path} before {image}:{version} existed",
                    commit.id
                ));
            }
            let key = env_key(app, env);
            if let Some(previous) = written.get(&key) {
                let back = version_back(&version, previous);
                if back && track != Some(DeploymentTrack::Rollback) {
                    return Err(format!(
                        "{env} of {app} went back from {previous} to {version}"
                    ));
                }
            }
            written.insert(key, version);
        }
    }
    Ok(())
}

fn version_back(new: &str, old: &str) -> bool {
    let semver = |v: &str| semver::Version::parse(v.strip_prefix('v').unwrap_or(v)).ok();
    if let (Some(a), Some(b)) = (semver(new), semver(old)) {
        return a < b;
    }
    let rc = |v: &str| {
        let (prefix, n) = v.rsplit_once("-rc.")?;
        Some((prefix.to_string(), n.parse::<u64>().ok()?))
    };
    matches!((rc(new), rc(old)), (Some((pa, a)), Some((pb, b))) if pa == pb && a < b)
}

/// Once faults stop and the engine answers everything, every deployment is final or waits on a
/// human.
fn quiescent(world: &World) -> Result<(), String> {
    let state = world.state();
    let parked: BTreeSet<String> = state
        .env_versions
        .iter()
        .filter(|(_, v)| {
            v.in_flight
                && state
                    .deployments
                    .get(&v.deployment)
                    .is_some_and(|d| d.parked.is_some())
        })
        .map(|(k, _)| k.clone())
        .collect();
    for d in state.deployments.values() {
        if d.status.is_final() || d.parked.is_some() {
            continue;
        }
        let Some(stage) = d.stage() else {
            return Err(format!("{} is {} with no stage", d.id, d.status.as_str()));
        };
        let on_human = stage.status.is_gated()
            || (stage.status == StageStatus::Pending
                && d.applications().iter().any(|a| {
                    stage
                        .environments
                        .iter()
                        .any(|e| parked.contains(&env_key(a, e)))
                }));
        if !on_human {
            return Err(format!(
                "{} is stuck: {} with stage {} {}",
                d.id,
                d.status.as_str(),
                stage.index,
                stage.status.as_str()
            ));
        }
    }
    Ok(())
}

fn yaml_line(step: &Step) -> String {
    format!("  - {}", serde_json::to_string(step).unwrap_or_default())
}

/// One run: random steps with chaos, checked after every step, then a final quiescence check.
/// Returns the run's trace (for the digest) and its counters.
fn run_one(
    files: &[(String, String)],
    seed: u64,
    steps: usize,
) -> Result<(String, RandomReport), Violation> {
    let mut rng = SimRng::new(seed);
    let mut world =
        World::new(files.to_vec(), EngineMode::Success, seed ^ 0x5eed).map_err(|p| Violation {
            seed,
            step: 0,
            invariant: format!("the manifests are invalid: {p}"),
            steps: String::new(),
        })?;
    world.chaos = Chaos {
        reorder: true,
        crash_percent: 2,
    };
    let mut runner = Runner::new(world);
    let mut seen = Seen::default();
    let mut trace = String::new();
    let mut lines = Vec::new();
    let mut pushed = 0;
    for n in 1..=steps {
        let step = random_step(&mut rng, &runner.world.catalog, pushed);
        if matches!(step, Step::Push(_)) {
            pushed += 1;
        }
        let line = yaml_line(&step);
        trace.push_str(&line);
        trace.push('\n');
        lines.push(line);
        runner.run(n, &step);
        if let Err(invariant) = check(&runner.world, &mut seen) {
            return Err(Violation {
                seed,
                step: n,
                invariant,
                steps: lines.join("\n"),
            });
        }
    }
    // Faults stop; the engine answers what it owes; time passes beyond every deadline.
    runner.world.faults.clear();
    runner.world.chaos = Chaos::default();
    runner.world.settle();
    runner.world.tick(7 * 24 * 3600);
    let final_check = check(&runner.world, &mut seen).and_then(|()| quiescent(&runner.world));
    if let Err(invariant) = final_check {
        return Err(Violation {
            seed,
            step: 0,
            invariant,
            steps: lines.join("\n"),
        });
    }
    let output = runner.output();
    trace.push_str(&serde_json::to_string(&output).unwrap_or_default());
    Ok((
        trace,
        RandomReport {
            runs: 1,
            steps: steps as u64,
            deployments: output.deployments.len() as u64,
            faults: runner.world.faults.injected(),
            crashes: runner.world.crashes,
            digest: String::new(),
            event_types: seen.event_types,
        },
    ))
}

/// Runs `options.runs` random simulations over `files`; `progress` is called after each run.
///
/// # Errors
/// The first [`Violation`].
pub fn run_random(
    files: &[(String, String)],
    options: &RandomOptions,
    mut progress: impl FnMut(u64),
) -> Result<RandomReport, Violation> {
    let mut hasher = Sha256::new();
    let mut total = RandomReport {
        runs: 0,
        steps: 0,
        deployments: 0,
        faults: 0,
        crashes: 0,
        digest: String::new(),
        event_types: BTreeSet::new(),
    };
    for i in 0..options.runs {
        let seed = options.seed.wrapping_add(i);
        let (trace, r) = run_one(files, seed, options.steps)?;
        hasher.update(seed.to_le_bytes());
        hasher.update(trace.as_bytes());
        total.runs += 1;
        total.steps += r.steps;
        total.deployments += r.deployments;
        total.faults += r.faults;
        total.crashes += r.crashes;
        total.event_types.extend(r.event_types);
        progress(i + 1);
    }
    total.digest = hex::encode(hasher.finalize());
    Ok(total)
}
