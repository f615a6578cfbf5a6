//! A synchronous test driver: the core over a fake registry, repository and engine, with the
//! invariants checked on every effect.

use std::collections::{BTreeMap, VecDeque};

use cd_core::manifest::Catalog;
use cd_core::pipeline::{
    ApprovalAction, ApprovalRecorded, BuildNotified, Decision, Deployment, DeploymentId,
    DeploymentTrack, Effect, EffectKind, EffectOutcome, EngineStatus, Input, Rejection,
    ReleaseRequested, SequentialIds, Settings, Snapshot, StageStatus, State, StatusReported,
    Timestamp, decide, pending_effects,
};

use crate::example_files;

/// Orders versions of one app: semver by semver, RC tags of one bundle by number.
pub(crate) fn version_order(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    let semver = |v: &str| semver::Version::parse(v.strip_prefix('v').unwrap_or(v)).ok();
    if let (Some(x), Some(y)) = (semver(a), semver(b)) {
        return Some(x.cmp(&y));
    }
    let rc = |v: &str| {
        v.rsplit_once("-rc.")
            .and_then(|(p, n)| Some((p.to_string(), n.parse::<u64>().ok()?)))
    };
    match (rc(a), rc(b)) {
        (Some((pa, na)), Some((pb, nb))) if pa == pb => Some(na.cmp(&nb)),
        _ => None,
    }
}

/// A commit the fake repository holds.
#[derive(Clone, Debug)]
pub(crate) struct Commit {
    pub(crate) sha: String,
    pub(crate) deployment: DeploymentId,
    pub(crate) stage: usize,
    pub(crate) files: Vec<(String, String)>,
}

/// How the next execution of an effect kind behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Gives up after retries: EffectFailed, transient.
    Transient,
    /// EffectFailed, permanent.
    Permanent,
}

pub(crate) struct World {
    pub(crate) catalog: Catalog,
    pub(crate) state: State,
    pub(crate) settings: Settings,
    pub(crate) now: Timestamp,
    pub(crate) ids: SequentialIds,
    pub(crate) queue: VecDeque<Effect>,
    /// registry/image -> tag -> digest
    pub(crate) registry: BTreeMap<String, BTreeMap<String, String>>,
    /// DeploymentConfig path -> version
    pub(crate) manifests: BTreeMap<String, String>,
    pub(crate) commits: Vec<Commit>,
    pub(crate) branches: BTreeMap<(String, String), String>,
    pub(crate) events: Vec<String>,
    pub(crate) faults: BTreeMap<&'static str, Fault>,
    /// Versions each (app, env) held, in commit order, with whether a rollback wrote it.
    pub(crate) history: BTreeMap<(String, String), Vec<(String, bool)>>,
    /// Notifications and reports accepted so far, to redeliver.
    pub(crate) delivered: Vec<Input>,
    /// GitHub releases created: (repository, tag, name, notes).
    pub(crate) releases: Vec<(String, String, String, String)>,
}

impl World {
    pub(crate) fn new() -> World {
        let catalog = Catalog::load_valid(example_files()).unwrap();
        let manifests = catalog
            .deployment_configs
            .values()
            .map(|dc| {
                (
                    dc.origin.file.clone(),
                    dc.version.clone().unwrap_or_default(),
                )
            })
            .collect();
        World {
            catalog,
            state: State::default(),
            settings: Settings::default(),
            now: Timestamp(1_000_000),
            ids: SequentialIds::new("d", 1),
            queue: VecDeque::new(),
            registry: BTreeMap::new(),
            manifests,
            commits: Vec::new(),
            branches: BTreeMap::new(),
            events: Vec::new(),
            faults: BTreeMap::new(),
            history: BTreeMap::new(),
            delivered: Vec::new(),
            releases: Vec::new(),
        }
    }

    /// Decides, applies the writes (as a store would) and queues the effects.
    pub(crate) fn input(&mut self, input: Input) -> Result<Decision, Rejection> {
        let snapshot = Snapshot {
            catalog: &self.catalog,
            state: &self.state,
            settings: &self.settings,
        };
        let before = self.state.clone();
        // The oracle: a store loads only what the input's reads name (open deployments, keyed
        // lookups, records), never the history; the decision must be the one the whole state
        // gives.
        let bounded_state = self.state.select_for(&input, &self.catalog);
        let bounded = decide(
            &Snapshot {
                state: &bounded_state,
                ..snapshot
            },
            &input,
            self.now,
            &mut self.ids.clone(),
        );
        let decision = decide(&snapshot, &input, self.now, &mut self.ids);
        assert_eq!(
            bounded, decision,
            "the bounded snapshot changed the decision on {input:?}"
        );

        let decision = decision?;
        self.state
            .apply(&decision.writes)
            .expect("a fresh decision applies");
        // The ledger only grows.
        assert!(self.state.approvals.starts_with(&before.approvals));
        // A promotion is never decided into a held environment. (One already being pushed when
        // a hold is placed completes: holds stop promotions that have not started.)
        for effect in &decision.effects {
            if let EffectKind::WriteManifests { edits, .. } = &effect.kind {
                let held: Vec<&str> = edits
                    .iter()
                    .map(|e| e.environment.as_str())
                    .filter(|e| self.state.holds.contains_key(*e))
                    .collect();
                assert!(
                    held.is_empty(),
                    "a promotion into held {held:?} was decided"
                );
            }
        }
        self.queue.extend(decision.effects.iter().cloned());
        Ok(decision)
    }

    /// Runs queued effects until none are left.
    pub(crate) fn settle(&mut self) {
        while let Some(effect) = self.queue.pop_front() {
            self.perform(effect);
        }
    }

    /// Forgets the queue (a crash) and rebuilds it from the stored outboxes (the restart).
    pub(crate) fn crash_and_restart(&mut self) {
        self.queue = pending_effects(&self.state).into();
    }

    fn image_of_app(&self, app: &str) -> String {
        self.catalog.image_of(app).unwrap().name.to_string()
    }

    /// Publishes `version` of an app's image as CI would, then notifies.
    pub(crate) fn push(&mut self, app: &str, version: &str) -> Result<Decision, Rejection> {
        self.publish_image(app, version);
        let image = self.image_of_app(app);
        self.input(Input::BuildNotified(BuildNotified {
            build_definition_id: app.to_string(),
            container: image,
            version: version.to_string(),
            commit_sha: format!("src-{version}"),
            repository: app.to_string(),
            git_ref: "refs/heads/main".to_string(),
            ..BuildNotified::default()
        }))
    }

    pub(crate) fn publish_image(&mut self, app: &str, version: &str) {
        let image = self.image_of_app(app);
        let digest = format!("sha256:{image}@{version}");
        self.registry
            .entry(format!("containers/{image}"))
            .or_default()
            .entry(version.to_string())
            .or_insert(digest);
    }

    pub(crate) fn release(&mut self, bundle: &str) -> Result<Decision, Rejection> {
        self.input(Input::ReleaseRequested(ReleaseRequested {
            application_set: "shop".into(),
            bundle: bundle.into(),
            actor: "sam".into(),
            ..ReleaseRequested::default()
        }))
    }

    pub(crate) fn deployment(&self, id: &DeploymentId) -> &Deployment {
        &self.state.deployments[id]
    }

    /// The engine reports on the current stage of a deployment, for its recorded commit.
    pub(crate) fn engine(
        &mut self,
        id: &DeploymentId,
        status: EngineStatus,
    ) -> Result<Decision, Rejection> {
        let d = self.deployment(id);
        let stage = d.stage().unwrap();
        let report = StatusReported {
            deployment: id.clone(),
            stage_index: stage.index,
            status,
            run_id: "run-1".into(),
            commit_sha: stage.commit_sha.clone().expect("a commit to report on"),
            message: if status == EngineStatus::Success {
                "applied".into()
            } else {
                "image pull failed".into()
            },
        };
        self.input(Input::StatusReported(report))
    }

    pub(crate) fn approve(
        &mut self,
        id: &DeploymentId,
        actor: &str,
    ) -> Result<Decision, Rejection> {
        self.act(id, actor, ApprovalAction::Approve)
    }

    pub(crate) fn act(
        &mut self,
        id: &DeploymentId,
        actor: &str,
        action: ApprovalAction,
    ) -> Result<Decision, Rejection> {
        let stage_index = self.deployment(id).current_stage;
        self.input(Input::ApprovalRecorded(ApprovalRecorded {
            deployment: id.clone(),
            stage_index,
            actor: actor.into(),
            action,
            comment: String::new(),
        }))
    }

    /// Runs one effect against the fakes and feeds the outcome back, checking invariants.
    pub(crate) fn perform(&mut self, effect: Effect) {
        if let Some(feedback) = self.execute(&effect) {
            self.input(feedback).unwrap();
        }
    }

    /// Runs one effect against the fakes and returns the input that reports its outcome.
    pub(crate) fn execute(&mut self, effect: &Effect) -> Option<Input> {
        let d = self.state.deployments.get(&effect.deployment)?;
        // A stale queue entry (e.g. executed before a crash) is harmless: its id is gone.
        if !d
            .outbox
            .iter()
            .any(|p| p.effect.id == effect.id && !p.parked)
        {
            return None;
        }
        if let Some(fault) = self.faults.remove(effect.kind.name()) {
            return Some(Input::EffectFailed {
                deployment: effect.deployment.clone(),
                effect_id: effect.id.clone(),
                error: format!("injected {fault:?} failure"),
                permanent: fault == Fault::Permanent,
            });
        }
        let outcome = match &effect.kind {
            EffectKind::ListTags { registry, image } => EffectOutcome::Tags {
                tags: self
                    .registry
                    .get(&format!("{registry}/{image}"))
                    .map(|t| t.keys().cloned().collect())
                    .unwrap_or_default(),
            },
            EffectKind::TagImage {
                registry,
                image,
                source,
                tag,
            } => {
                let tags = self
                    .registry
                    .entry(format!("{registry}/{image}"))
                    .or_default();
                let digest = tags.get(source).cloned().expect("the source tag exists");
                match tags.get(tag) {
                    Some(existing) if *existing != digest => {
                        return Some(Input::EffectFailed {
                            deployment: effect.deployment.clone(),
                            effect_id: effect.id.clone(),
                            error: format!("tag {tag} exists with another digest"),
                            permanent: true,
                        });
                    }
                    _ => {
                        tags.insert(tag.clone(), digest.clone());
                        EffectOutcome::Tagged { digest }
                    }
                }
            }
            EffectKind::WriteManifests {
                edits,
                deployment,
                stage,
                ..
            } => {
                for e in edits {
                    let image = self.image_of_app(&e.application);
                    let known = self
                        .registry
                        .get(&format!("containers/{image}"))
                        .is_some_and(|t| t.contains_key(&e.version));
                    assert!(
                        known,
                        "{} written before its tag exists for {image}",
                        e.version
                    );
                }
                let track = self.state.deployments[deployment].track;
                if let Some(c) = self
                    .commits
                    .iter()
                    .find(|c| c.deployment == *deployment && c.stage == *stage)
                {
                    EffectOutcome::Committed {
                        commit: Some(c.sha.clone()),
                    }
                } else if edits
                    .iter()
                    .all(|e| self.manifests.get(&e.path) == Some(&e.version))
                {
                    EffectOutcome::Committed { commit: None }
                } else {
                    let sha = format!("c{}", self.commits.len() + 1);
                    for e in edits {
                        self.manifests.insert(e.path.clone(), e.version.clone());
                        let seq = self
                            .history
                            .entry((e.application.clone(), e.environment.clone()))
                            .or_default();
                        let rollback = track == DeploymentTrack::Rollback;
                        if let (false, Some((last, _))) = (rollback, seq.last()) {
                            assert_ne!(
                                version_order(&e.version, last),
                                Some(std::cmp::Ordering::Less),
                                "{} in {} went back from {last} to {}",
                                e.application,
                                e.environment,
                                e.version
                            );
                        }
                        seq.push((e.version.clone(), rollback));
                    }
                    self.commits.push(Commit {
                        sha: sha.clone(),
                        deployment: deployment.clone(),
                        stage: *stage,
                        files: edits
                            .iter()
                            .map(|e| (e.path.clone(), e.version.clone()))
                            .collect(),
                    });
                    EffectOutcome::Committed { commit: Some(sha) }
                }
            }
            EffectKind::CreateBranch {
                repository,
                branch,
                from_tag,
            } => {
                let at = self
                    .branches
                    .entry((repository.clone(), branch.clone()))
                    .or_insert_with(|| format!("src-{from_tag}"))
                    .clone();
                EffectOutcome::BranchAt { commit: at }
            }
            EffectKind::CreateRelease {
                repository,
                tag,
                name,
                notes,
            } => {
                self.releases
                    .push((repository.clone(), tag.clone(), name.clone(), notes.clone()));
                EffectOutcome::Released
            }
            EffectKind::Publish { event } => {
                self.events.push(event.event_type.clone());
                EffectOutcome::Published
            }
        };
        Some(Input::EffectCompleted {
            deployment: effect.deployment.clone(),
            effect_id: effect.id.clone(),
            outcome,
        })
    }

    /// The status of every stage of a deployment.
    pub(crate) fn stages(&self, id: &DeploymentId) -> Vec<StageStatus> {
        self.deployment(id)
            .stages
            .iter()
            .map(|s| s.status)
            .collect()
    }

    /// The only deployment `decision` concerns.
    pub(crate) fn one(decision: &Decision) -> DeploymentId {
        assert_eq!(decision.deployments.len(), 1, "{decision:?}");
        decision.deployments[0].clone()
    }

    /// Pushes, settles and reports success for every app, so each has a PreRelease that passed.
    pub(crate) fn all_pass_prerelease(&mut self, version: &str) -> Vec<DeploymentId> {
        let mut ids = Vec::new();
        for app in ["shop-api", "shop-web", "shop-worker"] {
            let id = World::one(&self.push(app, version).unwrap());
            self.settle();
            self.engine(&id, EngineStatus::Success).unwrap();
            self.settle();
            ids.push(id);
        }
        ids
    }
}
