//! The engine runner on real git: scoped execution per changed DeploymentConfig, trailers,
//! failures, and at-least-once delivery when the manager is unreachable.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cd_core::pipeline::{
    DeploymentId, EngineStatus, ManifestCommit, ManifestEdit, Promotion, StatusReported,
};
use cd_git::{GitConfig, GitRepo};
use cd_ports::ManifestRepo;
use cd_service::engine::{EngineRunner, ReportError, Reporter};

#[derive(Default)]
struct Recorded {
    reports: Mutex<Vec<StatusReported>>,
    unavailable: AtomicU32,
}

struct Recorder(Arc<Recorded>);

#[async_trait]
impl Reporter for Recorder {
    async fn report(&self, report: &StatusReported) -> Result<(), ReportError> {
        if self.0.unavailable.load(Ordering::SeqCst) > 0 {
            self.0.unavailable.fetch_sub(1, Ordering::SeqCst);
            return Err(ReportError::Unavailable("connection refused".into()));
        }
        self.0.reports.lock().unwrap().push(report.clone());
        Ok(())
    }
}

fn edit(app: &str, env: &str, version: &str) -> ManifestEdit {
    ManifestEdit {
        path: format!("apps/{app}/deploy/{env}.yaml"),
        application: app.into(),
        environment: env.into(),
        version: version.into(),
    }
}

fn promotion(subject: &str, deployment: &str, stage: usize) -> ManifestCommit {
    ManifestCommit::promotion(
        subject,
        Promotion {
            deployment: DeploymentId(deployment.into()),
            stage,
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_runs_only_what_each_commit_changed_and_reports_it() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("manifests.git");
    std::fs::create_dir_all(&remote).unwrap();
    let init = std::process::Command::new("git")
        .args(["init", "--quiet", "--bare", "-b", "main"])
        .arg(&remote)
        .status()
        .unwrap();
    assert!(init.success());
    let remote = remote.to_string_lossy().into_owned();
    let writer_config = GitConfig::new(&remote, &tmp.path().join("writer"));
    GitRepo::seed_remote(&writer_config, &cd_service::tenant::example_files()).unwrap();
    let writer = GitRepo::open(writer_config).unwrap();

    let log = tmp.path().join("runs.log");
    let command = format!(
        "echo \"$APP $ENVIRONMENT $VERSION $FILE $DEPLOYMENT_ID\" >> '{}'; if [ \"$APP\" = shop-worker ]; then echo 'pods crash-looping' >&2; exit 3; fi",
        log.display()
    );
    let recorded = Arc::new(Recorded::default());
    let runner = EngineRunner::new(
        &remote,
        "main",
        &tmp.path().join("engine"),
        Some(command),
        Box::new(Recorder(recorded.clone())),
    )
    .unwrap();
    assert_eq!(
        runner.poll_once().await.unwrap(),
        0,
        "the first poll only takes the head"
    );

    let c1 = writer
        .write(
            &[
                edit("shop-api", "development", "v1.1.0"),
                edit("shop-web", "development", "v1.1.0"),
            ],
            &promotion("deploy: v1.1.0 to development", "d-1", 0),
        )
        .await
        .unwrap()
        .unwrap();
    let human = writer
        .write(
            &[edit("shop-api", "staging", "v0.9.0")],
            &ManifestCommit::plain("chore: pin staging by hand"),
        )
        .await
        .unwrap()
        .unwrap();
    let c3 = writer
        .write(
            &[edit("shop-worker", "development", "v2.0.0")],
            &promotion("deploy(shop-worker): v2.0.0 to development", "d-2", 0),
        )
        .await
        .unwrap()
        .unwrap();

    // The manager is down: the first commit runs, its report waits.
    recorded.unavailable.store(1, Ordering::SeqCst);
    assert!(runner.poll_once().await.is_err());
    assert!(recorded.reports.lock().unwrap().is_empty());
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 2);
    // Back up: the held report is delivered without running the commands again, then the rest.
    assert_eq!(runner.poll_once().await.unwrap(), 3);
    assert_eq!(runner.poll_once().await.unwrap(), 0, "nothing new");

    let runs = std::fs::read_to_string(&log).unwrap();
    let runs: Vec<&str> = runs.lines().collect();
    assert_eq!(
        runs,
        [
            "shop-api development v1.1.0 apps/shop-api/deploy/development.yaml d-1",
            "shop-web development v1.1.0 apps/shop-web/deploy/development.yaml d-1",
            "shop-api staging v0.9.0 apps/shop-api/deploy/staging.yaml ",
            "shop-worker development v2.0.0 apps/shop-worker/deploy/development.yaml d-2",
        ]
    );
    let reports = recorded.reports.lock().unwrap().clone();
    assert_eq!(
        reports.len(),
        2,
        "the hand-made commit is reconciled but not reported: {reports:?}"
    );
    assert_eq!(
        (reports[0].deployment.0.as_str(), reports[0].stage_index),
        ("d-1", 0)
    );
    assert_eq!(reports[0].status, EngineStatus::Success);
    assert_eq!(reports[0].commit_sha, c1);
    assert_eq!(
        (reports[1].deployment.0.as_str(), reports[1].status),
        ("d-2", EngineStatus::Failed)
    );
    assert_eq!(reports[1].commit_sha, c3);
    assert!(
        reports[1].message.contains("shop-worker in development")
            && reports[1].message.contains("pods crash-looping"),
        "{}",
        reports[1].message
    );
    assert!(!reports.iter().any(|r| r.commit_sha == human));

    // A crash with a report undelivered: the next process runs that commit again (at least
    // once), then reports it.
    let c4 = writer
        .write(
            &[edit("shop-web", "staging", "v1.1.0")],
            &promotion("deploy: staging", "d-3", 1),
        )
        .await
        .unwrap()
        .unwrap();
    recorded.unavailable.store(1, Ordering::SeqCst);
    assert!(runner.poll_once().await.is_err());
    drop(runner);
    let restarted = EngineRunner::new(
        &remote,
        "main",
        &tmp.path().join("engine"),
        Some(format!(
            "echo \"$APP $ENVIRONMENT again\" >> '{}'",
            log.display()
        )),
        Box::new(Recorder(recorded.clone())),
    )
    .unwrap();
    assert_eq!(restarted.poll_once().await.unwrap(), 1);
    let runs = std::fs::read_to_string(&log).unwrap();
    assert!(runs.ends_with("shop-web staging v1.1.0 apps/shop-web/deploy/staging.yaml d-3\nshop-web staging again\n"), "{runs}");
    let last = recorded.reports.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        (
            last.deployment.0.as_str(),
            last.stage_index,
            last.commit_sha.as_str()
        ),
        ("d-3", 1, c4.as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_that_hangs_is_stopped_and_fails_its_stage() {
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("manifests.git");
    std::fs::create_dir_all(&remote).unwrap();
    assert!(
        std::process::Command::new("git")
            .args(["init", "--quiet", "--bare", "-b", "main"])
            .arg(&remote)
            .status()
            .unwrap()
            .success()
    );
    let remote = remote.to_string_lossy().into_owned();
    let writer_config = GitConfig::new(&remote, &tmp.path().join("writer"));
    GitRepo::seed_remote(&writer_config, &cd_service::tenant::example_files()).unwrap();
    let writer = GitRepo::open(writer_config).unwrap();
    let recorded = Arc::new(Recorded::default());
    let runner = EngineRunner::new(
        &remote,
        "main",
        &tmp.path().join("engine"),
        Some(format!(
            "sleep 30 & echo $! > '{}'; wait",
            tmp.path().join("child.pid").display()
        )),
        Box::new(Recorder(recorded.clone())),
    )
    .unwrap()
    .with_command_timeout(std::time::Duration::from_millis(300));
    runner.ensure_start(None).await.unwrap();
    writer
        .write(
            &[edit("shop-api", "development", "v3.0.0")],
            &promotion("deploy", "d-9", 0),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    assert_eq!(runner.poll_once().await.unwrap(), 1);
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let report = recorded.reports.lock().unwrap()[0].clone();
    assert_eq!(report.status, EngineStatus::Failed);
    assert!(
        report.message.contains("ran longer than"),
        "{}",
        report.message
    );
    // Everything the command started is stopped with it, not just the shell.
    let pid = std::fs::read_to_string(tmp.path().join("child.pid")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::process::Command::new("kill")
        .args(["-0", pid.trim()])
        .status()
        .unwrap()
        .success()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the command's child {pid} survived"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
