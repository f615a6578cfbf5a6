//! The effect loop's rules, on the in-memory ports and a manual clock: each effect performed
//! once, outcomes the store cannot take recorded later, work found in the stored outboxes,
//! ticks at the engine deadlines and not before.

use std::sync::Arc;

use cd_core::pipeline::{
    BuildNotified, DeploymentId, DeploymentStatus, Input, SequentialIds, Settings, StageStatus,
    Timestamp,
};
use cd_memory::{Faults, Faulty, Operation};
use cd_memory::{MemoryNotifier, MemoryRepo, MemorySourceHost, MemoryStore};
use cd_ports::{
    Clock as _, Driver, EffectLoop, LoopPolicy, ManualClock, Ports, Recorded, RetryPolicy,
    Store as _,
};
use futures_executor::block_on;

use crate::simulator::{built, manifest_files};

struct Rig {
    store: Arc<MemoryStore>,
    repo: Arc<MemoryRepo>,
    clock: Arc<ManualClock>,
    faults: Arc<Faults>,
    driver: Arc<Driver>,
}

fn rig() -> Rig {
    let store = Arc::new(MemoryStore::new());
    let repo = Arc::new(MemoryRepo::new(manifest_files()));
    let clock = Arc::new(ManualClock::new(Timestamp(1_000)));
    let faults = Faults::new();
    let ports = Ports {
        store: Arc::new(Faulty::new(store.clone(), faults.clone())),
        registry: built(&[("shop-api", "v1.0.0"), ("shop-web", "v2.0.0")]),
        repo: repo.clone(),
        source: Arc::new(MemorySourceHost::new()),
        notifier: Arc::new(MemoryNotifier::new()),
        clock: clock.clone(),
    };
    let driver = Arc::new(Driver::new(
        ports,
        Settings::default(),
        RetryPolicy::default(),
        Box::new(SequentialIds::new("d-", 1)),
    ));
    Rig {
        store,
        repo,
        clock,
        faults,
        driver,
    }
}

fn build(app: &str, version: &str) -> Input {
    Input::BuildNotified(BuildNotified {
        build_definition_id: app.into(),
        container: app.into(),
        version: version.into(),
        ..BuildNotified::default()
    })
}

fn stage0(rig: &Rig, id: &DeploymentId) -> (StageStatus, DeploymentStatus) {
    let view = block_on(rig.store.deployment(id)).unwrap().unwrap();
    (view.deployment.stages[0].status, view.deployment.status)
}

#[test]
fn an_outcome_the_store_cannot_take_is_recorded_later_and_its_effect_never_performed_again() {
    let rig = rig();
    let mut effects = EffectLoop::new(rig.driver.clone(), LoopPolicy::default());
    let _ = block_on(effects.housekeeping());
    let decision = block_on(rig.driver.submit(&build("shop-api", "v1.0.0"))).unwrap();
    let id = decision.deployments[0].clone();
    effects.observe(&decision);

    let commits = rig.repo.commits().len();
    let effect = block_on(effects.next_effect(|_| 0)).expect("the promotion's commit");
    let outcome = block_on(effects.perform(&effect));
    assert_eq!(rig.repo.commits().len(), commits + 1);
    // Every attempt of the driver to store the outcome fails.
    rig.faults
        .fail_next(Operation::StoreApply, RetryPolicy::default().attempts);
    let recorded = block_on(effects.record(effect, outcome));
    assert!(matches!(recorded, Recorded::Kept(_)), "{recorded:?}");
    assert_eq!(effects.unrecorded(), 1);
    let retry = effects.retry_at().expect("a retry is scheduled");
    assert!(retry > rig.clock.now(), "the retry waits: {retry:?}");

    // The outboxes are read again before the retry is due: the commit is still in its outbox,
    // and still not performed again.
    effects.rescan_soon();
    let _ = block_on(effects.housekeeping());
    assert!(block_on(effects.next_effect(|_| 0)).is_none());
    assert_eq!(rig.repo.commits().len(), commits + 1);
    assert_eq!(stage0(&rig, &id).0, StageStatus::Promoting);

    // When the retry is due, the kept outcome is recorded.
    rig.clock.advance(retry.0 - rig.clock.now().0);
    let _ = block_on(effects.housekeeping());
    assert_eq!(effects.unrecorded(), 0);
    assert_eq!(effects.retry_at(), None);
    assert_eq!(stage0(&rig, &id).0, StageStatus::Deploying);
    assert_eq!(rig.repo.commits().len(), commits + 1);
}

#[test]
fn a_stuck_deployment_stalls_only_itself() {
    let rig = rig();
    let mut effects = EffectLoop::new(rig.driver.clone(), LoopPolicy::default());
    let _ = block_on(effects.housekeeping());
    let api = block_on(rig.driver.submit(&build("shop-api", "v1.0.0"))).unwrap();
    effects.observe(&api);
    let effect = block_on(effects.next_effect(|_| 0)).unwrap();
    let outcome = block_on(effects.perform(&effect));
    rig.faults
        .fail_next(Operation::StoreApply, RetryPolicy::default().attempts);
    assert!(matches!(
        block_on(effects.record(effect, outcome)),
        Recorded::Kept(_)
    ));

    // Another application's build goes on while shop-api's outcome waits.
    let web = block_on(rig.driver.submit(&build("shop-web", "v2.0.0"))).unwrap();
    let web_id = web.deployments[0].clone();
    effects.observe(&web);
    let next = block_on(effects.next_effect(|_| 0)).expect("shop-web's commit runs");
    assert_eq!(next.deployment, web_id);
    let outcome = block_on(effects.perform(&next));
    assert!(matches!(
        block_on(effects.record(next, outcome)),
        Recorded::Decided(_)
    ));
    assert_eq!(stage0(&rig, &web_id).0, StageStatus::Deploying);
    assert_eq!(effects.unrecorded(), 1);
}

#[test]
fn work_whose_caller_died_is_found_in_the_stored_outboxes() {
    let rig = rig();
    let mut effects = EffectLoop::new(rig.driver.clone(), LoopPolicy::default());
    let _ = block_on(effects.housekeeping());
    // Decided and stored, but the caller died before handing the decision over.
    let decision = block_on(rig.driver.submit(&build("shop-api", "v1.0.0"))).unwrap();
    let id = decision.deployments[0].clone();
    assert!(block_on(effects.next_effect(|_| 0)).is_none());
    assert!(effects.next_wake() > rig.clock.now());

    // The next read of the outboxes, at its period, finds it.
    rig.clock
        .advance(i64::try_from(LoopPolicy::default().rescan_ms).unwrap() - 1);
    let _ = block_on(effects.housekeeping());
    assert!(block_on(effects.next_effect(|_| 0)).is_none());
    rig.clock.advance(1);
    block_on(effects.run_until_idle());
    assert_eq!(stage0(&rig, &id).0, StageStatus::Deploying);

    // A new loop (the process restarted) reads the outboxes first.
    let again = block_on(rig.driver.submit(&build("shop-web", "v2.0.0"))).unwrap();
    let mut restarted = EffectLoop::new(rig.driver.clone(), LoopPolicy::default());
    block_on(restarted.run_until_idle());
    assert_eq!(
        stage0(&rig, &again.deployments[0]).0,
        StageStatus::Deploying
    );
}

#[test]
fn ticks_come_at_the_engine_deadline_and_not_before() {
    let rig = rig();
    let mut effects = EffectLoop::new(rig.driver.clone(), LoopPolicy::default());
    let decision = block_on(rig.driver.submit(&build("shop-api", "v1.0.0"))).unwrap();
    let id = decision.deployments[0].clone();
    effects.observe(&decision);
    block_on(effects.run_until_idle());
    let view = block_on(rig.store.deployment(&id)).unwrap().unwrap();
    let deadline = view.deployment.stages[0]
        .deadline
        .expect("a deploying stage has one");

    // Up to the deadline, housekeeping decides nothing (reads of the outboxes are no decision).
    while rig.clock.now() < deadline.plus_ms(-1) {
        let step = (effects.next_wake().0 - rig.clock.now().0)
            .clamp(1, deadline.0 - 1 - rig.clock.now().0);
        rig.clock.advance(step);
        assert!(block_on(effects.housekeeping()).is_empty());
    }
    assert_eq!(stage0(&rig, &id).0, StageStatus::Deploying);

    // At the deadline, one tick fails the stage.
    rig.clock.advance(1);
    assert_eq!(effects.next_wake(), deadline);
    let decided = block_on(effects.housekeeping());
    assert_eq!(decided.len(), 1);
    assert_eq!(
        stage0(&rig, &id),
        (StageStatus::Failed, DeploymentStatus::Failed)
    );
}

#[test]
fn a_restarted_loop_learns_the_deadlines_from_the_store() {
    let rig = rig();
    let decision = block_on(rig.driver.submit(&build("shop-api", "v1.0.0"))).unwrap();
    let id = decision.deployments[0].clone();
    let mut first = EffectLoop::new(rig.driver.clone(), LoopPolicy::default());
    first.observe(&decision);
    block_on(first.run_until_idle());
    drop(first);

    // Reads of the outboxes are rare here, so the next wake-up can only be the deadline.
    let policy = LoopPolicy {
        rescan_ms: 24 * 3_600_000,
        ..LoopPolicy::default()
    };
    let mut restarted = EffectLoop::new(rig.driver.clone(), policy);
    let _ = block_on(restarted.housekeeping());
    let deadline = Timestamp(1_000).plus_ms(Settings::default().engine_timeout_ms);
    assert_eq!(restarted.next_wake(), deadline);
    rig.clock.advance(deadline.0 - rig.clock.now().0);
    let _ = block_on(restarted.housekeeping());
    assert_eq!(stage0(&rig, &id).1, DeploymentStatus::Failed);
}
