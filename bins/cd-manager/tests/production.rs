//! `cd-manager` on the production path, every piece real: Cloud Spanner and Pub/Sub emulators,
//! a docker-registry, a git remote. CI publishes a notification with `cd-manager notify`; the
//! manager promotes it, the engine reconciles it, and the events reach the topic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cd_contract::docker_registry::DockerRegistry;
use cd_contract::emulators::Emulator;
use cd_pubsub::PubSub;
use cd_spanner::{Endpoint, create_database, create_instance};
use serde_json::Value;

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notification_published_to_pubsub_is_promoted_with_state_in_spanner() {
    let spanner = Emulator::spanner();
    let pubsub_emulator = Emulator::pubsub();
    let registry = DockerRegistry::start(None);
    let endpoint = Endpoint::Emulator(spanner.host());
    let instance = create_instance(
        &endpoint,
        "projects/p",
        "cd",
        "projects/p/instanceConfigs/emulator-config",
    )
    .await
    .unwrap();
    let database = create_database(&endpoint, &instance, "state")
        .await
        .unwrap();
    let pubsub = PubSub::connect(&cd_pubsub::Endpoint::Emulator {
        host: pubsub_emulator.host(),
        project: "p".into(),
    })
    .await
    .unwrap();
    for topic in ["builds", "events"] {
        pubsub.ensure_topic(topic).await.unwrap();
    }
    pubsub
        .ensure_subscription("cd-manager", "builds", 10)
        .await
        .unwrap();
    pubsub
        .ensure_subscription("audit", "events", 10)
        .await
        .unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let manifests = tmp.path().join("manifests");
    for (path, text) in cd_service::tenant::example_files() {
        let full = manifests.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    let remote = tmp.path().join("team-manifests.git");
    std::fs::create_dir_all(&remote).unwrap();
    assert!(
        Command::new("git")
            .args(["init", "--quiet", "--bare", "-b", "main"])
            .arg(&remote)
            .status()
            .unwrap()
            .success()
    );
    let data = tmp.path().join("data");
    let config = tmp.path().join("cd.toml");
    std::fs::write(
        &config,
        format!(
            r#"listen = "127.0.0.1:0"
data_dir = {data:?}
[store]
kind = "spanner"
database = {database:?}
[manifests]
remote = {remote:?}
seed_from = {manifests:?}
[registry]
kind = "oci"
url = "{registry}"
[pubsub]
project = "p"
events_topic = "events"
notifications_subscription = "cd-manager"
"#,
            registry = registry.url()
        ),
    )
    .unwrap();
    // The schema is migrated ahead, as a job before a rollout runs it; a second run (or the
    // service's own start) finds nothing left to do.
    let migrate = || {
        let out = Command::new(env!("CARGO_BIN_EXE_cd-manager"))
            .args(["--config", &config.to_string_lossy(), "migrate"])
            .env("SPANNER_EMULATOR_HOST", spanner.host())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let first = migrate();
    assert!(
        first.starts_with(&database)
            && first.contains(&format!(
                "({} migration(s) applied)",
                cd_spanner::MIGRATION_COUNT
            )),
        "{first}"
    );
    assert!(migrate().contains("(0 migration(s) applied)"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_cd-manager"))
        .args(["--config", &config.to_string_lossy()])
        .env("SPANNER_EMULATOR_HOST", spanner.host())
        .env("PUBSUB_EMULATOR_HOST", pubsub_emulator.host())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = Killed(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = tx.send(url.to_string());
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("cd-manager started");
    // CI pushed the image before it notified.
    cd_oci::OciRegistry::new(
        std::collections::BTreeMap::new(),
        Some(cd_oci::Endpoint {
            url: registry.url(),
            prefix: String::new(),
            auth: cd_oci::Auth::Anonymous,
        }),
    )
    .unwrap()
    .push_image("containers", "shop-api", "v1.0.0", "shop-api v1.0.0")
    .await
    .unwrap();

    // CI's side, as a workflow runs it, with the changelog `infrastream-ci changelog --format
    // json` wrote.
    let changelog = tmp.path().join("changelog.json");
    std::fs::write(
        &changelog,
        r#"{"from": "v0.9.0", "to": "v1.0.0", "entries": [
            {"type": "feat", "scope": "cart", "description": "carts expire", "breaking": false,
             "commit": "0123456789abcdef0123456789abcdef01234567", "pr": 13}]}"#,
    )
    .unwrap();
    let published = Command::new(env!("CARGO_BIN_EXE_cd-manager"))
        .args([
            "notify",
            "--topic",
            "projects/p/topics/builds",
            "--build-definition",
            "shop-api",
            "--container",
            "shop-api",
            "--version",
            "v1.0.0",
            "--changelog",
            &changelog.to_string_lossy(),
        ])
        .env("PUBSUB_EMULATOR_HOST", pubsub_emulator.host())
        .output()
        .unwrap();
    assert!(
        published.status.success(),
        "{}",
        String::from_utf8_lossy(&published.stderr)
    );

    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let deployment = loop {
        let list: Value = client
            .get(format!("{url}/v1/deployments"))
            .header("x-infrastream-actor", "sam")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if let Some(d) = list.as_array().and_then(|l| l.first())
            && d["status"] == "SUCCEEDED"
        {
            break d.clone();
        }
        assert!(Instant::now() < deadline, "never succeeded: {list:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let id = deployment["id"].as_str().unwrap();
    let commit = deployment["stages"][0]["commitSha"].as_str().unwrap();
    let view: Value = client
        .get(format!("{url}/v1/deployments/{id}"))
        .header("x-infrastream-actor", "sam")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entry = &view["changelog"][0];
    assert_eq!(entry["description"], "carts expire", "{view:#}");
    assert_eq!(entry["application"], "shop-api", "{view:#}");
    assert_eq!(entry["version"], "v1.0.0", "{view:#}");
    let log = Command::new("git")
        .arg("-C")
        .arg(&remote)
        .args(["log", "--format=%H %s", "main"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout).into_owned();
    assert!(
        log.starts_with(commit),
        "the promotion is the remote's head: {log}"
    );
    assert!(!data.join("state.db").exists(), "the state is in Spanner");

    // Ready: Spanner answers, the manifest remote answers, the subscriber is streaming.
    let ready = client.get(format!("{url}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let report: Value = ready.json().await.unwrap();
    let names: Vec<_> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == true)
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        ["store", "manifests", "subscriber", "worker"],
        "{report:#}"
    );

    // The pipeline's CloudEvents reached the topic.
    let raw = google_cloud_pubsub::client::Client::new(google_cloud_pubsub::client::ClientConfig {
        project_id: Some("p".into()),
        environment: google_cloud_gax::conn::Environment::Emulator(pubsub_emulator.host()),
        ..Default::default()
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut types = Vec::new();
    while !types
        .iter()
        .any(|t: &String| t.ends_with("deployment.succeeded"))
    {
        for m in raw.subscription("audit").pull(20, None).await.unwrap() {
            assert_eq!(m.message.attributes["ce-subject"], id);
            types.push(m.message.attributes["ce-type"].clone());
            m.ack().await.unwrap();
        }
        assert!(Instant::now() < deadline, "events so far: {types:?}");
    }
}
