//! `infrastream demo`: the whole pipeline on one machine, over real processes and HTTP.
//!
//! It starts `infrastream serve` (embedded SQLite, a bare manifest repository seeded with the
//! example tenant, an OCI image layout) and `infrastream engine` on loopback, then plays CI and
//! the release managers against them, and prints what happened.

// Indexing a serde_json::Value by key or position yields Null when absent; it never panics.
#![allow(clippy::indexing_slicing)]

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use cd_ports::Registry as _;
use clap::Args;
use serde_json::{Value, json};

use crate::client::{Client, Conn};

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Where the demo keeps everything (wiped and recreated on each run).
    #[arg(long, default_value = ".infrastream-demo")]
    dir: PathBuf,
    /// Use this OCI registry (e.g. http://127.0.0.1:5000) instead of the embedded image layout.
    #[arg(long)]
    registry: Option<String>,
    /// Use this git remote for the manifests instead of the embedded bare repository (an
    /// empty remote is seeded with the example tenant).
    #[arg(long)]
    manifests_remote: Option<String>,
    /// Leave the service and the engine running to explore, until Ctrl-C.
    #[arg(long)]
    keep_running: bool,
}

const MARKER: &str = ".infrastream-demo";
/// The demo's outcome when a signal stopped it.
const STOPPED: &str = "stopped by a signal";
const REGISTRY: &str = "containers";
const APPS: [&str; 3] = ["shop-api", "shop-web", "shop-worker"];
/// The demo's engine: "applies" a DeploymentConfig, and fails the smoke test of one version.
const ENGINE_COMMAND: &str = r#"case "$APP@$VERSION" in shop-worker@v1.1.0) echo "smoke test failed: /healthz answered 503" >&2; exit 1;; esac; echo "applied $FILE: $APP $VERSION in $ENVIRONMENT""#;

/// A child process stopped (SIGTERM, then SIGKILL) when dropped.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("{} did not stop; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `exe args`, logging stderr to `log`, and waits for a stdout line starting with
/// `ready`; returns the process and the rest of that line.
fn start(
    name: &'static str,
    args: &[String],
    log: &Path,
    ready: &str,
) -> Result<(Proc, String), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("cannot start {name}: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let proc = Proc { name, child };
    let (tx, rx) = std::sync::mpsc::channel();
    let ready = ready.to_string();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix(&ready) {
                let _ = tx.send(rest.to_string());
            }
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(120))
        .map_err(|_| format!("{name} did not start; see {}", log.display()))?;
    Ok((proc, line))
}

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The columns of a deployment's line: id, track, what, version, status, stages.
pub(crate) fn summary_cells(d: &Value) -> [String; 6] {
    let what = d["application"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            d["bundle"]
                .as_str()
                .map(|b| format!("{}/{b}", d["applicationSet"].as_str().unwrap_or("")))
        })
        .unwrap_or_default();
    let stages: Vec<String> = d["stages"]
        .as_array()
        .map(|s| {
            s.iter()
                .map(|st| {
                    let envs: Vec<&str> = st["environments"]
                        .as_array()
                        .map(|e| e.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    format!(
                        "{}={}",
                        envs.join("+"),
                        st["status"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    [
        d["id"].as_str().unwrap_or("").to_string(),
        d["track"].as_str().unwrap_or("").to_string(),
        what,
        d["version"].as_str().unwrap_or("").to_string(),
        d["status"].as_str().unwrap_or("").to_string(),
        stages.join(" "),
    ]
}

/// One line about a deployment.
pub(crate) fn summary(d: &Value) -> String {
    table(&[summary_cells(d)]).concat()
}

/// Lines of cells, each column as wide as its widest cell (at least its usual width), so long
/// names never push a column out of line.
pub(crate) fn table(rows: &[[String; 6]]) -> Vec<String> {
    let mut widths = [32, 10, 14, 18, 17, 0];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
                if i + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<w$} "));
                }
            }
            line.trim_end().to_string()
        })
        .collect()
}

/// A deployment with its stages, approvals and changelog.
pub(crate) fn details(view: &Value) -> String {
    let d = &view["deployment"];
    let mut out = format!("{}\n", summary(d));
    if let Some(reason) = d["reason"].as_str() {
        out.push_str(&format!("  reason: {reason}\n"));
    }
    for st in d["stages"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  stage {} {:<18} commit {:<10} {}\n",
            st["index"],
            st["status"].as_str().unwrap_or(""),
            st["commitSha"]
                .as_str()
                .map_or("-", |c| c.get(..10).unwrap_or(c)),
            st["message"].as_str().unwrap_or("")
        ));
    }
    for a in view["approvals"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  approval: stage {} {} by {} {}\n",
            a["stageIndex"],
            a["action"].as_str().unwrap_or(""),
            a["actor"].as_str().unwrap_or(""),
            a["comment"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(|c| format!("({c})"))
                .unwrap_or_default()
        ));
    }
    out
}

enum Images {
    Layout(cd_oci::OciLayout),
    Oci(cd_oci::OciRegistry),
}

impl Images {
    async fn push(&self, image: &str, tag: &str) -> Result<String, String> {
        let content = format!("{image} {tag}");
        match self {
            Images::Layout(l) => l.push_image(REGISTRY, image, tag, &content),
            Images::Oci(r) => r.push_image(REGISTRY, image, tag, &content).await,
        }
        .map_err(|e| format!("pushing {image}:{tag}: {e}"))
    }

    async fn tags(&self, image: &str) -> Vec<String> {
        let tags = match self {
            Images::Layout(l) => l.list_tags(REGISTRY, image, "").await,
            Images::Oci(r) => r.list_tags(REGISTRY, image, "").await,
        };
        let mut tags = tags.unwrap_or_default();
        tags.sort();
        tags
    }
}

struct Demo {
    conn: Conn,
    client: Client,
    started: Instant,
    dir: PathBuf,
    images: Images,
}

impl Demo {
    fn say(&self, text: &str) {
        println!("[{:>5.1}s] {text}", self.started.elapsed().as_secs_f64());
    }

    /// CI: commit and tag the source, push the image, notify the manager.
    async fn build(&self, app: &str, version: &str) -> Result<Value, String> {
        let work = self.dir.join("ci").join(app);
        std::fs::write(work.join("VERSION"), version).map_err(|e| e.to_string())?;
        git(&work, &["add", "VERSION"])?;
        git(
            &work,
            &["commit", "--quiet", "-m", &format!("feat: {app} {version}")],
        )?;
        git(&work, &["tag", version])?;
        git(
            &work,
            &["push", "--quiet", "origin", "HEAD:refs/heads/main", version],
        )?;
        let commit = git(&work, &["rev-parse", "HEAD"])?.trim().to_string();
        self.images.push(app, version).await?;
        self.notify(app, version, &commit).await
    }

    async fn notify(&self, app: &str, version: &str, commit: &str) -> Result<Value, String> {
        let answer = self
            .client
            .post(
                "/v1/notifications/build",
                &json!({
                    "buildDefinitionId": app, "container": app, "version": version,
                    "commitSha": commit, "repository": app, "ref": "refs/heads/main",
                    "author": "dev@northwind.example",
                }),
            )
            .await?;
        if answer.ok() {
            Ok(answer.body)
        } else {
            Err(format!("notification refused: {}", answer.message()))
        }
    }

    async fn view(&self, id: &str) -> Result<Value, String> {
        let a = self.client.get(&format!("/v1/deployments/{id}")).await?;
        if a.ok() { Ok(a.body) } else { Err(a.message()) }
    }

    /// Waits until the deployment's status is one of `statuses`.
    async fn wait(&self, id: &str, statuses: &[&str]) -> Result<Value, String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let view = self.view(id).await?;
            let status = view["deployment"]["status"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if statuses.contains(&status.as_str()) {
                return Ok(view);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{id} is still {status} after 120 s:\n{}",
                    details(&view)
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn act(
        &self,
        id: &str,
        actor: &str,
        action: &str,
        comment: &str,
    ) -> Result<crate::client::Answer, String> {
        let conn = Conn {
            actor: Some(actor.to_string()),
            ..self.conn.clone()
        };
        Client::new(&conn)?
            .post(
                &format!("/v1/deployments/{id}/approvals"),
                &json!({ "stageIndex": 1, "action": action, "comment": comment }),
            )
            .await
    }
}

fn first_id(body: &Value) -> Result<String, String> {
    body["deployments"][0]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no deployment in {body}"))
}

fn prepare(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        if !dir.join(MARKER).exists() {
            return Err(format!(
                "{} exists and is not a demo directory; choose another with --dir",
                dir.display()
            ));
        }
        std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(
        dir.join(MARKER),
        "created by infrastream demo; removed by the next run\n",
    )
    .map_err(|e| e.to_string())
}

/// A source repository per application (a bare one the service creates release branches in,
/// and CI's working clone).
fn sources(dir: &Path, service_dir: &Path) -> Result<(), String> {
    for app in APPS {
        let bare = service_dir.join("sources").join(format!("{app}.git"));
        std::fs::create_dir_all(&bare).map_err(|e| e.to_string())?;
        git(&bare, &["init", "--quiet", "--bare", "-b", "main"])?;
        let work = dir.join("ci").join(app);
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        git(&work, &["init", "--quiet", "-b", "main"])?;
        git(&work, &["config", "user.name", "Northwind CI"])?;
        git(&work, &["config", "user.email", "ci@northwind.example"])?;
        let bare = std::path::absolute(&bare).map_err(|e| e.to_string())?;
        git(&work, &["remote", "add", "origin", &bare.to_string_lossy()])?;
    }
    Ok(())
}

pub(crate) fn run(args: &DemoArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    // Stopped by Ctrl-C or SIGTERM (a supervisor, `kill`), at any point: the demo's future is
    // dropped, and with it the service and the engine it started (each stopped as it drops).
    let stopped = rt.block_on(async {
        // The signal branch first: its handlers are installed before the story starts the
        // service and the engine, so a signal at any point finds them.
        tokio::select! {
            biased;
            () = cd_service::process::shutdown_signal() => Err(STOPPED.to_string()),
            result = demo(args) => result,
        }
    });
    match stopped {
        Err(e) if e == STOPPED => {
            eprintln!("demo stopped; the service and the engine are stopped too");
            ExitCode::SUCCESS
        }
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::from(1)
        }
    }
}

#[allow(clippy::too_many_lines)] // One story, told in order.
async fn demo(args: &DemoArgs) -> Result<(), String> {
    let started = Instant::now();
    prepare(&args.dir)?;
    let dir = std::path::absolute(&args.dir).map_err(|e| e.to_string())?;
    let service_dir = dir.join("service");
    sources(&dir, &service_dir)?;

    let mut serve_args: Vec<String> = vec![
        "serve".into(),
        "--dir".into(),
        service_dir.to_string_lossy().into_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--engine".into(),
        "webhook".into(),
    ];
    if let Some(r) = &args.registry {
        serve_args.extend(["--registry".into(), r.clone()]);
    }
    if let Some(r) = &args.manifests_remote {
        serve_args.extend(["--manifests-remote".into(), r.clone()]);
    }
    let (service, server) = start(
        "the service",
        &serve_args,
        &dir.join("service.log"),
        "listening on ",
    )?;
    let remote = args.manifests_remote.clone().unwrap_or_else(|| {
        service_dir
            .join("manifests.git")
            .to_string_lossy()
            .into_owned()
    });
    let secret_file = service_dir.join("webhook-secret");
    let engine_args: Vec<String> = vec![
        "engine".into(),
        "--remote".into(),
        remote.clone(),
        "--server".into(),
        server.clone(),
        "--secret-file".into(),
        secret_file.to_string_lossy().into_owned(),
        "--workdir".into(),
        dir.join("engine").to_string_lossy().into_owned(),
        "--command".into(),
        ENGINE_COMMAND.into(),
        "--poll-ms".into(),
        "100".into(),
    ];
    let (engine, _) = start(
        "the engine",
        &engine_args,
        &dir.join("engine.log"),
        "following ",
    )?;
    let conn = Conn {
        server: server.clone(),
        // The demo reads as sam, a developer of the tenant: reads take a person it knows.
        actor: Some("sam".into()),
        token: None,
        secret_file: Some(secret_file),
    };
    let images = match &args.registry {
        Some(url) => Images::Oci(
            cd_oci::OciRegistry::new(
                std::collections::BTreeMap::new(),
                Some(cd_oci::Endpoint {
                    url: url.clone(),
                    prefix: String::new(),
                    auth: cd_oci::Auth::Anonymous,
                }),
            )
            .map_err(|e| e.to_string())?,
        ),
        None => Images::Layout(cd_oci::OciLayout::new(&service_dir.join("registry"))),
    };
    let d = Demo {
        client: Client::new(&conn)?,
        conn,
        started,
        dir: dir.clone(),
        images,
    };
    d.say(&format!(
        "CD Manager on {server} (SQLite, manifests in {remote}); engine following the manifests"
    ));

    // 1. CI builds every app; each build is promoted to development and reconciled.
    let mut first = Vec::new();
    for app in APPS {
        let body = d.build(app, "v1.0.0").await?;
        let id = first_id(&body)?;
        d.say(&format!(
            "CI built {app} v1.0.0 and notified the manager: pre-release {id}"
        ));
        first.push(id);
    }
    for id in &first {
        let view = d.wait(id, &["SUCCEEDED", "FAILED"]).await?;
        d.say(&format!(
            "engine reconciled development: {}",
            summary(&view["deployment"])
        ));
    }

    // 2. A repeated notification (a CI rerun, a Pub/Sub redelivery) changes nothing.
    let commit = git(&dir.join("ci/shop-api"), &["rev-parse", "v1.0.0^{commit}"])?;
    let again = d.notify("shop-api", "v1.0.0", commit.trim()).await?;
    d.say(&format!(
        "the same notification again: duplicate={} (deployment {})",
        again["duplicate"],
        first_id(&again)?
    ));

    // 3. One build fails in the engine.
    let failing = first_id(&d.build("shop-worker", "v1.1.0").await?)?;
    let view = d.wait(&failing, &["FAILED", "SUCCEEDED"]).await?;
    d.say(&format!(
        "shop-worker v1.1.0 failed its engine run: {}",
        view["deployment"]["reason"].as_str().unwrap_or("")
    ));

    // 4. A release bundle: staging, then production behind 2 release managers.
    let jane = Client::new(&Conn {
        actor: Some("jane".into()),
        ..d.conn.clone()
    })?;
    let answer = jane
        .post(
            "/v1/releases",
            &json!({ "applicationSet": "shop", "bundle": "2026.11" }),
        )
        .await?;
    if !answer.ok() {
        return Err(format!("release refused: {}", answer.message()));
    }
    let release = first_id(&answer.body)?;
    let bundle = d.view(&release).await?;
    let versions: Vec<String> = bundle["deployment"]["apps"]
        .as_object()
        .map(|apps| {
            apps.iter()
                .map(|(app, a)| format!("{app} {}", a["version"].as_str().unwrap_or("?")))
                .collect()
        })
        .unwrap_or_default();
    d.say(&format!(
        "jane released shop 2026.11: {release} with {} (each app's last build that passed development)",
        versions.join(", ")
    ));
    let view = d.wait(&release, &["AWAITING_APPROVAL", "FAILED"]).await?;
    d.say(&format!(
        "staging done; production waits for approval: {}",
        summary(&view["deployment"])
    ));

    // 5. Approvals: an outsider is refused, a rejection halts the stage, then a quorum.
    let a = d.act(&release, "sam", "APPROVE", "looks fine").await?;
    d.say(&format!(
        "sam approves: refused with {} ({})",
        a.status,
        a.message()
    ));
    let a = d
        .act(&release, "jane", "APPROVE", "staging is green")
        .await?;
    d.say(&format!("jane approves: {}", a.status));
    let a = d
        .act(&release, "omar", "REJECT", "wait for the load test")
        .await?;
    d.say(&format!(
        "omar rejects: {} (earlier approvals stop counting)",
        a.status
    ));
    let view = d.view(&release).await?;
    d.say(&format!(
        "production stage is now {}",
        view["deployment"]["stages"][1]["status"]
            .as_str()
            .unwrap_or("")
    ));
    let a = d
        .act(&release, "omar", "APPROVE", "load test passed")
        .await?;
    d.say(&format!("omar approves: {}", a.status));
    let a = d.act(&release, "li", "APPROVE", "").await?;
    d.say(&format!(
        "li approves: {} (2 of release-managers)",
        a.status
    ));
    let view = d.wait(&release, &["SUCCEEDED", "FAILED"]).await?;
    d.say(&format!(
        "release {}",
        view["deployment"]["status"].as_str().unwrap_or("")
    ));

    // The final state.
    println!("\n== deployments");
    let list = d.client.get("/v1/deployments?limit=50").await?;
    let rows: Vec<_> = list
        .body
        .as_array()
        .into_iter()
        .flatten()
        .rev()
        .map(summary_cells)
        .collect();
    for line in table(&rows) {
        println!("{line}");
    }
    println!("\n== the release");
    print!("{}", details(&view));
    println!("\n== image tags ({REGISTRY})");
    for app in APPS {
        println!("{app:<12} {}", d.images.tags(app).await.join(" "));
    }
    println!("\n== manifest commits (newest first)");
    let bare_manifests = if args.manifests_remote.is_some() {
        dir.join("engine")
    } else {
        service_dir.join("manifests.git")
    };
    let log = git(
        &bare_manifests,
        &["log", "--format=%h %s", "-n", "12", "main"],
    )
    .unwrap_or_default();
    for line in log.lines() {
        println!("{line}");
    }
    println!("\n== release branches");
    for app in APPS {
        let branches = git(
            &service_dir.join("sources").join(format!("{app}.git")),
            &[
                "branch",
                "--list",
                "release/*",
                "--format=%(refname:short) at %(objectname:short)",
            ],
        )
        .unwrap_or_default();
        for b in branches.lines() {
            println!("{app:<12} {b}");
        }
    }
    println!(
        "\nlogs: {} and {}",
        dir.join("service.log").display(),
        dir.join("engine.log").display()
    );
    if args.keep_running {
        println!("\nThe service and the engine keep running at {server}.");
        println!(
            "The Portal: {server}/ (sign in as jane, omar or li, the release managers; sam is a developer)"
        );
        println!("Try:");
        println!("  infrastream status --server {server} --as jane");
        println!("  infrastream status {release} --server {server} --as jane");
        println!("  curl {server}/openapi.json   curl {server}/metrics");
        println!(
            "  infrastream notify --server {server} --build-definition shop-api --container shop-api --version v1.0.0"
        );
        println!("Ctrl-C (or SIGTERM) stops them.");
        std::future::pending::<()>().await;
    }
    drop(engine);
    drop(service);
    d.say("demo finished; run it again any time (it starts from scratch)");
    Ok(())
}
