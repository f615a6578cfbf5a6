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
use cd_ports::{Registry, RegistryError};
use futures_executor::block_on;

use crate::simulator::{built, manifest_files};

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
        registry: built(&[("shop-api", "v1.0.0"), ("shop-api", "v1.1.0")]),
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

fn driver_over(registry: Arc<dyn Registry>) -> (Arc<MemoryStore>, Arc<MemoryRepo>, Driver) {
    let store = Arc::new(MemoryStore::new());
    let repo = Arc::new(MemoryRepo::new(manifest_files()));
    let ports = Ports {
        store: store.clone(),
        registry,
        repo: repo.clone(),
        source: Arc::new(MemorySourceHost::new()),
        notifier: Arc::new(MemoryNotifier::new()),
        clock: Arc::new(ManualClock::new(Timestamp(1_000))),
    };
    let driver = Driver::new(
        ports,
        Settings::default(),
        RetryPolicy::default(),
        Box::new(SequentialIds::new("d-", 1)),
    );
    (store, repo, driver)
}

#[test]
fn a_build_whose_image_tag_is_not_in_the_registry_is_refused_and_changes_nothing() {
    let (store, repo, driver) = driver_over(Arc::new(MemoryRegistry::new()));
    let refused = block_on(driver.submit(&build("v7.7.7")));
    let Err(DriverError::Rejected(rejection)) = refused else {
        panic!("{refused:?}");
    };
    assert_eq!(
        rejection.to_string(),
        "image tag v7.7.7 of shop-api in registry containers not found"
    );
    assert!(
        rejection.is_unknown(),
        "answered 422, like other unknown names"
    );
    assert!(store.snapshot().deployments.is_empty());
    assert!(repo.commits().iter().all(|c| !c.by_engine));
}

#[test]
fn a_rollback_to_a_tag_that_does_not_exist_is_refused_up_front() {
    let (store, _, driver) = driver_over(built(&[("shop-api", "v1.0.0")]));
    let rollback = |version: &str| Input::RollbackRequested {
        application: "shop-api".into(),
        environment: "development".into(),
        version: version.into(),
        actor: "jane".into(),
    };
    let refused = block_on(driver.submit(&rollback("v0.0.9")));
    assert!(
        matches!(&refused, Err(DriverError::Rejected(r)) if r.to_string() == "image tag v0.0.9 of shop-api in registry containers not found"),
        "{refused:?}"
    );
    assert!(store.snapshot().deployments.is_empty());
    assert!(block_on(driver.submit(&rollback("v1.0.0"))).is_ok());
}

/// A registry that never answers.
struct Unreachable;

#[async_trait::async_trait]
impl Registry for Unreachable {
    async fn list_tags(&self, _: &str, _: &str, _: &str) -> Result<Vec<String>, RegistryError> {
        Err(RegistryError::Unavailable("connection refused".into()))
    }
    async fn resolve(&self, _: &str, _: &str, _: &str) -> Result<String, RegistryError> {
        Err(RegistryError::Unavailable("connection refused".into()))
    }
    async fn create_tag(&self, _: &str, _: &str, _: &str, _: &str) -> Result<(), RegistryError> {
        Err(RegistryError::Unavailable("connection refused".into()))
    }
}

#[test]
fn a_build_that_cannot_be_checked_is_not_stored_and_the_sender_is_told_to_try_again() {
    let (store, _, driver) = driver_over(Arc::new(Unreachable));
    let refused = block_on(driver.submit(&build("v1.0.0")));
    assert!(
        matches!(&refused, Err(DriverError::Unverified { what, .. }) if what == "image tag v1.0.0 of shop-api in registry containers"),
        "{refused:?}"
    );
    assert!(store.snapshot().deployments.is_empty());
}
