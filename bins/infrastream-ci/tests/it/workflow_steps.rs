//! The commands the generated workflows run, as their steps run them: the bump and labels from
//! the merged pull request (against the GitHub stand-in), pushes that create a branch, a
//! first release's changelog, the build notification, and the Token Broker client.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::process::Command;

use cd_github_standin::FakeGithub;

use crate::repo_version::Repo;
use crate::{stderr, stdout};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn ci_in(repo: &Repo, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_infrastream-ci"))
        .args(args)
        .current_dir(&repo.path)
        .env_remove("GITHUB_OUTPUT")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("GITHUB_REF_NAME")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn the_merged_pull_requests_title_bumps_and_labels_it() {
    let rt = runtime();
    let github = rt.block_on(FakeGithub::start(3600));
    github.repo("northwind/shop-api");
    github.token("ghs_job");
    let r = Repo::new();
    r.commit("chore: init");
    r.tag("v1.4.0");
    let head = r.commit("feat(cart): totals (#77)");
    github.pull(
        "northwind/shop-api",
        &head,
        77,
        "feat(cart): totals",
        &[],
        "omar",
    );
    let url = github.url();
    let env = [
        ("GITHUB_API_URL", url.as_str()),
        ("GITHUB_REPOSITORY", "northwind/shop-api"),
        ("GITHUB_TOKEN", "ghs_job"),
    ];
    let args = [
        "compute-version",
        "--release-type",
        "LATEST",
        "--bump-from",
        "github",
        "--apply-labels",
    ];
    let out = ci_in(&r, &args, &env);
    assert!(out.status.success(), "{}", stderr(&out));
    // No release label: the conventional title decides (feat -> minor).
    assert!(
        stdout(&out).contains("target_version=v1.5.0\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        github.state().repos["northwind/shop-api"].labels[&77],
        ["release/minor", "scope/cart"]
    );
    r.tag("v1.5.0");

    // A maintainer's release label wins over the title.
    let head = r.commit("fix: tidy (#78)");
    github.pull(
        "northwind/shop-api",
        &head,
        78,
        "fix: tidy",
        &["release/major"],
        "li",
    );
    let out = ci_in(&r, &args, &env);
    assert!(
        stdout(&out).contains("target_version=v2.0.0\n"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        github.state().repos["northwind/shop-api"].labels[&78],
        ["release/major"]
    );
    r.tag("v2.0.0");

    // A token that may not write labels: a warning, never a failed build.
    github
        .state()
        .repos
        .get_mut("northwind/shop-api")
        .unwrap()
        .read_only = true;
    let head = r.commit("fix: more (#79)");
    github.pull("northwind/shop-api", &head, 79, "fix: more", &[], "li");
    let out = ci_in(&r, &args, &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("::warning title=Labels::could not label #79"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("target_version=v2.0.1\n"),
        "{}",
        stdout(&out)
    );

    // A rerun of a released commit labels nothing.
    r.tag("v2.0.1");
    github
        .state()
        .repos
        .get_mut("northwind/shop-api")
        .unwrap()
        .read_only = false;
    let out = ci_in(&r, &args, &env);
    assert!(stdout(&out).contains("skip=true"), "{}", stdout(&out));
    assert!(
        !github.state().repos["northwind/shop-api"]
            .labels
            .contains_key(&79)
    );
    drop(rt);
}

#[test]
fn a_push_that_creates_the_branch_is_judged_by_its_head() {
    let r = Repo::new();
    r.commit("not conventional at all");
    r.commit("feat: fine");
    let zeros = "0".repeat(40);
    let out = ci_in(
        &r,
        &["commits", "lint", "--range", &format!("{zeros}..HEAD")],
        &[],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("1 of 1 commit(s)"),
        "{}",
        stdout(&out)
    );
    // A force push leaves GitHub's `before` out of the clone: the same.
    let gone = "1234567890abcdef1234567890abcdef12345678";
    let out = ci_in(
        &r,
        &["commits", "lint", "--range", &format!("{gone}..HEAD")],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not in this clone"),
        "{}",
        stderr(&out)
    );
    // A real range still checks every commit of it.
    let first = r.git(&["rev-list", "--max-parents=0", "HEAD"]);
    r.commit("also bad");
    let out = ci_in(
        &r,
        &["commits", "lint", "--range", &format!("{first}..HEAD")],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // A range that looks like an option is never read as one.
    let out = ci_in(&r, &["commits", "lint", "--range", "--output=/tmp/x"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn the_pull_request_titles_labels_reach_the_step_outputs() {
    let r = Repo::new();
    r.commit("chore: init");
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out");
    let out = ci_in(
        &r,
        &["commits", "lint", "--pr-title", "feat(api)!: new store"],
        &[("GITHUB_OUTPUT", output.to_str().unwrap())],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "labels=release/major,scope/api\n"
    );
}

#[test]
fn a_first_releases_changelog_is_the_whole_history() {
    let r = Repo::new();
    r.commit("feat: carts");
    r.commit("fix: totals");
    let out = ci_in(
        &r,
        &[
            "changelog",
            "--from",
            "v0.0.0",
            "--to",
            "HEAD",
            "--format",
            "json",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["entries"].as_array().unwrap().len(), 2, "{doc}");
    // Any other missing base is still an error.
    let out = ci_in(&r, &["changelog", "--from", "v9.9.9"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn the_build_notification_carries_the_build_and_its_changelog() {
    let r = Repo::new();
    r.commit("feat(cart): totals");
    let dir = tempfile::tempdir().unwrap();
    let changelog = dir.path().join("changelog.json");
    let doc = ci_in(
        &r,
        &["changelog", "--from", "v0.0.0", "--format", "json"],
        &[],
    );
    std::fs::write(&changelog, &doc.stdout).unwrap();
    let out = ci_in(
        &r,
        &[
            "notification",
            "--build-definition",
            "shop-api",
            "--container",
            "shop-api",
            "--version",
            "v1.2.0",
            "--digest",
            "sha256:abc",
            "--changelog",
            changelog.to_str().unwrap(),
        ],
        &[
            ("GITHUB_SHA", "0123abcd"),
            ("GITHUB_REPOSITORY", "northwind/shop-api"),
            ("GITHUB_REF", "refs/heads/main"),
            ("GITHUB_ACTOR", "omar"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // What the CD Manager reads: its own type, from cd-core.
    let n: cd_core::pipeline::BuildNotified = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            n.build_definition_id.as_str(),
            n.container.as_str(),
            n.version.as_str()
        ),
        ("shop-api", "shop-api", "v1.2.0")
    );
    assert_eq!(
        (n.commit_sha.as_str(), n.git_ref.as_str()),
        ("0123abcd", "refs/heads/main")
    );
    assert_eq!(n.digest.as_deref(), Some("sha256:abc"));
    assert_eq!(n.changelog.len(), 1);
    assert_eq!(n.changelog[0].scope.as_deref(), Some("cart"));
    // A commit the checkout does not hold has no known time: said, and left out.
    assert_eq!(n.committed_at, None);
    assert!(
        stderr(&out).contains("the commit's time is not known"),
        "{}",
        stderr(&out)
    );
    // Only a commit id reaches git: nothing it could read as an option.
    let out = ci_in(
        &r,
        &[
            "notification",
            "--build-definition",
            "a",
            "--container",
            "b",
            "--version",
            "v1",
        ],
        &[("GITHUB_SHA", "--output=/tmp/owned")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a commit id"),
        "{}",
        stderr(&out)
    );
    // The commit built, in the checkout: its committer time is where the lead time starts;
    // --committed-at says otherwise when given.
    let head = r.git(&["rev-parse", "HEAD"]);
    let seconds: i64 = r
        .git(&["show", "-s", "--format=%ct", "HEAD"])
        .parse()
        .unwrap();
    let base = [
        "notification",
        "--build-definition",
        "shop-api",
        "--container",
        "shop-api",
        "--version",
        "v1.2.0",
    ];
    let out = ci_in(&r, &base, &[("GITHUB_SHA", head.as_str())]);
    assert!(out.status.success(), "{}", stderr(&out));
    let n: cd_core::pipeline::BuildNotified = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        n.committed_at,
        Some(cd_core::pipeline::Timestamp(seconds * 1000))
    );
    let mut told = base.to_vec();
    told.extend(["--committed-at", "2026-12-01T09:00:00Z"]);
    let out = ci_in(&r, &told, &[("GITHUB_SHA", head.as_str())]);
    let n: cd_core::pipeline::BuildNotified = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        n.committed_at,
        Some(cd_core::pipeline::Timestamp(1_796_115_600_000))
    );
    let out = ci_in(
        &r,
        &[
            "notification",
            "--build-definition",
            "a",
            "--container",
            "b",
            "--version",
            "v1",
            "--changelog",
            "/nonexistent",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
}

/// One request: method, path with query, headers (lower-case names), body.
struct Request {
    line: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn read_request(stream: &mut std::net::TcpStream) -> Request {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).unwrap();
    Request {
        line: line.trim_end().to_string(),
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

fn respond(stream: &mut std::net::TcpStream, status: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).unwrap();
}

/// The runner's OIDC endpoint and the broker's `POST /v1/token`, answering as their
/// interfaces say (the broker's as docs/TOKEN-BROKER.md specifies it); returns the URL and the
/// requests seen.
fn oidc_and_broker(broker_status: &'static str) -> (String, std::thread::JoinHandle<Vec<Request>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let (mut stream, _) = listener.accept().unwrap();
            let request = read_request(&mut stream);
            if request.line.starts_with("GET /oidc") {
                respond(
                    &mut stream,
                    "200 OK",
                    r#"{"count":1,"value":"eyJ.oidc.jwt"}"#,
                );
            } else if broker_status == "200 OK" {
                respond(
                    &mut stream,
                    broker_status,
                    r#"{"token":"ghs_brokered0123456789","expires_at":"2026-12-03T11:00:00Z","repositories":["shop-libs"],"permissions":{"contents":"read"}}"#,
                );
            } else {
                respond(
                    &mut stream,
                    broker_status,
                    r#"{"error":"no policy allows this request"}"#,
                );
            }
            seen.push(request);
        }
        seen
    });
    (url, handle)
}

#[test]
fn the_token_client_exchanges_the_jobs_identity_and_hides_the_token() {
    let r = Repo::new();
    r.commit("chore: init");
    let (url, seen) = oidc_and_broker("200 OK");
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out");
    let oidc = format!("{url}/oidc?api-version=2.0");
    let out = ci_in(
        &r,
        &[
            "token",
            "--broker",
            &url,
            "--repositories",
            "shop-libs",
            "--permissions",
            "contents:read",
        ],
        &[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", oidc.as_str()),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runtime-bearer"),
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Masked first; otherwise the token appears nowhere but the step output.
    assert_eq!(stdout(&out), "::add-mask::ghs_brokered0123456789\n");
    assert!(!stderr(&out).contains("ghs_brokered"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "token=ghs_brokered0123456789\n"
    );
    let seen = seen.join().unwrap();
    // The OIDC token is asked for the broker's URL as audience, with the runtime's bearer.
    let audience = format!("audience={}", url.replace(':', "%3A").replace('/', "%2F"));
    assert!(seen[0].line.contains(&audience), "{}", seen[0].line);
    assert!(
        seen[0]
            .headers
            .contains(&("authorization".into(), "bearer runtime-bearer".into()))
    );
    // The broker gets the OIDC token and exactly the request.
    assert!(
        seen[1].line.starts_with("POST /v1/token "),
        "{}",
        seen[1].line
    );
    assert!(
        seen[1]
            .headers
            .contains(&("authorization".into(), "Bearer eyJ.oidc.jwt".into()))
    );
    let body: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"repositories": ["shop-libs"], "permissions": {"contents": "read"}})
    );
}

#[test]
fn the_token_client_fails_clearly_and_writes_nothing() {
    let r = Repo::new();
    r.commit("chore: init");
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out");
    // Refused by the broker: its reason, no token.
    let (url, seen) = oidc_and_broker("403 Forbidden");
    let oidc = format!("{url}/oidc");
    let out = ci_in(
        &r,
        &[
            "token",
            "--broker",
            &url,
            "--repositories",
            "a",
            "--permissions",
            "contents:write",
        ],
        &[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", oidc.as_str()),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runtime-bearer"),
            ("GITHUB_OUTPUT", output.to_str().unwrap()),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("403") && stderr(&out).contains("no policy allows"),
        "{}",
        stderr(&out)
    );
    assert!(!output.exists());
    seen.join().unwrap();
    // Without `id-token: write` the runner gives no OIDC endpoint: said so.
    let out = ci_in(
        &r,
        &[
            "token",
            "--broker",
            "https://broker.example",
            "--repositories",
            "a",
            "--permissions",
            "contents:read",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("id-token: write"), "{}", stderr(&out));
    // Plain http to anything but loopback is refused before a request.
    let out = ci_in(
        &r,
        &[
            "token",
            "--broker",
            "http://broker.example",
            "--repositories",
            "a",
            "--permissions",
            "contents:read",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_release_label_wins_over_the_title_on_the_pull_request_as_after_the_merge() {
    let r = Repo::new();
    r.commit("chore: init");
    r.tag("v1.0.0");
    r.commit("feat!: new store");
    let preview = |labels: &str| {
        let out = ci_in(
            &r,
            &[
                "compute-version",
                "--release-type",
                "LATEST",
                "--labels",
                labels,
                "--pr-title",
                "feat!: new store",
            ],
            &[],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    assert!(preview("").contains("target_version=v2.0.0\n"));
    assert!(preview("release/patch,scope/store").contains("target_version=v1.0.1\n"));
}

#[test]
fn changes_whose_release_was_cancelled_still_count_in_the_next_one() {
    let rt = runtime();
    let github = rt.block_on(FakeGithub::start(3600));
    github.repo("northwind/shop-api");
    github.token("ghs_job");
    let r = Repo::new();
    r.commit("chore: init");
    r.tag("v1.0.0");
    // A feature merged, its push run cancelled by the next push: never tagged.
    let first = r.commit("feat(cart): totals (#1)");
    github.pull(
        "northwind/shop-api",
        &first,
        1,
        "feat(cart): totals",
        &[],
        "omar",
    );
    let head = r.commit("fix: typo (#2)");
    github.pull("northwind/shop-api", &head, 2, "fix: typo", &[], "li");
    let url = github.url();
    let out = ci_in(
        &r,
        &["compute-version", "--bump-from", "github"],
        &[
            ("GITHUB_API_URL", url.as_str()),
            ("GITHUB_REPOSITORY", "northwind/shop-api"),
            ("GITHUB_TOKEN", "ghs_job"),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("target_version=v1.1.0\n"),
        "{}",
        stdout(&out)
    );
    drop(rt);
}
