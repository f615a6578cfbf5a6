use crate::{infrastream, stderr, stdout};

fn scenario(name: &str) -> String {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/scenarios")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn sim_json_prints_only_the_documented_document() {
    let out = infrastream(&["sim", &scenario("release.yaml"), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is only JSON");
    let keys: Vec<&str> = doc
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "approvals",
            "branches",
            "commits",
            "deployments",
            "manifests",
            "registry",
            "rejected"
        ]
    );
    let release = &doc["deployments"][3];
    assert_eq!(release["track"], "RELEASE");
    assert_eq!(release["application"], serde_json::Value::Null);
    assert_eq!(release["applicationSet"], "shop");
    assert_eq!(release["bundle"], "2026.11");
    assert_eq!(release["version"], "shop-2026.11-rc.0");
    assert_eq!(release["apps"]["shop-web"], "v2.1.0");
    assert_eq!(release["stages"][1]["environments"][0], "production");
    assert_eq!(release["stages"][1]["status"], "SUCCEEDED");
    assert_eq!(release["stages"][1]["version"], "shop-2026.11-rc.0");
    assert_eq!(doc["approvals"][0]["stageIndex"], 1);
    assert_eq!(doc["approvals"][0]["action"], "APPROVE");
    assert_eq!(doc["branches"]["shop-api"][0], "release/shop/2026.11");
    assert_eq!(doc["rejected"][0]["step"], 6);
    assert_eq!(doc["commits"], 5);
    assert_eq!(
        doc["manifests"]["apps/shop-api/deploy/production.yaml"],
        "shop-2026.11-rc.0"
    );
}

#[test]
fn sim_text_summarizes_and_bad_scenarios_fail_with_the_field() {
    let out = infrastream(&["sim", &scenario("prerelease.yaml")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("Commits by the CD engine: 1"),
        "{}",
        stdout(&out)
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "manifests: .\nsteps:\n  - tick: {seconds: soon}\n").unwrap();
    let out = infrastream(&["sim", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("bad.yaml: steps[0].tick.seconds: invalid type"),
        "{}",
        stderr(&out)
    );
    let out = infrastream(&["sim"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a scenario or --random is required"
    );
}

#[test]
fn sim_random_is_reproducible_from_its_seed() {
    let run = || {
        infrastream(&[
            "sim", "--random", "--seed", "42", "--runs", "5", "--steps", "30",
        ])
    };
    let (a, b) = (run(), run());
    assert_eq!(a.status.code(), Some(0), "{}{}", stdout(&a), stderr(&a));
    let digest = |o: &std::process::Output| {
        stdout(o)
            .lines()
            .find(|l| l.starts_with("trace digest: "))
            .map(str::to_string)
    };
    assert!(digest(&a).is_some());
    assert_eq!(digest(&a), digest(&b));
    assert!(stderr(&a).contains("seed 42"));
}
