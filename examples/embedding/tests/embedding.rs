//! The embedding example does what docs/EMBEDDING.md says: its Store keeps the contract every
//! store keeps, and one build reaches SUCCEEDED through the embedded Driver.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use cd_core::pipeline::DeploymentStatus;
use cd_ports::Store as _;
use futures_executor::block_on;
use infrastream_embedding_example::{JournalStore, deploy_one_build};

#[test]
fn the_hosts_store_keeps_the_store_contract() {
    block_on(cd_contract::store_contract(JournalStore::new));
}

#[test]
fn one_build_reaches_succeeded_and_the_journal_replays_to_the_same_state() {
    let manifests =
        cd_git::read_manifest_tree(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests"))
            .unwrap();
    let outcome = block_on(deploy_one_build(
        manifests, "shop-api", "shop-api", "v1.0.0",
    ))
    .unwrap();
    assert_eq!(outcome.status, DeploymentStatus::Succeeded);
    assert!(!outcome.commit.is_empty(), "the engine reconciled a commit");
    // After a restart, the host's rows give back the deployment as the Driver left it.
    let replayed = JournalStore::replay(&outcome.journal).unwrap();
    let view = block_on(replayed.deployment(&outcome.deployment))
        .unwrap()
        .unwrap();
    assert_eq!(view.deployment.status, DeploymentStatus::Succeeded);
    assert_eq!(
        view.deployment.stages[0].commit_sha.as_deref(),
        Some(outcome.commit.as_str())
    );
    assert!(
        view.deployment.outbox.is_empty(),
        "every effect was performed"
    );
    assert!(JournalStore::replay(&["not json".to_string()]).is_err());
}
