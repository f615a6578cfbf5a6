//! End to end over real processes: the demo, a `kill -9` in the middle of a promotion, Pub/Sub
//! redeliveries, and bad input that must change nothing.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::service::{Service, ci_build, dump, git, notification};
use crate::{infrastream, stderr, stdout};

#[test]
fn the_demo_runs_end_to_end_and_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let dir_arg = dir.to_string_lossy().into_owned();
    for run in 0..2 {
        let out = infrastream(&["demo", "--dir", &dir_arg]);
        let text = stdout(&out);
        assert!(out.status.success(), "run {run}: {text}\n{}", stderr(&out));
        for expected in [
            "duplicate=true",
            "shop-worker v1.1.0 failed its engine run",
            "smoke test failed",
            "sam approves: refused with 403",
            "production stage is now REJECTED",
            "release SUCCEEDED",
            "deploy(shop): shop-2026.11-rc.0 to production",
            "release/shop/2026.11",
        ] {
            assert!(
                text.contains(expected),
                "run {run}: no '{expected}' in:\n{text}"
            );
        }
        // Every app carries the RC and production tags, shop-worker its failed build too.
        let tags = text
            .lines()
            .find(|l| l.starts_with("shop-worker  shop-2026.11"))
            .unwrap();
        assert_eq!(
            tags,
            "shop-worker  shop-2026.11 shop-2026.11-rc.0 v1.0.0 v1.1.0"
        );
    }
}

/// Processes whose command line mentions `needle`.
fn processes_naming(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(needle) {
                found.push(cmdline);
            }
        }
    }
    found
}

/// `infrastream demo --keep-running` in `dir`, with its standard output as lines.
fn kept_demo(
    dir: &Path,
) -> (
    std::process::Child,
    std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
) {
    use std::io::BufRead as _;
    let mut demo = std::process::Command::new(env!("CARGO_BIN_EXE_infrastream"))
        .args(["demo", "--keep-running", "--dir", &dir.to_string_lossy()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(demo.stdout.take().unwrap()).lines();
    (demo, lines)
}

/// Waits (at most 60 s) for `demo` to end.
fn stopped(demo: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = demo.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "the demo did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_demo_kept_running_stops_its_service_and_engine_when_terminated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("kept");
    let (mut demo, mut lines) = kept_demo(&dir);
    let server = loop {
        let line = lines.next().expect("the demo printed its server").unwrap();
        if let Some(rest) = line.strip_prefix("The service and the engine keep running at ") {
            break rest.trim_end_matches('.').to_string();
        }
    };
    // The next line names the Portal, which sends a newcomer to sign in.
    let portal = lines.next().unwrap().unwrap();
    assert!(
        portal.starts_with(&format!("The Portal: {server}/ (sign in as jane")),
        "{portal}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = rt.block_on(async {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(format!("{server}/"))
            .send()
            .await
            .unwrap()
    });
    assert_eq!(answer.status().as_u16(), 303);
    let needle = dir.to_string_lossy().into_owned();
    let running = processes_naming(&needle);
    assert!(
        running.iter().any(|c| c.contains(" serve "))
            && running.iter().any(|c| c.contains(" engine ")),
        "the service and the engine run: {running:#?}"
    );
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &demo.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    stopped(&mut demo);
    assert_eq!(
        processes_naming(&needle),
        Vec::<String>::new(),
        "every process the demo started ended with it"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let answer = rt.block_on(reqwest::get(format!("{server}/healthz")));
    assert!(answer.is_err(), "{server} still answers: {answer:?}");
}

#[test]
fn a_demo_whose_reader_goes_away_stops_what_it_started() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("piped");
    let (mut demo, mut lines) = kept_demo(&dir);
    // Like `| head -2`: two lines (the service and the engine run by then), then gone.
    let _ = lines.next();
    let _ = lines.next();
    drop(lines);
    assert_eq!(stopped(&mut demo).code(), Some(141));
    assert_eq!(
        processes_naming(&dir.to_string_lossy()),
        Vec::<String>::new(),
        "every process the demo started ended with it"
    );
}

#[test]
fn the_demo_runs_against_an_existing_registry_and_git_remote() {
    let registry = cd_contract::docker_registry::DockerRegistry::start(None);
    let tmp = tempfile::tempdir().unwrap();
    let remote = tmp.path().join("team-manifests.git");
    std::fs::create_dir_all(&remote).unwrap();
    git(&remote, &["init", "--quiet", "--bare", "-b", "main"]);
    let out = infrastream(&[
        "demo",
        "--dir",
        &tmp.path().join("demo").to_string_lossy(),
        "--registry",
        &registry.url(),
        "--manifests-remote",
        &remote.to_string_lossy(),
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(text.contains("release SUCCEEDED"), "{text}");
    // The tags are in the registry, the promotions in the team's remote.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tags: Value = rt.block_on(async {
        reqwest::get(format!("{}/v2/shop-api/tags/list", registry.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let mut tags: Vec<&str> = tags["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, ["shop-2026.11", "shop-2026.11-rc.0", "v1.0.0"]);
    let log = git(&remote, &["log", "--format=%s", "main"]);
    assert!(
        log.contains("deploy(shop): shop-2026.11-rc.0 to production"),
        "{log}"
    );
    assert!(
        log.contains("manifests: initial tenant"),
        "the empty remote was seeded: {log}"
    );
}

#[test]
fn the_demo_refuses_a_directory_it_did_not_create() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("precious.txt"), "keep me").unwrap();
    let out = infrastream(&["demo", "--dir", &tmp.path().to_string_lossy()]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not a demo directory"),
        "{}",
        stderr(&out)
    );
    assert!(tmp.path().join("precious.txt").exists());
}

/// A service with shop-api, shop-web and shop-worker built and in development, and a release
/// of `shop 2026.11` waiting for production approval. Returns the release's id.
pub(crate) fn release_awaiting_approval(svc: &Service, scratch: &Path) -> String {
    all_built(svc, scratch);
    let (code, body) = svc.as_actor(
        "jane",
        "/v1/releases",
        &json!({ "applicationSet": "shop", "bundle": "2026.11" }),
    );
    assert_eq!(code, 202, "{body}");
    let id = body["deployments"][0].as_str().unwrap().to_string();
    svc.wait(&id, &["AWAITING_APPROVAL"]);
    svc.settle();
    id
}

/// shop-api, shop-web and shop-worker v1.0.0 built by CI and through development.
pub(crate) fn all_built(svc: &Service, scratch: &Path) {
    for app in ["shop-api", "shop-web", "shop-worker"] {
        let commit = ci_build(&svc.dir, scratch, app, "v1.0.0");
        let (code, body) = svc.notify(app, "v1.0.0", &commit);
        assert_eq!(code, 202, "{body}");
        svc.wait(body["deployments"][0].as_str().unwrap(), &["SUCCEEDED"]);
    }
}

#[test]
fn bad_input_is_refused_with_the_field_named_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = Service::start(&tmp.path().join("svc"), &[]);
    let release = release_awaiting_approval(&svc, &tmp.path().join("ci"));
    let before = dump(&svc.dir);
    assert!(
        before.len() > 10,
        "the database holds the setup: {before:?}"
    );
    let status_path = format!("/v1/deployments/{release}/status");
    let approvals = format!("/v1/deployments/{release}/approvals");
    let good_report =
        json!({ "deployment": release, "stageIndex": 1, "status": "SUCCESS", "commitSha": "abc" });

    // The webhook: 401 without or with a wrong signature, before the body is even parsed.
    let (code, body) = svc.call(
        "POST",
        &status_path,
        &[],
        Some(good_report.to_string().as_bytes()),
    );
    assert_eq!(code, 401, "{body}");
    let (code, _) = svc.call(
        "POST",
        &status_path,
        &[("x-infrastream-signature", "sha256=00".into())],
        Some(b"not json at all"),
    );
    assert_eq!(code, 401);
    let forged = cd_service::auth::sign(b"not the secret", good_report.to_string().as_bytes());
    let (code, _) = svc.call(
        "POST",
        &status_path,
        &[("x-infrastream-signature", forged)],
        Some(good_report.to_string().as_bytes()),
    );
    assert_eq!(code, 401);

    // Signed but malformed: 400 naming the field.
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "deployment": release, "status": "SUCCESS", "commitSha": "abc" }),
            "stageIndex",
        ),
        (
            json!({ "deployment": release, "stageIndex": "one", "status": "SUCCESS", "commitSha": "abc" }),
            "stageIndex",
        ),
        (
            json!({ "deployment": release, "stageIndex": 1, "status": "MAYBE", "commitSha": "abc" }),
            "status",
        ),
        (
            json!({ "deployment": release, "stageIndex": 1, "status": "SUCCESS", "commitSha": "abc", "actor": "x" }),
            "actor",
        ),
        (
            json!({ "stageIndex": 1, "status": "SUCCESS", "commitSha": "abc" }),
            "deployment",
        ),
    ];
    for (body, field) in cases {
        let (code, answer) = svc.signed(&status_path, &body);
        assert_eq!(code, 400, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    // A signed report for another deployment cannot be replayed against this one: well
    // formed, but not about the deployment addressed (422).
    let other = json!({ "deployment": "d-other", "stageIndex": 1, "status": "SUCCESS", "commitSha": "abc" });
    let (code, answer) = svc.signed(&status_path, &other);
    assert_eq!(code, 422, "{answer}");
    assert_eq!(answer["field"], "deployment", "{answer}");

    // Notifications: unknown build 422, missing field 400.
    let (code, answer) = svc.notify("no-such-app", "v1.0.0", "abc");
    assert_eq!(code, 422, "{answer}");
    let (code, answer) = svc.call(
        "POST",
        "/v1/notifications/build",
        &[],
        Some(
            json!({ "buildDefinitionId": "shop-api", "container": "shop-api" })
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(
        (code, answer["field"].as_str()),
        (400, Some("version")),
        "{answer}"
    );
    let (code, answer) = svc.call("POST", "/v1/notifications/build", &[], Some(b"{"));
    assert_eq!(code, 400, "{answer}");
    // Only declared JSON is read: a page in a browser cannot post to the local service.
    let (code, answer) = svc.call(
        "POST",
        "/v1/notifications/build",
        &[("content-type", "text/plain".into())],
        Some(
            notification("shop-api", "v1.0.1", "abc")
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(
        (code, answer["field"].as_str()),
        (415, Some("content-type")),
        "{answer}"
    );

    // Pub/Sub envelopes.
    let (code, answer) = svc.call(
        "POST",
        "/v1/notifications/pubsub",
        &[],
        Some(
            json!({ "message": { "data": "!!!", "messageId": "1" } })
                .to_string()
                .as_bytes(),
        ),
    );
    assert_eq!(code, 200, "acknowledged: Pub/Sub cannot mend it: {answer}");
    assert!(
        answer["dropped"]
            .as_str()
            .is_some_and(|d| d.starts_with("message.data: not base64")),
        "{answer}"
    );
    // Not an envelope at all: no Pub/Sub sent it, the sender is told.
    let (code, answer) = svc.call(
        "POST",
        "/v1/notifications/pubsub",
        &[],
        Some(json!({ "data": "e30=" }).to_string().as_bytes()),
    );
    assert_eq!(
        (code, answer["field"].as_str()),
        (400, Some("message")),
        "{answer}"
    );
    // A message Pub/Sub delivered that can never be taken (not a notification, or one refused
    // for good) is acknowledged, saying why, and stores nothing: an error would have Pub/Sub
    // deliver it again for days. One that may pass later (an unknown build: the manifests may
    // not have arrived yet) is refused, so Pub/Sub delivers it again.
    let push = |inner: Value, id: &str| {
        let data = base64::engine::general_purpose::STANDARD.encode(inner.to_string());
        svc.call(
            "POST",
            "/v1/notifications/pubsub",
            &[],
            Some(
                json!({ "message": { "data": data, "messageId": id } })
                    .to_string()
                    .as_bytes(),
            ),
        )
    };
    let (code, answer) = push(
        json!({ "buildDefinitionId": "shop-api", "version": "v1.0.1" }),
        "2",
    );
    assert_eq!(code, 200, "{answer}");
    assert!(
        answer["dropped"]
            .as_str()
            .is_some_and(|d| d.contains("message.data.container")),
        "{answer}"
    );
    assert_eq!(answer["deployments"], json!([]), "{answer}");
    let (code, answer) = push(
        json!({ "buildDefinitionId": "shop-api", "container": "shop-api", "version": "latest" }),
        "3",
    );
    assert_eq!(code, 200, "{answer}");
    assert!(
        answer["dropped"]
            .as_str()
            .is_some_and(|d| d.contains("version")),
        "{answer}"
    );
    let (code, answer) = push(
        json!({ "buildDefinitionId": "no-such-app", "container": "no-such-app", "version": "v1.0.1" }),
        "4",
    );
    assert_eq!(code, 422, "redelivered: {answer}");
    assert!(answer.get("dropped").is_none(), "{answer}");

    // Approvals: nobody named 401; an outsider 403; the actor never comes from the body.
    let approve = json!({ "stageIndex": 1, "action": "APPROVE" });
    let (code, _) = svc.call(
        "POST",
        &approvals,
        &[],
        Some(approve.to_string().as_bytes()),
    );
    assert_eq!(code, 401);
    let (code, answer) = svc.as_actor("sam", &approvals, &approve);
    assert_eq!(code, 403, "{answer}");
    let (code, answer) = svc.as_actor(
        "mallory",
        "/v1/releases",
        &json!({ "applicationSet": "shop", "bundle": "2026.12" }),
    );
    assert_eq!(code, 403, "only people the tenant knows act: {answer}");
    let (code, answer) = svc.as_actor(
        "jane",
        &approvals,
        &json!({ "stageIndex": 1, "action": "APPROVE", "actor": "omar" }),
    );
    assert_eq!(
        (code, answer["field"].as_str()),
        (400, Some("actor")),
        "{answer}"
    );
    // A comment or a reason longer than a ledger row takes (2 000 characters, counted as
    // characters: 2 000 of them in four bytes each still pass).
    let long = "é".repeat(2001);
    for (path, body, field) in [
        (
            approvals.clone(),
            json!({ "stageIndex": 1, "action": "APPROVE", "comment": long }),
            "comment",
        ),
        (
            format!("/v1/deployments/{release}/cancel"),
            json!({ "comment": long }),
            "comment",
        ),
    ] {
        let (code, answer) = svc.as_actor("jane", &path, &body);
        assert_eq!(
            (code, answer["field"].as_str()),
            (400, Some(field)),
            "{answer}"
        );
    }
    let (code, answer) = svc.call(
        "PUT",
        "/v1/holds/staging",
        &[("x-infrastream-actor", "jane".to_string())],
        Some(json!({ "reason": long }).to_string().as_bytes()),
    );
    assert_eq!(
        (code, answer["field"].as_str()),
        (400, Some("reason")),
        "{answer}"
    );
    let (code, answer) = svc.as_actor(
        "jane",
        &approvals,
        &json!({ "stageIndex": 7, "action": "APPROVE", "comment": "𝄞".repeat(2000) }),
    );
    assert_eq!(code, 422, "the comment passed; the stage did not: {answer}");
    let (code, _) = svc.as_actor("jane", "/v1/deployments/d-nope/approvals", &approve);
    assert_eq!(code, 404);

    // Releases and rollbacks of things that do not exist.
    let (code, answer) = svc.as_actor(
        "jane",
        "/v1/releases",
        &json!({ "applicationSet": "nope", "bundle": "1" }),
    );
    assert_eq!(code, 422, "{answer}");
    let (code, answer) = svc.as_actor("jane", "/v1/releases", &json!({ "bundle": "1" }));
    assert_eq!(
        (code, answer["field"].as_str()),
        (400, Some("applicationSet")),
        "{answer}"
    );
    let (code, answer) = svc.as_actor(
        "jane",
        "/v1/rollbacks",
        &json!({ "application": "shop-api", "environment": "moon", "version": "v1.0.0" }),
    );
    assert_eq!(code, 422, "{answer}");
    let (code, answer) = svc.get("/v1/deployments?status=SIDEWAYS");
    assert_eq!(code, 400, "{answer}");
    // A bundle name that is no tag part and no branch segment, and a version nothing can order.
    for bundle in ["", "2026/12", "..", "x.lock"] {
        let (code, answer) = svc.as_actor(
            "jane",
            "/v1/releases",
            &json!({ "applicationSet": "shop", "bundle": bundle }),
        );
        assert_eq!(
            (code, answer["field"].as_str()),
            (400, Some("bundle")),
            "{bundle:?}: {answer}"
        );
    }
    for version in ["latest", "v1.2"] {
        let (code, answer) = svc.signed(
            "/v1/notifications/build",
            &notification("shop-api", version, "abc"),
        );
        assert_eq!(
            (code, answer["field"].as_str()),
            (400, Some("version")),
            "{version}: {answer}"
        );
    }

    assert_eq!(
        dump(&svc.dir),
        before,
        "a refused request changed the database"
    );
}

#[test]
fn pubsub_redeliveries_make_one_deployment() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = Service::start(&tmp.path().join("svc"), &["--engine", "webhook"]);
    let commit = ci_build(&svc.dir, &tmp.path().join("ci"), "shop-api", "v1.2.0");
    let data = base64::engine::general_purpose::STANDARD
        .encode(notification("shop-api", "v1.2.0", &commit).to_string());
    let envelope = json!({
        "message": { "data": data, "attributes": { "source": "ci" }, "messageId": "42" },
        "subscription": "projects/p/subscriptions/cd-manager",
    });
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(svc.call(
            "POST",
            "/v1/notifications/pubsub",
            &[],
            Some(envelope.to_string().as_bytes()),
        ));
    }
    assert_eq!(answers[0].0, 202, "{:?}", answers[0]);
    let id = answers[0].1["deployments"][0].as_str().unwrap();
    for (code, body) in &answers[1..] {
        assert_eq!(*code, 200, "{body}");
        assert_eq!(body["duplicate"], true);
        assert_eq!(body["deployments"][0], id);
    }
    svc.settle();
    let (_, list) = svc.get("/v1/deployments?limit=500");
    assert_eq!(list.as_array().unwrap().len(), 1, "{list:#}");
    let commits = git(
        &svc.dir.join("manifests.git"),
        &[
            "log",
            "--format=%H",
            "--grep",
            &format!("Infrastream-Deployment: {id}"),
            "main",
        ],
    );
    assert_eq!(commits.lines().count(), 1);
}

#[test]
fn serve_refuses_cd_managers_sections_and_names_the_line_of_a_bad_value() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("infrastream.toml");
    let dir = tmp.path().join("svc");
    let serve = |text: &str| {
        std::fs::write(&config, text).unwrap();
        crate::infrastream(&[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--dir",
            dir.to_str().unwrap(),
        ])
    };
    let out = serve("[pubsub]\nproject = \"p\"\nevents_topic = \"t\"\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        crate::stderr(&out).contains("need the cd-manager binary"),
        "{}",
        crate::stderr(&out)
    );
    let out = serve("listen = \"127.0.0.1:0\"\n[engine]\npoll_ms = \"often\"\n");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        crate::stderr(&out).contains("infrastream.toml: line 3"),
        "{}",
        crate::stderr(&out)
    );
    assert!(!dir.exists(), "nothing was created");
}

#[test]
fn a_stage_the_engine_never_reports_fails_at_its_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("infrastream.toml");
    std::fs::write(&config, "[pipeline]\nengine_timeout_ms = 1500\n").unwrap();
    let svc = Service::start(
        &tmp.path().join("svc"),
        &["--engine", "webhook", "--config", config.to_str().unwrap()],
    );
    let commit = ci_build(&svc.dir, &tmp.path().join("ci"), "shop-api", "v1.3.0");
    let (code, body) = svc.signed(
        "/v1/notifications/build",
        &notification("shop-api", "v1.3.0", &commit),
    );
    assert_eq!(code, 202, "{body}");
    let id = body["deployments"][0].as_str().unwrap();
    // Nobody reports the promotion: the worker ticks at the stage's deadline, which fails it.
    let view = svc.wait(id, &["FAILED"]);
    let stage = &view["deployment"]["stages"][0];
    assert_eq!(stage["status"], "FAILED", "{view:#}");
    assert!(
        stage["message"]
            .as_str()
            .is_some_and(|m| m.contains("did not report")),
        "{view:#}"
    );
}

/// Installs a pre-receive hook in the manifest remote: it writes its pid to `marker`, then
/// waits until `go` exists (and then lets the push land) or until it is killed (the push fails).
fn gated_hook(remote: &Path, marker: &Path, go: &Path) {
    let path = remote.join("hooks").join("pre-receive");
    let script = format!(
        "#!/bin/sh\ncat >/dev/null\necho $$ > '{m}.tmp' && mv '{m}.tmp' '{m}'\nwhile [ ! -e '{g}' ]; do sleep 0.02; done\n",
        m = marker.display(),
        g = go.display()
    );
    std::fs::write(&path, script).unwrap();
    let mut perms = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).unwrap();
}

/// Where the service is killed: while its push hangs (nothing landed), or after the push
/// landed but before the outcome could be recorded (the store is locked).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KillPoint {
    PushInFlight,
    PushLandedOutcomeUnrecorded,
}

fn killed_mid_promotion_completes_once(at: KillPoint) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("svc");
    let mut svc = Service::start(&dir, &[]);
    let remote = dir.join("manifests.git");
    let marker = tmp.path().join("hook-running");
    let go = tmp.path().join("hook-go");
    gated_hook(&remote, &marker, &go);
    let commit = ci_build(&dir, &tmp.path().join("ci"), "shop-web", "v2.0.0");
    let body = notification("shop-web", "v2.0.0", &commit).to_string();
    let (code, body) = svc.call(
        "POST",
        "/v1/notifications/build",
        &[],
        Some(body.as_bytes()),
    );
    assert_eq!(code, 202, "{body}");
    let id = body["deployments"][0].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the push never reached the hook");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, view) = svc.get(&format!("/v1/deployments/{id}"));
    assert_eq!(
        view["deployment"]["stages"][0]["status"], "PROMOTING",
        "{view:#}"
    );
    let landed = || {
        let grep = format!("Infrastream-Deployment: {id}");
        git(&remote, &["log", "--format=%H", "--grep", &grep, "main"])
            .lines()
            .count()
    };
    let mut lock = None;
    if at == KillPoint::PushLandedOutcomeUnrecorded {
        // Hold the database's write lock, then let the push land: the service cannot record
        // what it just did.
        let db = rusqlite::Connection::open(dir.join("state.db")).unwrap();
        db.execute_batch("BEGIN EXCLUSIVE").unwrap();
        lock = Some(db);
        std::fs::write(&go, "").unwrap();
        while landed() == 0 {
            assert!(Instant::now() < deadline, "the push never landed");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    svc.kill9();
    if at == KillPoint::PushInFlight {
        // The hung hook outlives the service; end it, which refuses the push.
        let pid = std::fs::read_to_string(&marker).unwrap();
        let _ = std::process::Command::new("kill")
            .args(["-9", pid.trim()])
            .status();
    }
    drop(lock);
    std::fs::remove_file(remote.join("hooks").join("pre-receive")).unwrap();
    // Before the restart: the intent is stored, the outcome is not.
    let stored = dump(&dir).join("\n");
    assert!(stored.contains("PROMOTING"), "{at:?}: the intent is stored");
    let deadline = Instant::now() + Duration::from_secs(10);
    while landed() != usize::from(at == KillPoint::PushLandedOutcomeUnrecorded) {
        assert!(
            Instant::now() < deadline,
            "{at:?}: the remote holds {} commits",
            landed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let svc = Service::start(&dir, &[]);
    let view = svc.wait(&id, &["SUCCEEDED"]);
    assert_eq!(
        view["deployment"]["stages"][0]["status"], "SUCCEEDED",
        "{view:#}"
    );
    assert_eq!(landed(), 1, "{at:?}: exactly one promotion commit");
    let file = git(
        &remote,
        &["show", "main:apps/shop-web/deploy/development.yaml"],
    );
    assert!(file.contains("version: v2.0.0"), "{file}");
}

#[test]
fn killed_before_its_push_lands_the_service_promotes_exactly_once_after_restart() {
    killed_mid_promotion_completes_once(KillPoint::PushInFlight);
}

#[test]
fn killed_after_its_push_landed_the_service_promotes_exactly_once_after_restart() {
    killed_mid_promotion_completes_once(KillPoint::PushLandedOutcomeUnrecorded);
}

#[test]
fn operator_commands_drive_the_service() {
    let tmp = tempfile::tempdir().unwrap();
    let svc = Service::start(&tmp.path().join("svc"), &[]);
    let release = release_awaiting_approval(&svc, &tmp.path().join("ci"));
    let server = svc.url.clone();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", &server]);
        infrastream(&all)
    };
    // Reads take a person the tenant knows.
    let out = run(&["status"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--as NAME"), "{}", stderr(&out));
    let out = run(&["status", "--as", "mallory"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not an OrganizationUser"),
        "{}",
        stderr(&out)
    );
    let out = run(&["status", "--as", "sam"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("AWAITING_APPROVAL"),
        "{}",
        stdout(&out)
    );
    // What waits on whom: the release's gate waits on the release managers, not on sam.
    let out = run(&["approvals", "--as", "omar"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!("{release}  RELEASE 2026.11"))
            && text.contains(
                "2 more of 2 from release-managers@northwind.example (approved: nobody yet)"
            )
            && text.contains(&format!("infrastream approve {release}")),
        "{text}"
    );
    let out = run(&["approvals", "--as", "sam"]);
    assert_eq!(stdout(&out).trim(), "nothing waits on you");
    let out = run(&["approvals", "--as", "sam", "--pending-for", "li", "--json"]);
    let pending: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        pending[0]["deployment"]["id"],
        release.as_str(),
        "{pending:#}"
    );
    assert_eq!(pending[0]["gate"]["youMayApprove"], true, "{pending:#}");
    assert!(
        pending[0]["deployment"].get("outbox").is_none()
            && pending[0]["deployment"].get("revision").is_none(),
        "no bookkeeping on the wire: {pending:#}"
    );
    let out = run(&["approve", &release, "--as", "sam"]);
    assert_eq!(out.status.code(), Some(1), "sam is refused");
    assert!(
        stderr(&out).contains("not a stakeholder"),
        "{}",
        stderr(&out)
    );
    // Without anyone named, the command says how to name them.
    let out = run(&["hold", "production", "--reason", "freeze"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--as NAME (or INFRASTREAM_ACTOR=NAME)"),
        "{}",
        stderr(&out)
    );
    let out = run(&["hold", "production", "--reason", "freeze", "--as", "jane"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "held production (freeze): promotions into it wait until `infrastream unhold production`"
    );
    let out = run(&["hold", "production", "--reason", "freeze", "--as", "jane"]);
    assert_eq!(
        stdout(&out).trim(),
        "production was already held (freeze); nothing changed"
    );
    let out = run(&["holds", "--as", "sam"]);
    let text = stdout(&out);
    assert!(
        text.starts_with("production  held by jane since 20")
            && text.trim_end().ends_with(": freeze"),
        "{text}"
    );
    let (_, holds) = svc.get("/v1/holds");
    assert_eq!(holds["production"]["reason"], "freeze", "{holds}");
    assert!(run(&["approve", &release, "--as", "jane"]).status.success());
    assert!(
        run(&["approve", &release, "--as", "li", "--comment", "ok"])
            .status
            .success()
    );
    let (_, view) = svc.get(&format!("/v1/deployments/{release}"));
    assert_eq!(
        view["deployment"]["stages"][1]["status"], "HELD",
        "{view:#}"
    );
    let out = run(&["unhold", "production", "--as", "jane"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim(),
        "lifted the hold on production: held promotions into it resume"
    );
    svc.wait(&release, &["SUCCEEDED"]);
    let out = run(&["unhold", "production", "--as", "jane"]);
    assert_eq!(
        stdout(&out).trim(),
        "production was not held; nothing changed"
    );
    assert_eq!(stdout(&run(&["holds", "--as", "sam"])).trim(), "no holds");
    // Filtered by status (any case) and track: only what matches.
    let out = run(&[
        "status",
        "--status",
        "succeeded",
        "--track",
        "release",
        "--as",
        "sam",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !text.is_empty()
            && text
                .lines()
                .all(|l| l.contains(" RELEASE ") && l.contains(" SUCCEEDED ")),
        "{text}"
    );
    // A name the tenant does not have is an error, not an empty list.
    let out = run(&["status", "--set", "NOSUCH", "--as", "sam"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unknown application set 'NOSUCH'"),
        "{}",
        stderr(&out)
    );
    // The list's columns line up, whatever the widths of ids and names.
    let out = run(&["status", "--as", "sam"]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 3, "{text}");
    let tracks: Vec<usize> = lines
        .iter()
        .map(|l| {
            ["PRERELEASE", "RELEASE"]
                .iter()
                .filter_map(|t| l.find(&format!(" {t} ")))
                .min()
                .unwrap_or_else(|| panic!("no track in {l:?}"))
        })
        .collect();
    assert!(tracks.windows(2).all(|w| w[0] == w[1]), "{text}");
    // Page by page: each page ends with where the next starts, until the last; together they
    // are the whole list, newest first, each deployment once.
    let out = run(&["status", "--json", "--limit", "500", "--as", "sam"]);
    let whole: Vec<String> = serde_json::from_str::<Value>(&stdout(&out))
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert!(whole.len() > 2, "more than a page: {whole:?}");
    let mut paged: Vec<String> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..whole.len() {
        let mut args = vec!["status", "--limit", "2", "--as", "sam"];
        if let Some(a) = &after {
            args.extend(["--after", a.as_str()]);
        }
        let out = run(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        after = None;
        for line in text.lines() {
            match line.strip_prefix("more: --after ") {
                Some(cursor) => after = Some(cursor.to_string()),
                None if line == "no deployments" => {}
                None => paged.push(line.split_whitespace().next().unwrap().to_string()),
            }
        }
        if after.is_none() {
            break;
        }
    }
    assert_eq!(paged, whole);
    let out = run(&["status", "--json", "--limit", "1", "--as", "sam"]);
    assert!(
        stderr(&out).starts_with("more: --after "),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&out))
            .unwrap()
            .as_array()
            .map(Vec::len),
        Some(1),
        "standard output stays the service's JSON"
    );
    // An id cannot change the request's path.
    for id in ["../healthz", "d-1?limit=1", ".."] {
        let out = run(&["status", id, "--as", "sam"]);
        assert_eq!(out.status.code(), Some(2), "{id}: {}", stdout(&out));
        assert!(
            stderr(&out).contains("a deployment id has"),
            "{}",
            stderr(&out)
        );
    }
    let out = run(&["status", "--after", "not-a-cursor", "--as", "sam"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stderr(&out).contains("after"), "{}", stderr(&out));
    let out = run(&["status", &release, "--as", "sam"]);
    assert!(
        stdout(&out).contains("approval: stage 1 APPROVE by li (ok)"),
        "{}",
        stdout(&out)
    );
    // A rollback to a version that was never built is refused up front, naming what is
    // missing, and creates nothing.
    let before = svc.get("/v1/deployments").1.as_array().unwrap().len();
    let out = run(&[
        "rollback",
        "shop-api",
        "production",
        "v9.9.9",
        "--as",
        "jane",
    ]);
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("image tag v9.9.9 of shop-api in registry containers not found"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        svc.get("/v1/deployments").1.as_array().unwrap().len(),
        before
    );
    // CI's notification with the changelog `infrastream-ci changelog --format json` wrote:
    // the deployment records the entries, for its application and version.
    let changelog = tmp.path().join("changelog.json");
    std::fs::write(
        &changelog,
        r#"{"from": "v1.0.0", "to": "v1.1.0", "entries": [
            {"type": "fix", "description": "carts keep their items", "breaking": false}]}"#,
    )
    .unwrap();
    // CI pushed the image first.
    cd_oci::OciLayout::new(&tmp.path().join("svc").join("registry"))
        .push_image("containers", "shop-api", "v1.1.0", "shop-api v1.1.0")
        .unwrap();
    let notify = |file: &Path| {
        run(&[
            "notify",
            "--build-definition",
            "shop-api",
            "--container",
            "shop-api",
            "--version",
            "v1.1.0",
            "--changelog",
            &file.to_string_lossy(),
        ])
    };
    let out = notify(&changelog);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = serde_json::from_str::<Value>(&stdout(&out)).unwrap()["deployments"][0]
        .as_str()
        .unwrap()
        .to_string();
    let (_, view) = svc.get(&format!("/v1/deployments/{id}"));
    let entry = &view["changelog"][0];
    assert_eq!(entry["description"], "carts keep their items", "{view:#}");
    assert_eq!(entry["application"], "shop-api", "{view:#}");
    assert_eq!(entry["version"], "v1.1.0", "{view:#}");
    // A build held at development is cancelled, with a ledger row; a repeat changes nothing.
    assert!(
        run(&["hold", "development", "--reason", "audit", "--as", "jane"])
            .status
            .success()
    );
    cd_oci::OciLayout::new(&tmp.path().join("svc").join("registry"))
        .push_image("containers", "shop-web", "v1.2.0", "shop-web v1.2.0")
        .unwrap();
    let out = run(&[
        "notify",
        "--build-definition",
        "shop-web",
        "--container",
        "shop-web",
        "--version",
        "v1.2.0",
        "--id",
    ]);
    let held = stdout(&out).trim().to_string();
    svc.wait(&held, &["PENDING", "IN_PROGRESS"]);
    let out = run(&["cancel", &held, "--comment", "not this one", "--as", "jane"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with(&format!("cancelled {held}")),
        "{}",
        stdout(&out)
    );
    let (_, view) = svc.get(&format!("/v1/deployments/{held}"));
    assert_eq!(view["deployment"]["status"], "CANCELLED", "{view:#}");
    let last = view["approvals"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (&last["action"], &last["actor"], &last["comment"]),
        (&json!("CANCEL"), &json!("jane"), &json!("not this one")),
        "{view:#}"
    );
    let out = run(&["cancel", &held, "--as", "jane"]);
    assert_eq!(
        stdout(&out).trim(),
        format!("{held} was already cancelled; nothing changed")
    );
    let out = notify(&tmp.path().join("missing.json"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.json"), "{}", stderr(&out));

    let out = infrastream(&["status", "--server", "http://127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2), "an unreachable service");
}

#[test]
fn the_api_describes_itself_and_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let mut svc = Service::start(&tmp.path().join("svc"), &[]);
    let (code, doc) = svc.get("/openapi.json");
    assert_eq!(code, 200);
    for path in [
        "/v1/notifications/build",
        "/v1/notifications/pubsub",
        "/v1/deployments/{id}/status",
        "/v1/deployments/{id}/approvals",
        "/v1/deployments/{id}/retry",
        "/v1/deployments/{id}/cancel",
        "/v1/releases",
        "/v1/rollbacks",
        "/v1/holds/{environment}",
        "/v1/deployments",
        "/v1/deployments/{id}",
        "/healthz",
        "/metrics",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["schemas"].get("StatusBody").is_some());
    let commit = ci_build(&svc.dir, &tmp.path().join("ci"), "shop-api", "v1.0.0");
    let (_, body) = svc.notify("shop-api", "v1.0.0", &commit);
    svc.wait(body["deployments"][0].as_str().unwrap(), &["SUCCEEDED"]);
    let (code, metrics) = svc.get("/metrics");
    assert_eq!(code, 200);
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains("infrastream_inputs_total{input=\"build-notified\",result=\"accepted\"} 1"),
        "{text}"
    );
    assert!(text.contains("infrastream_promotions_total 1"), "{text}");
    assert!(
        text.contains("infrastream_stage_duration_seconds_count{status=\"SUCCEEDED\"} 1"),
        "{text}"
    );
    assert_eq!(svc.get("/healthz").0, 200);
    assert!(svc.stop().success(), "a graceful stop exits 0");
}
