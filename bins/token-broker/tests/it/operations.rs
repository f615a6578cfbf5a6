//! Running the broker: readiness, policy reloads (an invalid change keeps the last valid set),
//! the per-repository rate limit, and GitHub's refusals.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{AUDIENCE, Broker, Options, POLICY};

fn libs_read() -> Value {
    json!({ "repositories": ["shop-libs"], "permissions": { "contents": "read" } })
}

async fn eventually(broker: &Broker, mut ready: impl FnMut(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let (_, body) = broker.get("/readyz").await;
        let body: Value = serde_json::from_str(&body).unwrap();
        if ready(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the broker never got there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_reload_and_an_invalid_change_keeps_the_last_valid_set() {
    let broker = Broker::start(Options::default()).await;
    let (status, body) = broker.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (ready["policies"].as_u64(), ready["github"].as_str()),
        (Some(1), Some("ok"))
    );
    assert_eq!(broker.get("/healthz").await.0, 200);

    // shop-web has no policy; one is added and is in force within the reload interval.
    let web = broker.issuer.sign(&{
        let mut c = broker
            .issuer
            .claims(AUDIENCE, "northwind/shop-web", "700000102");
        c["job_workflow_ref"] =
            json!("northwind/shop-web/.github/workflows/ci.yml@refs/heads/main");
        c
    });
    assert_eq!(broker.ask(&web, &libs_read()).await.0, 403);
    let web_policy = POLICY
        .replace("shop-api-builds", "shop-web-builds")
        .replace("northwind/shop-api", "northwind/shop-web")
        .replace("700000101", "700000102");
    std::fs::write(
        broker.manifests.join("repositories.yaml"),
        format!(
            "{}---\napiVersion: lowops.manifests.v1\nkind: GithubRepository\nmetadata: {{name: shop-web, organization: northwind}}\n",
            crate::harness::REPOSITORIES
        ),
    )
    .unwrap();
    std::fs::write(broker.manifests.join("web.yaml"), &web_policy).unwrap();
    eventually(&broker, |r| r["policies"] == 2).await;
    assert_eq!(broker.ask(&web, &libs_read()).await.0, 200);

    // A broken change: the last valid set stays in force, and /readyz and the log say so.
    std::fs::write(
        broker.manifests.join("web.yaml"),
        web_policy.replace("contents: read", "contents: everything"),
    )
    .unwrap();
    let state = eventually(&broker, |r| r["policyProblem"].is_string()).await;
    assert!(
        state["policyProblem"]
            .as_str()
            .unwrap()
            .contains("web.yaml"),
        "{state}"
    );
    assert_eq!(state["policies"], 2);
    assert_eq!(broker.ask(&web, &libs_read()).await.0, 200);
    assert!(broker.logs().contains("the last valid set stays in force"));

    // Removing the policy removes the access.
    std::fs::remove_file(broker.manifests.join("web.yaml")).unwrap();
    eventually(&broker, |r| {
        r["policies"] == 1 && r["policyProblem"].is_null()
    })
    .await;
    assert_eq!(broker.ask(&web, &libs_read()).await.0, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_counts_each_repository_claim_on_its_own() {
    let broker = Broker::start(Options {
        rate_limit_per_minute: 5,
        ..Options::default()
    })
    .await;
    let flood = broker
        .issuer
        .sign(&broker.issuer.claims(AUDIENCE, "northwind/flood", "1"));
    for _ in 0..5 {
        assert_eq!(broker.ask(&flood, &libs_read()).await.0, 403);
    }
    let (status, body, headers) = broker
        .post(Some(&format!("Bearer {flood}")), libs_read().to_string())
        .await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (429, Some("rate_limited"))
    );
    assert!(headers.contains_key("retry-after"));
    // Same client address, another repository: unaffected.
    assert_eq!(broker.ask(&broker.token(), &libs_read()).await.0, 200);
}

/// Runs the broker on `config`, which must make it exit with `code`; returns its stderr.
fn start_fails(config: &std::path::Path, code: i32) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_token-broker"))
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(code));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scope_github_refuses_is_403_and_a_bad_start_says_why() {
    let broker = Broker::start(Options::default()).await;
    // The policy grants base-images, but the App's installation cannot see it any more.
    broker.github.state().repos.remove("northwind/base-images");
    let ask = json!({ "repositories": ["base-images"], "permissions": { "contents": "read" } });
    let (status, body) = broker.ask(&broker.token(), &ask).await;
    assert_eq!(
        (status, body["reason"].as_str()),
        (403, Some("github_refused")),
        "{body}"
    );

    // A configuration that cannot be used is refused at start, naming file and field.
    let config = broker.dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "manifests = \"/nowhere\"\n[oidc]\nissuer = \"http://issuer.example\"\naudience = \"a\"\n[github]\napp_id = \"1\"\nprivate_key_file = \"/k\"\nowner = \"o\"\n",
    )
    .unwrap();
    let err = start_fails(&config, 2);
    assert!(err.contains("bad.toml: oidc.issuer"), "{err}");
    // An invalid policy tree at start: no broker rather than one without policies.
    let good = broker.dir.path().join("broker.toml");
    let text = std::fs::read_to_string(&good).unwrap();
    let broken = broker.dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("t.yaml"), POLICY).unwrap();
    let config = broker.dir.path().join("broken.toml");
    std::fs::write(
        &config,
        text.replace(
            &broker.manifests.display().to_string(),
            &broken.display().to_string(),
        ),
    )
    .unwrap();
    let err = start_fails(&config, 1);
    assert!(
        err.contains("no GithubRepository named 'shop-libs'"),
        "{err}"
    );
    // A policy granting a repository of another owner than the installation's: refused.
    let foreign = broker.dir.path().join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("t.yaml"), POLICY).unwrap();
    std::fs::write(
        foreign.join("r.yaml"),
        crate::harness::REPOSITORIES.replace(
            "metadata: {name: shop-libs, organization: northwind}",
            "metadata: {name: shop-libs, organization: northwind, github-connection: contoso}",
        ) + "---\napiVersion: lowops.manifests.v1\nkind: GithubConnection\nmetadata: {name: contoso}\nspec: {owner: contoso}\n",
    )
    .unwrap();
    let config = broker.dir.path().join("foreign.toml");
    std::fs::write(
        &config,
        text.replace(
            &broker.manifests.display().to_string(),
            &foreign.display().to_string(),
        ),
    )
    .unwrap();
    let err = start_fails(&config, 1);
    assert!(
        err.contains("'shop-libs' is a repository of contoso"),
        "{err}"
    );
    // --check prints the effective configuration.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_token-broker"))
        .arg("--config")
        .arg(&good)
        .arg("--check")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("rate_limit_per_minute = 1000"),
        "{printed}"
    );
    assert!(!printed.contains("PRIVATE KEY"));
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_come_from_a_git_remote_and_follow_its_branch() {
    // A broker on a directory, for its issuer and GitHub; a second one reads a git remote.
    let base = Broker::start(Options::default()).await;
    let remote = base.dir.path().join("manifests.git");
    let work = base.dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    git(
        base.dir.path(),
        &["init", "--bare", "-b", "main", remote.to_str().unwrap()],
    );
    git(&work, &["init", "-b", "main"]);
    std::fs::write(work.join("repositories.yaml"), crate::harness::REPOSITORIES).unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-m", "repositories, no policy yet"]);
    git(&work, &["push", remote.to_str().unwrap(), "main"]);

    let text = std::fs::read_to_string(base.dir.path().join("broker.toml")).unwrap();
    let config = text
        .replace(
            &format!("manifests = \"{}\"", base.manifests.display()),
            &format!(
                "manifests_remote = \"{}\"\nmanifests_workdir = \"{}\"",
                remote.display(),
                base.dir.path().join("clone").display()
            ),
        )
        .replace("audit_log", "# audit_log");
    let config: token_broker::Config = toml::from_str(&config).unwrap();
    assert!(config.manifests.is_none() && config.manifests_remote.is_some());
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        token_broker::serve(
            config,
            |a| {
                let _ = tx.send(a);
            },
            std::future::pending(),
        )
        .await
        .unwrap();
    });
    let url = format!("http://{}", rx.await.unwrap());
    let ask = |url: String, token: String| async move {
        reqwest::Client::new()
            .post(format!("{url}/v1/token"))
            .bearer_auth(token)
            .body(libs_read().to_string())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(
        ask(url.clone(), base.token()).await,
        403,
        "no policy on the branch yet"
    );

    std::fs::write(work.join("tokens.yaml"), POLICY).unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "-m", "shop-api reads shop-libs"]);
    git(&work, &["push", remote.to_str().unwrap(), "main"]);
    let mut status = 0;
    for _ in 0..100 {
        status = ask(url.clone(), base.token()).await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "the pushed policy is in force");
}
