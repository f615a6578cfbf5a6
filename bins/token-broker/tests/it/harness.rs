//! One broker process with its issuer, GitHub stand-in and policy tree.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cd_github_standin::FakeGithub;
use cd_github_standin::actions_oidc::{ActionsIssuer, Trap};
use serde_json::Value;

pub(crate) const AUDIENCE: &str = "https://token-broker.example.com";
pub(crate) const SHOP_API_ID: &str = "700000101";

pub(crate) const REPOSITORIES: &str = "\
apiVersion: lowops.manifests.v1
kind: GithubRepository
metadata: {name: shop-api, organization: northwind}
spec: {strategy: TRUNK_BASED}
---
apiVersion: lowops.manifests.v1
kind: GithubRepository
metadata: {name: shop-libs, organization: northwind}
---
apiVersion: lowops.manifests.v1
kind: GithubRepository
metadata: {name: base-images, organization: northwind}
";

pub(crate) const POLICY: &str = "\
apiVersion: lowops.manifests.v1
kind: TokenPolicy
metadata: {name: shop-api-builds, organization: northwind}
spec:
  subject:
    repository: northwind/shop-api
    repositoryId: \"700000101\"
    refs: [refs/heads/main, refs/heads/release/*]
    events: [push, workflow_dispatch]
    workflowRefs: [\"northwind/shop-api/.github/workflows/*@refs/heads/*\"]
  grant:
    repositories: [shop-libs, base-images]
    permissions: {contents: read, packages: read}
";

pub(crate) struct Broker {
    pub(crate) url: String,
    pub(crate) issuer: ActionsIssuer,
    pub(crate) github: FakeGithub,
    pub(crate) trap: Trap,
    pub(crate) manifests: PathBuf,
    pub(crate) audit: PathBuf,
    logs: Arc<Mutex<String>>,
    child: Child,
    pub(crate) dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) struct Options {
    pub(crate) rate_limit_per_minute: u32,
    pub(crate) reload_seconds: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            rate_limit_per_minute: 1000,
            reload_seconds: 1,
        }
    }
}

impl Broker {
    pub(crate) async fn start(options: Options) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let issuer = ActionsIssuer::start().await;
        let github = FakeGithub::start(3600).await;
        github.org("northwind");
        for r in ["shop-api", "shop-libs", "base-images"] {
            github.repo(&format!("northwind/{r}"));
        }
        let trap = Trap::start().await;
        let manifests = dir.path().join("manifests");
        std::fs::create_dir_all(&manifests).unwrap();
        std::fs::write(manifests.join("repositories.yaml"), REPOSITORIES).unwrap();
        std::fs::write(manifests.join("tokens.yaml"), POLICY).unwrap();
        let key = dir.path().join("app.pem");
        std::fs::write(&key, github.private_key()).unwrap();
        let audit = dir.path().join("audit.jsonl");
        let config = dir.path().join("broker.toml");
        std::fs::write(
            &config,
            format!(
                "listen = \"127.0.0.1:0\"\nmanifests = \"{}\"\nreload_seconds = {}\nrate_limit_per_minute = {}\naudit_log = \"{}\"\n\n[oidc]\nissuer = \"{}\"\naudience = \"{AUDIENCE}\"\n\n[github]\napi = \"{}\"\napp_id = \"4242\"\nprivate_key_file = \"{}\"\nowner = \"northwind\"\n",
                manifests.display(),
                options.reload_seconds,
                options.rate_limit_per_minute,
                audit.display(),
                issuer.url,
                github.url(),
                key.display(),
            ),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_token-broker"))
            .arg("--config")
            .arg(&config)
            // Every log line, at the most talkative level, is searched for secrets below.
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
                let mut logs = sink.lock().unwrap();
                logs.push_str(&line);
                logs.push('\n');
            }
        });
        let url = tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)))
            .await
            .unwrap()
            .unwrap_or_else(|_| panic!("the broker did not start"));
        Broker {
            url,
            issuer,
            github,
            trap,
            manifests,
            audit,
            logs,
            child,
            dir,
        }
    }

    /// What the broker logged so far.
    pub(crate) fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    /// The claims of shop-api's push to main.
    pub(crate) fn claims(&self) -> Value {
        self.issuer
            .claims(AUDIENCE, "northwind/shop-api", SHOP_API_ID)
    }

    /// A good token of shop-api's push to main.
    pub(crate) fn token(&self) -> String {
        self.issuer.sign(&self.claims())
    }

    /// POST /v1/token with `authorization` (if any) and `body`.
    pub(crate) async fn post(
        &self,
        authorization: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = reqwest::Client::new()
            .post(format!("{}/v1/token", self.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(a) = authorization {
            req = req.header("authorization", a);
        }
        let response = req.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body, headers)
    }

    /// POST /v1/token with `token` as the bearer.
    pub(crate) async fn ask(&self, token: &str, body: &Value) -> (u16, Value) {
        let (status, body, _) = self
            .post(Some(&format!("Bearer {token}")), body.to_string())
            .await;
        (status, body)
    }

    /// How many installation tokens the stand-in issued.
    pub(crate) fn issued(&self) -> Vec<Value> {
        self.github.state().issued.clone()
    }

    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let response = reqwest::get(format!("{}{path}", self.url)).await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }
}
