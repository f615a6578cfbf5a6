//! Two `cd-manager` replicas on one Spanner database (emulator) and one Pub/Sub subscription
//! (emulator), as the seed runs the manager: stateless and scaled out. Build notifications
//! arrive through the subscription (which both replicas stream) and over HTTP to either; the
//! engine's reports and people's approvals go to either. One replica is killed with SIGKILL
//! in the middle of the promotions and started again. Then a release goes to production.
//!
//! What must hold: every promotion committed once; every RC and production tag created once
//! (no second RC number); every approval counted once however often it is sent; no deployment
//! left unfinished.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cd_contract::docker_registry::DockerRegistry;
use cd_contract::emulators::Emulator;
use cd_ports::Registry as _;
use cd_pubsub::PubSub;
use cd_spanner::{Endpoint, create_database, create_instance};
use serde_json::{Value, json};

const APPS: [&str; 3] = ["shop-api", "shop-web", "shop-worker"];
const REGISTRY: &str = "containers";

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One replica: its process, its URL, and how to start it again.
struct Replica {
    child: Option<Child>,
    url: String,
    config: PathBuf,
    env: Vec<(String, String)>,
}

impl Replica {
    fn start(config: &Path, env: &[(String, String)]) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_cd-manager"))
            .args(["--config", &config.to_string_lossy()])
            .envs(env.iter().cloned())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(90))
            .expect("cd-manager started");
        Replica {
            child: Some(child),
            url,
            config: config.to_path_buf(),
            env: env.to_vec(),
        }
    }

    /// SIGKILL: no graceful stop, whatever was in flight is cut off.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    fn restart(&mut self) {
        self.kill();
        *self = Replica::start(&self.config, &self.env);
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Cluster {
    replicas: Vec<Replica>,
    client: reqwest::Client,
    secret: Vec<u8>,
    turn: std::cell::Cell<usize>,
}

impl Cluster {
    /// The next replica in turn: requests are spread over both.
    fn next(&self) -> &str {
        let n = self.turn.get();
        self.turn.set(n + 1);
        &self.replicas[n % self.replicas.len()].url
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> (u16, Value) {
        // A replica being restarted refuses connections: the next one takes the request, as a
        // load balancer would send it.
        for _ in 0..20 {
            let url = format!("{}{path}", self.next());
            let mut rb = self.client.request(method.clone(), &url);
            for (k, v) in headers {
                rb = rb.header(*k, v);
            }
            if let Some(body) = body {
                rb = rb
                    .header("content-type", "application/json")
                    .body(body.to_string());
            }
            match rb.send().await {
                Ok(r) if r.status().as_u16() < 500 => {
                    let status = r.status().as_u16();
                    return (status, r.json().await.unwrap_or(Value::Null));
                }
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        panic!("no replica answered {path}");
    }

    async fn deployments(&self) -> Vec<Value> {
        let (_, list) = self
            .send(
                reqwest::Method::GET,
                "/v1/deployments?limit=500",
                None,
                &[("x-infrastream-actor", "sam".to_string())],
            )
            .await;
        list.as_array().unwrap().clone()
    }

    /// The engine: reports every stage waiting on it, to either replica. Returns how many.
    async fn reconcile(&self) -> usize {
        let mut reported = 0;
        for d in self.deployments().await {
            for stage in d["stages"].as_array().unwrap() {
                if stage["status"] == "DEPLOYING"
                    && let Some(commit) = stage["commitSha"].as_str()
                {
                    let id = d["id"].as_str().unwrap();
                    let body = json!({
                        "deployment": id, "stageIndex": stage["index"], "status": "SUCCESS",
                        "commitSha": commit, "runId": format!("run-{id}-{}", stage["index"]),
                    });
                    let sig = cd_service::auth::sign(&self.secret, body.to_string().as_bytes());
                    let path = format!("/v1/deployments/{id}/status");
                    // Signed over the exact bytes sent.
                    for _ in 0..20 {
                        let url = format!("{}{path}", self.next());
                        let sent = self
                            .client
                            .post(&url)
                            .header("content-type", "application/json")
                            .header("x-infrastream-signature", &sig)
                            .body(body.to_string())
                            .send()
                            .await;
                        if let Ok(r) = sent
                            && r.status().as_u16() < 500
                        {
                            assert!(r.status().is_success(), "{}", r.text().await.unwrap());
                            reported += 1;
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
        reported
    }

    /// Runs the engine until every deployment is final with nothing left to do.
    async fn settle(&self, within: Duration) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            self.reconcile().await;
            let list = self.deployments().await;
            let open: Vec<_> = list
                .iter()
                .filter(|d| {
                    !matches!(
                        d["status"].as_str(),
                        Some("SUCCEEDED" | "SUPERSEDED" | "AWAITING_APPROVAL")
                    ) || d["pendingEffects"].as_u64() != Some(0)
                })
                .map(|d| format!("{} {} {}", d["id"], d["status"], d["pendingEffects"]))
                .collect();
            if open.is_empty() {
                return list;
            }
            assert!(Instant::now() < deadline, "stuck: {open:#?}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_and_a_sigkill_lose_and_repeat_nothing() {
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
    pubsub.ensure_topic("builds").await.unwrap();
    pubsub
        .ensure_subscription("cd-manager", "builds", 10)
        .await
        .unwrap();

    // The team's manifest remote, the source repositories (with CI's clones) and the images,
    // shared by both replicas.
    let tmp = tempfile::tempdir().unwrap();
    let manifests = tmp.path().join("manifests");
    for (path, text) in cd_service::tenant::example_files() {
        let full = manifests.join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    let remote = tmp.path().join("team-manifests.git");
    std::fs::create_dir_all(&remote).unwrap();
    git(&remote, &["init", "--quiet", "--bare", "-b", "main"]);
    let sources = tmp.path().join("sources");
    let images = cd_oci::OciRegistry::new(
        BTreeMap::new(),
        Some(cd_oci::Endpoint {
            url: registry.url(),
            prefix: String::new(),
            auth: cd_oci::Auth::Anonymous,
        }),
    )
    .unwrap();
    let versions = ["v1.0.0", "v1.1.0", "v1.2.0"];
    let mut commits = BTreeMap::new();
    for app in APPS {
        let bare = sources.join(format!("{app}.git"));
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "--quiet", "--bare", "-b", "main"]);
        let work = tmp.path().join("ci").join(app);
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "--quiet", "-b", "main"]);
        git(&work, &["config", "user.name", "CI"]);
        git(&work, &["config", "user.email", "ci@northwind.example"]);
        for version in versions {
            std::fs::write(work.join("VERSION"), version).unwrap();
            git(&work, &["add", "VERSION"]);
            git(
                &work,
                &["commit", "--quiet", "-m", &format!("feat: {version}")],
            );
            git(&work, &["tag", version]);
            let commit = git(&work, &["rev-parse", "HEAD"]).trim().to_string();
            commits.insert((app, version), commit);
            images
                .push_image(REGISTRY, app, version, &format!("{app} {version}"))
                .await
                .unwrap();
        }
        git(
            &work,
            &["push", "--quiet", &bare.to_string_lossy(), "main", "--tags"],
        );
    }

    let secret = b"a shared webhook secret".to_vec();
    let secret_file = tmp.path().join("webhook-secret");
    std::fs::write(&secret_file, &secret).unwrap();
    let env = vec![
        ("SPANNER_EMULATOR_HOST".to_string(), spanner.host()),
        ("PUBSUB_EMULATOR_HOST".to_string(), pubsub_emulator.host()),
    ];
    let replicas: Vec<Replica> = ["a", "b"]
        .iter()
        .map(|name| {
            let config = tmp.path().join(format!("{name}.toml"));
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
[source]
dir = {sources:?}
[engine]
kind = "webhook"
[auth]
webhook_secret_file = {secret_file:?}
[pubsub]
project = "p"
notifications_subscription = "cd-manager"
"#,
                    data = tmp.path().join(format!("data-{name}")),
                    registry = registry.url()
                ),
            )
            .unwrap();
            Replica::start(&config, &env)
        })
        .collect();
    let mut cluster = Cluster {
        replicas,
        client: reqwest::Client::new(),
        secret,
        turn: std::cell::Cell::new(0),
    };

    // Builds: the first two versions of each app through Pub/Sub (either replica's subscriber
    // takes each), the last over HTTP to either replica, each sent twice (a CI retry).
    for version in &versions[..2] {
        for app in APPS {
            let n = cd_core::pipeline::BuildNotified {
                build_definition_id: app.into(),
                container: app.into(),
                version: (*version).into(),
                commit_sha: commits[&(app, *version)].clone(),
                repository: app.into(),
                git_ref: "refs/heads/main".into(),
                ..cd_core::pipeline::BuildNotified::default()
            };
            pubsub.publish_notification("builds", &n).await.unwrap();
        }
    }
    // Kill a replica as soon as the subscription's promotions start, while they are in
    // flight, then start it again.
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.deployments().await.is_empty() {
        assert!(Instant::now() < deadline, "no notification was taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cluster.replicas[0].kill();
    cluster.reconcile().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.replicas[0].restart();
    for app in APPS {
        let body = json!({
            "buildDefinitionId": app, "container": app, "version": "v1.2.0",
            "commitSha": commits[&(app, "v1.2.0")], "repository": app, "ref": "refs/heads/main",
        });
        for _ in 0..2 {
            let (status, answer) = cluster
                .send(
                    reqwest::Method::POST,
                    "/v1/notifications/build",
                    Some(&body),
                    &[],
                )
                .await;
            assert!(status == 200 || status == 202, "{status}: {answer}");
        }
    }
    let list = cluster.settle(Duration::from_secs(240)).await;
    // Each app's newest build reached development; older ones succeeded or were superseded.
    for app in APPS {
        let latest: Vec<_> = list
            .iter()
            .filter(|d| d["application"] == app && d["version"] == "v1.2.0")
            .collect();
        assert_eq!(
            latest.len(),
            1,
            "one deployment of {app} v1.2.0: {latest:#?}"
        );
        assert_eq!(latest[0]["status"], "SUCCEEDED", "{:#}", latest[0]);
    }

    // A release, requested twice (to each replica), approved by two release managers, each
    // approval sent to both replicas.
    let release = json!({ "applicationSet": "shop", "bundle": "2026.12" });
    let jane = [("x-infrastream-actor", "jane".to_string())];
    let (status, first) = cluster
        .send(reqwest::Method::POST, "/v1/releases", Some(&release), &jane)
        .await;
    assert_eq!(status, 202, "{first}");
    let id = first["deployments"][0].as_str().unwrap().to_string();
    // The release's effects (RC tags, release branches, the staging commit) are under way:
    // kill the other replica too, and start it again.
    cluster.replicas[1].restart();
    let (status, again) = cluster
        .send(reqwest::Method::POST, "/v1/releases", Some(&release), &jane)
        .await;
    assert!(
        status == 200 || status == 202 || status == 409,
        "{status}: {again}"
    );
    let deadline = Instant::now() + Duration::from_secs(240);
    let view = loop {
        cluster.reconcile().await;
        let (_, view) = cluster
            .send(
                reqwest::Method::GET,
                &format!("/v1/deployments/{id}"),
                None,
                &[("x-infrastream-actor", "sam".to_string())],
            )
            .await;
        if view["deployment"]["status"] == "AWAITING_APPROVAL" {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "the release never reached its gate: {view:#}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let gate = view["deployment"]["currentStage"].clone();
    for actor in ["omar", "li"] {
        for _ in 0..2 {
            let (status, answer) = cluster
                .send(
                    reqwest::Method::POST,
                    &format!("/v1/deployments/{id}/approvals"),
                    Some(&json!({ "stageIndex": gate, "action": "APPROVE" })),
                    &[("x-infrastream-actor", actor.to_string())],
                )
                .await;
            assert!(status == 200 || status == 202, "{status}: {answer}");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(240);
    let view = loop {
        cluster.reconcile().await;
        let (_, view) = cluster
            .send(
                reqwest::Method::GET,
                &format!("/v1/deployments/{id}"),
                None,
                &[("x-infrastream-actor", "sam".to_string())],
            )
            .await;
        if view["deployment"]["status"] == "SUCCEEDED"
            && view["deployment"]["pendingEffects"].as_u64() == Some(0)
        {
            break view;
        }
        assert!(
            Instant::now() < deadline,
            "the release never finished: {view:#}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let list = cluster.settle(Duration::from_secs(120)).await;

    // Every approval counted once.
    let approvals: Vec<_> = view["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["actor"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(approvals, ["omar", "li"], "{view:#}");

    // Every promotion committed once: each (deployment, stage) trailer pair on one commit.
    let log = git(
        &remote,
        &[
            "log",
            "--format=%(trailers:key=Infrastream-Deployment,key=Infrastream-Stage,valueonly,separator=%x20)",
            "main",
        ],
    );
    let mut seen = BTreeSet::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            seen.insert(line.trim().to_string()),
            "promoted twice: {line}\n{log}"
        );
    }
    let promoted: usize = list
        .iter()
        .map(|d| {
            d["stages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["status"] == "SUCCEEDED")
                .count()
        })
        .sum();
    assert_eq!(
        seen.len(),
        promoted,
        "one commit per succeeded stage\n{log}"
    );

    // Every RC and production tag created once: one RC number, and the release's tags.
    let release = &view["deployment"];
    for app in APPS {
        let tags = images.list_tags(REGISTRY, app, "").await.unwrap();
        let rcs: Vec<_> = tags.iter().filter(|t| t.contains("-rc.")).collect();
        assert_eq!(rcs, ["shop-2026.12-rc.0"], "{app}: {tags:?}");
        let production = release["apps"][app]["productionTag"].as_str().unwrap();
        assert!(tags.iter().any(|t| t == production), "{app}: {tags:?}");
        // The release branch exists once, at the released version's commit.
        let bare = sources.join(format!("{app}.git"));
        let branches = git(
            &bare,
            &[
                "for-each-ref",
                "--format=%(refname) %(objectname)",
                "refs/heads/release/",
            ],
        );
        let version = release["apps"][app]["version"].as_str().unwrap();
        assert_eq!(
            branches.trim(),
            format!(
                "refs/heads/release/shop/2026.12 {}",
                commits[&(app, version)]
            ),
            "{app}"
        );
    }
    cluster.replicas.clear();
}
