//! The service on embedded defaults (SQLite, a local bare manifest repository, an image layout),
//! over HTTP, as CI would drive it:
//!
//! - notification-to-push latency: one notification at a time, from the POST until the
//!   promotion commit is pushed (the stage records its commit), p50 / p99;
//! - notifications/s: a burst sent by 8 concurrent clients, counted when each is accepted
//!   (decided and stored), and the time until every effect has been performed;
//! - the floor: raw `git commit && git push` of the same one-line change to a bare repository,
//!   measured in the same run.
//!
//! Run: `cargo bench -p infrastream --bench service` (ROUNDS=n, BURST=n change the sizes).
//! Recorded results: docs/PERFORMANCE.md.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;
use common::{env_usize, percentile, push_builds, raw_git, serve};

const APPS: [&str; 3] = ["shop-api", "shop-web", "shop-worker"];

fn notification(app: &str, n: usize) -> Value {
    json!({
        "buildDefinitionId": app, "container": app, "version": format!("v1.{n}.0"),
        "commitSha": format!("{n:040x}"), "repository": app,
    })
}

async fn get_json(client: &reqwest::Client, url: &str) -> Value {
    // Reads take a person the tenant knows.
    client
        .get(url)
        .header("x-infrastream-actor", "sam")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn latency(client: &reqwest::Client, url: &str, rounds: usize) -> Vec<f64> {
    let mut samples = Vec::with_capacity(rounds);
    for n in 0..rounds {
        let app = APPS[n % APPS.len()];
        let start = Instant::now();
        let answer: Value = client
            .post(format!("{url}/v1/notifications/build"))
            .json(&notification(app, n + 1))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = answer["deployments"][0].as_str().unwrap().to_string();
        loop {
            let view: Value = get_json(client, &format!("{url}/v1/deployments/{id}")).await;
            if view["deployment"]["stages"][0]["commitSha"].is_string() {
                break;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
        // Let the engine's report land before the next build of this app supersedes it.
        loop {
            let view: Value = get_json(client, &format!("{url}/v1/deployments/{id}")).await;
            if view["deployment"]["pendingEffects"].as_u64() == Some(0)
                && view["deployment"]["status"] == "SUCCEEDED"
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    samples.sort_by(f64::total_cmp);
    samples
}

async fn burst(client: &reqwest::Client, url: &str, count: usize, offset: usize) -> (f64, f64) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let client = client.clone();
        let url = url.to_string();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= count {
                    return;
                }
                let resp = client
                    .post(format!("{url}/v1/notifications/build"))
                    .json(&notification(APPS[n % APPS.len()], offset + n))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 202);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let accepted = start.elapsed().as_secs_f64();
    // Then wait until every effect is done (superseded builds end early: that is the point of
    // a burst).
    loop {
        let list: Value = get_json(client, &format!("{url}/v1/deployments?limit=500")).await;
        let busy = list
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["pendingEffects"].as_u64() != Some(0) || d["status"] == "IN_PROGRESS");
        if !busy {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (accepted, start.elapsed().as_secs_f64())
}

fn infrastream_tenant() -> Vec<(String, String)> {
    cd_service::tenant::example_files()
}

fn main() {
    let rounds = env_usize("ROUNDS", 150);
    let count = env_usize("BURST", 300);
    let tmp = tempfile::tempdir().unwrap();
    let (_served, url) = serve(&tmp.path().join("svc"), None);
    push_builds(&tmp.path().join("svc"), &APPS, rounds + count + 1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let client = reqwest::Client::new();
    let (lat, (accepted, drained)) = rt.block_on(async {
        let lat = latency(&client, &url, rounds).await;
        let b = burst(&client, &url, count, rounds + 1).await;
        (lat, b)
    });
    let mut raw = raw_git(tmp.path(), &infrastream_tenant(), rounds);
    raw.sort_by(f64::total_cmp);
    #[allow(clippy::cast_precision_loss)]
    let rate = count as f64 / accepted;
    #[allow(clippy::cast_precision_loss)]
    let drain_rate = count as f64 / drained;
    println!(
        "service on embedded defaults, {rounds} sequential notifications, then a burst of {count}"
    );
    println!(
        "notification-to-push latency: p50 {:.1} ms, p99 {:.1} ms (max {:.1} ms)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat[lat.len() - 1]
    );
    println!(
        "raw git commit+push (floor):   p50 {:.1} ms, p99 {:.1} ms",
        percentile(&raw, 0.5),
        percentile(&raw, 0.99)
    );
    println!(
        "latency / raw git: p50 {:.2}x, p99 {:.2}x",
        percentile(&lat, 0.5) / percentile(&raw, 0.5),
        percentile(&lat, 0.99) / percentile(&raw, 0.99)
    );
    println!(
        "burst: {rate:.0} notifications/s accepted (8 clients); all effects done in {drained:.2} s ({drain_rate:.0}/s)"
    );
}
