//! A decision's cost against the history a store holds: the example tenant with N finished
//! deployments preloaded (each with its stages, an approval and a changelog entry, and a
//! successful release every 50), then, on top of it, through the Driver:
//!
//! - **builds**: build notifications of new versions, each decided and stored (timed), its
//!   effects then performed on the in-memory registry and repository (not timed);
//! - **reports**: the engine's success report for each of those promotions (timed);
//! - **approvals**: a release of the new builds taken to its production gate, then approvals
//!   and rejections by a release manager, alternating (timed; each appends to the ledger).
//!
//! For each it prints decisions/s, p50 and p99 latency, and the rows a decision loaded (the
//! deployments, approvals and changelog entries of its snapshot: what `decide` walks). On SQLite
//! N is 0, 1 000, 10 000 and 100 000; on the Spanner emulator (when it is installed) N
//! is 0, 1 000 and 10 000, where the rows a decision loads are the figure that matters (the
//! emulator's latency says little about Spanner's).
//!
//! Run: `cargo bench -p cd-manager --bench history` (K=n changes the decisions per kind,
//! HISTORY=n,n,... the sizes, STORES=sqlite,spanner the stores). Results: docs/PERFORMANCE.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_precision_loss
)]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use cd_core::pipeline::{
    ApprovalAction, ApprovalRecord, ApprovalRecorded, BuildNotified, BundleApp, ChangelogEntry,
    ChangelogRecord, Deployment, DeploymentId, DeploymentStatus, DeploymentTrack, EngineStatus,
    Input, Reads, ReleaseRequested, SequentialIds, Settings, StageRecord, StageStatus, State,
    StateWrite, StatusReported, Timestamp, records_of,
};
use cd_memory::{MemoryNotifier, MemoryRegistry, MemoryRepo, MemorySourceHost};
use cd_ports::{
    DeploymentFilter, DeploymentView, Driver, EffectLoop, LoopPolicy, ManualClock, Ports,
    RetryPolicy, Store, StoreError,
};

const APPS: [&str; 3] = ["shop-api", "shop-web", "shop-worker"];

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name).map_or_else(
        |_| default.to_vec(),
        |v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
    )
}

/// Counts what each load returned: the rows a decision reads.
struct Counting {
    inner: Arc<dyn Store>,
    rows: AtomicU64,
    loads: AtomicU64,
    applies: AtomicU64,
}

#[async_trait]
impl Store for Counting {
    async fn load(&self, reads: &Reads) -> Result<State, StoreError> {
        let state = self.inner.load(reads).await?;
        let rows = state.deployments.len() + state.approvals.len() + state.changelogs.len();
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.loads.fetch_add(1, Ordering::Relaxed);
        Ok(state)
    }
    async fn apply(&self, writes: &[StateWrite]) -> Result<(), StoreError> {
        self.applies.fetch_add(1, Ordering::Relaxed);
        self.inner.apply(writes).await
    }
    async fn deployment(&self, id: &DeploymentId) -> Result<Option<DeploymentView>, StoreError> {
        self.inner.deployment(id).await
    }
    async fn list(&self, filter: &DeploymentFilter) -> Result<Vec<Deployment>, StoreError> {
        self.inner.list(filter).await
    }

    async fn ready(&self) -> Result<(), StoreError> {
        self.inner.ready().await
    }
}

fn stage(index: usize, env: &str, status: StageStatus) -> StageRecord {
    StageRecord {
        index,
        environments: vec![env.into()],
        approval: None,
        status,
        commit_sha: Some(format!("c{index}")),
        run_id: Some(format!("run-{index}")),
        started_at: Some(Timestamp(1)),
        finished_at: Some(Timestamp(2)),
        deadline: None,
        message: None,
    }
}

/// A finished build of the past: versions `v0.<i>.0`, all below the builds the bench makes.
fn past_build(i: usize) -> Deployment {
    let app = APPS[i % 3];
    let version = format!("v0.{i}.0");
    Deployment {
        id: DeploymentId(format!("past-{i:06}")),
        revision: 3,
        track: DeploymentTrack::PreRelease,
        status: DeploymentStatus::Succeeded,
        application_set: "shop".into(),
        application: Some(app.into()),
        bundle: None,
        dedup_key: Some(format!("{app}/{app}/{version}/{app}")),
        version,
        apps: BTreeMap::new(),
        phase: None,
        observed_tags: BTreeMap::new(),
        stages: vec![stage(0, "development", StageStatus::Succeeded)],
        current_stage: 0,
        build: None,
        requested_by: None,
        authors: vec!["dev".into()],
        last_deployed_versions: BTreeMap::new(),
        outbox: vec![],
        parked: None,
        undelivered_events: 0,
        events_emitted: 4,
        reason: None,
        created_at: Timestamp(1),
        updated_at: Timestamp(2),
        sequence: i as u64 + 1,
    }
}

/// A successful release of the past, carrying the three latest past builds.
fn past_release(i: usize) -> Deployment {
    let apps = (0..3)
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
                    production_tag: Some(format!("shop-past{i}")),
                },
            )
        })
        .collect();
    Deployment {
        id: DeploymentId(format!("past-release-{i:06}")),
        track: DeploymentTrack::Release,
        application: None,
        bundle: Some(format!("past{i}")),
        dedup_key: None,
        version: format!("shop-past{i}-rc.0"),
        apps,
        stages: vec![
            stage(0, "staging", StageStatus::Succeeded),
            stage(1, "production", StageStatus::Succeeded),
        ],
        current_stage: 1,
        ..past_build(i)
    }
}

async fn preload(store: &dyn Store, n: usize) {
    let mut writes = Vec::new();
    for i in 0..n {
        let d = if i % 50 == 49 || i + 1 == n && i >= 2 {
            past_release(i)
        } else {
            past_build(i)
        };
        writes.extend(
            records_of(&d)
                .into_iter()
                .map(|(key, record)| StateWrite::RaiseRecord { key, record }),
        );
        writes.push(StateWrite::AppendApproval(ApprovalRecord {
            deployment: d.id.clone(),
            approval_id: format!("a-{i}"),
            stage_index: 0,
            actor: "jane".into(),
            action: ApprovalAction::Approve,
            comment: String::new(),
            at: Timestamp(2),
        }));
        if let Some(app) = &d.application {
            writes.push(StateWrite::AppendChangelog(ChangelogRecord {
                deployment: d.id.clone(),
                changelog_id: format!("n-{i}"),
                entry: ChangelogEntry {
                    application: app.clone(),
                    version: d.version.clone(),
                    kind: "fix".into(),
                    scope: None,
                    description: format!("fix {i}"),
                    breaking: false,
                    commit: None,
                    pr: None,
                },
            }));
        }
        writes.push(StateWrite::PutDeployment {
            deployment: Box::new(d),
            expected_revision: None,
        });
        if writes.len() >= 2_000 {
            store.apply(&std::mem::take(&mut writes)).await.unwrap();
        }
    }
    store.apply(&writes).await.unwrap();
}

/// Timings of one kind of decision.
struct Kind {
    name: &'static str,
    latencies: Vec<Duration>,
    rows: u64,
    loads: u64,
}

impl Kind {
    fn new(name: &'static str) -> Self {
        Kind {
            name,
            latencies: Vec::new(),
            rows: 0,
            loads: 0,
        }
    }

    fn print(&self, store: &str, n: usize) {
        let mut l = self.latencies.clone();
        l.sort();
        let total: Duration = l.iter().sum();
        let at = |q: f64| l[((l.len() as f64 * q) as usize).min(l.len() - 1)];
        println!(
            "{store:8} N={n:<7} {:9} {:4} decisions  {:8.1}/s  p50 {:7.2} ms  p99 {:7.2} ms  rows/decision {:6.1}  loads/decision {:.2}",
            self.name,
            l.len(),
            l.len() as f64 / total.as_secs_f64(),
            at(0.5).as_secs_f64() * 1e3,
            at(0.99).as_secs_f64() * 1e3,
            self.rows as f64 / l.len() as f64,
            self.loads as f64 / l.len() as f64,
        );
    }
}

/// One timed decision: its latency, and the rows and loads it read.
async fn timed(
    driver: &Driver,
    counting: &Counting,
    kind: &mut Kind,
    input: &Input,
) -> cd_core::pipeline::Decision {
    let (rows, loads) = (
        counting.rows.load(Ordering::Relaxed),
        counting.loads.load(Ordering::Relaxed),
    );
    let start = Instant::now();
    let decision = driver.submit(input).await.unwrap();
    kind.latencies.push(start.elapsed());
    kind.rows += counting.rows.load(Ordering::Relaxed) - rows;
    kind.loads += counting.loads.load(Ordering::Relaxed) - loads;
    decision
}

/// Measures the three kinds of decisions on `store`, which holds `n` finished deployments.
async fn run(store_name: &str, store: Arc<dyn Store>, n: usize, k: usize, preload_time: Duration) {
    let counting = Arc::new(Counting {
        inner: store,
        rows: AtomicU64::new(0),
        loads: AtomicU64::new(0),
        applies: AtomicU64::new(0),
    });
    let registry = Arc::new(MemoryRegistry::new());
    let source = Arc::new(MemorySourceHost::new());
    let ports = Ports {
        store: counting.clone(),
        registry: registry.clone(),
        repo: Arc::new(MemoryRepo::new(cd_service::tenant::example_files())),
        source: source.clone(),
        notifier: Arc::new(MemoryNotifier::new()),
        clock: Arc::new(ManualClock::new(Timestamp(1_800_000_000_000))),
    };
    let driver = Arc::new(Driver::new(
        ports,
        Settings::default(),
        RetryPolicy {
            catalog_ttl_ms: i64::MAX,
            ..RetryPolicy::default()
        },
        Box::new(SequentialIds::new("d", 1)),
    ));
    let mut effects = EffectLoop::new(driver.clone(), LoopPolicy::default());
    effects.run_until_idle().await;

    let mut builds = Kind::new("builds");
    let mut ids = Vec::new();
    for i in 0..k {
        let app = APPS[i % 3];
        let version = format!("v1.{i}.0");
        registry.push("containers", app, &version, &format!("sha256:{app}{i}"));
        source.tag(app, &version, &format!("src-{i}"));
        let input = Input::BuildNotified(BuildNotified {
            build_definition_id: app.into(),
            container: app.into(),
            version,
            ..BuildNotified::default()
        });
        let decision = timed(&driver, &counting, &mut builds, &input).await;
        ids.push(decision.deployments[0].clone());
        effects.observe(&decision);
        effects.run_until_idle().await;
    }

    let mut reports = Kind::new("reports");
    for id in &ids {
        let view = driver.deployment(id).await.unwrap().unwrap();
        let Some(commit) = view.deployment.stages[0].commit_sha.clone() else {
            continue;
        };
        let input = Input::StatusReported(StatusReported {
            deployment: id.clone(),
            stage_index: 0,
            status: EngineStatus::Success,
            run_id: format!("run-{id}"),
            commit_sha: commit,
            message: String::new(),
        });
        let decision = timed(&driver, &counting, &mut reports, &input).await;
        effects.observe(&decision);
        effects.run_until_idle().await;
    }

    // A release of the new builds, to its production gate.
    let release = driver
        .submit(&Input::ReleaseRequested(ReleaseRequested {
            application_set: "shop".into(),
            bundle: "bench".into(),
            actor: "sam".into(),
            ..ReleaseRequested::default()
        }))
        .await
        .unwrap();
    effects.observe(&release);
    let release = release.deployments[0].clone();
    effects.run_until_idle().await;
    let view = driver.deployment(&release).await.unwrap().unwrap();
    let commit = view.deployment.stages[0].commit_sha.clone().unwrap();
    let staged = driver
        .submit(&Input::StatusReported(StatusReported {
            deployment: release.clone(),
            stage_index: 0,
            status: EngineStatus::Success,
            run_id: "run-staging".into(),
            commit_sha: commit,
            message: String::new(),
        }))
        .await
        .unwrap();
    effects.observe(&staged);
    effects.run_until_idle().await;
    let mut approvals = Kind::new("approvals");
    for i in 0..k {
        let action = if i % 2 == 0 {
            ApprovalAction::Approve
        } else {
            ApprovalAction::Reject
        };
        let input = Input::ApprovalRecorded(ApprovalRecorded {
            deployment: release.clone(),
            stage_index: 1,
            actor: "jane".into(),
            action,
            comment: format!("round {i}"),
        });
        let decision = timed(&driver, &counting, &mut approvals, &input).await;
        effects.observe(&decision);
        effects.run_until_idle().await;
    }
    let status = driver
        .deployment(&release)
        .await
        .unwrap()
        .unwrap()
        .deployment
        .status;
    assert!(
        matches!(
            status,
            DeploymentStatus::AwaitingApproval | DeploymentStatus::Rejected
        ),
        "the release waits at its gate: {status:?}"
    );
    println!(
        "{store_name:8} N={n:<7} preloaded in {:.1} s",
        preload_time.as_secs_f64()
    );
    for kind in [&builds, &reports, &approvals] {
        kind.print(store_name, n);
    }
    // Every decision the run stored (the timed ones, and those its effects and the release's
    // setup made): what an instruction count over `decide` divides by.
    println!(
        "{store_name:8} N={n:<7} decisions stored in all: {}",
        counting.applies.load(Ordering::Relaxed)
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let k = env_list("K", &[150])[0];
    let stores = std::env::var("STORES").unwrap_or_else(|_| "sqlite,spanner".into());
    let rt = tokio::runtime::Runtime::new().unwrap();
    if stores.contains("sqlite") {
        for n in env_list("HISTORY", &[0, 1_000, 10_000, 100_000]) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("bench.db");
            let store = cd_sqlite::SqliteStore::open(&path).unwrap();
            let t = Instant::now();
            rt.block_on(preload(&store, n));
            let preload_time = t.elapsed();
            // Closed and opened again, as a service restarts: the preload's write-ahead log is
            // checkpointed now rather than during the measurement.
            drop(store);
            let store = cd_sqlite::SqliteStore::open(&path).unwrap();
            rt.block_on(run("sqlite", Arc::new(store), n, k, preload_time));
        }
    }
    if stores.contains("spanner") {
        let installed = std::env::var_os("SPANNER_EMULATOR_BIN").is_some()
            || Path::new("/usr/lib/google-cloud-sdk/bin/cloud_spanner_emulator/emulator_main")
                .exists();
        if !installed {
            println!("spanner: skipped (the Cloud Spanner emulator is not installed)");
            return;
        }
        let emulator = cd_contract::emulators::Emulator::spanner();
        let endpoint = cd_spanner::Endpoint::Emulator(emulator.host());
        let sizes = env_list("SPANNER_HISTORY", &[0, 1_000, 10_000]);
        rt.block_on(async {
            let instance = cd_spanner::create_instance(
                &endpoint,
                "projects/bench",
                "bench",
                "projects/bench/instanceConfigs/emulator-config",
            )
            .await
            .unwrap();
            for n in sizes {
                let database = cd_spanner::create_database(&endpoint, &instance, &format!("h{n}"))
                    .await
                    .unwrap();
                cd_spanner::SpannerStore::migrate(&endpoint, &database)
                    .await
                    .unwrap();
                let store = cd_spanner::SpannerStore::connect(&endpoint, &database)
                    .await
                    .unwrap();
                let t = Instant::now();
                preload(&store, n).await;
                run("spanner", Arc::new(store), n, k.min(60), t.elapsed()).await;
            }
        });
    }
}
