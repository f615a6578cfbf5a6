//! cd-sqlite against its contract, on real database files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::process::Command;

use cd_contract::store_contract;
use cd_core::pipeline::{
    ApprovalAction, ApprovalRecord, Deployment, DeploymentId, DeploymentStatus, DeploymentTrack,
    Reads, StateWrite, Timestamp,
};
use cd_ports::{Store, StoreError};
use cd_sqlite::{Durability, SqliteStore};
use futures_executor::block_on;

#[test]
fn sqlite_keeps_the_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::cell::Cell::new(0);
    block_on(store_contract(|| {
        n.set(n.get() + 1);
        SqliteStore::open(&dir.path().join(format!("contract-{}.db", n.get()))).unwrap()
    }));
}

#[test]
fn an_acknowledged_write_is_synced_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    // 2 is FULL: every commit is synced to disk before apply returns.
    let store = SqliteStore::open(&dir.path().join("full.db")).unwrap();
    assert_eq!(store.synchronous().unwrap(), 2);
    let normal = SqliteStore::open_with(&dir.path().join("normal.db"), Durability::Normal).unwrap();
    assert_eq!(normal.synchronous().unwrap(), 1);
}

#[test]
fn ready_reports_a_write_lock_held_elsewhere_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let store = SqliteStore::open(&path).unwrap();
    block_on(store.ready()).unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let started = std::time::Instant::now();
    let err = block_on(store.ready()).unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("write lock"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    other.execute_batch("ROLLBACK").unwrap();
    block_on(store.ready()).unwrap();
    // The probe leaves the writers' patience as it was: a write waits out a short lock.
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(800));
        other.execute_batch("ROLLBACK").unwrap();
    });
    block_on(store.apply(&[StateWrite::PutDeployment {
        deployment: Box::new(deployment("after-probe")),
        expected_revision: None,
    }]))
    .unwrap();
    release.join().unwrap();
}

fn deployment(id: &str) -> Deployment {
    let text = format!(
        r#"{{"id":"{id}","revision":1,"track":"RELEASE","status":"PENDING","applicationSet":"shop","application":null,
        "bundle":"2026.11","version":"shop-2026.11-rc.0","apps":{{"api":{{"version":"v1.0.0","image":"api","registries":["r"],
        "repository":"api","branchCommit":null,"productionTag":null}}}},"phase":"STAGES","observedTags":{{}},"stages":[],
        "currentStage":0,"build":null,"dedupKey":null,"requestedBy":"sam","authors":[],"lastDeployedVersions":{{}},
        "outbox":[],"parked":null,"undeliveredEvents":0,"eventsEmitted":0,"reason":null,"createdAt":1,"updatedAt":1,"sequence":1}}"#
    );
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_ledger_is_append_only_in_the_database_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cd.db");
    let store = SqliteStore::open(&path).unwrap();
    let d = deployment("r1");
    block_on(store.apply(&[
        StateWrite::PutDeployment {
            deployment: Box::new(d.clone()),
            expected_revision: None,
        },
        StateWrite::AppendApproval(ApprovalRecord {
            deployment: d.id.clone(),
            approval_id: "a1".into(),
            stage_index: 1,
            actor: "jane".into(),
            action: ApprovalAction::Approve,
            comment: String::new(),
            at: Timestamp(5),
        }),
    ]))
    .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let update = conn.execute("UPDATE DeploymentApprovals SET Action = 'REJECT'", []);
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = conn.execute("DELETE FROM DeploymentApprovals", []);
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    // The seed's tables hold the rows operators query.
    let apps: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM ReleaseBundleApps WHERE DeploymentID = 'r1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(apps, 1);
    let bundle: String = conn
        .query_row("SELECT Bundle FROM ReleaseDeployments", [], |r| r.get(0))
        .unwrap();
    assert_eq!(bundle, "2026.11");
}

#[test]
fn migrations_run_once_and_a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cd.db");
    let store = SqliteStore::open(&path).unwrap();
    block_on(store.apply(&[StateWrite::PutDeployment {
        deployment: Box::new(deployment("r1")),
        expected_revision: None,
    }]))
    .unwrap();
    drop(store);
    let again = SqliteStore::open(&path).unwrap();
    assert_eq!(
        block_on(again.load(&Reads {
            all_open: true,
            ..Reads::default()
        }))
        .unwrap()
        .deployments
        .len(),
        1,
        "reopening keeps the data"
    );
    drop(again);
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupt(ref m) if m.contains("newer")),
        "{err}"
    );
    let junk = dir.path().join("junk.db");
    std::fs::write(
        &junk,
        b"this is not a database, just some bytes long enough to look like one..",
    )
    .unwrap();
    assert!(SqliteStore::open(&junk).is_err());
}

const CHILD: &str = "CD_SQLITE_CHILD_DB";
const ROUNDS: u64 = 150;

/// Bumps deployment `shared`'s revision ROUNDS times, re-reading on every conflict.
fn bump_many(path: &std::path::Path) {
    let store = SqliteStore::open(path).unwrap();
    let id = DeploymentId("shared".into());
    let mut done = 0;
    while done < ROUNDS {
        let state = block_on(store.load(&Reads {
            all_open: true,
            ..Reads::default()
        }))
        .unwrap();
        let mut d = state.deployments[&id].clone();
        let expected = d.revision;
        d.revision += 1;
        d.status = if d.revision % 2 == 0 {
            DeploymentStatus::InProgress
        } else {
            DeploymentStatus::Pending
        };
        match block_on(store.apply(&[StateWrite::PutDeployment {
            deployment: Box::new(d),
            expected_revision: Some(expected),
        }])) {
            Ok(()) => done += 1,
            Err(StoreError::Conflict(_) | StoreError::Unavailable(_)) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

/// The child half of `two_processes_never_lose_an_update` (does nothing unless spawned by it).
#[test]
fn child_process_bumps_revisions() {
    if let Ok(path) = std::env::var(CHILD) {
        bump_many(std::path::Path::new(&path));
    }
}

#[test]
fn two_processes_never_lose_an_update() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let store = SqliteStore::open(&path).unwrap();
    let mut d = deployment("shared");
    d.track = DeploymentTrack::Release;
    d.apps = BTreeMap::new();
    block_on(store.apply(&[StateWrite::PutDeployment {
        deployment: Box::new(d),
        expected_revision: None,
    }]))
    .unwrap();
    let child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_process_bumps_revisions", "--nocapture"])
        .env(CHILD, &path)
        .spawn()
        .unwrap();
    bump_many(&path);
    assert!(child.wait_with_output().unwrap().status.success());
    let state = block_on(store.load(&Reads {
        all_open: true,
        ..Reads::default()
    }))
    .unwrap();
    assert_eq!(
        state.deployments[&DeploymentId("shared".into())].revision,
        1 + 2 * ROUNDS,
        "every update of both processes landed"
    );
}

/// Rows written before the schema kept `Open`, `VersionKey` and the records (simulated by
/// clearing them) get them at the next start, and again after a crash half-way (simulated by
/// clearing them a second time): the keyed loads then find what they would have.
#[test]
fn history_written_before_the_keyed_columns_is_backfilled_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cd.db");
    let sample = cd_contract::backfill_sample();
    let store = SqliteStore::open(&path).unwrap();
    block_on(store.apply(&sample.writes)).unwrap();
    drop(store);
    for _ in 0..2 {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "UPDATE PreReleaseDeployments SET Open = NULL, VersionKey = NULL; DELETE FROM Records;",
        )
        .unwrap();
        drop(conn);
        let store = SqliteStore::open(&path).unwrap();
        sample.check(&block_on(store.load(&sample.reads)).unwrap());
    }
}
