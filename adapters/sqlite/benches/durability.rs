//! What `synchronous = FULL` costs: the latency of one acknowledged approval (a ledger row
//! appended in its own transaction, as the API stores one) under FULL and under NORMAL, in the
//! same run, on the same disk, rounds interleaved so both see the same machine.
//!
//! Run: `cargo bench -p cd-sqlite --bench durability` (ROUNDS=n changes the size; DIR=path
//! puts the databases on another disk). Recorded results: docs/PERFORMANCE.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::time::{Duration, Instant};

use cd_core::pipeline::{
    ApprovalAction, ApprovalRecord, Deployment, DeploymentId, StateWrite, Timestamp,
};
use cd_ports::Store as _;
use cd_sqlite::{Durability, SqliteStore};
use futures_executor::block_on;

fn deployment(id: &str) -> Deployment {
    let text = format!(
        r#"{{"id":"{id}","revision":1,"track":"RELEASE","status":"AWAITING_APPROVAL","applicationSet":"shop","application":null,
        "bundle":"2026.11","version":"shop-2026.11-rc.0","apps":{{}},"phase":"STAGES","observedTags":{{}},"stages":[],
        "currentStage":0,"build":null,"dedupKey":null,"requestedBy":"sam","authors":[],"lastDeployedVersions":{{}},
        "outbox":[],"parked":null,"undeliveredEvents":0,"eventsEmitted":0,"reason":null,"createdAt":1,"updatedAt":1,"sequence":1}}"#
    );
    serde_json::from_str(&text).unwrap()
}

fn approval(n: usize) -> StateWrite {
    StateWrite::AppendApproval(ApprovalRecord {
        deployment: DeploymentId("r1".into()),
        approval_id: format!("a{n}"),
        stage_index: 1,
        actor: "jane".into(),
        action: ApprovalAction::Approve,
        comment: String::new(),
        at: Timestamp(i64::try_from(n).unwrap()),
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    let base = std::env::var("DIR").map_or_else(|_| std::env::temp_dir(), Into::into);
    let dir = tempfile::tempdir_in(base).unwrap();
    let stores = [Durability::Full, Durability::Normal].map(|d| {
        let store = SqliteStore::open_with(&dir.path().join(format!("{d:?}.db")), d).unwrap();
        block_on(store.apply(&[StateWrite::PutDeployment {
            deployment: Box::new(deployment("r1")),
            expected_revision: None,
        }]))
        .unwrap();
        (d, store, Vec::with_capacity(rounds))
    });
    let mut stores = stores;
    for n in 0..rounds {
        for (_, store, times) in &mut stores {
            let write = approval(n);
            let started = Instant::now();
            block_on(store.apply(std::slice::from_ref(&write))).unwrap();
            times.push(started.elapsed());
        }
    }
    println!(
        "one approval appended and committed, {rounds} rounds, in {}",
        dir.path().display()
    );
    let mut p50s = Vec::new();
    for (d, _, times) in &mut stores {
        times.sort();
        let total: Duration = times.iter().sum();
        let p50 = percentile(times, 0.5);
        p50s.push(p50);
        #[allow(clippy::cast_precision_loss)]
        let per_s = rounds as f64 / total.as_secs_f64();
        println!(
            "{:<7} p50 {:>8.3} ms   p99 {:>8.3} ms   {:>7.0} approvals/s",
            format!("{d:?}"),
            p50.as_secs_f64() * 1e3,
            percentile(times, 0.99).as_secs_f64() * 1e3,
            per_s
        );
    }
    println!(
        "FULL / NORMAL p50: {:.2}x",
        p50s[0].as_secs_f64() / p50s[1].as_secs_f64()
    );
}
