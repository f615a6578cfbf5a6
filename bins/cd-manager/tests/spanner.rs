//! `cd-manager` on Cloud Spanner (the real emulator): a build notification is promoted and
//! reconciled, with all state in Spanner.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cd_contract::emulators::Emulator;
use cd_spanner::{Endpoint, create_database, create_instance};
use serde_json::{Value, json};

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cd_manager_promotes_a_build_with_its_state_in_spanner() {
    let emulator = Emulator::spanner();
    let endpoint = Endpoint::Emulator(emulator.host());
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

    let tmp = tempfile::tempdir().unwrap();
    let manifests = tmp.path().join("manifests");
    for (path, text) in cd_service::tenant::example_files() {
        let full = manifests.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    let data = tmp.path().join("data");
    let config = tmp.path().join("cd.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = {data:?}\n[store]\nkind = \"spanner\"\ndatabase = {database:?}\n[manifests]\nseed_from = {manifests:?}\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cd-manager"))
        .args(["--config", &config.to_string_lossy()])
        .env("SPANNER_EMULATOR_HOST", emulator.host())
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

    let client = reqwest::Client::new();
    let answer: Value = client
        .post(format!("{url}/v1/notifications/build"))
        .header("content-type", "application/json")
        .body(
            json!({ "buildDefinitionId": "shop-api", "container": "shop-api", "version": "v1.0.0" })
                .to_string(),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = answer["deployments"][0].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let view: Value = client
            .get(format!("{url}/v1/deployments/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if view["deployment"]["status"] == "SUCCEEDED" {
            assert!(view["deployment"]["stages"][0]["commitSha"].is_string());
            break;
        }
        assert!(Instant::now() < deadline, "never succeeded: {view:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !data.join("state.db").exists(),
        "no SQLite file: the state is in Spanner"
    );
}
