//! Infrastream CD inside another Rust service: the shortest honest path (docs/EMBEDDING.md).
//!
//! The host brings a [`Store`](cd_ports::Store) of its own ([`JournalStore`], over a journal
//! it keeps), takes the in-memory registry and manifest repository from `cd-memory` (a real host
//! would bring its registry and git remote, or `cd-oci` and `cd-git`), hands them to a
//! [`Driver`], and drives one build to a SUCCEEDED deployment: the build notification is
//! decided, the [`EffectLoop`] performs its effects, the engine's report is fed back.

mod store;

use std::sync::Arc;

use cd_core::manifest::Catalog;
use cd_core::pipeline::{
    BuildNotified, DeploymentId, DeploymentStatus, EngineStatus, Input, SequentialIds, Settings,
    StatusReported, Timestamp, build_applications,
};
use cd_memory::{MemoryNotifier, MemoryRegistry, MemoryRepo, MemorySourceHost};
use cd_ports::{Driver, DriverError, EffectLoop, LoopPolicy, ManualClock, Ports, RetryPolicy};
pub use store::JournalStore;

/// What one run did.
#[derive(Debug)]
pub struct Outcome {
    /// The deployment the build made.
    pub deployment: DeploymentId,
    /// Its status at the end.
    pub status: DeploymentStatus,
    /// The manifest commit the engine reconciled.
    pub commit: String,
    /// The host's journal rows.
    pub journal: Vec<String>,
}

/// Runs one build of `build_definition` (its image `container`, tag `version`) through the
/// tenant `manifests` (path, text) to the end of its pre-release stages.
///
/// # Errors
/// [`DriverError`] when a decision or an effect fails.
pub async fn deploy_one_build(
    manifests: Vec<(String, String)>,
    build_definition: &str,
    container: &str,
    version: &str,
) -> Result<Outcome, DriverError> {
    let store = Arc::new(JournalStore::new());
    // CI pushed the image before it notified, to every registry the manifests name for it.
    let registry = Arc::new(MemoryRegistry::new());
    if let Ok(catalog) = Catalog::load_valid(manifests.clone()) {
        for app in build_applications(&catalog, build_definition, container) {
            for r in catalog.image_of(app).map_or(&[][..], |i| i.registries) {
                registry.push(r, container, version, "sha256:built-by-ci");
            }
        }
    }
    let repo = Arc::new(MemoryRepo::new(manifests));
    let ports = Ports {
        store: store.clone(),
        registry,
        repo: repo.clone(),
        source: Arc::new(MemorySourceHost::new()),
        notifier: Arc::new(MemoryNotifier::new()),
        clock: Arc::new(ManualClock::new(Timestamp(1_700_000_000_000))),
    };
    let driver = Arc::new(Driver::new(
        ports,
        Settings::default(),
        RetryPolicy::default(),
        Box::new(SequentialIds::new("host-", 1)),
    ));
    // The effect loop reads the stored outboxes first: a host finishes what a crash
    // interrupted (nothing, the first time). A long-running host wakes it at `next_wake()`.
    let mut effects = EffectLoop::new(driver.clone(), LoopPolicy::default());
    effects.run_until_idle().await;

    // CI announced a build: decide it, then perform its effects (tags, the manifest commit).
    let decision = driver
        .submit(&Input::BuildNotified(BuildNotified {
            build_definition_id: build_definition.into(),
            container: container.into(),
            version: version.into(),
            ..BuildNotified::default()
        }))
        .await?;
    let deployment = decision
        .deployments
        .first()
        .cloned()
        .unwrap_or_else(|| DeploymentId(String::new()));
    effects.observe(&decision);
    effects.run_until_idle().await;

    // The host's engine reconciled each promotion commit and reports it, stage by stage.
    let mut commit = String::new();
    loop {
        let Some(view) = driver.deployment(&deployment).await? else {
            break;
        };
        let d = view.deployment;
        if d.status.is_final() {
            return Ok(Outcome {
                deployment,
                status: d.status,
                commit,
                journal: store.rows(),
            });
        }
        let Some(stage) = d.stages.get(d.current_stage) else {
            break;
        };
        let Some(promoted) = stage.commit_sha.clone() else {
            break;
        };
        commit = promoted;
        let report = StatusReported {
            deployment: deployment.clone(),
            stage_index: d.current_stage,
            status: EngineStatus::Success,
            run_id: format!("host-engine-{}", d.current_stage),
            commit_sha: commit.clone(),
            message: "reconciled".into(),
        };
        let decision = driver.submit(&Input::StatusReported(report)).await?;
        effects.observe(&decision);
        effects.run_until_idle().await;
    }
    let status = driver
        .deployment(&deployment)
        .await?
        .map_or(DeploymentStatus::Failed, |v| v.deployment.status);
    Ok(Outcome {
        deployment,
        status,
        commit,
        journal: store.rows(),
    })
}
