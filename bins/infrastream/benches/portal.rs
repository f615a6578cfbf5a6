//! Every Portal page (and the reads behind it) against a large history in SQLite: the time the
//! service takes to answer, measured in-process through the router (no network, no browser),
//! p50 and p99 over repeated requests, beside the bound the Portal promises (50 ms p99).
//!
//! The history: `DEPLOYMENTS` deployments (default 10 000) spread over the last 120 days, about
//! one release in twenty (each through staging and production), a hotfix and a rollback now and
//! then, the rest builds; `LEDGER` approval rows (default 100 000) spread over them; and 40
//! releases waiting at their production gate with one approval each (jane's; the pages are read
//! as omar, so his inbox holds all 40). Holds on two environments. `/metrics` reuses its DORA
//! figures for 30 s, so its row shows the cached answer; the DORA page computes them each time.
//!
//! Run: `cargo bench -p infrastream --bench portal` (ROUNDS=n requests per page, default 200).
//! Results: docs/PERFORMANCE.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use cd_core::manifest::ApprovalPolicy;
use cd_core::pipeline::{
    ApprovalAction, ApprovalRecord, BuildRef, BundleApp, Deployment, DeploymentId,
    DeploymentStatus, DeploymentTrack, Hold, StageRecord, StageStatus, StateWrite, Timestamp,
    records_of,
};
use cd_ports::{Driver, RetryPolicy};
use cd_service::config::{Config, EngineKind};
use tower::ServiceExt as _;

const APPS: [&str; 3] = ["shop-api", "shop-web", "shop-worker"];
const DAY: i64 = 86_400_000;
const BOUND_MS: f64 = 50.0;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn stage(index: usize, env: &str, status: StageStatus, at: i64, gate: bool) -> StageRecord {
    let done = status == StageStatus::Succeeded || status == StageStatus::Failed;
    StageRecord {
        index,
        environments: vec![env.into()],
        approval: gate.then(|| ApprovalPolicy {
            min_approvals: 2,
            groups: vec!["release-managers@northwind.example".into()],
        }),
        status,
        commit_sha: done.then(|| format!("{at:040x}")),
        run_id: done.then(|| format!("run-{at}")),
        started_at: Some(Timestamp(at)),
        finished_at: done.then_some(Timestamp(at + 60_000)),
        deadline: None,
        message: done.then(|| format!("reconciled {env}")),
    }
}

/// Deployment `i` of the history, created at `at`.
fn past(i: usize, at: i64) -> Deployment {
    let app = APPS[i % 3];
    let version = format!("v0.{i}.0");
    let build = Deployment {
        id: DeploymentId(format!("d-past-{i:06}")),
        revision: 3,
        track: DeploymentTrack::PreRelease,
        status: DeploymentStatus::Succeeded,
        application_set: "shop".into(),
        application: Some(app.into()),
        bundle: None,
        dedup_key: Some(format!("{app}/{app}/{version}/{app}")),
        version: version.clone(),
        apps: BTreeMap::new(),
        phase: None,
        observed_tags: BTreeMap::new(),
        stages: vec![stage(0, "development", StageStatus::Succeeded, at, false)],
        current_stage: 0,
        build: Some(BuildRef {
            build_definition: app.into(),
            container: app.into(),
            commit_sha: format!("{i:040x}"),
            repository: app.into(),
            git_ref: "refs/heads/main".into(),
            digest: None,
            author: Some("dev".into()),
            committed_at: Some(Timestamp(at - 3_600_000)),
        }),
        requested_by: None,
        authors: vec!["dev".into()],
        last_deployed_versions: BTreeMap::new(),
        outbox: vec![],
        parked: None,
        undelivered_events: 0,
        events_emitted: 4,
        reason: None,
        created_at: Timestamp(at),
        updated_at: Timestamp(at + 60_000),
        sequence: i as u64 + 1,
    };
    match i {
        i if i % 20 == 19 => release(i, at, build, false),
        i if i % 97 == 96 => Deployment {
            track: DeploymentTrack::Hotfix,
            version: format!("v0.{i}.1-hotfix.0"),
            dedup_key: None,
            stages: vec![
                stage(0, "staging", StageStatus::Succeeded, at, false),
                stage(1, "production", StageStatus::Succeeded, at + 120_000, true),
            ],
            current_stage: 1,
            ..build
        },
        i if i % 131 == 130 => Deployment {
            track: DeploymentTrack::Rollback,
            dedup_key: None,
            build: None,
            stages: vec![stage(0, "production", StageStatus::Succeeded, at, false)],
            ..build
        },
        _ => build,
    }
}

/// A release carrying the three builds before `i`; waiting at its production gate when
/// `waiting`.
fn release(i: usize, at: i64, base: Deployment, waiting: bool) -> Deployment {
    let apps = (1..=3)
        .map(|k| {
            let j = i - k;
            (
                APPS[j % 3].to_string(),
                BundleApp {
                    version: format!("v0.{j}.0"),
                    image: APPS[j % 3].into(),
                    registries: vec!["containers".into()],
                    repository: Some(APPS[j % 3].into()),
                    branch_commit: Some("c".into()),
                    production_tag: (!waiting).then(|| format!("shop-r{i}")),
                },
            )
        })
        .collect();
    Deployment {
        id: DeploymentId(format!("d-release-{i:06}")),
        track: DeploymentTrack::Release,
        status: if waiting {
            DeploymentStatus::AwaitingApproval
        } else {
            DeploymentStatus::Succeeded
        },
        application: None,
        bundle: Some(format!("r{i}")),
        dedup_key: None,
        version: format!("shop-r{i}-rc.0"),
        apps,
        build: None,
        requested_by: Some("jane".into()),
        stages: vec![
            stage(0, "staging", StageStatus::Succeeded, at, false),
            stage(
                1,
                "production",
                if waiting {
                    StageStatus::AwaitingApproval
                } else {
                    StageStatus::Succeeded
                },
                at + 120_000,
                true,
            ),
        ],
        current_stage: 1,
        ..base
    }
}

fn approval(d: &Deployment, n: usize, at: i64) -> ApprovalRecord {
    ApprovalRecord {
        deployment: d.id.clone(),
        approval_id: format!("a-{}-{n}", d.id),
        stage_index: d.current_stage,
        actor: ["jane", "omar", "li"][n % 3].into(),
        action: if n % 7 == 6 {
            ApprovalAction::Reject
        } else {
            ApprovalAction::Approve
        },
        comment: format!("comment {n}"),
        at: Timestamp(at + 90_000),
    }
}

async fn preload(
    store: &dyn cd_ports::Store,
    now: i64,
    deployments: usize,
    ledger: usize,
) -> String {
    let per = ledger.div_ceil(deployments.max(1));
    let span = 120 * DAY;
    let mut writes = Vec::new();
    let mut shown = String::new();
    let mut written = 0;
    for i in 0..deployments {
        let at = now - span + (span / deployments as i64) * i as i64;
        let d = past(i, at);
        if d.track == DeploymentTrack::Release {
            shown = d.id.0.clone();
        }
        for n in 0..per.min(ledger - written) {
            writes.push(StateWrite::AppendApproval(approval(&d, n, at)));
            written += 1;
        }
        writes.extend(
            records_of(&d)
                .into_iter()
                .map(|(key, record)| StateWrite::RaiseRecord { key, record }),
        );
        writes.push(StateWrite::PutDeployment {
            deployment: Box::new(d),
            expected_revision: None,
        });
        if writes.len() >= 5_000 {
            store.apply(&std::mem::take(&mut writes)).await.unwrap();
        }
    }
    // Releases waiting at their production gate, each with one approval so far.
    for k in 0..40 {
        let i = deployments + 10 + k * 4;
        let at = now - (40 - k as i64) * 3_600_000;
        let d = release(i, at, past(i, at), true);
        writes.push(StateWrite::AppendApproval(approval(&d, 0, at)));
        writes.push(StateWrite::PutDeployment {
            deployment: Box::new(d),
            expected_revision: None,
        });
    }
    for env in ["staging", "production"] {
        writes.push(StateWrite::PutHold {
            environment: env.into(),
            hold: Hold {
                reason: "freeze for the audit".into(),
                actor: "jane".into(),
                at: Timestamp(now - DAY),
            },
        });
    }
    store.apply(&writes).await.unwrap();
    shown
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn main() {
    let deployments = env_number("DEPLOYMENTS", 10_000);
    let ledger = env_number("LEDGER", 100_000);
    let rounds = env_number("ROUNDS", 200);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.engine.kind = EngineKind::Webhook;
        let opened = cd_service::local::open(
            &config,
            &cd_service::tenant::example_files(),
            &BTreeMap::new(),
            cd_service::local::Overrides::default(),
        )
        .unwrap();
        let now = opened.ports.clock.now().0;
        let started = Instant::now();
        let shown = preload(opened.ports.store.as_ref(), now, deployments, ledger).await;
        println!(
            "history: {deployments} deployments, {ledger} ledger rows, 40 gates waiting, loaded into SQLite in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let driver = Arc::new(Driver::new(
            opened.ports,
            config.settings(),
            RetryPolicy::default(),
            Box::new(cd_service::local::RandomIds),
        ));
        let (shared, _queue) =
            cd_service::Shared::new(&config, driver, opened.secret.clone()).unwrap();
        let router = cd_service::api::router(shared);
        let signed_in = router
            .clone()
            .oneshot(
                Request::post("/sign-in")
                    .header("content-type", "application/x-www-form-urlencoded")
                    // omar: a release manager who has not approved the waiting gates yet (jane
                    // has), so his inbox holds all 40.
                    .body(Body::from("person=omar&back=%2F"))
                    .unwrap(),
            )
            .await
            .unwrap();
        let cookie = signed_in.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let pages = [
            ("overview", "/".to_string()),
            ("deployment (a release)", format!("/deployments/{shown}")),
            ("approvals inbox", "/approvals".to_string()),
            ("holds", "/holds".to_string()),
            ("release preview", "/releases/new?set=shop&bundle=2027.01".to_string()),
            ("DORA (90 days)", "/dora?days=90".to_string()),
            ("GET /v1/approvals", "/v1/approvals".to_string()),
            ("GET /v1/deployments", "/v1/deployments?limit=100".to_string()),
            ("GET /metrics (DORA cached)", "/metrics".to_string()),
        ];
        println!(
            "\n{:<26} {:>9} {:>9} {:>9} {:>12} {:>10}",
            "page", "p50 ms", "p99 ms", "max ms", "p99 / 50 ms", "bytes"
        );
        let mut worst: f64 = 0.0;
        for (name, path) in &pages {
            let mut samples = Vec::with_capacity(rounds);
            let mut bytes = 0;
            for round in 0..rounds + 5 {
                let request = Request::get(path.as_str())
                    .header("cookie", &cookie)
                    .header("x-infrastream-actor", "omar")
                    .body(Body::empty())
                    .unwrap();
                let start = Instant::now();
                let response = router.clone().oneshot(request).await.unwrap();
                let status = response.status();
                let body = axum::body::to_bytes(response.into_body(), 64 << 20)
                    .await
                    .unwrap();
                let took = start.elapsed();
                assert!(status.is_success(), "{path}: {status}: {}", String::from_utf8_lossy(&body));
                bytes = body.len();
                if round >= 5 {
                    samples.push(took);
                }
            }
            samples.sort();
            let p99 = percentile(&samples, 0.99);
            worst = worst.max(p99);
            println!(
                "{name:<26} {:>9.2} {p99:>9.2} {:>9.2} {:>12.3} {bytes:>10}",
                percentile(&samples, 0.5),
                samples.last().unwrap().as_secs_f64() * 1000.0,
                p99 / BOUND_MS,
            );
        }
        println!(
            "\nworst p99: {worst:.2} ms ({}the 50 ms bound); {rounds} requests per page after 5 to warm up",
            if worst < BOUND_MS { "within " } else { "OVER " }
        );
    });
}
