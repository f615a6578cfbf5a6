//! A running `infrastream serve`, and CI playing against it: real processes, real HTTP, real
//! SQLite, git and OCI image layout.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub(crate) struct Service {
    child: Option<Child>,
    pub(crate) url: String,
    pub(crate) dir: PathBuf,
}

impl Service {
    /// Starts `infrastream serve --dir dir --listen 127.0.0.1:0 extra...`.
    pub(crate) fn start(dir: &Path, extra: &[&str]) -> Service {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.with_extension("log"))
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_infrastream"))
            .args(["serve", "--dir"])
            .arg(dir)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(log)
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
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "the service did not start: {}",
                    std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default()
                )
            });
        Service {
            child: Some(child),
            url,
            dir: dir.to_path_buf(),
        }
    }

    /// `kill -9`: no chance to finish anything.
    pub(crate) fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, then waits for a graceful exit.
    pub(crate) fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        c.wait().unwrap()
    }

    pub(crate) fn secret(&self) -> Vec<u8> {
        std::fs::read_to_string(self.dir.join("webhook-secret"))
            .unwrap()
            .trim()
            .as_bytes()
            .to_vec()
    }

    /// Sends a request; returns the status and the JSON body.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> (u16, Value) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let client = reqwest::Client::new();
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut req = client.request(method, format!("{}{path}", self.url));
            for (k, v) in headers {
                req = req.header(*k, v);
            }
            if let Some(b) = body {
                if !headers
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                {
                    req = req.header("content-type", "application/json");
                }
                req = req.body(b.to_vec());
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::String(text)),
            )
        })
    }

    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        // Reads take a person the tenant knows: a release manager reads.
        self.call(
            "GET",
            path,
            &[("x-infrastream-actor", "sam".to_string())],
            None,
        )
    }

    /// POSTs `body` signed with the webhook secret.
    /// CI's build notification of `app` at `version`, built from `commit`, unsigned.
    pub(crate) fn notify(&self, app: &str, version: &str, commit: &str) -> (u16, Value) {
        self.call(
            "POST",
            "/v1/notifications/build",
            &[],
            Some(notification(app, version, commit).to_string().as_bytes()),
        )
    }

    pub(crate) fn signed(&self, path: &str, body: &Value) -> (u16, Value) {
        let bytes = body.to_string().into_bytes();
        let sig = cd_service::auth::sign(&self.secret(), &bytes);
        self.call(
            "POST",
            path,
            &[("x-infrastream-signature", sig)],
            Some(&bytes),
        )
    }

    /// POSTs `body` as `actor`.
    pub(crate) fn as_actor(&self, actor: &str, path: &str, body: &Value) -> (u16, Value) {
        let bytes = body.to_string().into_bytes();
        self.call(
            "POST",
            path,
            &[("x-infrastream-actor", actor.to_string())],
            Some(&bytes),
        )
    }

    /// Waits until `id`'s status is one of `statuses`; returns the view.
    pub(crate) fn wait(&self, id: &str, statuses: &[&str]) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (code, view) = self.get(&format!("/v1/deployments/{id}"));
            let status = view["deployment"]["status"].as_str().unwrap_or("");
            if code == 200 && statuses.contains(&status) {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "{id} never became {statuses:?}: {view:#}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until no deployment has effects left to perform.
    pub(crate) fn settle(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let (_, list) = self.get("/v1/deployments?limit=500");
            let busy = list
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d["pendingEffects"].as_u64() != Some(0));
            if !busy {
                return;
            }
            assert!(Instant::now() < deadline, "effects never drained: {list:#}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// CI for `app`: commit and tag its source (a bare repository under the service's `sources`),
/// push the image to the service's layout; returns the commit.
pub(crate) fn ci_build(service_dir: &Path, scratch: &Path, app: &str, version: &str) -> String {
    let bare = service_dir.join("sources").join(format!("{app}.git"));
    let work = scratch.join(app);
    if !bare.exists() {
        std::fs::create_dir_all(&bare).unwrap();
        git(&bare, &["init", "--quiet", "--bare", "-b", "main"]);
        std::fs::create_dir_all(&work).unwrap();
        git(&work, &["init", "--quiet", "-b", "main"]);
        git(&work, &["config", "user.name", "CI"]);
        git(&work, &["config", "user.email", "ci@example.invalid"]);
        git(&work, &["remote", "add", "origin", &bare.to_string_lossy()]);
    }
    std::fs::write(work.join("VERSION"), version).unwrap();
    git(&work, &["add", "VERSION"]);
    git(
        &work,
        &["commit", "--quiet", "-m", &format!("feat: {version}")],
    );
    git(&work, &["tag", version]);
    git(
        &work,
        &["push", "--quiet", "origin", "HEAD:refs/heads/main", version],
    );
    cd_oci::OciLayout::new(&service_dir.join("registry"))
        .push_image("containers", app, version, &format!("{app} {version}"))
        .unwrap();
    git(&work, &["rev-parse", "HEAD"]).trim().to_string()
}

pub(crate) fn notification(app: &str, version: &str, commit: &str) -> Value {
    json!({
        "buildDefinitionId": app, "container": app, "version": version,
        "commitSha": commit, "repository": app, "ref": "refs/heads/main",
    })
}

/// Every row of every table of the service's SQLite file, in a stable order.
pub(crate) fn dump(service_dir: &Path) -> Vec<String> {
    let db = rusqlite::Connection::open_with_flags(
        service_dir.join("state.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut rows = Vec::new();
    for t in tables {
        let mut stmt = db.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let mut q = stmt.query([]).unwrap();
        while let Some(r) = q.next().unwrap() {
            let cols: Vec<String> = (0..n)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect();
            rows.push(format!("{t}: {}", cols.join(" | ")));
        }
    }
    rows.sort();
    rows
}
