//! cd-spanner against the real Cloud Spanner emulator, started by the tests on a free port.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod emulator;

use std::sync::Mutex;

use cd_contract::store_contract;
use cd_core::pipeline::{
    ApprovalAction, ApprovalRecord, DeploymentId, Reads, StateWrite, Timestamp,
};
use cd_ports::Store;
use cd_spanner::{Endpoint, SpannerStore};

use emulator::Emulator;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spanner_keeps_the_store_contract() {
    let emulator = Emulator::start().await;
    // The contract builds eight fresh stores: one database each, made up front.
    let mut stores = Vec::new();
    for n in 0..8 {
        stores.push(emulator.store(&format!("contract{n}")).await);
    }
    let pool = Mutex::new(stores);
    store_contract(|| pool.lock().unwrap().pop().expect("enough databases")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_apply_once_and_approvals_take_the_commit_time() {
    let emulator = Emulator::start().await;
    let database = emulator.database("migrations").await;
    let endpoint = Endpoint::Emulator(emulator.host());
    let all = SpannerStore::migrate(&endpoint, &database).await.unwrap();
    assert_eq!(
        all,
        cd_spanner::MIGRATION_COUNT,
        "a new database takes every migration"
    );
    assert_eq!(
        SpannerStore::migrate(&endpoint, &database).await.unwrap(),
        0,
        "a second run applies nothing"
    );
    // A crash after the schema change but before its version was recorded: the next start
    // finds the tables, applies nothing twice, and records the version.
    emulator.forget_migrations(&database).await;
    assert_eq!(
        SpannerStore::migrate(&endpoint, &database).await.unwrap(),
        all
    );
    assert_eq!(
        SpannerStore::migrate(&endpoint, &database).await.unwrap(),
        0
    );
    let store = SpannerStore::connect(&endpoint, &database).await.unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let approval = ApprovalRecord {
        deployment: DeploymentId("d1".into()),
        approval_id: "a1".into(),
        stage_index: 1,
        actor: "jane".into(),
        action: ApprovalAction::Approve,
        comment: String::new(),
        // The manager's clock says 1970: the ledger keeps Spanner's commit time instead.
        at: Timestamp(5),
    };
    store
        .apply(&[StateWrite::AppendApproval(approval)])
        .await
        .unwrap();
    let state = store
        .load(&Reads {
            all_open: true,
            ..Reads::default()
        })
        .await
        .unwrap();
    // The approval's deployment does not exist, so a load leaves it out; read the ledger by id.
    assert!(state.approvals.is_empty());
    let recorded = emulator.approval_time(&database, "d1", "a1").await;
    assert!(
        i128::from(recorded) >= i128::try_from(before).unwrap() - 60_000,
        "commit time {recorded} vs now {before}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_lose_no_update() {
    let emulator = Emulator::start().await;
    let store = std::sync::Arc::new(emulator.store("race").await);
    let d = cd_contract::sample_deployment("d1", "shop", "api", None);
    store
        .apply(&[StateWrite::PutDeployment {
            deployment: Box::new(d.clone()),
            expected_revision: None,
        }])
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            while done < 5 {
                let view = store
                    .deployment(&DeploymentId("d1".into()))
                    .await
                    .unwrap()
                    .unwrap();
                let mut next = view.deployment.clone();
                next.revision += 1;
                let write = StateWrite::PutDeployment {
                    deployment: Box::new(next),
                    expected_revision: Some(view.deployment.revision),
                };
                match store.apply(&[write]).await {
                    Ok(()) => done += 1,
                    Err(cd_ports::StoreError::Conflict(_)) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let view = store
        .deployment(&DeploymentId("d1".into()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        view.deployment.revision,
        1 + 6 * 5,
        "every bump landed exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_bundles_rewrite_their_rows_and_one_decision_appends_in_order() {
    use cd_core::pipeline::{BundleApp, DeploymentTrack};
    let emulator = Emulator::start().await;
    let store = emulator.store("release").await;
    let app = |v: &str| BundleApp {
        version: v.into(),
        image: "img".into(),
        registries: vec!["containers".into()],
        repository: Some("repo".into()),
        branch_commit: None,
        production_tag: None,
    };
    let mut d = cd_contract::sample_deployment("r1", "shop", "api", None);
    d.track = DeploymentTrack::Release;
    d.application = None;
    d.bundle = Some("2026.11".into());
    d.apps = [
        ("api".to_string(), app("v1.0.0")),
        ("web".to_string(), app("v2.0.0")),
    ]
    .into();
    let mut second = d.stages[0].clone();
    second.index = 1;
    second.environments = vec!["production".into()];
    d.stages.push(second);
    store
        .apply(&[StateWrite::PutDeployment {
            deployment: Box::new(d.clone()),
            expected_revision: None,
        }])
        .await
        .unwrap();
    assert_eq!(
        store.deployment(&d.id).await.unwrap().unwrap().deployment,
        d
    );
    assert_eq!(
        emulator
            .count(&store_name(&emulator, "release"), "ReleaseBundleApps")
            .await,
        2
    );

    // The next revision drops an app and a stage, and one decision appends three approvals.
    let mut next = d.clone();
    next.revision = 2;
    next.apps.remove("web");
    next.stages.truncate(1);
    let approval = |n: &str, action| ApprovalRecord {
        deployment: d.id.clone(),
        approval_id: n.into(),
        stage_index: 1,
        actor: "jane".into(),
        action,
        comment: String::new(),
        at: Timestamp(0),
    };
    store
        .apply(&[
            StateWrite::PutDeployment {
                deployment: Box::new(next.clone()),
                expected_revision: Some(1),
            },
            StateWrite::AppendApproval(approval("z9", ApprovalAction::Approve)),
            StateWrite::AppendApproval(approval("a1", ApprovalAction::Reject)),
            StateWrite::AppendApproval(approval("m5", ApprovalAction::Approve)),
        ])
        .await
        .unwrap();
    let view = store.deployment(&d.id).await.unwrap().unwrap();
    assert_eq!(view.deployment, next);
    let order: Vec<&str> = view
        .approvals
        .iter()
        .map(|a| a.approval_id.as_str())
        .collect();
    assert_eq!(order, ["z9", "a1", "m5"], "append order, not id order");
    let database = store_name(&emulator, "release");
    assert_eq!(emulator.count(&database, "ReleaseBundleApps").await, 1);
    assert_eq!(emulator.count(&database, "ReleaseStages").await, 1);
}

fn store_name(_emulator: &Emulator, id: &str) -> String {
    format!("projects/infrastream-test/instances/test/databases/{id}")
}

/// Rows written before migration 2 (simulated by emptying its columns and records) are found
/// by no keyed load until the migration runs again; then they are, and the records are back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_written_before_the_keyed_columns_is_backfilled_by_the_migration() {
    let emulator = Emulator::start().await;
    let endpoint = emulator.endpoint();
    let database = emulator.database("backfill").await;
    SpannerStore::migrate(&endpoint, &database).await.unwrap();
    let store = SpannerStore::connect(&endpoint, &database).await.unwrap();
    let sample = cd_contract::backfill_sample();
    store.apply(&sample.writes).await.unwrap();
    emulator.forget_derived(&database).await;
    assert!(
        store
            .load(&sample.reads)
            .await
            .unwrap()
            .deployments
            .is_empty(),
        "without the columns, no keyed load finds a row"
    );
    SpannerStore::migrate(&endpoint, &database).await.unwrap();
    sample.check(&store.load(&sample.reads).await.unwrap());
}
