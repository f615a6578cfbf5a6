//! `infrastream-ci token` against the real Token Broker (in process), a local GitHub Actions
//! OIDC issuer and runtime, and the GitHub stand-in: the job's token is exchanged, masked and
//! written to `$GITHUB_OUTPUT` only.

use std::process::Command;

use cd_github_standin::FakeGithub;
use cd_github_standin::actions_oidc::ActionsIssuer;

const MANIFESTS: &str = "\
apiVersion: lowops.manifests.v1
kind: GithubRepository
metadata: {name: shop-libs, organization: northwind}
---
apiVersion: lowops.manifests.v1
kind: TokenPolicy
metadata: {name: shop-api-reads-libs, organization: northwind}
spec:
  subject:
    repository: northwind/shop-api
    repositoryId: \"700000101\"
    refs: [refs/heads/main]
    events: [push]
  grant:
    repositories: [shop-libs]
    permissions: {contents: read}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_exchanges_its_oidc_token_for_a_masked_scoped_token() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = ActionsIssuer::start().await;
    let github = FakeGithub::start(3600).await;
    github.org("northwind");
    github.repo("northwind/shop-libs");
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap();
    std::fs::write(manifests.join("tokens.yaml"), MANIFESTS).unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(&key, github.private_key()).unwrap();
    // The broker's URL is the audience the client asks for, so its port is chosen first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let broker = format!("http://127.0.0.1:{port}");
    let config: token_broker::Config = toml::from_str(&format!(
        "listen = \"127.0.0.1:{port}\"\nmanifests = \"{}\"\naudit_log = \"{}\"\n[oidc]\nissuer = \"{}\"\naudience = \"{broker}\"\n[github]\napi = \"{}\"\napp_id = \"4242\"\nprivate_key_file = \"{}\"\nowner = \"northwind\"\n",
        manifests.display(),
        dir.path().join("audit.jsonl").display(),
        issuer.url,
        github.url(),
        key.display()
    ))
    .unwrap();
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
    rx.await.unwrap();
    let (runtime_url, runtime_bearer) = issuer
        .runtime(issuer.claims("set by the runtime", "northwind/shop-api", "700000101"))
        .await;

    let run = |permissions: &str| {
        let output = dir.path().join(format!("output-{permissions}"));
        std::fs::write(&output, "").unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_infrastream-ci"))
            .args([
                "token",
                "--broker",
                &broker,
                "--repositories",
                "shop-libs",
                "--permissions",
                permissions,
            ])
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", &runtime_url)
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", &runtime_bearer)
            .env("GITHUB_OUTPUT", &output)
            .env_remove("GITHUB_STEP_SUMMARY")
            .output()
            .unwrap();
        (out, std::fs::read_to_string(&output).unwrap())
    };
    // The CLI blocks; the broker keeps serving on the runtime's other thread.
    let ((good, good_written), (refused, refused_written)) =
        tokio::task::block_in_place(|| (run("contents:read"), run("contents:write")));
    let stdout = String::from_utf8_lossy(&good.stdout);
    let stderr = String::from_utf8_lossy(&good.stderr);
    assert!(good.status.success(), "{stdout}\n{stderr}");
    let issued = github.state().issued.clone();
    assert_eq!(
        issued,
        [
            serde_json::json!({ "repositories": ["shop-libs"], "permissions": { "contents": "read" } })
        ]
    );
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("::add-mask::"))
        .expect("the token is masked")
        .to_string();
    assert!(token.starts_with("ghs_"));
    // Masked first, then only written to GITHUB_OUTPUT.
    assert!(stdout.starts_with("::add-mask::"), "{stdout}");
    assert!(good_written.contains(&token), "{good_written}");
    assert!(!stderr.contains(&token));
    assert_eq!(stdout.matches(&token).count(), 1, "{stdout}");

    // Beyond the policy's grant: refused, nothing written, the reason shown.
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Token Broker answered 403"), "{stderr}");
    assert!(stderr.contains("exceeds"), "{stderr}");
    assert!(refused_written.is_empty(), "{refused_written}");
    assert_eq!(github.state().issued.len(), 1);
}
