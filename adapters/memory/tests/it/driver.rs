//! The driver when someone breaks the manifests at the head: new work is refused, work in flight
//! continues on the last valid manifests.

use std::sync::Arc;

use cd_core::pipeline::{
    BuildNotified, DeploymentId, Input, SequentialIds, Settings, StageStatus, Timestamp,
};
use cd_memory::{MemoryNotifier, MemoryRegistry, MemoryRepo, MemorySourceHost, MemoryStore};
use cd_ports::{
    Driver, DriverError, EffectLoop, LoopPolicy, ManualClock, Ports, RetryPolicy, Store,
};
use futures_executor::block_on;

use crate::simulator::manifest_files;

fn build(version: &str) -> Input {
    Input::BuildNotified(BuildNotified {
        build_definition_id: "shop-api".into(),
        container: "shop-api".into(),
        version: version.into(),
        ..BuildNotified::default()
    })
}

#[test]
fn broken_manifests_stop_new_work_but_not_work_in_flight() {
    let store = Arc::new(MemoryStore::new());
    let repo = Arc::new(MemoryRepo::new(manifest_files()));
    let clock = Arc::new(ManualClock::new(Timestamp(1_000)));
    let ports = Ports {
        store: store.clone(),
        registry: Arc::new(MemoryRegistry::new()),
        repo: repo.clone(),
        source: Arc::new(MemorySourceHost::new()),
        notifier: Arc::new(MemoryNotifier::new()),
        clock: clock.clone(),
    };
    let retry = RetryPolicy::default();
    let ttl = retry.catalog_ttl_ms;
    let driver = Arc::new(Driver::new(
        ports,
        Settings::default(),
        retry,
        Box::new(SequentialIds::new("d-", 1)),
    ));

    // A build is decided; its effects are not performed yet.
    let decision = block_on(driver.submit(&build("v1.0.0"))).unwrap();
    let id: DeploymentId = decision.deployments[0].clone();
    assert!(!decision.effects.is_empty());

    // Someone pushes a broken manifest; the cached catalog expires.
    repo.commit_foreign("apps/shop-api/application.yaml", "kind: [unclosed", "oops");
    clock.advance(ttl + 1);

    // New work is refused.
    let refused = block_on(driver.submit(&build("v1.1.0")));
    assert!(
        matches!(refused, Err(DriverError::Manifests(_))),
        "{refused:?}"
    );
    // The promotion under way completes its commit on the last valid manifests.
    let mut effects = EffectLoop::new(driver.clone(), LoopPolicy::default());
    effects.observe(&decision);
    block_on(effects.run_until_idle());
    let view = block_on(store.deployment(&id)).unwrap().unwrap();
    assert_eq!(
        view.deployment.stages[0].status,
        StageStatus::Deploying,
        "{view:#?}"
    );
    assert!(view.deployment.outbox.is_empty());
}
