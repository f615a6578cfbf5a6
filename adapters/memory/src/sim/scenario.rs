//! Scenario files: what `infrastream sim SCENARIO.yaml` runs, and the JSON it prints.

use std::collections::BTreeMap;

use cd_core::manifest::Catalog;
use cd_core::pipeline::{
    ApprovalAction, ApprovalRecorded, BuildNotified, DeploymentId, DeploymentTrack, EngineStatus,
    Input, ReleaseRequested,
};
use cd_ports::DriverError;
use serde::{Deserialize, Deserializer, Serialize};

use super::world::World;
use crate::engine::{EngineMode, RunTarget};
use crate::faults::Operation;

/// A scenario file.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The manifest directory, relative to the scenario file.
    pub manifests: String,
    /// Tags already in the registry: image -> tag -> digest.
    #[serde(default)]
    pub images: BTreeMap<String, BTreeMap<String, String>>,
    /// The simulated engine's default answer.
    #[serde(default)]
    pub engine: EngineMode,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

/// Accepts a string or a number (YAML reads `2026.11` or `123456` unquoted as numbers).
fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Text(String),
        Int(i64),
        Float(f64),
    }
    Ok(match Scalar::deserialize(d)? {
        Scalar::Text(s) => s,
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
    })
}

fn lenient_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    lenient(d).map(Some)
}

/// One step of a scenario.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// CI built and pushed an image, then notified.
    Push(PushStep),
    /// A build notification for an image tag nobody pushed (a hand-made or mistaken
    /// notification): it must be refused, and no manifest may name the version.
    Notify(PushStep),
    /// The engine answers the pending reconciliation of a target in an environment.
    Engine(EngineStep),
    /// An approval.
    Approve(ActStep),
    /// A rejection.
    Reject(ActStep),
    /// A release request.
    Release(ReleaseStep),
    /// A retry.
    Retry(RetryStep),
    /// A cancel (named like a retry).
    Cancel(RetryStep),
    /// A rollback request.
    Rollback(RollbackStep),
    /// A hold.
    Hold(HoldStep),
    /// A lifted hold.
    Unhold(UnholdStep),
    /// The n-th push step's notification, delivered again.
    Redeliver(usize),
    /// The manager restarts; store, registry and git survive.
    Crash(Empty),
    /// The next calls of an operation fail transiently.
    FailNext(FailNextStep),
    /// Simulated time passes.
    Tick(TickStep),
}

/// `{}`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// `push`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PushStep {
    /// BuildDefinition (or ExternalApplication) name.
    pub build_definition: String,
    /// Image name.
    pub container: String,
    /// Version tag.
    #[serde(deserialize_with = "lenient")]
    pub version: String,
    /// Source commit.
    #[serde(default, deserialize_with = "lenient")]
    pub commit: String,
    /// Git ref.
    #[serde(default = "main_ref", rename = "ref")]
    pub git_ref: String,
}

fn main_ref() -> String {
    "refs/heads/main".into()
}

/// `engine`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EngineStep {
    /// The application (a non-release run).
    #[serde(default)]
    pub application: Option<String>,
    /// The application set (a release run).
    #[serde(default)]
    pub application_set: Option<String>,
    /// The environment.
    pub environment: String,
    /// SUCCESS or FAILED.
    pub result: EngineStatus,
}

/// `approve` / `reject`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActStep {
    /// With `version`: a PreRelease or Hotfix deployment.
    #[serde(default)]
    pub application: Option<String>,
    /// The application's version.
    #[serde(default, deserialize_with = "lenient_opt")]
    pub version: Option<String>,
    /// With `bundle`: a release.
    #[serde(default)]
    pub application_set: Option<String>,
    /// The bundle.
    #[serde(default, deserialize_with = "lenient_opt")]
    pub bundle: Option<String>,
    /// The stage, by one of its environments.
    pub environment: String,
    /// An OrganizationUser name or primary email.
    pub actor: String,
    /// A comment.
    #[serde(default)]
    pub comment: String,
}

/// `release`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseStep {
    /// The set.
    pub application_set: String,
    /// The bundle.
    #[serde(deserialize_with = "lenient")]
    pub bundle: String,
    /// Versions per app.
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
}

/// `retry`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryStep {
    /// A release, by set and bundle...
    #[serde(default)]
    pub application_set: Option<String>,
    /// ...and bundle.
    #[serde(default, deserialize_with = "lenient_opt")]
    pub bundle: Option<String>,
    /// Or a deployment of an application...
    #[serde(default)]
    pub application: Option<String>,
    /// ...at a version.
    #[serde(default, deserialize_with = "lenient_opt")]
    pub version: Option<String>,
}

/// `rollback`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackStep {
    /// The application.
    pub application: String,
    /// The environment.
    pub environment: String,
    /// The version.
    #[serde(deserialize_with = "lenient")]
    pub version: String,
}

/// `hold`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HoldStep {
    /// The environment.
    pub environment: String,
    /// Who.
    pub actor: String,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// `unhold`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnholdStep {
    /// The environment.
    pub environment: String,
    /// Who.
    pub actor: String,
}

/// `fail-next`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailNextStep {
    /// Which operation.
    pub operation: Operation,
    /// How many calls.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

/// `tick`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TickStep {
    /// Seconds.
    pub seconds: i64,
}

/// Why a scenario could not run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The scenario file is not valid YAML.
    #[error("{file}: {error}")]
    Yaml {
        /// The file.
        file: String,
        /// What the parser said.
        error: cd_core::YamlError,
    },
    /// A field is missing or has the wrong type or value.
    #[error("{file}: {path}: {message}")]
    Field {
        /// The file.
        file: String,
        /// The field, e.g. `steps[3].push.version`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The manifests are invalid.
    #[error("{0}")]
    Manifests(cd_core::manifest::Problems),
}

impl Scenario {
    /// Parses a scenario file's text; `file` names it in errors.
    ///
    /// # Errors
    /// [`ScenarioError`] naming the file, the field and what is wrong.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let docs = cd_core::yaml_documents(text).map_err(|error| ScenarioError::Yaml {
            file: file.to_string(),
            error,
        })?;
        let doc = docs.into_iter().next().unwrap_or(serde_json::Value::Null);
        serde_path_to_error::deserialize(doc).map_err(|e| {
            let path = e.path().to_string();
            ScenarioError::Field {
                file: file.to_string(),
                path: if path == "." {
                    "(top level)".into()
                } else {
                    path
                },
                message: e.into_inner().to_string(),
            }
        })
    }
}

/// The final state, as `infrastream sim --json` prints it. Field names are a public interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimOutput {
    /// Deployments in creation order.
    pub deployments: Vec<DeploymentOut>,
    /// Every DeploymentConfig of the tenant, by path relative to the manifests directory.
    pub manifests: BTreeMap<String, String>,
    /// image -> tag -> digest.
    pub registry: BTreeMap<String, BTreeMap<String, String>>,
    /// The approval ledger, in order.
    pub approvals: Vec<ApprovalOut>,
    /// GithubRepository -> release branches.
    pub branches: BTreeMap<String, Vec<String>>,
    /// Commits the CD engine made.
    pub commits: usize,
    /// Steps the system refused, with why.
    pub rejected: Vec<RejectedOut>,
}

/// One deployment in the output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentOut {
    /// Id.
    pub id: String,
    /// PRERELEASE, RELEASE, HOTFIX or ROLLBACK.
    pub track: DeploymentTrack,
    /// The application, or null for a release.
    pub application: Option<String>,
    /// The set.
    pub application_set: String,
    /// The bundle, or null.
    pub bundle: Option<String>,
    /// The version written (a release's RC tag).
    pub version: String,
    /// App -> semver version.
    pub apps: BTreeMap<String, String>,
    /// Status.
    pub status: String,
    /// Stages.
    pub stages: Vec<StageOut>,
}

/// One stage in the output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageOut {
    /// Index.
    pub index: usize,
    /// Environments.
    pub environments: Vec<String>,
    /// Status.
    pub status: String,
    /// The version it writes.
    pub version: String,
}

/// One ledger entry in the output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalOut {
    /// The deployment.
    pub deployment: String,
    /// The stage.
    pub stage_index: usize,
    /// Who.
    pub actor: String,
    /// APPROVE or REJECT.
    pub action: String,
    /// Comment.
    pub comment: String,
}

/// A refused step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedOut {
    /// The step's number, from 1.
    pub step: usize,
    /// Why.
    pub reason: String,
}

/// Runs steps on a world, recording refusals.
pub(crate) struct Runner {
    pub(crate) world: World,
    pushes: Vec<Input>,
    pub(crate) rejected: Vec<RejectedOut>,
}

impl Runner {
    pub(crate) fn new(world: World) -> Self {
        Runner {
            world,
            pushes: Vec::new(),
            rejected: Vec::new(),
        }
    }

    fn refuse(&mut self, step: usize, reason: String) {
        self.rejected.push(RejectedOut { step, reason });
    }

    fn submit(&mut self, step: usize, input: &Input) {
        match self.world.input(input) {
            Ok(_) => {}
            Err(DriverError::Rejected(r)) => self.refuse(step, r.to_string()),
            Err(e) => self.refuse(step, e.to_string()),
        }
    }

    /// The deployment a step addresses: an application's version, or a bundle's latest attempt
    /// that is not final (else its latest).
    fn target(
        &self,
        app: Option<&str>,
        version: Option<&str>,
        set: Option<&str>,
        bundle: Option<&str>,
    ) -> Result<DeploymentId, String> {
        let state = self.world.state();
        let mut candidates: Vec<_> = state
            .deployments
            .values()
            .filter(|d| match (app, version, set, bundle) {
                (Some(a), Some(v), _, _) => {
                    d.application.as_deref() == Some(a)
                        && d.version == v
                        && d.track != DeploymentTrack::Release
                }
                (_, _, Some(s), Some(b)) => {
                    d.track == DeploymentTrack::Release
                        && d.application_set == s
                        && d.bundle.as_deref() == Some(b)
                }
                _ => false,
            })
            .collect();
        candidates.sort_by_key(|d| (d.sequence, d.created_at));
        candidates
            .iter()
            .rev()
            .find(|d| !d.status.is_final())
            .or(candidates.last())
            .map(|d| d.id.clone())
            .ok_or_else(|| match (app, version, set, bundle) {
                (Some(a), Some(v), _, _) => format!("no deployment of {a} at {v}"),
                (_, _, Some(s), Some(b)) => format!("no release of {s} {b}"),
                _ => "name application and version, or applicationSet and bundle".to_string(),
            })
    }

    /// Runs step `n` (from 1).
    pub(crate) fn run(&mut self, n: usize, step: &Step) {
        match step {
            Step::Push(p) => {
                // CI always has a commit; a scenario may leave it out.
                let commit = if p.commit.is_empty() {
                    format!("{:x}", n * 0x1_0001 + 0xabc_0000)
                } else {
                    p.commit.clone()
                };
                let input = Input::BuildNotified(self.world.notification(
                    &p.build_definition,
                    &p.container,
                    &p.version,
                    &commit,
                    &p.git_ref,
                ));
                self.pushes.push(input.clone());
                self.submit(n, &input);
            }
            Step::Notify(p) => {
                let repository = self.world.repository_of(&p.build_definition);
                let input = Input::BuildNotified(BuildNotified {
                    build_definition_id: p.build_definition.clone(),
                    container: p.container.clone(),
                    version: p.version.clone(),
                    commit_sha: p.commit.clone(),
                    repository,
                    git_ref: p.git_ref.clone(),
                    ..BuildNotified::default()
                });
                self.submit(n, &input);
            }
            Step::Engine(e) => {
                if e.application.is_none() && e.application_set.is_none() {
                    self.refuse(n, "engine: name an application or an applicationSet".into());
                    return;
                }
                self.world.engine_answer(
                    RunTarget {
                        application: e.application.clone(),
                        application_set: e.application_set.clone(),
                        environment: e.environment.clone(),
                    },
                    e.result,
                );
            }
            Step::Approve(a) | Step::Reject(a) => {
                let action = if matches!(step, Step::Approve(_)) {
                    ApprovalAction::Approve
                } else {
                    ApprovalAction::Reject
                };
                let id = match self.target(
                    a.application.as_deref(),
                    a.version.as_deref(),
                    a.application_set.as_deref(),
                    a.bundle.as_deref(),
                ) {
                    Ok(id) => id,
                    Err(reason) => return self.refuse(n, reason),
                };
                let state = self.world.state();
                let stage = state.deployments.get(&id).and_then(|d| {
                    d.stages
                        .iter()
                        .position(|s| s.environments.contains(&a.environment))
                });
                let Some(stage_index) = stage else {
                    return self.refuse(
                        n,
                        format!(
                            "deployment {id} has no stage for environment {}",
                            a.environment
                        ),
                    );
                };
                self.submit(
                    n,
                    &Input::ApprovalRecorded(ApprovalRecorded {
                        deployment: id,
                        stage_index,
                        actor: a.actor.clone(),
                        action,
                        comment: a.comment.clone(),
                    }),
                );
            }
            Step::Release(r) => self.submit(
                n,
                &Input::ReleaseRequested(ReleaseRequested {
                    application_set: r.application_set.clone(),
                    bundle: r.bundle.clone(),
                    versions: r.versions.clone(),
                    actor: "simulator".into(),
                }),
            ),
            Step::Retry(r) | Step::Cancel(r) => {
                let id = match self.target(
                    r.application.as_deref(),
                    r.version.as_deref(),
                    r.application_set.as_deref(),
                    r.bundle.as_deref(),
                ) {
                    Ok(id) => id,
                    Err(reason) => return self.refuse(n, reason),
                };
                let input = if matches!(step, Step::Cancel(_)) {
                    Input::CancelRequested {
                        deployment: id,
                        actor: "simulator".into(),
                        comment: "cancelled by the scenario".into(),
                    }
                } else {
                    Input::RetryRequested {
                        deployment: id,
                        actor: "simulator".into(),
                    }
                };
                self.submit(n, &input);
            }
            Step::Rollback(r) => self.submit(
                n,
                &Input::RollbackRequested {
                    application: r.application.clone(),
                    environment: r.environment.clone(),
                    version: r.version.clone(),
                    actor: "simulator".into(),
                },
            ),
            Step::Hold(h) => self.submit(
                n,
                &Input::HoldPlaced {
                    environment: h.environment.clone(),
                    reason: h.reason.clone(),
                    actor: h.actor.clone(),
                },
            ),
            Step::Unhold(h) => self.submit(
                n,
                &Input::HoldLifted {
                    environment: h.environment.clone(),
                    actor: h.actor.clone(),
                },
            ),
            Step::Redeliver(k) => {
                match k.checked_sub(1).and_then(|i| self.pushes.get(i)).cloned() {
                    Some(input) => self.submit(n, &input),
                    None => {
                        self.refuse(n, format!("there is no push step number {k} to redeliver"))
                    }
                }
            }
            Step::Crash(_) => {
                self.world.crash();
                self.world.settle();
            }
            Step::FailNext(f) if f.operation == Operation::GitRace => {
                self.world.repo.lose_races(f.times)
            }
            Step::FailNext(f) => self.world.faults.fail_next(f.operation, f.times),
            Step::Tick(t) => self.world.tick(t.seconds),
        }
    }

    /// The output document.
    pub(crate) fn output(&self) -> SimOutput {
        let state = self.world.state();
        let mut deployments: Vec<_> = state.deployments.values().collect();
        deployments.sort_by_key(|d| (d.sequence, d.created_at));
        let files = self.world.repo.files();
        let head = Catalog::load(files.iter().map(|(p, t)| (p.as_str(), t.as_str()))).catalog;
        SimOutput {
            deployments: deployments
                .into_iter()
                .map(|d| DeploymentOut {
                    id: d.id.0.clone(),
                    track: d.track,
                    application: d.application.clone(),
                    application_set: d.application_set.clone(),
                    bundle: d.bundle.clone(),
                    version: d.version.clone(),
                    apps: match &d.application {
                        Some(a) => BTreeMap::from([(a.clone(), d.version.clone())]),
                        None => d
                            .apps
                            .iter()
                            .map(|(a, b)| (a.clone(), b.version.clone()))
                            .collect(),
                    },
                    status: d.status.as_str().to_string(),
                    stages: d
                        .stages
                        .iter()
                        .map(|s| StageOut {
                            index: s.index,
                            environments: s.environments.clone(),
                            status: s.status.as_str().to_string(),
                            version: d.version.clone(),
                        })
                        .collect(),
                })
                .collect(),
            manifests: head
                .deployment_configs
                .values()
                .map(|dc| {
                    (
                        dc.origin.file.clone(),
                        dc.version.clone().unwrap_or_default(),
                    )
                })
                .collect(),
            registry: self.world.images(),
            approvals: state
                .approvals
                .iter()
                .map(|a| ApprovalOut {
                    deployment: a.deployment.0.clone(),
                    stage_index: a.stage_index,
                    actor: a.actor.clone(),
                    action: a.action.as_str().to_string(),
                    comment: a.comment.clone(),
                })
                .collect(),
            branches: self
                .world
                .source
                .branches()
                .into_iter()
                .map(|(repo, b)| (repo, b.into_keys().collect()))
                .collect(),
            commits: self
                .world
                .repo
                .commits()
                .iter()
                .filter(|c| c.by_engine)
                .count(),
            rejected: self.rejected.clone(),
        }
    }
}

/// Runs a parsed scenario over manifest files (paths relative to the manifest directory).
///
/// # Errors
/// [`ScenarioError::Manifests`] when the manifests are invalid.
pub fn run_scenario(
    scenario: &Scenario,
    files: Vec<(String, String)>,
) -> Result<SimOutput, ScenarioError> {
    let world = World::new(files, scenario.engine, 0).map_err(ScenarioError::Manifests)?;
    for (image, tags) in &scenario.images {
        for (tag, digest) in tags {
            world.seed_image(image, tag, digest);
        }
    }
    let mut runner = Runner::new(world);
    for (i, step) in scenario.steps.iter().enumerate() {
        runner.run(i + 1, step);
    }
    Ok(runner.output())
}
